//! What a service's plan reads, gathered in one step: its resolution (the template, through the matcher and
//! merger plugins where the product says so), its cache, its route decision (the router plugin), and how its
//! runtime and route are doing as KServe, the scheduler and the gateway report it. Reads come from the index;
//! the only awaits are policy calls (memoised by the engine).

use super::build;
use super::cache::{self, CacheState};
use super::resolve::{self, Resolution};
use super::routing::{self, Routing};
use crate::api::{AIMService, AIMServiceTemplate, AIMTemplateCache, GatewayRef};
use crate::controller::kit::Context;
use crate::controller::kit::apply::owner_ref;
use crate::controller::kit::error::Error;
use crate::upstream::gpu::GpuPool;
use crate::upstream::{HttpRoute, InferenceService};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use serde_json::Value;
use std::sync::Arc;

/// A condition another controller reports on a child (KServe's `Ready`, a gateway's `Accepted`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Reported {
    /// `True`, `False` or `Unknown`.
    pub(crate) status: String,
    pub(crate) reason: String,
    pub(crate) message: String,
}

impl Reported {
    /// True when the status is `True`.
    pub(crate) fn is_true(&self) -> bool {
        self.status == "True"
    }
}

/// What the plan reads besides the service.
#[derive(Debug, Clone)]
pub(crate) struct Observed {
    pub(crate) resolution: Resolution,
    /// The cache, with `cacheModel: true`.
    pub(crate) cache: Option<CacheState>,
    /// The template cache to create for the service (it has none yet).
    pub(crate) service_cache: Option<AIMTemplateCache>,
    /// The index's copy of the derived template the resolution wants, if it exists.
    pub(crate) derived: Option<Arc<AIMServiceTemplate>>,
    /// The InferenceService's name (and the route's).
    pub(crate) isvc_name: String,
    /// The InferenceService, if it exists.
    pub(crate) isvc: Option<Arc<InferenceService>>,
    /// KServe's `Ready` condition on it.
    pub(crate) runtime: Option<Reported>,
    /// What the scheduler said of a predictor pod it could not place, if one waits unscheduled.
    pub(crate) unplaced: Option<String>,
    /// Predictor pods ready to serve (counted only while the runtime is not ready).
    pub(crate) ready_replicas: usize,
    /// The cluster's GPUs of the model the template asks for (read when a pod waits unscheduled).
    pub(crate) gpu_pool: Option<GpuPool>,
    /// Why the InferenceService cannot be: the API server (or KServe's webhook) just refused it, or no name
    /// fits KServe's limits in this namespace.
    pub(crate) runtime_refused: Option<String>,
    pub(crate) routing: Routing,
    /// The HTTPRoute, if it exists.
    pub(crate) route: Option<Arc<HttpRoute>>,
    /// Its `Accepted` condition from the routing decision's gateway.
    pub(crate) route_accepted: Option<Reported>,
    /// The service as owner of its runtime and route.
    pub(crate) owner: OwnerReference,
    pub(crate) now: Timestamp,
}

/// Reads everything the plan of `svc` needs.
pub(crate) async fn observe(ctx: &Context, svc: &AIMService) -> Result<Observed, Error> {
    let namespace = svc.namespace().unwrap_or_default();
    let index = &ctx.index;
    let resolution = resolve::resolve(ctx, svc).await;
    let (cache, service_cache) = match &resolution {
        Resolution::Resolved { template, .. } if svc.spec.cache_model => {
            let existing = index.template_caches_of(&namespace, &template.name).into_iter().next();
            let create = existing.is_none().then(|| cache::service_cache(svc, template));
            let files = existing
                .as_deref()
                .map(|tc| index.files_of_template_cache(tc))
                .unwrap_or_default();
            let state = cache::state(existing.as_deref(), template, |uri| {
                index.model_caches_holding(&namespace, uri, &files).into_iter().next()
            });
            (Some(state), create)
        }
        _ => (None, None),
    };
    let derived = match &resolution {
        Resolution::Resolved {
            derive: Some(desired), ..
        } => index.namespace_template(&namespace, &desired.name_any()),
        _ => None,
    };
    let routing = match &resolution {
        Resolution::Resolved { .. } => routing::decide(ctx, svc).await,
        Resolution::Failed { .. } => Routing::Off,
    };
    let (isvc_name, unnamable) = match build::isvc_name(svc) {
        Ok(name) => (name, None),
        Err(why) => (svc.name_any(), Some(why)),
    };
    let isvc = index.inference_service(&namespace, &isvc_name);
    let runtime = isvc
        .as_deref()
        .and_then(|i| reported(&i.data, "/status/conditions", "Ready"));
    // The pods are read only while KServe does not call the runtime ready: a ready service's reconciles stay
    // free of a scan over the cluster's pods.
    let pods = match &runtime {
        Some(r) if r.is_true() => vec![],
        _ => index.pods_of_inference_service(&namespace, &isvc_name),
    };
    let unplaced = unschedulable(&pods);
    let ready_replicas = pods.iter().filter(|p| pod_ready(p)).count();
    let gpu_pool = match (&unplaced, &resolution) {
        (Some(_), Resolution::Resolved { template, .. }) => template
            .profile
            .parameters
            .gpu_selector
            .as_ref()
            .and_then(|gpu| index.inventory()?.into_iter().find(|p| p.model == gpu.model)),
        _ => None,
    };
    let route = index.route(&namespace, &isvc_name);
    let route_accepted = match (&routing, &route) {
        (Routing::On { gateway, .. }, Some(r)) => accepted(&r.data, gateway),
        _ => None,
    };
    Ok(Observed {
        resolution,
        cache,
        service_cache,
        derived,
        isvc_name,
        isvc,
        runtime,
        unplaced,
        ready_replicas,
        gpu_pool,
        runtime_refused: unnamable,
        routing,
        route,
        route_accepted,
        owner: owner_ref(svc, true)?,
        now: Timestamp::now(),
    })
}

/// The condition `type_` in the list at `pointer` of a child's body.
pub(crate) fn reported(body: &Value, pointer: &str, type_: &str) -> Option<Reported> {
    let c = body
        .pointer(pointer)?
        .as_array()?
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some(type_))?;
    let field = |k: &str| c.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
    Some(Reported {
        status: field("status"),
        reason: field("reason"),
        message: field("message"),
    })
}

/// The route's `Accepted` condition from the parent entry of `gateway`.
pub(crate) fn accepted(body: &Value, gateway: &GatewayRef) -> Option<Reported> {
    let parents = body.pointer("/status/parents")?.as_array()?;
    let index = parents.iter().position(|p| {
        p.pointer("/parentRef/name").and_then(Value::as_str) == Some(gateway.name.as_str())
            && p.pointer("/parentRef/namespace")
                .and_then(Value::as_str)
                .is_none_or(|ns| ns == gateway.namespace)
    })?;
    reported(body, &format!("/status/parents/{index}/conditions"), "Accepted")
}

/// What the scheduler said of a predictor pod it could not place, if one waits unscheduled.
/// True when `pod`'s `Ready` condition holds.
pub(crate) fn pod_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

pub(crate) fn unschedulable(pods: &[Arc<Pod>]) -> Option<String> {
    pods.iter().find_map(|p| {
        let scheduled = p
            .status
            .as_ref()?
            .conditions
            .as_ref()?
            .iter()
            .find(|c| c.type_ == "PodScheduled")?;
        (scheduled.status == "False" && scheduled.reason.as_deref() == Some("Unschedulable"))
            .then(|| scheduled.message.clone().unwrap_or_default())
    })
}
