//! The operator SIGKILLed at points spread over a mixed rollout and restarted each time (`aim-operator run` as a
//! process, as its ServiceAccount). Half the services use the default template, a quarter give overrides that
//! derive a template (one per namespace, shared), a quarter ask for `cacheModel: true` (one template cache and
//! one model cache per namespace, shared). Every service converges to Running, with exactly one
//! InferenceService each, one shared derived template, template cache and model cache per namespace, one
//! download Job per model cache; and once the services are gone, nothing the operator shared is left after the
//! grace period (with one more kill in between).
//!
//! In CI it runs small on the suite's cluster. Issue 12's full size runs on a private cluster with a node for
//! every eight replicas (figures in BENCHMARKS.md):
//!
//! ```sh
//! cargo build --release -p aim-operator
//! AIM_OPERATOR_BINARY=$CARGO_TARGET_DIR/release/aim-operator AIM_FAULTS_NAMESPACES=10 AIM_FAULTS_UNITS=25 \
//!   AIM_FAULTS_KILLS=5 AIM_FAULTS_TIMEOUT=1800 cargo test -p aim-tests --test faults_rollout -- --nocapture
//! ```

use aim_operator::api::{AIMService, ServiceState};
use aim_tests::controlplane::{ControlPlane, nodes::GpuNodes, run_kubectl};
use aim_tests::replica::Replica;
use aim_tests::test_env;
use kube::api::{Api, ListParams};
use nix::sys::signal::Signal;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const API: &str = "apiVersion: aim.silogen.ai/v1alpha1";

