//! The plan of a service that scales to zero: idle, waking, and where the cluster holds the waking request
//! (KEDA's HTTP add-on) or cannot.

use super::*;
use crate::upstream::{InterceptorRoute, ReferenceGrant, ScaledObject};

/// A service scaling between 0 and 2 where the cluster holds the waking request as `wake` says, its
/// predictor's Deployment at `deployed` (wanted, ready) and KServe saying `runtime`, after being `was`.
fn sleeper(wake: Wake, deployed: (i32, usize), runtime: &str, was: ServiceState) -> Plan {
    let i = isvc(runtime);
    let r = route(Some("True"));
    let mut c = case(on_gpus(1));
    c.isvc = Some(&i);
    c.routing = routed();
    c.route = Some(&r);
    c.deployed = Some(deployed);
    c.was = Some(was);
    c.wake = Some(wake);
    run(c)
}

fn message(p: &Plan, t: &str) -> String {
    conditions::get(&p.status.head.conditions, t).unwrap().message.clone()
}

#[test]
fn a_service_at_zero_is_idle_ready_and_says_a_request_wakes_it() {
    let p = sleeper(Wake::Served, (0, 0), "True", ServiceState::Running);
    assert_eq!(p.status.head.status, Some(ServiceState::Idle));
    assert_cond(&p, types::READY, "True", reasons::SCALED_TO_ZERO);
    assert!(
        message(&p, types::READY).contains("the next request through its route wakes it"),
        "{}",
        message(&p, types::READY)
    );
    assert_eq!(p.status.replicas.clone().unwrap().summary, "0/0 (0-2)");
    // Its own ScaledObject and InterceptorRoute, its namespace's grant; KServe leaves the count alone.
    assert_eq!(p.writes.objects::<ScaledObject>().len(), 1);
    assert_eq!(p.writes.objects::<InterceptorRoute>().len(), 1);
    assert_eq!(p.writes.objects::<ReferenceGrant>().len(), 1);
    assert_eq!(
        p.isvc().unwrap()["metadata"]["annotations"]["serving.kserve.io/autoscalerClass"],
        "external"
    );
    let RouteAction::Apply(route) = p.route() else {
        panic!("the route goes through the interceptor");
    };
    assert_eq!(
        route["spec"]["rules"][0]["backendRefs"][0]["name"],
        "keda-add-ons-http-interceptor-proxy"
    );
}

#[test]
fn a_service_woken_from_zero_is_starting_and_says_requests_wait() {
    let p = sleeper(Wake::Served, (1, 0), "False", ServiceState::Idle);
    assert_eq!(p.status.head.status, Some(ServiceState::Starting));
    assert_cond(&p, types::RUNTIME_READY, "False", reasons::WAKING);
    assert!(message(&p, types::RUNTIME_READY).contains("requests wait until one answers"));
    let wake = p.status.last_wake.clone().expect("a wake is being recorded");
    assert_eq!(wake.time_to_ready, None, "still open");
}

#[test]
fn a_woken_service_serves_again() {
    let p = sleeper(Wake::Served, (1, 1), "True", ServiceState::Idle);
    assert_eq!(p.status.head.status, Some(ServiceState::Running));
    assert_cond(&p, types::RUNTIME_READY, "True", reasons::RUNTIME_READY);
}

#[test]
fn without_the_add_ons_kinds_nothing_is_written_and_the_service_says_what_to_install() {
    let p = sleeper(Wake::NotServed, (0, 0), "True", ServiceState::Running);
    assert_cond(&p, types::FAILURE, "True", reasons::WAKE_UNAVAILABLE);
    assert!(message(&p, types::FAILURE).contains("install KEDA and its HTTP add-on"));
    assert!(
        p.isvc().is_none(),
        "no InferenceService that could not come back from zero"
    );
    assert!(p.writes.objects::<ScaledObject>().is_empty());
    assert_eq!(
        p.requeue,
        Some(POLICY_RETRY),
        "looked at again: installing the add-on wakes nothing"
    );
}

#[test]
fn without_wake_in_the_cluster_config_an_idle_service_says_requests_get_the_gateways_503() {
    let p = sleeper(Wake::NotConfigured, (0, 0), "True", ServiceState::Running);
    assert_eq!(p.status.head.status, Some(ServiceState::Idle));
    assert_cond(&p, types::READY, "True", reasons::SCALED_TO_ZERO);
    assert!(
        message(&p, types::READY).contains("503"),
        "{}",
        message(&p, types::READY)
    );
    // KServe's own ScaledObject scales it; the route keeps the direct path.
    assert!(p.writes.objects::<ScaledObject>().is_empty());
    assert_eq!(
        p.isvc().unwrap()["metadata"]["annotations"]["serving.kserve.io/autoscalerClass"],
        "keda"
    );
    if let RouteAction::Apply(route) = p.route() {
        assert_ne!(
            route["spec"]["rules"][0]["backendRefs"][0]["name"],
            "keda-add-ons-http-interceptor-proxy"
        );
    }
}
