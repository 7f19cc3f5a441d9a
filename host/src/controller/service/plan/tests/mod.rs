//! Table tests of a service's plan: the service, its resolution and what the index shows in; the children to
//! write and the status out. No API server.

use super::*;
use crate::api::GatewayRef;
use crate::api::{AIMServiceSpec, AIMServiceTemplate, ResourceState, TemplateStatus};
use crate::controller::kit::conditions::{Cond, set};
use crate::controller::service::observe::{self, Observed};
use crate::fixtures::now;
use crate::upstream::InferenceService;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::DynamicObject;
use serde_json::{Value, json};
use std::sync::Arc;

/// What the plan does with the route, read from its writes.
#[derive(Debug, PartialEq)]
enum RouteAction {
    Keep,
    Apply(Value),
    Delete,
}

/// The readers of a plan's writes the assertions below use.
trait Planned {
    fn isvc(&self) -> Option<Value>;
    fn derive(&self) -> Option<AIMServiceTemplate>;
    fn route(&self) -> RouteAction;
}

impl Planned for Plan {
    fn isvc(&self) -> Option<Value> {
        let planned = self.writes.objects::<InferenceService>().into_iter().next()?;
        Some(serde_json::to_value(planned).unwrap())
    }
    fn derive(&self) -> Option<AIMServiceTemplate> {
        self.writes.objects::<AIMServiceTemplate>().into_iter().next()
    }
    fn route(&self) -> RouteAction {
        if let Some(r) = self.writes.objects::<HttpRoute>().into_iter().next() {
            return RouteAction::Apply(serde_json::to_value(r).unwrap());
        }
        if !self.writes.deleted::<HttpRoute>().is_empty() {
            return RouteAction::Delete;
        }
        RouteAction::Keep
    }
}

fn svc() -> AIMService {
    let mut s = AIMService::new(
        "chat",
        AIMServiceSpec {
            template_ref: Some("t".into()),
            replicas: Some(1),
            ..crate::fixtures::service_spec("m/x")
        },
    );
    s.metadata.namespace = Some("team".into());
    s.metadata.uid = Some("uid-1".into());
    s.metadata.generation = Some(1);
    s
}

fn template(state: ResourceState) -> TemplateRecord {
    let mut status = TemplateStatus {
        head: crate::api::StatusHead::in_state(state),
        ..Default::default()
    };
    set(
        &mut status.head.conditions,
        types::READY,
        &Cond::no(reasons::DISCOVERY_RUNNING, "discovery Job d is running"),
        None,
        now(),
    );
    crate::fixtures::template_record("t", TemplateScope::Cluster, status)
}

fn resolved(state: ResourceState) -> Resolution {
    Resolution::Resolved {
        template: template(state),
        image: "reg/x:1".into(),
        decision: None,
        derive: None,
    }
}

fn owner() -> OwnerReference {
    OwnerReference {
        kind: "AIMService".into(),
        name: "chat".into(),
        uid: "uid-1".into(),
        ..Default::default()
    }
}

fn gateway() -> GatewayRef {
    GatewayRef {
        name: "gw".into(),
        namespace: "infra".into(),
    }
}

fn with_status(value: serde_json::Value) -> DynamicObject {
    serde_json::from_value(value).unwrap()
}

fn isvc(ready: &str) -> DynamicObject {
    with_status(json!({
        "apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
        "metadata": { "name": "chat", "namespace": "team" },
        "status": { "conditions": [{ "type": "Ready", "status": ready, "reason": "R", "message": "m" }] }
    }))
}

fn route(accepted: Option<&str>) -> DynamicObject {
    let parents = match accepted {
        None => json!([]),
        Some(s) => json!([{ "parentRef": { "name": "gw", "namespace": "infra" },
            "conditions": [{ "type": "Accepted", "status": s, "reason": "NotAllowedByListeners", "message": "no" }] }]),
    };
    with_status(json!({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
        "metadata": { "name": "chat", "namespace": "team" },
        "status": { "parents": parents }
    }))
}

