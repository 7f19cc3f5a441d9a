//! The embedded demo (`scripts/demo`): the local cluster (control plane, scheduler, kwok's fake GPU servers, one
//! real node, the KServe controller, Traefik as the gateway), the CRDs, a catalog pack, `AIMClusterConfig`, the
//! operator with its default plugins running as its ServiceAccount, one service for each of the four patterns,
//! the `kubectl get` tables, the node each replica landed on and one line per service; a plugin swap that changes
//! a decision; and a chat request through the gateway to a service on the real node, whose reply it prints.
//!
//! Everything from the operator to a Ready InferenceService runs for real. On kwok's GPU servers no container
//! runs (kwok plays their kubelet: a discovery pod prints what an AIM image's dry run prints) and it plays the
//! storage provisioner; the cached service's download pod there runs its container, `aim-operator download`, as
//! a process here ([`aim_tests::container`]) against a Hugging Face mirror on the host. On the real node an AIM
//! image built on the runtime stand-in (`scripts/runtime-image`) runs as real containers: its dry run, and its
//! serving, which downloads the model from the mirror, loads it and answers through Traefik. The demo says so.

use aim_operator::api::{AIMService, ServiceState};
use aim_operator::policy::PolicyKind;
use aim_tests::controlplane::ControlPlane;
use anyhow::Context;
use kube::api::Api;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const NS: &str = "team-a";
const MODEL: &str = "meta-llama/Llama-3.1-8B-Instruct";

/// The weights the loopback Hub mirror serves for every model (MiB), and how fast (MiB/s): slow enough that the
/// cache's progress shows.
const MIRROR_WEIGHTS_MIB: usize = 96;
const MIRROR_RATE_MIB: u64 = 24;

/// `hub`: the `HF_ENDPOINT` the cached service's downloads use (the demo has no internet: a loopback mirror).
fn services(hub: &str) -> String {
    let svc = |name: &str, spec: &str| {
        format!(
            "apiVersion: aim.silogen.ai/v1alpha1\nkind: AIMService\nmetadata:\n  name: {name}\n  namespace: {NS}\nspec:\n  aimModelId: {MODEL}\n{spec}---\n"
        )
    };
    [
        // (a) model only: the pack's default template, with on-demand caching. Its env reaches the cache's
        // download Job: where to find the Hub, and (AIM_TEST_MANUAL) that the demo, not kwok, runs that pod.
        svc(
            "llama3-svc",
            &format!("  cacheModel: true\n  env:\n  - name: HF_ENDPOINT\n    value: {hub}\n  - name: AIM_PROGRESS_SECONDS\n    value: \"1\"\n  - name: {}\n    value: \"true\"\n", aim_tests::kubelet::MANUAL),
        ),
        // (b) a namespace template, referenced; autoscaled on CPU between one and three replicas.
        format!("apiVersion: aim.silogen.ai/v1alpha1\nkind: AIMServiceTemplate\nmetadata:\n  name: llama3-8b-fast\n  namespace: {NS}\nspec:\n  modelId: {MODEL}\n  metric: latency\n  precision: fp8\n  gpuSelector:\n    count: 1\n    model: MI300X\n---\n"),
        svc(
            "llama3-fast-svc",
            "  templateRef: llama3-8b-fast\n  minReplicas: 1\n  maxReplicas: 3\n  autoScaling: {metric: cpu, target: 70}\n",
        ),
        // (c) overrides only: the matcher finds nothing with bf16 on two GPUs, so the merger derives one.
        svc("llama3-override-svc", "  overrides:\n    precision: bf16\n    gpuSelector:\n      count: 2\n      model: MI300X\n  replicas: 2\n"),
        // (d) a template and overrides: derived from the referenced template.
        svc("llama3-fast-bf16", "  templateRef: llama3-8b-fast\n  overrides:\n    precision: bf16\n"),
    ]
    .concat()
}

