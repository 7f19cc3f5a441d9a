use super::*;
use crate::fixtures;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;

fn owner() -> OwnerReference {
    OwnerReference {
        api_version: "aim.silogen.ai/v1alpha1".into(),
        kind: "AIMService".into(),
        name: "llama3-svc".into(),
        uid: "u1".into(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

fn metric(extra: serde_json::Value) -> AutoScaling {
    let mut m = json!({ "metric": "waitingRequests", "target": 4 });
    m.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    serde_json::from_value(m).unwrap()
}

#[test]
fn the_scaled_object_wakes_on_the_interceptor_and_scales_on_the_services_metric() {
    let wake = WakeConfig {
        scaler: "10.0.0.5:9090".into(),
        ..Default::default()
    };
    let so = scaled_object(
        &fixtures::service(),
        "llama3-svc",
        owner(),
        3,
        &metric(json!({ "idleSeconds": 120, "scaleDownDelaySeconds": 30 })),
        "http://prometheus:9090",
        "sum(q)",
        &wake,
    );
    let spec = &so["spec"];
    assert_eq!(
        spec["scaleTargetRef"]["name"], "llama3-svc-predictor",
        "KServe's Deployment"
    );
    assert_eq!(
        (spec["minReplicaCount"].clone(), spec["maxReplicaCount"].clone()),
        (json!(0), json!(3))
    );
    assert_eq!(spec["cooldownPeriod"], 120, "idle this long, the last replica goes");
    assert_eq!(
        spec["triggers"][0],
        json!({ "type": "external-push", "metadata": { "scalerAddress": "10.0.0.5:9090", "interceptorRoute": "llama3-svc" } })
    );
    assert_eq!(spec["triggers"][1]["metadata"]["threshold"], "4");
    assert_eq!(spec["triggers"][1]["metadata"]["query"], "sum(q)");
    assert_eq!(
        spec["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"],
        30
    );
    assert_eq!(so["metadata"]["ownerReferences"][0]["name"], "llama3-svc");
    assert_eq!(so["metadata"]["labels"]["aim.silogen.ai/component"], "wake");
}

#[test]
fn without_idle_seconds_the_service_sleeps_after_kedas_default() {
    let so = scaled_object(
        &fixtures::service(),
        "llama3-svc",
        owner(),
        2,
        &metric(json!({})),
        "http://p:9090",
        "q",
        &WakeConfig::default(),
    );
    assert_eq!(so["spec"]["cooldownPeriod"], DEFAULT_IDLE_SECONDS);
    assert!(so["spec"].get("advanced").is_none());
    assert_eq!(
        so["spec"]["triggers"][0]["metadata"]["scalerAddress"], "keda-add-ons-http-external-scaler.keda:9090",
        "the add-on chart's scaler"
    );
}

#[test]
fn the_interceptor_sends_the_services_header_to_its_predictor_and_holds_it_for_the_wait() {
    let ir = interceptor_route(&fixtures::service(), "llama3-svc", owner(), 600);
    assert_eq!(
        ir["spec"]["target"],
        json!({ "service": "llama3-svc-predictor", "port": 80 })
    );
    assert_eq!(
        ir["spec"]["rules"][0]["headers"][0],
        json!({ "name": SERVICE_HEADER, "value": "team-a/llama3-svc" })
    );
    assert_eq!(ir["spec"]["timeouts"]["readiness"], "600s");
}

#[test]
fn the_route_goes_through_the_interceptor_marked_with_the_service() {
    let mut route = json!({ "spec": { "rules": [{
        "filters": [{ "type": "URLRewrite" }],
        "backendRefs": [{ "name": "llama3-svc-predictor", "port": 80 }],
    }] } });
    through_interceptor(&mut route, "team-a", "llama3-svc", &InterceptorRef::default());
    let rule = &route["spec"]["rules"][0];
    assert_eq!(
        rule["backendRefs"],
        json!([{ "name": "keda-add-ons-http-interceptor-proxy", "namespace": "keda", "port": 8080 }])
    );
    assert_eq!(rule["filters"][0]["type"], "URLRewrite", "the path is still rewritten");
    assert_eq!(
        rule["filters"][1]["requestHeaderModifier"]["set"][0],
        json!({ "name": SERVICE_HEADER, "value": "team-a/llama3-svc" })
    );
}

#[test]
fn one_grant_per_namespace_lets_its_routes_reach_the_interceptor_only() {
    let grant = reference_grant("team-a", &InterceptorRef::default());
    assert_eq!(grant["metadata"]["namespace"], "keda");
    assert_eq!(grant["metadata"]["name"], grant_name("team-a"));
    assert_eq!(grant["spec"]["from"][0]["namespace"], "team-a");
    assert_eq!(
        grant["spec"]["to"],
        json!([{ "group": "", "kind": "Service", "name": "keda-add-ons-http-interceptor-proxy" }])
    );
    assert_eq!(grant["metadata"]["labels"][labels::GRANTS_NAMESPACE], "team-a");
}