fn routed() -> Routing {
    Routing::On {
        gateway: gateway(),
        path: "/team/uid-1".into(),
        decided_by: "builtin:router (sha256:1)".into(),
    }
}

struct Case<'a> {
    resolution: Resolution,
    cache: Option<CacheState>,
    isvc: Option<&'a DynamicObject>,
    routing: Routing,
    route: Option<&'a DynamicObject>,
    was: Option<ServiceState>,
    pods: Vec<std::sync::Arc<Pod>>,
    refused: Option<String>,
    replicas: i32,
    /// The whole status it had before (wins over `was`).
    previous: Option<AIMServiceStatus>,
    /// Autoscaling between these bounds on CPU instead of `replicas`.
    bounds: Option<(i32, i32)>,
    /// The predictor Deployment's wanted and ready replicas, once it exists.
    deployed: Option<(i32, usize)>,
    /// The cluster's GPUs of the template's model.
    pool: Option<crate::upstream::gpu::GpuPool>,
    /// Why Kubernetes refuses the predictor's pods.
    pods_refused: Option<String>,
    /// Scaling to zero (0 to 2 on waiting requests), and how the cluster holds the waking request.
    wake: Option<Wake>,
}

/// How the cluster holds the request that wakes a service from zero.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Wake {
    /// The cluster config names no add-on: the gateway answers 503 while the service is at zero.
    NotConfigured,
    /// The cluster config names KEDA's HTTP add-on, but the cluster does not serve its kinds.
    NotServed,
    /// The cluster config names the add-on and the cluster serves its kinds.
    Served,
}

fn run(case: Case<'_>) -> Plan {
    let mut s = svc();
    s.spec.replicas = Some(case.replicas);
    if let Some((min, max)) = case.bounds {
        s.spec.replicas = None;
        s.spec.scaling.min_replicas = Some(min);
        s.spec.scaling.max_replicas = Some(max);
    }
    if case.wake.is_some() {
        s.spec.replicas = None;
        s.spec.scaling = serde_json::from_value(json!({ "minReplicas": 0, "maxReplicas": 2,
            "autoScaling": { "metric": "waitingRequests", "target": 2 } }))
        .unwrap();
    }
    s.status = case.was.map(|state| AIMServiceStatus {
        head: crate::api::StatusHead::in_state(state),
        inference_service: Some("chat".into()),
        ..Default::default()
    });
    if case.previous.is_some() {
        s.status = case.previous.clone();
    }
    // What the observe step reads off the children, as it does from the index's copies.
    let runtime = case
        .isvc
        .and_then(|i| crate::controller::service::reported::reported(&i.data["status"], "/conditions", "Ready"));
    let unplaced = observe::unschedulable(&case.pods);
    let route_accepted = match (&case.routing, case.route) {
        (Routing::On { gateway, .. }, Some(r)) => {
            crate::controller::service::reported::accepted(&r.data["status"], gateway)
        }
        _ => None,
    };
    let with_labels = |mut o: DynamicObject| {
        o.metadata.labels = Some(labels::managed(labels::Component::Routing));
        o
    };
    plan(
        &s,
        &Observed {
            resolution: case.resolution,
            cache: case.cache,
            service_cache: None,
            derived: None,
            isvc_name: "chat".into(),
            isvc: case.isvc.map(|i| Arc::new(InferenceService::new(i.clone()))),
            runtime,
            runtime_mode: case
                .isvc
                .and_then(|i| i.data["status"]["deploymentMode"].as_str().map(str::to_string)),
            unplaced,
            replica_runs: case.pods.iter().map(|p| observe::replica_run(p)).collect(),
            pods_refused: case.pods_refused.clone(),
            ready_replicas: case.deployed.map_or_else(
                || case.pods.iter().filter(|p| observe::pod_ready(p)).count(),
                |(_, ready)| ready,
            ),
            desired_replicas: case.deployed.map(|(desired, _)| desired),
            gpu_pool: case.pool,
            runtime_blocked: case.refused.map(observe::RuntimeBlocked::Refused),
            routing: case.routing,
            route: case.route.map(|r| Arc::new(HttpRoute::new(with_labels(r.clone())))),
            route_accepted,
            propagation: Default::default(),
            scaling: crate::controller::service::scaling::ClusterScaling {
                prometheus: Some("http://prometheus:9090".into()),
                wake: case
                    .wake
                    .filter(|w| *w != Wake::NotConfigured)
                    .map(|_| Default::default()),
            },
            wake_children: case.wake.filter(|w| *w == Wake::Served).map(|_| Default::default()),
            start: Default::default(),
            owner: owner(),
            now: now(),
        },
    )
}