fn setting(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// The cluster the run uses: the suite's, or a private one big enough for a full-size run.
struct Cluster {
    kubectl: PathBuf,
    kubeconfig: PathBuf,
    client: kube::Client,
    private: Option<ControlPlane>,
}

impl Cluster {
    async fn kubectl(&self, args: &[&str]) -> Result<String, String> {
        run_kubectl(&self.kubectl, &self.kubeconfig, args)
            .await
            .map_err(|e| e.to_string())
    }
    async fn apply(&self, dir: &Path, yaml: &str) {
        let file = dir.join("apply.yaml");
        std::fs::write(&file, yaml).unwrap();
        self.kubectl(&["apply", "--server-side", "-f", &file.display().to_string()])
            .await
            .expect("apply");
    }
    async fn count(&self, kind: &str, ns: &str, selector: &str) -> usize {
        let mut args = vec!["get", kind, "-n", ns, "-o", "name"];
        if !selector.is_empty() {
            args.extend(["-l", selector]);
        }
        self.kubectl(&args).await.unwrap_or_default().lines().count()
    }
}

fn operator(kubeconfig: &Path, log: &Path) -> Replica {
    Replica::start(
        kubeconfig,
        &[
            "--namespace",
            "aim-system",
            // The same identity after each restart: the new process renews the dead one's lease at once.
            "--identity",
            "faults-rollout",
            "--unused-grace-seconds",
            "5",
            "--log-format",
            "json",
        ],
        &[],
        Some(log),
    )
}

/// Per unit: two services on the default template, one with overrides, one with `cacheModel: true`.
const UNIT: [(&str, &str); 4] = [
    ("plain-a", ""),
    ("plain-b", ""),
    ("derived", "  overrides:\n    precision: bf16\n"),
    ("cached", "  cacheModel: true\n"),
];

#[tokio::test]
async fn a_rollout_killed_repeatedly_converges_with_nothing_duplicated_and_leaves_nothing_shared_behind() {
    let namespaces = setting("AIM_FAULTS_NAMESPACES", 3);
    let units = setting("AIM_FAULTS_UNITS", 2);
    let kills = setting("AIM_FAULTS_KILLS", 3);
    let timeout = Duration::from_secs(setting("AIM_FAULTS_TIMEOUT", 180) as u64);
    let per_ns = units * UNIT.len();
    let total = namespaces * per_ns;
    let dir = tempfile::tempdir().unwrap();
    let tag = format!("faults-{}", std::process::id());

    // The suite's cluster has 64 GPUs; a bigger run brings its own, one MI300X server per eight replicas.
    let cluster = if total > 32 {
        let nodes = GpuNodes {
            mi300x: total.div_ceil(8) + 1,
            mi325x: 1,
            ..GpuNodes::none()
        };
        let cp = ControlPlane::start_with(&dir.path().join("cluster"), nodes)
            .await
            .expect("a private cluster");
        Cluster {
            kubectl: cp.kubectl_path().to_path_buf(),
            kubeconfig: cp.kubeconfig().to_path_buf(),
            client: cp.client().await.expect("a client"),
            private: Some(cp),
        }
    } else {
        let env = test_env!();
        Cluster {
            kubectl: env.kubectl_path().to_path_buf(),
            kubeconfig: env.kubeconfig().to_path_buf(),
            client: env.client().await,
            private: None,
        }
    };
    let identity =
        aim_tests::identity::operator_kubeconfig(&cluster.kubectl, &cluster.kubeconfig, &dir.path().join("sa"))
            .await
            .expect("the operator's identity");
    let model = format!("org/{tag}");
    cluster
        .apply(
            dir.path(),
            &format!(
                "{API}\nkind: AIMImage\nmetadata:\n  name: {tag}\nspec:\n  modelId: {model}\n  image: reg/{tag}:1\n  defaultServiceTemplate: {tag}\n---\n{API}\nkind: AIMClusterServiceTemplate\nmetadata:\n  name: {tag}\nspec:\n  modelId: {model}\n  metric: latency\n  precision: fp8\n  gpuSelector: {{count: 1, model: MI300X}}\n  modelSources:\n  - sourceUri: hf://org/{tag}\n    size: 16Gi\n"
            ),
        )
        .await;
    let ns: Vec<String> = (0..namespaces).map(|i| format!("{tag}-{i}")).collect();
    // On the suite's cluster, what the run made is deleted even when it fails.
    let _cleanup: Vec<aim_tests::Cleanup> = match &cluster.private {
        Some(_) => Vec::new(),
        None => {
            let env = test_env!();
            let mut guards: Vec<_> = ns.iter().map(|n| env.cleanup(&["namespace", n])).collect();
            guards.push(env.cleanup(&["aimimage", &tag]));
            guards.push(env.cleanup(&["aimclusterservicetemplate", &tag]));
            guards
        }
    };
    let mut yaml = String::new();
    for n in &ns {
        cluster.kubectl(&["create", "namespace", n]).await.unwrap();
        for u in 0..units {
            for (pattern, extra) in UNIT {
                yaml += &format!(
                    "{API}\nkind: AIMService\nmetadata:\n  name: {pattern}-{u}\n  namespace: {n}\nspec:\n  aimModelId: {model}\n{extra}---\n"
                );
            }
        }
    }

    let started = Instant::now();
    let mut running = operator(&identity, &dir.path().join("operator-0.log"));
    cluster.apply(dir.path(), &yaml).await;
    // Kill points spread over the rollout, the same on every run.
    for kill in 0..kills {
        let delay = Duration::from_millis(400 + (kill as u64 * 7919 % 13) * 150 * (1 + total as u64 / 100));
        tokio::time::sleep(delay).await;
        running.signal(Signal::SIGKILL);
        assert!(running.exits_within(Duration::from_secs(5)).await.is_some());
        println!("kill {}: {delay:?} after the previous start", kill + 1);
        running = operator(&identity, &dir.path().join(format!("operator-{}.log", kill + 1)));
    }

    let client = cluster.client.clone();
    loop {
        let mut not_running = 0;
        for n in &ns {
            let services: Api<AIMService> = Api::namespaced(client.clone(), n);
            let listed = services
                .list(&ListParams::default())
                .await
                .map(|l| l.items)
                .unwrap_or_default();
            not_running += per_ns
                - listed
                    .iter()
                    .filter(|s| s.status.as_ref().and_then(|s| s.head.status) == Some(ServiceState::Running))
                    .count();
        }
        if not_running == 0 {
            break;
        }
        assert!(
            started.elapsed() < timeout,
            "{not_running} of {total} services not Running after {timeout:?}"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    println!(
        "{total} services in {namespaces} namespaces, {kills} kills: all Running {:.1?} after the create",
        started.elapsed()
    );
    for n in &ns {
        assert_eq!(
            cluster.count("inferenceservices", n, "").await,
            per_ns,
            "{n}: one InferenceService per service"
        );
        assert_eq!(
            cluster.count("aimservicetemplates", n, "").await,
            1,
            "{n}: one derived template, shared"
        );
        assert_eq!(
            cluster.count("aimtemplatecaches", n, "").await,
            1,
            "{n}: one template cache, shared"
        );
        assert_eq!(
            cluster.count("modelcaches", n, "").await,
            1,
            "{n}: one model cache, shared"
        );
        assert_eq!(
            cluster.count("jobs", n, "aim.silogen.ai/component=download").await,
            1,
            "{n}: one download Job for the one source"
        );
    }

    // Users gone: after the grace period nothing the operator shared is left (with one more kill in between).
    for n in &ns {
        cluster
            .kubectl(&["delete", "aimservices", "--all", "-n", n, "--wait=false"])
            .await
            .unwrap();
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    running.signal(Signal::SIGKILL);
    running.exits_within(Duration::from_secs(5)).await;
    let mut running = operator(&identity, &dir.path().join("operator-last.log"));
    let gone = Instant::now();
    for n in &ns {
        loop {
            let left = [
                cluster.count("aimservicetemplates", n, "").await,
                cluster.count("aimtemplatecaches", n, "").await,
                cluster.count("modelcaches", n, "").await,
                cluster.count("inferenceservices", n, "").await,
            ];
            if left == [0; 4] {
                break;
            }
            assert!(
                gone.elapsed() < timeout,
                "{n}: left after the grace period (templates, template caches, model caches, ISVCs): {left:?}"
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    println!(
        "nothing shared left {:.1?} after the services were deleted",
        gone.elapsed()
    );
    running.terminate();
    if let Some(cp) = cluster.private {
        cp.stop().await;
    }
}
