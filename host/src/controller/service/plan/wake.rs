//! The wake step of a service's plan: where the service scales to zero through KEDA's HTTP add-on
//! ([`crate::controller::service::wake_path`]), its ScaledObject, InterceptorRoute and its namespace's
//! ReferenceGrant are written with its InferenceService; where it no longer does, its own ScaledObject and
//! InterceptorRoute are deleted (the grant is the namespace's). Returns the interceptor the route goes
//! through, or why it cannot: the cluster config asks for the add-on and the cluster does not serve its kinds.

use super::Observed;
use crate::api::{AIMService, AutoScaling, InterceptorRef};
use crate::controller::kit::conditions::{Cond, reasons};
use crate::controller::kit::writes::{Ownership, Writes};
use crate::controller::service::scaling::{self, Replicas};
use crate::controller::service::wake_path;
use crate::labels;
use crate::upstream::{InterceptorRoute, ReferenceGrant, ScaledObject};
use kube::ResourceExt;
use std::time::Duration;

/// What the wake step decided.
pub(super) enum WakeStep {
    /// The service does not wake through the add-on: its route goes straight to the predictor.
    Direct,
    /// Its route goes through this interceptor; KEDA's complaint about its ScaledObject, if it has one.
    Through(InterceptorRef, Option<Cond>),
    /// It should, and cannot: the condition saying why (a failure a person acts on).
    Unavailable(Cond),
}

/// The wake step of `svc` with `replicas`; `budget` is its replicas' startup budget (the default wait of a
/// waking request); `writable`: its InferenceService is written in this plan.
pub(super) fn step(
    svc: &AIMService,
    o: &Observed,
    replicas: &Replicas,
    budget: Duration,
    writable: bool,
    writes: &mut Writes,
) -> WakeStep {
    let isvc = &o.isvc_name;
    let Replicas::Auto {
        max,
        metric,
        prometheus,
        wake: Some(wake),
        ..
    } = replicas
    else {
        // Not (or no longer) waking through the add-on: its own children go.
        if let Some(children) = &o.wake_children {
            let ours = |labels: &std::collections::BTreeMap<String, String>| labels::is_managed(labels);
            if let Some(so) = children.scaled_object.as_deref().filter(|so| ours(so.labels())) {
                writes.delete::<ScaledObject>(Some(so));
            }
            if let Some(ir) = children.interceptor_route.as_deref().filter(|ir| ours(ir.labels())) {
                writes.delete::<InterceptorRoute>(Some(ir));
            }
        }
        return WakeStep::Direct;
    };
    let Some(children) = &o.wake_children else {
        return WakeStep::Unavailable(Cond::no(
            reasons::WAKE_UNAVAILABLE,
            "AIMClusterConfig default sets spec.autoScaling.wake, but the cluster does not serve KEDA's ScaledObject, \
             the HTTP add-on's InterceptorRoute or the Gateway API's ReferenceGrant: install KEDA and its HTTP \
             add-on (v0.15 or later), or remove spec.autoScaling.wake to scale to zero without holding requests",
        ));
    };
    if writable {
        let namespace = svc.namespace().unwrap_or_default();
        let query = scaling::query(metric, &namespace, isvc);
        let server = prometheus.as_deref().unwrap_or_default();
        let so = wake_path::scaled_object(svc, isvc, o.owner.clone(), *max, metric, server, &query, wake);
        writes.ensure_json(so, children.scaled_object.as_deref(), Ownership::Owned);
        let ir = wake_path::interceptor_route(svc, isvc, o.owner.clone(), wait_seconds(metric, budget));
        writes.ensure_json(ir, children.interceptor_route.as_deref(), Ownership::Owned);
        let grant = wake_path::reference_grant(&namespace, &wake.interceptor);
        writes.ensure_json::<ReferenceGrant>(grant, children.grant.as_deref(), Ownership::Owned);
    }
    let problem = children.keda_problem().map(|p| {
        Cond::no(
            reasons::WAKE_UNAVAILABLE,
            format!(
                "KEDA cannot scale ScaledObject {isvc}, so the service cannot wake from zero: {p}; check the HTTP \
                 add-on's scaler address (AIMClusterConfig spec.autoScaling.wake.scaler) and the Prometheus server"
            ),
        )
    });
    WakeStep::Through(wake.interceptor.clone(), problem)
}

/// How long a waking request is held, in seconds: the service's `wakeTimeoutSeconds`, else its startup budget.
fn wait_seconds(metric: &AutoScaling, budget: Duration) -> u64 {
    metric
        .wake_timeout_seconds
        .map_or(budget.as_secs(), |s| s.max(1) as u64)
        .max(1)
}

/// [`wait_seconds`] in words, for the status; `None` where no waking request is held.
pub(super) fn held_for(replicas: &Replicas, budget: Duration) -> Option<String> {
    let Replicas::Auto {
        metric, wake: Some(_), ..
    } = replicas
    else {
        return None;
    };
    Some(crate::controller::service::startup::duration(
        wait_seconds(metric, budget) as i64,
    ))
}