/// A resolved service planned with its InferenceService reporting `Ready` = `runtime` (none yet: `None`) and, when
/// `route_accepted` is given, routing on with the route's `Accepted` (not yet reported: `Some(None)`); `was` is
/// the state it had before.
fn serving(runtime: Option<&str>, route_accepted: Option<Option<&str>>, was: Option<ServiceState>) -> Plan {
    let i = runtime.map(isvc);
    let r = route_accepted.map(route);
    let mut c = case(resolved(ResourceState::Available));
    c.isvc = i.as_ref();
    if r.is_some() {
        c.routing = routed();
        c.route = r.as_ref();
    }
    c.was = was;
    run(c)
}

/// Asserts that the plan's condition `t` has `status` and `reason`.
#[track_caller]
fn assert_cond(p: &Plan, t: &str, status: &str, reason: &str) {
    assert_eq!(cond(p, t), (status.to_string(), reason.to_string()), "condition {t}");
}

fn cond(p: &Plan, t: &str) -> (String, String) {
    let c = conditions::get(&p.status.head.conditions, t).unwrap_or_else(|| panic!("no {t}"));
    (c.status.clone(), c.reason.clone())
}

fn case(resolution: Resolution) -> Case<'static> {
    Case {
        resolution,
        cache: None,
        isvc: None,
        routing: Routing::Off,
        route: None,
        was: None,
        pods: vec![],
        refused: None,
        replicas: 1,
        previous: None,
        bounds: None,
        deployed: None,
        pool: Some(mi300x_nodes(4)),
        pods_refused: None,
        wake: None,
    }
}

/// `nodes` nodes of 8 × MI300X each.
fn mi300x_nodes(nodes: u32) -> crate::upstream::gpu::GpuPool {
    crate::upstream::gpu::GpuPool {
        model: "MI300X".into(),
        resource: crate::upstream::gpu::RESOURCE.into(),
        nodes,
        allocatable: nodes * 8,
        max_per_node: 8,
    }
}

fn predictor_pod(name: &str, ready: bool) -> std::sync::Arc<Pod> {
    let conditions = if ready {
        json!([{ "type": "PodScheduled", "status": "True" }, { "type": "Ready", "status": "True" }])
    } else {
        json!([{ "type": "PodScheduled", "status": "False", "reason": "Unschedulable",
            "message": "0/4 nodes are available: 4 Insufficient amd.com/gpu." }])
    };
    std::sync::Arc::new(
        serde_json::from_value(json!({ "metadata": { "name": name }, "status": { "conditions": conditions } }))
            .unwrap(),
    )
}

fn on_gpus(count: i32) -> Resolution {
    let mut resolution = resolved(ResourceState::Available);
    if let Resolution::Resolved { template, .. } = &mut resolution {
        template.profile.parameters.gpu_selector = Some(crate::api::GpuSelector::new("MI300X", count));
    }
    resolution
}

