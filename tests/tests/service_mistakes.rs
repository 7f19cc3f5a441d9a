//! Mistakes a new user made, as they met them: each must read as what it is and point at the fix that works.
//! A pod setting Kubernetes refuses is `Failed` (you must act), not `Starting` forever; a `nodeSelector` no node
//! matches says so, not "wait for GPUs"; bounds that cannot fit name a field the API server accepts; a
//! namespace too long for KServe says how short a service name fits, and such a service gets no route.
//!
//! In a binary of its own: it sets the cluster config's routing, and takes the MI355X server's GPUs.

use aim_operator::api::ServiceState;
use aim_tests::scenario::*;
use aim_tests::{TestEnv, operator, test_env, wait};

fn env() -> &'static TestEnv {
    let env = test_env!();
    env.start_operator(operator::test_config());
    env
}

async fn apply(env: &TestEnv, ns: &str, yaml: &str) {
    let out = env.apply(yaml, Some(ns)).await;
    assert!(out.success, "{}\n{yaml}", out.stderr);
}

fn message(s: &aim_operator::api::AIMServiceStatus, t: &str) -> String {
    s.head
        .conditions
        .iter()
        .find(|c| c.type_ == t)
        .map(|c| c.message.clone())
        .unwrap_or_default()
}

#[tokio::test]
async fn a_pod_setting_kubernetes_refuses_is_failed_with_its_words() {
    let env = env();
    let ns = env.namespace("mistake-priority").await;
    let catalog = single_template_catalog(env, "mistake-priority").await;
    apply(
        env,
        &ns,
        &service("svc", &catalog.model, "  priorityClassName: no-such-class\n"),
    )
    .await;
    let s = wait_for(env, &ns, "svc", "Failed", |s| match s.head.status {
        Some(ServiceState::Failed) => Ok(()),
        other => Err(format!("{other:?}")),
    })
    .await;
    let failure = s.head.conditions.iter().find(|c| c.type_ == "Failure").unwrap();
    assert_eq!(
        (failure.status.as_str(), failure.reason.as_str()),
        ("True", "PodsRejected")
    );
    assert!(
        failure.message.contains("no PriorityClass with name no-such-class")
            && failure.message.contains("spec.priorityClassName"),
        "{}",
        failure.message
    );
    let events = env
        .kubectl(&[
            "get",
            "events",
            "-n",
            &ns,
            "--field-selector",
            "involvedObject.kind=AIMService,involvedObject.name=svc,reason=PodsRejected",
            "-o",
            "jsonpath={range .items[*]}{.type};{end}",
        ])
        .await
        .stdout;
    assert!(events.contains("Warning"), "a Warning Event: {events:?}");
}

#[tokio::test]
async fn a_node_selector_no_node_matches_says_so_rather_than_wait_for_gpus() {
    let env = env();
    let ns = env.namespace("mistake-selector").await;
    let catalog = single_template_catalog(env, "mistake-selector").await;
    apply(
        env,
        &ns,
        &service("svc", &catalog.model, "  nodeSelector: {pool: nowhere}\n"),
    )
    .await;
    let s = wait_for(
        env,
        &ns,
        "svc",
        "unschedulable",
        condition("RuntimeReady", "False", "Unschedulable"),
    )
    .await;
    let why = message(&s, "RuntimeReady");
    assert!(
        why.starts_with("the scheduler placed no replica of InferenceService svc: ")
            && why.contains("didn't match Pod's node affinity/selector")
            && why.contains("check spec.nodeSelector"),
        "the scheduler's words first, and what they mean: {why}"
    );
    assert!(!why.contains("freed"), "free GPUs would not help: {why}");
}

#[tokio::test]
async fn bounds_whose_minimum_cannot_fit_name_the_minimum() {
    const EIGHT: Profile = Profile {
        name: "eight",
        precision: "fp8",
        gpus: 8,
        gpu: "MI355X",
    };
    let env = env();
    let ns = env.namespace("mistake-bounds").await;
    let catalog = catalog(env, "mistake-bounds", &[EIGHT], Some("eight")).await;
    // Two replicas of 8 MI355X GPUs, and the cluster has one 8-GPU MI355X server.
    apply(
        env,
        &ns,
        &service(
            "svc",
            &catalog.model,
            "  minReplicas: 2\n  maxReplicas: 2\n  autoScaling: {metric: cpu, target: 70}\n",
        ),
    )
    .await;
    let s = wait_for(env, &ns, "svc", "a replica waiting", |s| {
        let m = message(s, "RuntimeReady");
        if m.contains("cannot fit") { Ok(()) } else { Err(m) }
    })
    .await;
    let why = message(&s, "RuntimeReady");
    assert!(
        why.contains("2 replicas × 8 = 16 MI355X GPUs, and the cluster has 8 in total")
            && why.contains("lower spec.minReplicas (spec.maxReplicas may not be below it)"),
        "{why}"
    );
    assert!(
        !why.contains("lower spec.maxReplicas or"),
        "the API server refuses maxReplicas below minReplicas: {why}"
    );
}

#[tokio::test]
async fn a_namespace_too_long_for_kserve_says_how_short_a_name_fits_and_gets_no_route() {
    let env = env();
    let gw = env.namespace("mistake-gw").await;
    assert!(
        env.apply(&aim_tests::gateway::gateway_yaml(&gw, "gw"), Some(&gw))
            .await
            .success
    );
    let _config = env.cleanup(&["aimclusterconfig", "default"]);
    apply(
        env,
        &gw,
        &format!(
            "apiVersion: aim.silogen.ai/v1alpha1\nkind: AIMClusterConfig\nmetadata:\n  name: default\nspec:\n  routing:\n    \
             gateway: {{name: gw, namespace: {}}}\n",
            gw.as_str()
        ),
    )
    .await;
    // About 40 characters: KServe's host `<name>-predictor-<namespace>` (one DNS label) leaves a dozen for the
    // name, fewer than a shortened name with its hash needs.
    let ns = env.namespace("mistake-long-ns-for-kserve-host").await;
    let catalog = single_template_catalog(env, "mistake-long").await;
    let room = 63 - "-predictor-".len() - ns.len();
    apply(env, &ns, &service("a-long-service-name", &catalog.model, "")).await;
    let s = wait_for(env, &ns, "a-long-service-name", "refused", |s| {
        match s.head.conditions.iter().find(|c| c.type_ == "Failure") {
            Some(c) if c.reason == "RuntimeRejected" => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    let why = message(&s, "RuntimeReady");
    assert!(
        why.starts_with("no InferenceService can be made for this service")
            && why.contains(&format!("name the service with at most {room} character")),
        "{why}"
    );
    assert!(!why.contains("was refused"), "nothing was sent to be refused: {why}");
    assert_eq!(s.route_path, None, "no path to a runtime that cannot be: {s:?}");
    let routes = env
        .kubectl(&["get", "httproutes", "-n", &ns, "-o", "name"])
        .await
        .stdout;
    assert!(routes.trim().is_empty(), "no route: {routes}");
    let routing = s.head.conditions.iter().find(|c| c.type_ == "RoutingReady").unwrap();
    assert_eq!(routing.reason, "WaitingForRuntime");
    // A name that short runs there.
    let short: String = "svc".chars().take(room).collect();
    apply(env, &ns, &service(&short, &catalog.model, "")).await;
    ready(env, &ns, &short).await;
    wait::until("the short service's route", || async {
        let routes = env
            .kubectl(&["get", "httproutes", "-n", &ns, "-o", "name"])
            .await
            .stdout;
        if routes.contains(&short) { Ok(()) } else { Err(routes) }
    })
    .await;
}
