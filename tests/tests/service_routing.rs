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
    // Every route gets the gateway's timeout annotation; only `team` and `example.com/…` labels follow a service.
    let config = |auto: bool| {
        format!(
            "{API}\nkind: AIMClusterConfig\nmetadata:\n  name: default\nspec:\n  routing:\n    gateway:\n      name: public-gw\n      namespace: {gw_ns}\n    autoCreateRoute: {auto}\n    routeAnnotations:\n      gateway.example.com/timeout: 300s\n      gateway.example.com/retries: \"2\"\n  propagateLabels: [team, example.com/*]\n"
        )
    };
    assert!(env.apply(&config(true), None).await.success);
    let ns = env.namespace("svc-route").await;
    let catalog = single_template_catalog(env, "route").await;
    for name in ["ok", "rejected"] {
        assert!(env.apply(&service(name, &catalog.model, ""), Some(&ns)).await.success);
        isvc(env, &ns, name).await;
    }
    // A cached service with labels and annotations of its own, to follow its start and its metadata.
    let cached = format!(
        "{API}\nkind: AIMService\nmetadata:\n  name: cached\n  labels:\n    team: nlp\n    example.com/cost-center: \"42\"\n    \
         tier: gold\n  annotations:\n    gateway.example.com/timeout: 900s\nspec:\n  aimModelId: {}\n  cacheModel: true\n",
        catalog.model
    );
    assert!(env.apply(&cached, Some(&ns)).await.success);

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
    // The runtime serves while the route waits for its gateway: Running, with RoutingReady saying why not yet.
    let s = wait_for(env, &ns, "ok", "Running, waiting for the gateway", |s| {
        condition("RoutingReady", "False", "ConfiguringRoute")(s)?;
        condition("RuntimeReady", "True", "RuntimeReady")(s)
    })
    .await;
    assert_eq!(s.route_path.as_deref(), Some(path.as_str()));
    assert_eq!(s.head.status, Some(ServiceState::Running));
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
    ready(env, &ns, "ok").await;
    the_start_is_recorded_phase_by_phase(env, &ns).await;

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
    ready(env, &ns, "rejected").await;

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

/// The cached service's start, once it is Ready: every phase from what the cluster reported, the time to ready
/// in `-o wide`, and the slowest phase in the `Ready` message. kwok writes a pod's scheduling-to-ready states in
/// one step and finishes a download Job at once (no image pull, no model load, no bytes to fetch), so those
/// phases last about nothing here; the longest wait is for the Gateway, which the test creates late.
async fn the_start_is_recorded_phase_by_phase(env: &aim_tests::TestEnv, ns: &str) {
    let s = ready(env, ns, "cached").await;
    let startup = s.startup.clone().expect("a new service records its start");
    let names: Vec<&str> = startup.phases.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "Resolved",
            "CacheWarm",
            "RuntimeCreated",
            "PodsScheduled",
            "ImagePulled",
            "ContainersReady",
            "RouteAccepted"
        ]
    );
    assert!(
        startup
            .phases
            .iter()
            .all(|p| p.started.is_some() && p.finished.is_some() && p.duration.is_some()),
        "{:#?}",
        startup.phases
    );
    let took = startup.time_to_ready.clone().expect("the time to ready");
    // The slowest phase named is the longest one.
    let seconds = |d: &str| {
        d.split_inclusive(['h', 'm', 's']).fold(0, |total, part| {
            let (n, unit) = part.split_at(part.len() - 1);
            total
                + n.parse::<i64>().unwrap_or(0)
                    * [("h", 3600), ("m", 60), ("s", 1)]
                        .iter()
                        .find(|(u, _)| *u == unit)
                        .map_or(0, |(_, f)| *f)
        })
    };
    let longest = startup
        .phases
        .iter()
        .map(|p| seconds(p.duration.as_deref().unwrap_or_default()))
        .max()
        .unwrap_or_default();
    let slowest = startup.slowest.clone().expect("the slowest phase");
    assert_eq!(
        seconds(slowest.split(' ').next().unwrap_or_default()),
        longest,
        "{slowest}: {:#?}",
        startup.phases
    );
    assert!(
        message(&s, "Ready").starts_with(&format!("serving; ready in {took}; ")),
        "{}",
        message(&s, "Ready")
    );
    let wide = env.kubectl(&["get", "aimsvc", "cached", "-n", ns, "-o", "wide"]).await;
    let lines: Vec<&str> = wide.stdout.lines().collect();
    assert!(
        lines[0].contains("TIME-TO-READY") && lines[1].contains(&took),
        "{}",
        wide.stdout
    );

    // Its labels follow as the cluster config says, and the route has the config's annotations under its own.
    let r = route(env, ns, "cached").await;
    assert_eq!(r["metadata"]["labels"]["team"], "nlp");
    assert_eq!(r["metadata"]["labels"]["example.com/cost-center"], "42");
    assert!(r["metadata"]["labels"].get("tier").is_none(), "not in propagateLabels");
    assert_eq!(
        r["metadata"]["annotations"]["gateway.example.com/timeout"], "900s",
        "the service's own wins"
    );
    assert_eq!(r["metadata"]["annotations"]["gateway.example.com/retries"], "2");
    let i = isvc(env, ns, "cached").await;
    assert_eq!(i["metadata"]["labels"]["team"], "nlp");
    assert!(i["metadata"]["labels"].get("tier").is_none());
}