#[test]
fn a_deleted_inference_service_of_a_running_service_is_made_again_said_so_and_not_degraded_at_once() {
    let mut c = case(resolved(ResourceState::Available));
    c.was = Some(ServiceState::Running);
    let p = run(c);
    assert!(p.isvc().is_some(), "made again");
    assert_eq!(
        p.writes.restorations(),
        [(
            "InferenceService chat".to_string(),
            crate::controller::kit::writes::Repair::Deleted
        )]
    );
    assert_eq!(
        p.status.head.status,
        Some(ServiceState::Running),
        "held while it is put back"
    );
    assert!(p.requeue.is_some_and(|r| r <= RESTORE_HOLD));
    // Made long ago and still not ready: that is no restore, and the service is Degraded.
    let i = isvc("False");
    let mut c = case(resolved(ResourceState::Available));
    c.was = Some(ServiceState::Running);
    c.isvc = Some(&i);
    assert_eq!(run(c).status.head.status, Some(ServiceState::Degraded));
}

#[test]
fn a_service_with_some_replicas_ready_and_others_waiting_is_degraded_and_says_both() {
    let i = isvc("False");
    let mut c = case(on_gpus(8));
    c.isvc = Some(&i);
    c.replicas = 4;
    c.pods = vec![
        predictor_pod("a", true),
        predictor_pod("b", true),
        predictor_pod("c", false),
        predictor_pod("d", false),
    ];
    let p = run(c);
    assert_eq!(p.status.head.status, Some(ServiceState::Degraded), "it serves");
    let runtime = conditions::get(&p.status.head.conditions, types::RUNTIME_READY).unwrap();
    assert_eq!(runtime.reason, reasons::REPLICAS_WAITING);
    assert!(
        runtime.message.starts_with("serving with 2 of 4 replicas ready; ")
            && runtime.message.contains("starts when MI300X GPUs are freed"),
        "{}",
        runtime.message
    );
}

#[test]
fn asking_for_more_gpus_than_the_cluster_has_says_it_cannot_fit_with_the_totals() {
    let i = isvc("False");
    let mut c = case(on_gpus(8));
    c.isvc = Some(&i);
    c.replicas = 5;
    c.pods = vec![predictor_pod("a", false)];
    let p = run(c);
    let runtime = conditions::get(&p.status.head.conditions, types::RUNTIME_READY).unwrap();
    assert!(
        runtime
            .message
            .contains("cannot fit: 5 replicas × 8 = 40 MI300X GPUs, and the cluster has 32 in total (4 nodes)")
            && !runtime.message.contains("when GPUs are freed"),
        "{}",
        runtime.message
    );
    // More on one replica than any node has.
    let mut c = case(on_gpus(16));
    c.isvc = Some(&i);
    c.pods = vec![predictor_pod("a", false)];
    let p = run(c);
    let runtime = conditions::get(&p.status.head.conditions, types::RUNTIME_READY).unwrap();
    assert!(
        runtime
            .message
            .contains("needs 16 MI300X GPUs on one node, and no node has more than 8"),
        "{}",
        runtime.message
    );
}

#[test]
fn an_inference_service_the_api_server_refuses_is_runtime_rejected_with_its_message() {
    let mut c = case(resolved(ResourceState::Available));
    c.refused =
        Some("admission webhook \"inferenceservice.kserve-webhook-server.validator\" denied the request".into());
    let p = run(c);
    assert_cond(&p, types::RUNTIME_READY, "False", reasons::RUNTIME_REJECTED);
    assert_cond(&p, types::FAILURE, "True", reasons::RUNTIME_REJECTED);
    let message = &conditions::get(&p.status.head.conditions, types::RUNTIME_READY)
        .unwrap()
        .message;
    assert!(message.contains("was refused: admission webhook"), "{message}");
    assert_ne!(p.status.head.status, Some(ServiceState::Running));
}

