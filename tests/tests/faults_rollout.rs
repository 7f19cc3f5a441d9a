//! The operator SIGKILLed at random points of a mixed rollout and restarted each time (`aim-operator run` as a
//! process, as its ServiceAccount): every service converges, with exactly one InferenceService each, one shared
//! derived template, template cache and model cache per namespace, one download Job per model cache; and once
//! the services are gone, nothing the operator shared is left after the grace period. A reduced size of issue
//! 12's 1,000-service run (that one is `scripts/bench`-sized; this one runs in CI).

mod service_support;

use aim_operator::api::ServiceState;
use aim_tests::replica::Replica;
use aim_tests::{TestEnv, test_env, wait};
use nix::sys::signal::Signal;
use service_support::*;
use std::path::Path;
use std::time::Duration;

const NAMESPACES: usize = 3;
/// Per namespace: two on the default template, two with overrides (one derived template shared), two with
/// `cacheModel: true` (one template cache and one model cache shared).
const PATTERNS: [(&str, &str); 3] = [
    ("plain", ""),
    ("derived", "  overrides:\n    precision: bf16\n"),
    ("cached", "  cacheModel: true\n"),
];
const PER_PATTERN: usize = 2;
const KILLS: usize = 3;

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

async fn count(env: &TestEnv, kind: &str, ns: &str, selector: &str) -> usize {
    let mut args = vec!["get", kind, "-n", ns, "-o", "name"];
    if !selector.is_empty() {
        args.extend(["-l", selector]);
    }
    env.kubectl(&args).await.stdout.lines().count()
}

fn names() -> Vec<String> {
    PATTERNS
        .iter()
        .flat_map(|(p, _)| (0..PER_PATTERN).map(move |i| format!("{p}-{i}")))
        .collect()
}

#[tokio::test]
async fn a_rollout_killed_three_times_converges_with_nothing_duplicated_and_leaves_nothing_shared_behind() {
    let env = test_env!();
    let dir = tempfile::tempdir().unwrap();
    let identity =
        aim_tests::identity::operator_kubeconfig(env.kubectl_path(), env.kubeconfig(), &dir.path().join("sa"))
            .await
            .expect("the operator's identity");
    let catalog = catalog(
        env,
        "rollout-kills",
        &[Profile {
            name: "one",
            precision: "fp8",
            gpus: 1,
            gpu: "MI300X",
        }],
        Some("one"),
    )
    .await;
    let mut namespaces = Vec::new();
    for _ in 0..NAMESPACES {
        namespaces.push(env.namespace("rollout-kills").await);
    }
    let mut yaml = String::new();
    for ns in &namespaces {
        for (pattern, extra) in PATTERNS {
            for i in 0..PER_PATTERN {
                let one = service(&format!("{pattern}-{i}"), &catalog.model, extra);
                yaml += &one.replacen("metadata:\n", &format!("metadata:\n  namespace: {}\n", ns.as_str()), 1);
                yaml += "---\n";
            }
        }
    }

    let mut running = operator(&identity, &dir.path().join("operator-0.log"));
    let out = env.apply(&yaml, None).await;
    assert!(out.success, "{}", out.stderr);
    // Kill points spread over the rollout, the same on every run (the seed is the kill's number).
    for kill in 0..KILLS {
        let delay = Duration::from_millis(400 + (kill as u64 * 7919 % 13) * 150);
        tokio::time::sleep(delay).await;
        running.signal(Signal::SIGKILL);
        assert!(running.exits_within(Duration::from_secs(5)).await.is_some());
        println!("killed the operator {delay:?} into run {kill}");
        running = operator(&identity, &dir.path().join(format!("operator-{}.log", kill + 1)));
    }

    for ns in &namespaces {
        for name in names() {
            wait::until(&format!("{}/{name} Running", ns.as_str()), || async {
                match status(env, ns, &name).await.status {
                    Some(ServiceState::Running) => Ok(()),
                    other => Err(format!("{other:?}")),
                }
            })
            .await;
        }
        let services = PATTERNS.len() * PER_PATTERN;
        assert_eq!(
            count(env, "inferenceservices", ns, "").await,
            services,
            "one InferenceService per service"
        );
        assert_eq!(
            count(env, "aimservicetemplates", ns, "").await,
            1,
            "one derived template, shared"
        );
        assert_eq!(
            count(env, "aimtemplatecaches", ns, "").await,
            1,
            "one template cache, shared"
        );
        assert_eq!(count(env, "modelcaches", ns, "").await, 1, "one model cache, shared");
        assert_eq!(
            count(env, "jobs", ns, "aim.silogen.ai/component=download").await,
            1,
            "one download Job for the one source"
        );
    }

    // Users gone: after the grace period nothing the operator shared is left (with one more kill in between).
    for ns in &namespaces {
        let out = env
            .kubectl(&["delete", "aimservices", "--all", "-n", ns, "--wait=false"])
            .await;
        assert!(out.success, "{}", out.stderr);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    running.signal(Signal::SIGKILL);
    running.exits_within(Duration::from_secs(5)).await;
    let mut running = operator(&identity, &dir.path().join("operator-last.log"));
    for ns in &namespaces {
        wait::until(&format!("{}: nothing shared left", ns.as_str()), || async {
            let left = [
                ("aimservicetemplates", count(env, "aimservicetemplates", ns, "").await),
                ("aimtemplatecaches", count(env, "aimtemplatecaches", ns, "").await),
                ("modelcaches", count(env, "modelcaches", ns, "").await),
                ("inferenceservices", count(env, "inferenceservices", ns, "").await),
            ];
            if left.iter().all(|(_, n)| *n == 0) {
                Ok(())
            } else {
                Err(format!("{left:?}"))
            }
        })
        .await;
    }
    running.terminate();
}
