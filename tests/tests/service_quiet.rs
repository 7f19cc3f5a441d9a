//! A quiet steady state asks nothing of the API server: with a service running on the local cluster (cache,
//! runtime and route ready), reconciles triggered by an unrelated change must neither write nor read (the operator reads from its
//! index; the API server sees its watches only). Counted twice: writes cluster-wide from the API server's own
//! metrics, and every request of the operator's ServiceAccount from the API server's audit log. In a test
//! binary of its own, since it counts cluster-wide.

use aim_tests::scenario::*;
use aim_tests::{TestEnv, operator, test_env};
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
    settled(env).await;
    let _config = env.cleanup(&["aimclusterconfig", "default"]);
    let gw_ns = format!("quiet-gw-{}", std::process::id());
    let _gw_ns = env.cleanup(&["namespace", &gw_ns]);
    assert!(env.kubectl(&["create", "namespace", &gw_ns]).await.success);
    assert!(
        env.apply(&aim_tests::gateway::gateway_yaml(&gw_ns, "gw"), None)
            .await
            .success
    );
    let config = format!(
        "{API}\nkind: AIMClusterConfig\nmetadata:\n  name: default\nspec:\n  routing:\n    gateway:\n      name: gw\n      namespace: {gw_ns}\n"
    );
    assert!(env.apply(&config, None).await.success);
    let ns = env.namespace("svc-quiet").await;
    let catalog = single_template_catalog(env, "quiet").await;
    assert!(
        env.apply(&service("svc", &catalog.model, "  cacheModel: true\n"), Some(&ns))
            .await
            .success
    );

    // The whole chain runs by itself: the cache's volume (kwok), its download (kwok), the InferenceService
    // (KServe, the scheduler, kwok) and the route (the local gateway).
    isvc(env, &ns, "svc").await;
    route(env, &ns, "svc").await;
    ready(env, &ns, "svc").await;
    // Nothing changes from here: wait until KServe, too, has stopped writing to the InferenceService.
    let mut last = String::new();
    let mut stable_since = std::time::Instant::now();
    while stable_since.elapsed() < std::time::Duration::from_secs(3) {
        let rv = isvc(env, &ns, "svc").await["metadata"]["resourceVersion"].to_string();
        if rv != last {
            last = rv;
            stable_since = std::time::Instant::now();
        }
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }

    let before = writes(env).await;
    let reconciles_before = operator.context.metrics.runs("aimservice");
    let audit_from = aim_tests::audit::offset(&env.audit_log());
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
    let requests = aim_tests::audit::count(&env.audit_log(), audit_from, aim_tests::audit::offset(&env.audit_log()));
    let reconciles = operator.context.metrics.runs("aimservice") - reconciles_before;
    println!(
        "during 9 quiet seconds with {reconciles} service reconciles: writes {delta:?}; operator requests {:?} {:?}",
        requests.by_verb, requests.writes_by_resource
    );
    if !delta.is_empty() {
        println!("service: {:#?}", status(env, &ns, "svc").await.head.conditions);
        println!("isvc: {:#}", isvc(env, &ns, "svc").await["status"]);
    }
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