#[test]
fn a_failed_resolution_is_failed_with_its_reason_and_makes_nothing() {
    let p = run(case(Resolution::Failed {
        reason: reasons::TEMPLATE_NOT_FOUND,
        message: "no template t".into(),
        decision: None,
    }));
    assert_eq!(p.status.head.status, Some(ServiceState::Failed));
    assert_cond(&p, types::RESOLVED, "False", reasons::TEMPLATE_NOT_FOUND);
    assert_cond(&p, types::FAILURE, "True", reasons::TEMPLATE_NOT_FOUND);
    assert!(p.isvc().is_none() && p.derive().is_none() && p.route() == RouteAction::Keep);
}

#[test]
fn a_ready_template_gets_its_inference_service_and_the_service_is_starting() {
    let p = run(case(resolved(ResourceState::Available)));
    let isvc = p.isvc().expect("the InferenceService is planned");
    assert_eq!(isvc["metadata"]["name"], "chat");
    assert_eq!(isvc["spec"]["predictor"]["containers"][0]["image"], "reg/x:1");
    assert_eq!(p.status.head.status, Some(ServiceState::Starting));
    assert_cond(&p, types::RUNTIME_READY, "False", reasons::CREATING_RUNTIME);
    assert_cond(&p, types::ROUTING_READY, "True", reasons::ROUTING_DISABLED);
    assert_eq!(p.status.inference_service.as_deref(), Some("chat"));
}

#[test]
fn a_template_not_ready_yet_holds_the_runtime_back_and_says_why() {
    let p = run(case(resolved(ResourceState::Progressing)));
    assert!(p.isvc().is_none());
    let c = conditions::get(&p.status.head.conditions, types::RUNTIME_READY).unwrap();
    assert_eq!(c.reason, reasons::WAITING_FOR_TEMPLATE);
    assert_eq!(
        c.message,
        "waiting for template t to be ready: discovery Job d is running"
    );
    assert_eq!(p.status.head.status, Some(ServiceState::Starting));
}

#[test]
fn a_warming_cache_holds_the_runtime_back_and_a_failed_one_fails_the_service() {
    let mut c = case(resolved(ResourceState::Available));
    c.cache = Some(CacheState::Warming("AIMTemplateCache t is warming".into()));
    let p = run(c);
    assert!(p.isvc().is_none());
    assert_cond(&p, types::CACHE_READY, "False", reasons::CACHE_WARMING);
    assert_cond(&p, types::RUNTIME_READY, "False", reasons::WAITING_FOR_CACHE);
    let mut c = case(resolved(ResourceState::Available));
    c.cache = Some(CacheState::Failed("AIMTemplateCache t failed".into()));
    let p = run(c);
    assert_eq!(p.status.head.status, Some(ServiceState::Failed));
    assert_cond(&p, types::FAILURE, "True", reasons::CACHE_FAILED);
}

#[test]
fn a_warm_cache_is_mounted() {
    let mut c = case(resolved(ResourceState::Available));
    c.cache = Some(CacheState::Warm(vec![CacheMount {
        claim: "hf-x-cache".into(),
        directory: "org/x".into(),
        model_id: "org/x".into(),
    }]));
    let p = run(c);
    let isvc = p.isvc().unwrap();
    assert_eq!(
        isvc["spec"]["predictor"]["volumes"][1]["persistentVolumeClaim"]["claimName"],
        "hf-x-cache"
    );
    assert_cond(&p, types::CACHE_READY, "True", reasons::CACHE_READY);
}

#[test]
fn a_ready_runtime_with_an_accepted_route_is_running_and_ready() {
    let p = serving(Some("True"), Some(Some("True")), None);
    assert_eq!(p.status.head.status, Some(ServiceState::Running));
    assert_cond(&p, types::READY, "True", reasons::READY);
    assert_eq!(p.status.route_path.as_deref(), Some("/team/uid-1"));
    assert!(
        matches!(&p.route(), RouteAction::Apply(r) if r["spec"]["rules"][0]["matches"][0]["path"]["value"] == "/team/uid-1")
    );
}

