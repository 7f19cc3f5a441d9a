//! What a cluster admin meets when a running service changes or someone edits its children, as the first
//! users met it: a change that needs no new pod makes none (nothing the operator keeps for itself reaches the
//! pods), every repair leaves an Event saying what it repaired, and a repair is not called Degraded.
//!
//! One test in its own binary: it sets the cluster config's routing (the cluster's one `AIMClusterConfig`).

use aim_operator::api::ServiceState;
use aim_tests::scenario::*;
use aim_tests::{TestEnv, operator, test_env, wait};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

fn env() -> &'static TestEnv {
    let env = test_env!();
    env.start_operator(operator::test_config());
    env
}

const ONE: Profile = Profile {
    name: "one",
    precision: "fp8",
    gpus: 1,
    gpu: "MI300X",
};

async fn apply(env: &TestEnv, ns: &str, yaml: &str) {
    let out = env.apply(yaml, Some(ns)).await;
    assert!(out.success, "{}\n{yaml}", out.stderr);
}

async fn kubectl(env: &TestEnv, args: &[&str]) -> String {
    let out = env.kubectl(args).await;
    assert!(out.success, "kubectl {args:?}: {}", out.stderr);
    out.stdout
}

/// The predictor's pods: their names and pod-template hashes (a new pod or a new ReplicaSet changes them).
async fn pods(env: &TestEnv, ns: &str, name: &str) -> BTreeSet<(String, String)> {
    let api: Api<Pod> = Api::namespaced(env.client().await, ns);
    api.list(&ListParams::default().labels(&format!("serving.kserve.io/inferenceservice={name}")))
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .map(|p| {
            let hash = p
                .metadata
                .labels
                .as_ref()
                .and_then(|l| l.get("pod-template-hash").cloned())
                .unwrap_or_default();
            (p.metadata.name.unwrap_or_default(), hash)
        })
        .collect()
}

/// Waits a moment for KServe to act on a change, then asserts the predictor's pods are the same ones.
async fn no_new_pods(env: &TestEnv, ns: &str, before: &BTreeSet<(String, String)>, after_what: &str) {
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(&pods(env, ns, "svc").await, before, "{after_what} made new pods");
}

/// The service's `type|reason|message` Events of reason `Restored` or `Recreated`, one per line.
async fn repair_events(env: &TestEnv, ns: &str) -> String {
    kubectl(
        env,
        &[
            "get",
            "events",
            "-n",
            ns,
            "--field-selector",
            "involvedObject.kind=AIMService,involvedObject.name=svc",
            "-o",
            "jsonpath={range .items[*]}{.type}|{.reason}|{.message}{\"\\n\"}{end}",
        ],
    )
    .await
    .lines()
    .filter(|l| l.contains("|Restored|") || l.contains("|Recreated|"))
    .collect::<Vec<_>>()
    .join("\n")
}

async fn event_saying(env: &TestEnv, ns: &str, what: &str) -> String {
    wait::until(&format!("an Event saying {what}"), || async {
        let events = repair_events(env, ns).await;
        events
            .lines()
            .find(|l| l.contains(what))
            .map(str::to_string)
            .ok_or(events)
    })
    .await
}

