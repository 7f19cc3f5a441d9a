//! Routing, in a test binary of its own: `AIMClusterConfig default` is cluster-wide, and turning routing on
//! would change every other service test's expectations. The local gateway (the control plane's `GatewayAcceptance`) accepts routes once their Gateway exists.

use aim_operator::api::ServiceState;
use aim_tests::scenario::*;
use aim_tests::{operator, test_env, wait};
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind};

#[tokio::test]
async fn routes_follow_the_cluster_config_and_routing_ready_follows_the_gateway() {
    let env = test_env!();
    env.start_operator(operator::test_config());
    let _config = env.cleanup(&["aimclusterconfig", "default"]);
    // A Gateway namespace of this run's own: the Gateway does not exist until the test creates it.
    let gw_ns = format!("gw-{}", std::process::id());
    let _gw_ns = env.cleanup(&["namespace", &gw_ns]);
    let config = |auto: bool| {
        format!(
            "{API}\nkind: AIMClusterConfig\nmetadata:\n  name: default\nspec:\n  routing:\n    gateway:\n      name: public-gw\n      namespace: {gw_ns}\n    autoCreateRoute: {auto}\n"
        )
    };
    assert!(env.apply(&config(true), None).await.success);
    let ns = env.namespace("svc-route").await;
    let catalog = catalog(
        env,
        "route",
        &[Profile {
            name: "p",
            precision: "fp8",
            gpus: 1,
            gpu: "MI300X",
        }],
        Some("p"),
    )
    .await;
    for name in ["ok", "rejected"] {
        assert!(env.apply(&service(name, &catalog.model, ""), Some(&ns)).await.success);
        isvc(env, &ns, name).await;
    }

    let ok_route = route(env, &ns, "ok").await;
    let uid = Api::<aim_operator::api::AIMService>::namespaced(env.client().await, &ns)
        .get("ok")
        .await
        .unwrap()
        .metadata
        .uid
        .unwrap();
    let path = format!("/{ns}/{uid}");
    assert_eq!(ok_route["metadata"]["ownerReferences"][0]["name"], "ok");
    let decided_by = ok_route["metadata"]["annotations"]["aim.silogen.ai/path-decided-by"]
        .as_str()
        .unwrap_or_default();
    assert!(
        decided_by.starts_with("builtin:router (sha256:"),
        "the route names the plugin that chose its path: {decided_by}"
    );
    assert_eq!(ok_route["spec"]["parentRefs"][0]["name"], "public-gw");
    assert_eq!(ok_route["spec"]["parentRefs"][0]["namespace"], gw_ns.as_str());
    let rule = &ok_route["spec"]["rules"][0];
    assert_eq!(rule["matches"][0]["path"]["value"], path.as_str());
    assert_eq!(rule["filters"][0]["urlRewrite"]["path"]["replacePrefixMatch"], "/");
    assert_eq!(rule["backendRefs"][0]["name"], "ok-predictor");
    assert_eq!(rule["backendRefs"][0]["port"], 80);
    let s = wait_for(
        env,
        &ns,
        "ok",
        "waiting for the gateway",
        condition("RoutingReady", "False", "ConfiguringRoute"),
    )
    .await;
    assert_eq!(s.route_path.as_deref(), Some(path.as_str()));
    assert_eq!(
        s.head.status,
        Some(ServiceState::Running),
        "the runtime serves while the route waits for its gateway"
    );
    assert_eq!(
        s.head
            .conditions
            .iter()
            .find(|c| c.type_ == "Ready")
            .map(|c| c.reason.as_str()),
        Some("ConfiguringRoute"),
        "Ready says what it waits for"
    );

    // The Gateway appears; the local gateway accepts the routes attached to it.
    assert!(env.kubectl(&["create", "namespace", &gw_ns]).await.success);
    let gw = env
        .apply(&aim_tests::gateway::gateway_yaml(&gw_ns, "public-gw"), None)
        .await;
    assert!(gw.success, "{}", gw.stderr);
    let s = wait_for(
        env,
        &ns,
        "ok",
        "routed",
        condition("RoutingReady", "True", "RouteReady"),
    )
    .await;
    assert!(message(&s, "RoutingReady").contains(&format!("served at {path}")));
    wait_for(env, &ns, "ok", "Running", condition("Ready", "True", "Ready")).await;

    route(env, &ns, "rejected").await;
    wait_for(
        env,
        &ns,
        "rejected",
        "routed",
        condition("RoutingReady", "True", "RouteReady"),
    )
    .await;
    aim_tests::gateway::reject(
        &env.client().await,
        &ns,
        "rejected",
        (&gw_ns, "public-gw"),
        "NotAllowedByListeners",
    )
    .await;
    let s = wait_for(
        env,
        &ns,
        "rejected",
        "route failed",
        condition("RoutingReady", "False", "RouteFailed"),
    )
    .await;
    assert!(
        message(&s, "Failure").contains("did not accept route rejected: NotAllowedByListeners"),
        "{}",
        message(&s, "Failure")
    );

    // Routing off: the route goes, and the service no longer waits for a gateway.
    assert!(env.apply(&config(false), None).await.success);
    let routes: Api<DynamicObject> = Api::namespaced_with(
        env.client().await,
        &ns,
        &ApiResource::from_gvk(&GroupVersionKind::gvk("gateway.networking.k8s.io", "v1", "HTTPRoute")),
    );
    wait::until("the routes to be removed", || async {
        let list = routes.list(&Default::default()).await.map_err(|e| e.to_string())?;
        if list.items.is_empty() {
            Ok(())
        } else {
            Err(format!("{} left", list.items.len()))
        }
    })
    .await;
    wait_for(
        env,
        &ns,
        "rejected",
        "routing disabled",
        condition("RoutingReady", "True", "RoutingDisabled"),
    )
    .await;
    wait_for(env, &ns, "rejected", "Running", condition("Ready", "True", "Ready")).await;

    // The config gains a gateway that does not exist yet: a serving service stays Running, and RoutingReady
    // says what it waits for.
    let later = format!(
        "{API}\nkind: AIMClusterConfig\nmetadata:\n  name: default\nspec:\n  routing:\n    gateway:\n      name: later-gw\n      namespace: {gw_ns}\n    autoCreateRoute: true\n"
    );
    assert!(env.apply(&later, None).await.success);
    let s = wait_for(
        env,
        &ns,
        "rejected",
        "waiting for the new gateway",
        condition("RoutingReady", "False", "ConfiguringRoute"),
    )
    .await;
    assert_eq!(s.head.status, Some(ServiceState::Running), "it still serves");
    assert!(
        message(&s, "RoutingReady").contains("later-gw"),
        "{}",
        message(&s, "RoutingReady")
    );
}
