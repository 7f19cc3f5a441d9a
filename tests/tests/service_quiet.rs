//! A quiet steady state asks nothing of the API server: with a service running (cache, runtime and route
//! ready), reconciles triggered by an unrelated change must neither write nor read (the operator reads from its
//! index; the API server sees its watches only). Counted twice: writes cluster-wide from the API server's own
//! metrics, and every request of the operator's ServiceAccount from the API server's audit log. In a test
//! binary of its own, since it counts cluster-wide.

mod service_support;

use aim_operator::controller::model_cache::build::{job_name, pvc_name};
use aim_operator::controller::template_cache::model_cache_name;
use aim_tests::fake_kserve::{FakeGatewayController, FakeKServe};
use aim_tests::kubelet::{Exit, FakeKubelet};
use aim_tests::provisioner::FakeProvisioner;
use aim_tests::{TestEnv, operator, test_env, wait};
use service_support::*;
use std::collections::BTreeMap;

/// Resources the operator writes (or that would show it writing); the test's own writes go to AIMImages.
const WATCHED: [&str; 10] = [
    "aimservices",
    "aimservicetemplates",
    "aimclusterservicetemplates",
    "aimtemplatecaches",
    "modelcaches",
    "inferenceservices",
    "httproutes",
    "persistentvolumeclaims",
    "jobs",
    "aimclusterconfigs",
];

/// Create and update requests per resource, from `apiserver_request_total`. Deletes are left out: the
/// namespace controller may still be emptying namespaces of earlier test binaries.
async fn writes(env: &TestEnv) -> BTreeMap<String, u64> {
    let metrics = env.kubectl(&["get", "--raw", "/metrics"]).await.stdout;
    let mut counts = BTreeMap::new();
    for line in metrics.lines().filter(|l| l.starts_with("apiserver_request_total{")) {
        let label = |name: &str| {
            line.split(&format!("{name}=\""))
                .nth(1)
                .and_then(|r| r.split('"').next())
                .unwrap_or_default()
                .to_string()
        };
        let (verb, resource) = (label("verb"), label("resource"));
        if ["POST", "PUT", "PATCH", "APPLY"].contains(&verb.as_str()) && WATCHED.contains(&resource.as_str()) {
            let value: f64 = line.rsplit(' ').next().and_then(|v| v.parse().ok()).unwrap_or(0.0);
            *counts.entry(format!("{verb} {resource}")).or_default() += value as u64;
        }
    }
    counts
}

#[tokio::test]
async fn a_running_service_writes_nothing_while_nothing_changes() {
    let env = test_env!();
    let operator = env.start_operator(operator::test_config());
    // Let namespaces of earlier test binaries finish terminating.
    wait::until("no terminating namespaces", || async {
        let out = env
            .kubectl(&["get", "namespaces", "-o", "jsonpath={.items[*].status.phase}"])
            .await
            .stdout;
        if out.contains("Terminating") { Err(out) } else { Ok(()) }
    })
    .await;
    let _config = env.cleanup(&["aimclusterconfig", "default"]);
    let config = format!(
        "{API}\nkind: AIMClusterConfig\nmetadata:\n  name: default\nspec:\n  routing:\n    gateway:\n      name: gw\n      namespace: infra\n"
    );
    assert!(env.apply(&config, None).await.success);
    let ns = env.namespace("svc-quiet").await;
    let catalog = catalog(
        env,
        "quiet",
        &[Profile {
            name: "p",
            precision: "fp8",
            gpus: 1,
            gpu: "MI300X",
        }],
        Some("p"),
    )
    .await;
    assert!(
        env.apply(&service("svc", &catalog.model, "  cacheModel: true\n"), Some(&ns))
            .await
            .success
    );

    let cache = model_cache_name(&format!("hf://org/{}-fp8", catalog.template("").trim_end_matches('-')));
    wait::until("the claim", || async {
        Api::<k8s_openapi::api::core::v1::PersistentVolumeClaim>::namespaced(env.client().await, &ns)
            .get_opt(&pvc_name(&cache))
            .await
            .map_err(|e| e.to_string())?
            .ok_or("none".to_string())
    })
    .await;
    FakeProvisioner::new(env.client().await)
        .provision(&ns, &pvc_name(&cache))
        .await;
    FakeKubelet::new(env.client().await, &ns)
        .finish(&job_name(&cache, 0), Exit::Succeeded("ok"))
        .await;
    isvc(env, &ns, "svc").await;
    FakeKServe::new(env.client().await).set_ready(&ns, "svc", true).await;
    route(env, &ns, "svc").await;
    FakeGatewayController::new(env.client().await)
        .set_accepted(&ns, "svc", "infra", "gw", true, "Accepted")
        .await;
    wait_for(env, &ns, "svc", "Running", condition("Ready", "True", "Ready")).await;
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;

    let before = writes(env).await;
    let reconciles_before = operator.context.metrics.runs("aimservice");
    let audit_from = aim_tests::bench::audit::offset(&env.audit_log());
    // An AIMImage change wakes the templates and services of its model: they reconcile and find nothing to do.
    for i in 0..3 {
        let patch = format!("{{\"metadata\":{{\"annotations\":{{\"poke\":\"{i}\"}}}}}}");
        let image = catalog.template("").trim_end_matches('-').to_string();
        assert!(
            env.kubectl(&["patch", "aimimage", &image, "--type=merge", "-p", &patch])
                .await
                .success
        );
        tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    }
    let after = writes(env).await;
    let delta: BTreeMap<&String, u64> = after
        .iter()
        .map(|(k, v)| (k, v - before.get(k).copied().unwrap_or(0)))
        .filter(|(_, d)| *d > 0)
        .collect();
    let requests = aim_tests::bench::audit::count(
        &env.audit_log(),
        audit_from,
        aim_tests::bench::audit::offset(&env.audit_log()),
    );
    let reconciles = operator.context.metrics.runs("aimservice") - reconciles_before;
    println!(
        "during 9 quiet seconds with {reconciles} service reconciles: writes {delta:?}; operator requests {:?}",
        requests.by_verb
    );
    assert!(
        reconciles >= 3,
        "each poke reconciled the service ({reconciles} reconciles)"
    );
    assert!(delta.is_empty(), "the operator wrote during a quiet period: {delta:?}");
    assert_eq!(
        (requests.reads(), requests.writes()),
        (0, 0),
        "the operator asked the API server for something during a quiet period: {:?}",
        requests.by_verb
    );
}

use kube::api::Api;
