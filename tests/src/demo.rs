//! The embedded demo (`scripts/demo`): a local control plane, the CRDs, a catalog pack, `AIMClusterConfig`,
//! the operator with its default plugins, one service for each of the four patterns, the `kubectl get`
//! tables and one line per service; then a plugin swap that changes a decision.
//!
//! No kubelet, storage provisioner, KServe or gateway controller runs here: `FakeCluster` writes the status
//! they would write (discovery results, bound volumes, ready InferenceServices, accepted routes), and the demo
//! says so.

use crate::controlplane::ControlPlane;
use crate::fake_cluster::FakeCluster;
use aim_operator::api::{AIMService, ServiceState};
use aim_operator::policy::PolicyKind;
use anyhow::Context as _;
use kube::api::Api;
use std::path::Path;
use std::time::{Duration, Instant};

const NS: &str = "team-a";
const MODEL: &str = "meta-llama/Llama-3.1-8B-Instruct";

fn services() -> String {
    let svc = |name: &str, spec: &str| {
        format!(
            "apiVersion: aim.silogen.ai/v1alpha1\nkind: AIMService\nmetadata:\n  name: {name}\n  namespace: {NS}\nspec:\n  aimModelId: {MODEL}\n{spec}---\n"
        )
    };
    [
        // (a) model only: the pack's default template, with on-demand caching.
        svc("llama3-svc", "  cacheModel: true\n"),
        // (b) a namespace template, referenced.
        format!("apiVersion: aim.silogen.ai/v1alpha1\nkind: AIMServiceTemplate\nmetadata:\n  name: llama3-8b-fast\n  namespace: {NS}\nspec:\n  modelId: {MODEL}\n  metric: latency\n  precision: fp8\n  gpuSelector:\n    count: 1\n    model: MI300X\n---\n"),
        svc("llama3-fast-svc", "  templateRef: llama3-8b-fast\n"),
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
    // The Gateway the config names (a gateway controller would program it; here it is only the object).
    kubectl(s(&["create", "namespace", "infra-gw"])).await?;
    apply(cp, "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata:\n  name: public-gw\n  namespace: infra-gw\nspec:\n  gatewayClassName: example\n  listeners:\n  - name: http\n    port: 80\n    protocol: HTTP\n    allowedRoutes:\n      namespaces:\n        from: All\n").await?;
    kubectl(s(&["create", "namespace", NS])).await?;

    let running = crate::operator::start(
        cp.kubeconfig().to_path_buf(),
        cp.kubectl_path().to_path_buf(),
        crate::operator::test_config(),
    );
    let client = client(cp.kubeconfig()).await?;
    println!(
        "== operator running with the built-in plugins; FakeCluster plays kubelet, storage provisioner, KServe and the gateway"
    );
    let _fake = FakeCluster::start(client.clone(), vec![NS.into(), "aim-system".into()], &["aim-local-rwx"]);

    println!("\n== the four service patterns");
    apply(cp, &services()).await?;
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
            if api.get(name).await?.status.and_then(|s| s.status) == Some(ServiceState::Running) {
                running_now += 1;
            }
        }
        if running_now == names.len() || start.elapsed() > Duration::from_secs(120) {
            break;
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
        "httproutes",
    ] {
        println!("\n$ kubectl get {kind} -A");
        print!("{}", kubectl(s(&["get", kind, "-A"])).await?);
    }
    println!("\n== where each service stands");
    for name in names {
        println!("{}", summary(&api, name).await?);
    }

    println!("\n== swapping the matcher plugin");
    let before = "llama3-throughput";
    apply(cp, &format!("apiVersion: aim.silogen.ai/v1alpha1\nkind: AIMService\nmetadata:\n  name: {before}\n  namespace: {NS}\nspec:\n  aimModelId: {MODEL}\n  overrides:\n    metric: throughput\n")).await?;
    wait_resolved(&api, before).await;
    println!("{}", summary(&api, before).await?);
    let plugin = running.plugin_dir.join("matcher.wasm");
    std::fs::write(
        plugin.with_extension("tmp"),
        aim_operator::policy::builtin::test_plugins::HOSTILE_MATCHER,
    )?;
    std::fs::rename(plugin.with_extension("tmp"), &plugin).context("install the new matcher")?;
    println!(
        "wrote {} (a test plugin that always takes the first candidate)",
        plugin.display()
    );
    let start = Instant::now();
    while running.policy.current(PolicyKind::Matcher).provenance.plugin != "matcher.wasm"
        && start.elapsed() < Duration::from_secs(30)
    {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    println!(
        "the operator switched to {}",
        running.policy.current(PolicyKind::Matcher).provenance
    );
    let after = "llama3-throughput-2";
    apply(cp, &format!("apiVersion: aim.silogen.ai/v1alpha1\nkind: AIMService\nmetadata:\n  name: {after}\n  namespace: {NS}\nspec:\n  aimModelId: {MODEL}\n  overrides:\n    metric: throughput\n")).await?;
    wait_resolved(&api, after).await;
    println!("{}", summary(&api, after).await?);
    println!("(the same request, decided by the new plugin; {before} keeps the template it resolved to)");
    Ok(())
}

async fn wait_resolved(api: &Api<AIMService>, name: &str) {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(60) {
        if let Ok(s) = api.get(name).await
            && s.status.as_ref().is_some_and(|s| s.resolved_template.is_some())
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// One line: state, template, path, and what it waits for.
async fn summary(api: &Api<AIMService>, name: &str) -> anyhow::Result<String> {
    let status = api.get(name).await?.status.unwrap_or_default();
    let state = status.status.map_or("Pending".to_string(), |s| format!("{s:?}"));
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
    let ready = status.conditions.iter().find(|c| c.type_ == "Ready");
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