/// Runs the demo against a fresh control plane in `dir`.
pub async fn run(cp: &ControlPlane) -> anyhow::Result<()> {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let kubectl = |args: Vec<String>| async move {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        cp.kubectl(&args).await.map_err(anyhow::Error::from)
    };
    let s = |v: &[&str]| v.iter().map(|a| a.to_string()).collect::<Vec<_>>();

    println!("\n== catalog pack llama-3.1-8b and cluster config");
    print!(
        "{}",
        kubectl(s(&[
            "apply",
            "--server-side",
            "-k",
            &repo.join("deploy/catalog/llama-3.1-8b").display().to_string()
        ]))
        .await?
    );
    let config = "apiVersion: aim.silogen.ai/v1alpha1\nkind: AIMClusterConfig\nmetadata:\n  name: default\nspec:\n  routing:\n    gateway:\n      name: public-gw\n      namespace: infra-gw\n  cacheStorageClassName: aim-local-rwx\n";
    apply(cp, config).await?;
    let client = client(cp.kubeconfig()).await?;
    aim_tests::storage::ensure_class(&client, "aim-local-rwx", true).await;
    // The Gateway the config names, run by Traefik, which accepts routes attached to it and serves them.
    let traefik = cp.traefik().context("Traefik runs with the real node")?;
    // The real node takes only what tolerates it: the services of the four patterns stay on kwok's servers.
    cp.real_node().context("the demo's real node")?.taint().await?;
    kubectl(s(&["create", "namespace", "infra-gw"])).await?;
    apply(
        cp,
        &aim_tests::controlplane::traefik::gateway_yaml("infra-gw", "public-gw", traefik.port),
    )
    .await?;
    kubectl(s(&["create", "namespace", NS])).await?;

    let running = aim_tests::operator::start(
        cp.kubeconfig().to_path_buf(),
        cp.kubectl_path().to_path_buf(),
        aim_tests::operator::test_config(),
    );
    println!("== operator running as its ServiceAccount with the built-in plugins");
    println!(
        "   (real: scheduler, KServe, Jobs, garbage collection, Traefik; kwok plays the kubelet of the GPU servers and the\n   storage provisioner; one real node runs containers)"
    );

    // On the host's address: the real node's pods reach it there, and so do processes here.
    let hub = aim_tests::hub::HubServer::start_on(
        aim_tests::controlplane::real_node::host_ip()?.into(),
        "*",
        aim_tests::hub::generated_model(MIRROR_WEIGHTS_MIB),
    )
    .await;
    hub.set(aim_tests::hub::Behaviour {
        rate: Some(MIRROR_RATE_MIB << 20),
        ..Default::default()
    });
    let downloads = tokio::spawn(run_download_pods(
        cp.kubectl_path().to_path_buf(),
        cp.kubeconfig().to_path_buf(),
        cp.dir().join("caches"),
        client.clone(),
    ));
    println!(
        "== a Hugging Face mirror on the host at {} ({MIRROR_WEIGHTS_MIB} MiB of weights per model, {MIRROR_RATE_MIB} MiB/s);\n   download pods on kwok's servers run `aim-operator download` here as processes (kwok runs no containers)",
        hub.endpoint
    );

    println!("\n== the four service patterns");
    apply(cp, &services(&hub.endpoint)).await?;
    let caches: Api<aim_operator::api::ModelCache> = Api::namespaced(client.clone(), NS);
    let mut shown = String::new();
    let api: Api<AIMService> = Api::namespaced(client.clone(), NS);
    let names = [
        "llama3-svc",
        "llama3-fast-svc",
        "llama3-override-svc",
        "llama3-fast-bf16",
    ];
    let start = Instant::now();
    loop {
        let mut running_now = 0;
        for name in names {
            if api.get(name).await?.status.and_then(|s| s.head.status) == Some(ServiceState::Running) {
                running_now += 1;
            }
        }
        if running_now == names.len() || start.elapsed() > Duration::from_secs(120) {
            break;
        }
        // What a user watching `kubectl get modelcaches` would see change.
        for cache in caches.list(&Default::default()).await?.items {
            let ready = cache
                .status
                .as_ref()
                .and_then(|s| s.head.conditions.iter().find(|c| c.type_ == "Ready"));
            if let Some(c) = ready {
                let line = format!("modelcache {}: {}", kube::ResourceExt::name_any(&cache), c.message);
                if line != shown {
                    println!("{line}");
                    shown = line;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    for kind in [
        "aimimages",
        "aimclusterservicetemplates",
        "aimservicetemplates",
        "aimtemplatecaches",
        "modelcaches",
        "aimclusterconfigs",
        "aimservices",
        "inferenceservices",
        "deployments",
        "httproutes",
    ] {
        // Services with their path and time to ready.
        let extra: &[&str] = if kind == "aimservices" { &["-o", "wide"] } else { &[] };
        println!("\n$ kubectl get {kind} -A {}", extra.join(" "));
        let mut args = s(&["get", kind, "-A"]);
        args.extend(s(extra));
        print!("{}", kubectl(args).await?);
    }
    println!(
        "\n$ kubectl get aimservice llama3-svc -n {NS} -o jsonpath='{{.status.startup}}'  (its cold start, phase by phase)"
    );
    if let Some(startup) = api.get("llama3-svc").await?.status.and_then(|s| s.startup) {
        for p in &startup.phases {
            println!("  {:<16} {:>8}", p.name, p.duration.as_deref().unwrap_or("running"));
        }
        println!(
            "  time to ready {}; slowest: {}",
            startup.time_to_ready.as_deref().unwrap_or("-"),
            startup.slowest.as_deref().unwrap_or("-")
        );
    }
    println!("\n$ kubectl get pods -n {NS} -l serving.kserve.io/inferenceservice  (where each replica landed)");
    print!(
        "{}",
        kubectl(s(&[
            "get",
            "pods",
            "-n",
            NS,
            "-l",
            "serving.kserve.io/inferenceservice",
            "-o",
            "custom-columns=POD:.metadata.name,SERVICE:.metadata.labels.aim\\.silogen\\.ai/service,NODE:.spec.nodeName,GPUS:.spec.containers[0].resources.limits.amd\\.com/gpu,PHASE:.status.phase",
        ]))
        .await?
    );

    println!("\n== swapping the matcher plugin");
    let before = "llama3-throughput";
    apply(cp, &format!("apiVersion: aim.silogen.ai/v1alpha1\nkind: AIMService\nmetadata:\n  name: {before}\n  namespace: {NS}\nspec:\n  aimModelId: {MODEL}\n  overrides:\n    metric: throughput\n")).await?;
    wait_running(&api, before).await;
    println!("{}", summary(&api, before).await?);
    running
        .swap_plugin(
            PolicyKind::Matcher,
            aim_operator::policy::builtin::test_plugins::HOSTILE_MATCHER,
        )
        .await;
    println!(
        "wrote {} (a test plugin that always takes the first candidate)",
        running.plugin_dir.join("matcher.wasm").display()
    );
    println!(
        "the operator switched to {}",
        running.policy.current(PolicyKind::Matcher).provenance
    );
    let after = "llama3-throughput-2";
    apply(cp, &format!("apiVersion: aim.silogen.ai/v1alpha1\nkind: AIMService\nmetadata:\n  name: {after}\n  namespace: {NS}\nspec:\n  aimModelId: {MODEL}\n  overrides:\n    metric: throughput\n")).await?;
    wait_running(&api, after).await;
    println!("{}", summary(&api, after).await?);
    println!("(the same request, decided by the new plugin; {before} keeps the template it resolved to)");

    downloads.abort();
    hub.set(aim_tests::hub::Behaviour::default());
    crate::demo_request::run(cp, &client, &hub.endpoint, &traefik).await?;

    println!("\n== where each service stands");
    for name in names.into_iter().chain([before, after, crate::demo_request::SERVICE]) {
        println!("{}", summary(&api, name).await?);
    }
    println!("\n== what ran as what");
    println!(
        "   real processes: etcd, kube-apiserver, kube-controller-manager, kube-scheduler, the KServe controller, kwok,\n   \
         Traefik (the Gateway API implementation: it accepted every route and served the request)\n   \
         the operator: in this process, as its ServiceAccount with deploy/base's RBAC\n   \
         the real node (kubelet, containerd, kube-proxy): the AIM image's serving pod, as a real container\n   \
         (the AIM runtime stand-in in front of llm-d-inference-sim: the one thing not real is the GPU)\n   \
         kwok (no containers): the GPU servers' kubelet, their inference pods, the storage provisioner\n   \
         local processes: the kwok-side download pods' `aim-operator download`\n   \
         in `scripts/test` also: the operator's Deployment, leader election and download Jobs as real pods"
    );
    Ok(())
}

/// The container runtime of the demo's download pods: runs each download Job's command as a process with the
/// Job's env and ServiceAccount (a directory under `dir` stands for its volume), then reports its end on the pod.
async fn run_download_pods(kubectl: PathBuf, kubeconfig: PathBuf, dir: PathBuf, client: kube::Client) {
    let jobs: Api<k8s_openapi::api::batch::v1::Job> = Api::namespaced(client.clone(), NS);
    let selector = aim_operator::labels::Component::Download.selector();
    let mut started = std::collections::BTreeSet::new();
    loop {
        let listed = jobs.list(&kube::api::ListParams::default().labels(&selector)).await;
        for job in listed.map(|l| l.items).unwrap_or_default() {
            let name = kube::ResourceExt::name_any(&job);
            if job.status.as_ref().and_then(|s| s.completion_time.as_ref()).is_some() || !started.insert(name.clone()) {
                continue;
            }
            let container =
                aim_tests::container::JobContainer::start(&kubectl, &kubeconfig, &job, &dir.join(&name)).await;
            let client = client.clone();
            tokio::spawn(async move {
                let exited = container.exit(client).await;
                let last = exited.stdout.lines().last().unwrap_or_default().to_string();
                println!(
                    "download pod of Job {name} exited ({}): {last}",
                    if exited.ok { "ok" } else { "failed" }
                );
            });
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn wait_running(api: &Api<AIMService>, name: &str) {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(60) {
        if let Ok(s) = api.get(name).await
            && s.status.as_ref().and_then(|s| s.head.status) == Some(ServiceState::Running)
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// One line: state, template, path, and what it waits for.
async fn summary(api: &Api<AIMService>, name: &str) -> anyhow::Result<String> {
    let status = api.get(name).await?.status.unwrap_or_default();
    let state = status.head.status.map_or("Pending".to_string(), |s| format!("{s:?}"));
    let template = status
        .resolved_template
        .map(|t| {
            format!(
                "template {} ({:?}{})",
                t.name,
                t.scope,
                if t.derived { ", derived" } else { "" }
            )
        })
        .unwrap_or_else(|| "no template".into());
    let chosen_by = status
        .decision
        .map(|d| format!(", chosen by {} ({})", d.plugin, &d.digest[..19.min(d.digest.len())]))
        .unwrap_or_default();
    let path = status
        .route_path
        .map(|p| format!(", served at {p}"))
        .unwrap_or_default();
    let ready = status.head.conditions.iter().find(|c| c.type_ == "Ready");
    let why = match ready {
        Some(c) if c.status == "True" => String::new(),
        Some(c) => format!(" — waiting: {} ({})", c.message, c.reason),
        None => String::new(),
    };
    Ok(format!("{name}: {state}; {template}{chosen_by}{path}{why}"))
}

async fn apply(cp: &ControlPlane, yaml: &str) -> anyhow::Result<()> {
    let path = cp.dir().join("demo.yaml");
    std::fs::write(&path, yaml)?;
    print!(
        "{}",
        cp.kubectl(&[
            "apply",
            "--server-side",
            "--field-manager=aim-demo",
            "-f",
            &path.display().to_string()
        ])
        .await?
    );
    Ok(())
}

async fn client(kubeconfig: &Path) -> anyhow::Result<kube::Client> {
    let kubeconfig = kube::config::Kubeconfig::read_from(kubeconfig)?;
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default()).await?;
    Ok(kube::Client::try_from(config)?)
}