#[test]
fn a_route_waiting_for_its_gateway_leaves_a_serving_service_running() {
    let p = serving(Some("True"), Some(None), Some(ServiceState::Running));
    assert_eq!(p.status.head.status, Some(ServiceState::Running));
    assert_cond(&p, types::ROUTING_READY, "False", reasons::CONFIGURING_ROUTE);
    assert_cond(&p, types::READY, "False", reasons::CONFIGURING_ROUTE);
    assert_cond(&p, types::FAILURE, "False", reasons::NO_FAILURE);
}

#[test]
fn a_rejected_route_degrades_a_serving_service() {
    let p = serving(Some("True"), Some(Some("False")), None);
    assert_eq!(p.status.head.status, Some(ServiceState::Degraded));
    assert_cond(&p, types::FAILURE, "True", reasons::ROUTE_FAILED);
}

#[test]
fn a_runtime_lost_after_running_is_degraded_and_routing_off_removes_the_route() {
    let (i, r) = (isvc("False"), route(Some("True")));
    let mut c = case(resolved(ResourceState::Available));
    c.isvc = Some(&i);
    c.route = Some(&r);
    c.was = Some(ServiceState::Running);
    let p = run(c);
    assert_eq!(p.status.head.status, Some(ServiceState::Degraded));
    assert_cond(&p, types::RUNTIME_READY, "False", reasons::RUNTIME_NOT_READY);
    assert_eq!(p.route(), RouteAction::Delete);
    assert_eq!(p.status.route_path, None);
}

#[test]
fn a_router_failure_is_policy_failed() {
    let i = isvc("True");
    let mut c = case(resolved(ResourceState::Available));
    c.isvc = Some(&i);
    c.routing = Routing::PolicyFailed {
        gateway: gateway(),
        message: "router plugin r crashed".into(),
    };
    let p = run(c);
    assert_cond(&p, types::FAILURE, "True", reasons::POLICY_FAILED);
    assert_eq!(p.status.head.status, Some(ServiceState::Degraded));
}

#[test]
fn a_replica_no_node_can_take_says_what_it_asks_for_and_the_service_is_pending() {
    let i = isvc("False");
    let pod: Pod = serde_json::from_value(json!({
        "metadata": { "name": "chat-predictor-1" },
        "status": { "phase": "Pending", "conditions": [{ "type": "PodScheduled", "status": "False", "reason": "Unschedulable",
            "message": "0/8 nodes are available: 4 Insufficient amd.com/gpu, 4 node(s) didn't match Pod's node affinity/selector." }] }
    }))
    .unwrap();
    let mut resolution = resolved(ResourceState::Available);
    if let Resolution::Resolved { template, .. } = &mut resolution {
        template.profile.parameters.gpu_selector = Some(crate::api::GpuSelector::new("MI300X", 8));
    }
    let mut c = case(resolution);
    c.isvc = Some(&i);
    c.pods = vec![std::sync::Arc::new(pod)];
    let p = run(c);
    let runtime = conditions::get(&p.status.head.conditions, types::RUNTIME_READY).unwrap();
    assert_eq!(runtime.reason, reasons::UNSCHEDULABLE, "{}", runtime.message);
    assert_eq!(p.status.head.status, Some(ServiceState::Pending));
    let runtime = conditions::get(&p.status.head.conditions, types::RUNTIME_READY).unwrap();
    assert_eq!(runtime.reason, reasons::UNSCHEDULABLE);
    assert!(
        runtime.message.contains("asks for 8 × MI300X GPUs per replica"),
        "{}",
        runtime.message
    );
    assert!(
        runtime.message.contains("4 Insufficient amd.com/gpu"),
        "{}",
        runtime.message
    );
    assert_cond(&p, types::READY, "False", reasons::UNSCHEDULABLE);
}