#[tokio::test]
async fn changes_that_need_no_new_pod_make_none_and_every_repair_says_what_it_repaired() {
    let env = env();
    let ns = env.namespace("repairs").await;
    let catalog = catalog(env, "repairs", &[ONE], Some("one")).await;
    let gw_ns = env.namespace("repairs-gw").await;
    apply(env, &gw_ns, &aim_tests::gateway::gateway_yaml(&gw_ns, "gw")).await;
    let config = |annotations: &str| {
        format!(
            "apiVersion: aim.silogen.ai/v1alpha1\nkind: AIMClusterConfig\nmetadata:\n  name: default\nspec:\n  routing:\n    \
             gateway: {{name: gw, namespace: {}}}\n{annotations}",
            gw_ns.as_str()
        )
    };
    let _config = env.cleanup(&["aimclusterconfig", "default"]);
    apply(env, &ns, &config("")).await;
    let spec =
        |max: u32| format!("  minReplicas: 1\n  maxReplicas: {max}\n  autoScaling: {{metric: cpu, target: 70}}\n");
    apply(env, &ns, &service("svc", &catalog.model, &spec(3))).await;
    let running = ready(env, &ns, "svc").await;
    assert!(running.route_path.is_some(), "routed");
    let before = pods(env, &ns, "svc").await;
    assert_eq!(before.len(), 1, "{before:?}");
    let isvc_annotations = isvc(env, &ns, "svc").await["metadata"]["annotations"].clone();
    assert!(
        isvc_annotations.get("aim.silogen.ai/applied-hash").is_none(),
        "nothing the operator keeps for itself is on the InferenceService, whose annotations reach the pods: {isvc_annotations}"
    );

    // A new bound: only the autoscaler needs it.
    apply(env, &ns, &service("svc", &catalog.model, &spec(4))).await;
    wait::until("the new bound on the InferenceService", || async {
        let max = isvc(env, &ns, "svc").await["spec"]["predictor"]["maxReplicas"].clone();
        if max == 4 { Ok(()) } else { Err(format!("{max}")) }
    })
    .await;
    no_new_pods(env, &ns, &before, "raising maxReplicas").await;

    // A route annotation from the cluster config: the route's alone.
    apply(env, &ns, &config("    routeAnnotations: {example.com/timeout: 300s}\n")).await;
    wait::until("the annotation on the route", || async {
        let route = kubectl(
            env,
            &[
                "get",
                "httproute",
                "svc",
                "-n",
                &ns,
                "-o",
                "jsonpath={.metadata.annotations}",
            ],
        )
        .await;
        if route.contains("example.com/timeout") {
            Ok(())
        } else {
            Err(route)
        }
    })
    .await;
    no_new_pods(env, &ns, &before, "a route annotation").await;

    // A hand edit of a field outside the pod: put back, said so, and no new pod.
    kubectl(
        env,
        &[
            "patch",
            "inferenceservice",
            "svc",
            "-n",
            &ns,
            "--type=json",
            "-p",
            r#"[{"op":"replace","path":"/spec/predictor/maxReplicas","value":9}]"#,
        ],
    )
    .await;
    let replicas = event_saying(env, &ns, "spec.predictor.maxReplicas").await;
    assert!(replicas.starts_with("Normal|Restored|InferenceService"), "{replicas}");
    no_new_pods(env, &ns, &before, "putting maxReplicas back").await;

    // A hand edit of the pod (its env): put back, a rollout either way, and the service is not called Degraded
    // while the old pod serves.
    kubectl(
        env,
        &[
            "patch",
            "inferenceservice",
            "svc",
            "-n",
            &ns,
            "--type=json",
            "-p",
            r#"[{"op":"add","path":"/spec/predictor/containers/0/env/-","value":{"name":"EDITED","value":"by hand"}}]"#,
        ],
    )
    .await;
    let mut seen = Vec::new();
    let start = Instant::now();
    let env_event = loop {
        seen.push(status(env, &ns, "svc").await.head.status);
        let events = repair_events(env, &ns).await;
        if let Some(line) = events.lines().find(|l| l.contains("containers[0].env")) {
            break line.to_string();
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no Event for the env: {events}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    for _ in 0..30 {
        seen.push(status(env, &ns, "svc").await.head.status);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        !seen.contains(&Some(ServiceState::Degraded)),
        "a repair that rolls is not Degraded: {seen:?}"
    );
    assert!(env_event.contains("was changed outside the operator"), "{env_event}");
    assert_ne!(
        env_event, replicas,
        "each repair has its own Event and says what it repaired"
    );

    // The route, deleted and edited: each put back, and said so.
    kubectl(env, &["delete", "httproute", "svc", "-n", &ns]).await;
    let recreated = event_saying(env, &ns, "HTTPRoute svc: it was deleted").await;
    assert!(recreated.starts_with("Normal|Recreated|"), "{recreated}");
    wait::until("the route back", || async {
        let out = env.kubectl(&["get", "httproute", "svc", "-n", &ns]).await;
        if out.success { Ok(()) } else { Err(out.stderr) }
    })
    .await;
    kubectl(
        env,
        &[
            "patch",
            "httproute",
            "svc",
            "-n",
            &ns,
            "--type=json",
            "-p",
            r#"[{"op":"replace","path":"/spec/rules/0/matches/0/path/value","value":"/elsewhere"}]"#,
        ],
    )
    .await;
    let path = event_saying(env, &ns, "HTTPRoute svc: spec.rules[0].matches[0].path.value").await;
    assert!(path.starts_with("Normal|Restored|"), "{path}");
    let events = repair_events(env, &ns).await;
    println!("repair Events:\n{events}");
    assert!(events.lines().count() >= 4, "one Event per repair: {events}");
}
