//! A service that scales to zero where the cluster holds waking requests (KEDA's HTTP add-on, named in
//! `AIMClusterConfig` `spec.autoScaling.wake`): what it needs besides its InferenceService, built here (pure) and
//! observed from the index.
//!
//! - Its HTTPRoute sends requests to the add-on's interceptor, setting the header [`SERVICE_HEADER`] to
//!   `<namespace>/<service>` ([`super::build::http_route`]). The interceptor lives in the add-on's namespace; a
//!   ReferenceGrant there, one per namespace with such services, lets the namespace's routes reach it.
//! - An InterceptorRoute tells the interceptor where requests with that header go (the predictor's Service),
//!   and how long one may wait for a ready replica (the wake timeout) before it is answered 504.
//! - Its own ScaledObject scales the predictor's Deployment: from zero as soon as the interceptor holds a
//!   request (the add-on's scaler pushes that to KEDA, no polling), between one and `maxReplicas` on the
//!   service's request metric, and back to zero after `idleSeconds` without requests. KServe's autoscaler
//!   class is `external`, so KServe makes no ScaledObject of its own and leaves the count to this one.

use crate::api::{AIMService, AutoScaling, InterceptorRef, WakeConfig};
use crate::index::Index;
use crate::labels::{self, Component};
use crate::upstream::{InterceptorRoute, ReferenceGrant, ScaledObject};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::ResourceExt;
use serde_json::{Value, json};
use std::sync::Arc;

/// The header a waking route sets, naming the service: how the interceptor tells the services it holds
/// requests for apart (they all arrive from the same gateway, at rewritten paths).
pub(crate) const SERVICE_HEADER: &str = "x-aim-service";

/// How long a service without `idleSeconds` stays up without requests before its last replica goes: KEDA's
/// own default cool-down.
pub(crate) const DEFAULT_IDLE_SECONDS: i32 = 300;

/// The requests in flight per replica the interceptor's own metric aims for. The interceptor's count wakes the
/// service; beyond one replica the service's metric decides (a HorizontalPodAutoscaler follows whichever
/// metric wants more replicas), so this one is set where it never wants a second.
const INTERCEPTOR_CONCURRENCY_TARGET: i32 = 1_000_000;

/// The value of [`SERVICE_HEADER`] for service `name` in `namespace`.
pub(crate) fn header_value(namespace: &str, name: &str) -> String {
    format!("{namespace}/{name}")
}

/// The name of the ReferenceGrant that lets `namespace`'s routes reach the interceptor.
pub(crate) fn grant_name(namespace: &str) -> String {
    format!("aim-routes-from-{namespace}")
}

/// What the index holds of a waking service's children.
#[derive(Debug, Clone, Default)]
pub(crate) struct WakeChildren {
    /// Its ScaledObject.
    pub(crate) scaled_object: Option<Arc<ScaledObject>>,
    /// Its InterceptorRoute.
    pub(crate) interceptor_route: Option<Arc<InterceptorRoute>>,
    /// Its namespace's ReferenceGrant in the interceptor's namespace.
    pub(crate) grant: Option<Arc<ReferenceGrant>>,
}

impl WakeChildren {
    /// What KEDA says is wrong with the ScaledObject (its `Ready` condition false: a scaler it cannot reach,
    /// a query Prometheus refuses), if anything.
    pub(crate) fn keda_problem(&self) -> Option<String> {
        let status = self.scaled_object.as_deref()?.field_value("status");
        let ready = super::reported::reported(&status, "/conditions", "Ready")?;
        (ready.status == "False").then(|| format!("{}: {}", ready.reason, ready.message))
    }
}

/// The children of the service whose InferenceService is `isvc` in `namespace`; `None` while the cluster does
/// not serve the kinds (KEDA or its HTTP add-on not installed). `wake`: the cluster config's add-on (it
/// names the grant's namespace).
pub(crate) fn observe(index: &Index, namespace: &str, isvc: &str, wake: Option<&WakeConfig>) -> Option<WakeChildren> {
    if !(index.serves::<ScaledObject>() && index.serves::<InterceptorRoute>() && index.serves::<ReferenceGrant>()) {
        return None;
    }
    Some(WakeChildren {
        scaled_object: index.get(Some(namespace), isvc),
        interceptor_route: index.get(Some(namespace), isvc),
        grant: wake.and_then(|w| index.get(Some(&w.interceptor.namespace), &grant_name(namespace))),
    })
}

fn child_labels(svc: &AIMService) -> Value {
    let mut labels = labels::managed(Component::Wake);
    labels.insert(labels::SERVICE.into(), labels::value(&svc.name_any()));
    json!(labels)
}