/// KServe's reports of a runtime on its normal way up read as one state: moving between them changes nothing a
/// person reads, so the status is not written again; a report of something wrong is shown, and a running
/// service that falls back is Degraded with KServe's words.
#[rstest::rstest]
#[case::no_report(None, "", reasons::CREATING_RUNTIME)]
#[case::unknown(Some("Unknown"), "", reasons::CREATING_RUNTIME)]
#[case::below_minimum_availability(Some("False"), "MinimumReplicasUnavailable", reasons::CREATING_RUNTIME)]
#[case::rollout_failed(Some("False"), "ProgressDeadlineExceeded", reasons::RUNTIME_NOT_READY)]
fn kserve_progress_on_the_way_up_is_one_state(
    #[case] status: Option<&str>,
    #[case] reason: &str,
    #[case] runtime_reason: &str,
) {
    let reported = status.map(|s| {
        with_status(json!({
            "apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
            "metadata": { "name": "chat", "namespace": "team" },
            "status": { "conditions": [{ "type": "Ready", "status": s, "reason": reason,
                "message": "Deployment does not have minimum availability." }] }
        }))
    });
    let mut c = case(resolved(ResourceState::Available));
    c.isvc = reported.as_ref();
    let first = run(c);
    assert_eq!(first.status.head.status, Some(ServiceState::Starting));
    assert_cond(&first, types::RUNTIME_READY, "False", runtime_reason);
    if runtime_reason == reasons::CREATING_RUNTIME {
        let none = run(case(resolved(ResourceState::Available)));
        let cond = |p: &Plan| {
            conditions::get(&p.status.head.conditions, types::RUNTIME_READY)
                .unwrap()
                .message
                .clone()
        };
        assert_eq!(cond(&first), cond(&none), "the same words as before KServe reported");
    }
}

/// The state ladder as a table: what the runtime and the route report (and whether the service ran before), in;
/// the service's state and its `Ready` reason, out.
#[rstest::rstest]
#[case::nothing_reported_yet(None, None, None, ServiceState::Starting, reasons::CREATING_RUNTIME)]
#[case::ready_without_routing(Some("True"), None, None, ServiceState::Running, reasons::READY)]
#[case::ready_and_accepted(Some("True"), Some(Some("True")), None, ServiceState::Running, reasons::READY)]
#[case::ready_route_waiting(Some("True"), Some(None), None, ServiceState::Running, reasons::CONFIGURING_ROUTE)]
#[case::ready_route_rejected(
    Some("True"),
    Some(Some("False")),
    None,
    ServiceState::Degraded,
    reasons::ROUTE_FAILED
)]
#[case::not_ready_first_time(Some("False"), None, None, ServiceState::Starting, reasons::RUNTIME_NOT_READY)]
#[case::not_ready_after_running(
    Some("False"),
    None,
    Some(ServiceState::Running),
    ServiceState::Degraded,
    reasons::RUNTIME_NOT_READY
)]
fn the_state_ladder(
    #[case] runtime: Option<&str>,
    #[case] route_accepted: Option<Option<&str>>,
    #[case] was: Option<ServiceState>,
    #[case] state: ServiceState,
    #[case] ready_reason: &str,
) {
    let p = serving(runtime, route_accepted, was);
    assert_eq!(p.status.head.status, Some(state));
    assert_eq!(cond(&p, types::READY).1, ready_reason);
}

mod scaling;
mod wake;

/// A placed predictor pod whose serving container runs unready, `restarts` times restarted after runs of
/// `last_ran` seconds that ended with `exit_code`.
fn loading_pod(restarts: i32, last_ran: i64, exit_code: i32) -> Arc<Pod> {
    let last = (restarts > 0).then(|| {
        json!({ "terminated": { "exitCode": exit_code, "reason": "Error",
            "startedAt": "2026-12-05T09:00:00Z",
            "finishedAt": k8s_openapi::jiff::Timestamp::from_second(1_796_461_200 + last_ran).unwrap().to_string() } })
    });
    Arc::new(
        serde_json::from_value(json!({
            "metadata": { "name": "chat-predictor-0" },
            "status": {
                "conditions": [{ "type": "PodScheduled", "status": "True" }, { "type": "Ready", "status": "False" }],
                "containerStatuses": [{ "name": "kserve-container", "ready": false, "restartCount": restarts,
                    "image": "", "imageID": "",
                    "state": { "running": { "startedAt": "2026-12-05T10:00:00Z" } },
                    "lastState": last }],
            }
        }))
        .unwrap(),
    )
}