/// The ScaledObject of `svc` (InferenceService `isvc`): zero to `max` replicas of its predictor, woken by the
/// interceptor's requests and scaled on `metric` (read from `prometheus` with `query`) above one.
#[allow(clippy::too_many_arguments)]
pub(crate) fn scaled_object(
    svc: &AIMService,
    isvc: &str,
    owner: OwnerReference,
    max: i32,
    metric: &AutoScaling,
    prometheus: &str,
    query: &str,
    wake: &WakeConfig,
) -> Value {
    let idle = metric.idle_seconds.unwrap_or(DEFAULT_IDLE_SECONDS);
    let mut spec = json!({
        "scaleTargetRef": { "name": format!("{isvc}-predictor") },
        "minReplicaCount": 0,
        "maxReplicaCount": max,
        // Idle this long after the last request: the last replica goes. A new service runs that long too
        // before its first sleep (the start shows it can serve).
        "cooldownPeriod": idle,
        "initialCooldownPeriod": idle,
        // How often KEDA looks at the metric (and at the time since the last request): a quarter of the idle
        // time, so the last replica goes within 25 % of it, between KEDA's 30 s default and 5 s.
        "pollingInterval": (idle / 4).clamp(5, 30),
        "triggers": [
            { "type": "external-push", "metadata": { "scalerAddress": wake.scaler, "interceptorRoute": isvc } },
            { "type": "prometheus", "metadata": {
                "serverAddress": prometheus, "query": query, "threshold": metric.target.to_string() } },
        ],
    });
    if let Some(delay) = metric.scale_down_delay_seconds {
        spec["advanced"] =
            json!({ "horizontalPodAutoscalerConfig": { "behavior": super::scaling::scale_down_behavior(delay) } });
    }
    json!({
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": { "name": isvc, "namespace": svc.namespace(), "labels": child_labels(svc), "ownerReferences": [owner] },
        "spec": spec,
    })
}

/// The InterceptorRoute of `svc`: requests carrying its header go to its predictor's Service, each held up to
/// `wait_seconds` for a ready replica.
pub(crate) fn interceptor_route(svc: &AIMService, isvc: &str, owner: OwnerReference, wait_seconds: u64) -> Value {
    let namespace = svc.namespace().unwrap_or_default();
    json!({
        "apiVersion": "http.keda.sh/v1beta1",
        "kind": "InterceptorRoute",
        "metadata": { "name": isvc, "namespace": namespace, "labels": child_labels(svc), "ownerReferences": [owner] },
        "spec": {
            "target": { "service": format!("{isvc}-predictor"), "port": 80 },
            "rules": [{ "headers": [{ "name": SERVICE_HEADER, "value": header_value(&namespace, &svc.name_any()) }] }],
            // A completion that is not streamed sends its headers only once the whole answer is written: no
            // deadline on them beyond the gateway's own.
            "timeouts": { "readiness": format!("{wait_seconds}s"), "responseHeader": "0s" },
            "scalingMetric": { "concurrency": { "targetValue": INTERCEPTOR_CONCURRENCY_TARGET } },
        },
    })
}

/// `route` (a service's HTTPRoute, [`super::build::http_route`]) sending its requests through `interceptor`
/// instead of straight to the predictor, each marked with the header naming service `name` of `namespace`.
pub(crate) fn through_interceptor(route: &mut Value, namespace: &str, name: &str, interceptor: &InterceptorRef) {
    let Some(rule) = route.pointer_mut("/spec/rules/0") else {
        return;
    };
    rule["backendRefs"] =
        json!([{ "name": interceptor.name, "namespace": interceptor.namespace, "port": interceptor.port }]);
    if let Some(filters) = rule["filters"].as_array_mut() {
        filters.push(json!({ "type": "RequestHeaderModifier", "requestHeaderModifier": {
            "set": [{ "name": SERVICE_HEADER, "value": header_value(namespace, name) }] } }));
    }
}

/// The ReferenceGrant, in the interceptor's namespace, that lets `namespace`'s HTTPRoutes send requests to it.
/// One per namespace, shared by its services; it stays when the last of them goes (it grants nothing else).
pub(crate) fn reference_grant(namespace: &str, interceptor: &InterceptorRef) -> Value {
    let mut labels = labels::managed(Component::Wake);
    labels.insert(labels::GRANTS_NAMESPACE.into(), namespace.into());
    json!({
        "apiVersion": "gateway.networking.k8s.io/v1beta1",
        "kind": "ReferenceGrant",
        "metadata": { "name": grant_name(namespace), "namespace": interceptor.namespace, "labels": labels },
        "spec": {
            "from": [{ "group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "namespace": namespace }],
            "to": [{ "group": "", "kind": "Service", "name": interceptor.name }],
        },
    })
}

#[cfg(test)]
mod tests;