#[test]
fn a_replica_loading_within_its_budget_is_a_normal_start_and_one_restarted_after_it_is_stuck() {
    let not_ready = isvc("False");
    let mut c = case(resolved(ResourceState::Available));
    c.isvc = Some(&not_ready);
    c.pods = vec![loading_pod(0, 0, 0)];
    let p = run(c);
    assert_eq!(p.status.head.status, Some(ServiceState::Starting));
    assert_cond(&p, types::RUNTIME_READY, "False", reasons::LOADING_MODEL);
    assert_cond(&p, types::FAILURE, "False", reasons::NO_FAILURE);

    // The template has no sizes: the budget is the one for 64 GiB read from a volume... not cached here, so
    // downloaded too: 10 min + 655 s + 2622 s = 65 min. A run that long ran the budget out.
    let mut c = case(resolved(ResourceState::Available));
    c.isvc = Some(&not_ready);
    c.pods = vec![loading_pod(2, 65 * 60, 137)];
    let p = run(c);
    assert_eq!(p.status.head.status, Some(ServiceState::Failed));
    assert_cond(&p, types::FAILURE, "True", reasons::RUNTIME_STUCK);
    let message = &conditions::get(&p.status.head.conditions, types::RUNTIME_READY)
        .unwrap()
        .message;
    assert!(
        message.contains("did not answer /v1/models within its startup budget of 1h5m"),
        "{message}"
    );
}

#[test]
fn a_kserve_that_does_not_know_standard_mode_is_said_to_be_unsupported() {
    let serverless = with_status(json!({
        "apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
        "metadata": { "name": "chat", "namespace": "team" },
        "status": { "deploymentMode": "Serverless",
            "conditions": [{ "type": "Ready", "status": "False", "reason": "", "message": "" }] }
    }));
    let mut c = case(resolved(ResourceState::Available));
    c.isvc = Some(&serverless);
    let p = run(c);
    assert_eq!(p.status.head.status, Some(ServiceState::Failed));
    assert_cond(&p, types::FAILURE, "True", reasons::KSERVE_UNSUPPORTED);
    let message = &conditions::get(&p.status.head.conditions, types::RUNTIME_READY)
        .unwrap()
        .message;
    assert!(
        message.contains("deployment mode Serverless") && message.contains("KServe v0.16 to v0.20"),
        "{message}"
    );
    // KServe v0.16+ records Standard (or the legacy RawDeployment): no complaint.
    let standard = with_status(json!({
        "apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
        "metadata": { "name": "chat", "namespace": "team" },
        "status": { "deploymentMode": "Standard", "conditions": [{ "type": "Ready", "status": "True" }] }
    }));
    let mut c = case(resolved(ResourceState::Available));
    c.isvc = Some(&standard);
    assert_cond(&run(c), types::RUNTIME_READY, "True", reasons::RUNTIME_READY);
}

#[test]
fn pods_kubernetes_refuses_are_a_failure_to_act_on_not_a_start() {
    let i = isvc("False");
    let mut c = case(resolved(ResourceState::Available));
    c.isvc = Some(&i);
    c.pods_refused = Some("pods \"chat-predictor-1\" is forbidden: no PriorityClass with name nope was found".into());
    let p = run(c);
    assert_eq!(p.status.head.status, Some(ServiceState::Failed));
    assert_cond(&p, types::FAILURE, "True", reasons::PODS_REJECTED);
    let m = &conditions::get(&p.status.head.conditions, types::RUNTIME_READY)
        .unwrap()
        .message;
    assert!(
        m.contains("no PriorityClass with name nope") && m.contains("spec.priorityClassName"),
        "{m}"
    );
}
