//! What a service's plan reads, gathered in one step: its resolution (the template, through the matcher and
//! merger plugins where the product says so), its cache, its route decision (the router plugin), and how its
//! runtime and route are doing as KServe, the scheduler and the gateway report it. Reads come from the index;
//! the only awaits are policy calls (memoised by the engine).

use super::build;
use super::cache::{self, CacheState};
use super::metadata::Propagation;
use super::plan::loading::{Exit, ReplicaRun};
use super::reported::{Reported, accepted, reported};
use super::resolve::{self, Resolution};
use super::routing::{self, Routing};
use super::scaling::ClusterScaling;
use super::startup::{PodTimes, StartFacts};
use super::wake_path::{self, WakeChildren};
use crate::api::{AIMService, AIMServiceTemplate, AIMTemplateCache};
use crate::controller::kit::Context;
use crate::controller::kit::apply::owner_ref;
use crate::controller::kit::error::Error;
use crate::upstream::gpu::GpuPool;
use crate::upstream::{HttpRoute, InferenceService};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{OwnerReference, Time};
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use std::sync::Arc;
use std::time::Duration;

/// Why no InferenceService can be written for a service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RuntimeBlocked {
    /// The API server (or KServe's webhook) refused it, saying this.
    Refused(String),
    /// No name fits KServe's limits in the service's namespace; what to do.
    Unnamable(String),
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
    /// The deployment mode KServe recorded for it (`status.deploymentMode`).
    pub(crate) runtime_mode: Option<String>,
    /// What the scheduler said of a predictor pod it could not place, if one waits unscheduled.
    pub(crate) unplaced: Option<String>,
    /// The serving container of each predictor pod (read while the runtime is not ready or its count moves).
    pub(crate) replica_runs: Vec<ReplicaRun>,
    /// Why Kubernetes refuses to create the predictor's pods (its Deployment's `ReplicaFailure`), when it does:
    /// a PriorityClass or ServiceAccount that does not exist, a quota, an admission policy.
    pub(crate) pods_refused: Option<String>,
    /// Replicas ready to serve: the predictor Deployment's count (its pods', before KServe made it).
    pub(crate) ready_replicas: usize,
    /// Replicas the predictor Deployment wants now (the fixed count, or the autoscaler's choice), once it exists.
    pub(crate) desired_replicas: Option<i32>,
    /// The cluster's GPUs of the model the template asks for (read when a pod waits unscheduled).
    pub(crate) gpu_pool: Option<GpuPool>,
    /// Why the InferenceService cannot be: the API server (or KServe's webhook) just refused it, or no name
    /// fits KServe's limits in this namespace.
    pub(crate) runtime_blocked: Option<RuntimeBlocked>,
    pub(crate) routing: Routing,
    /// The HTTPRoute, if it exists.
    pub(crate) route: Option<Arc<HttpRoute>>,
    /// Its `Accepted` condition from the routing decision's gateway.
    pub(crate) route_accepted: Option<Reported>,
    /// Which of the service's labels and annotations follow it onto its children (the cluster config's say).
    pub(crate) propagation: Propagation,
    /// What the cluster config says about autoscaling (the Prometheus server request metrics are read from,
    /// unless the service names one; KEDA's HTTP add-on, if waking requests are held).
    pub(crate) scaling: ClusterScaling,
    /// The service's ScaledObject, InterceptorRoute and its namespace's ReferenceGrant, where it wakes through
    /// KEDA's HTTP add-on; `None` when the cluster does not serve those kinds.
    pub(crate) wake_children: Option<WakeChildren>,
    /// What the cluster reports about the service's start (pods only while the start is being recorded).
    pub(crate) start: StartFacts,
    /// The service as owner of its runtime and route.
    pub(crate) owner: OwnerReference,
    pub(crate) now: Timestamp,
}

/// Reads everything the plan of `svc` needs.
pub(crate) async fn observe(ctx: &Context, svc: &AIMService) -> Result<Observed, Error> {
    let namespace = svc.namespace().unwrap_or_default();
    let index = &ctx.index;
    let resolution = resolve::resolve(ctx, svc).await;
    let recording = svc
        .status
        .as_ref()
        .is_none_or(|s| s.startup.as_ref().is_some_and(|start| start.time_to_ready.is_none()));
    let (cache, service_cache, download) = match &resolution {
        Resolution::Resolved { template, .. } if svc.spec.cache_model => {
            let existing = index.template_caches_of(&namespace, &template.name).into_iter().next();
            let create = existing.is_none().then(|| cache::service_cache(svc, template));
            let files = existing
                .as_deref()
                .map(|tc| index.files_of_template_cache(tc))
                .unwrap_or_default();
            let holding = |uri: &str| index.model_caches_holding(&namespace, uri, &files).into_iter().next();
            let state = cache::state(existing.as_deref(), template, holding);
            let download = match &state {
                CacheState::Warming(_) if recording => cache::download_detail(template, holding),
                _ => None,
            };
            (Some(state), create, download)
        }
        _ => (None, None, None),
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
        .and_then(|i| reported(&i.field_value("status"), "/conditions", "Ready"));
    let runtime_mode = isvc.as_deref().and_then(|i| {
        i.field_value("status")
            .get("deploymentMode")?
            .as_str()
            .map(str::to_string)
    });
    let deployment = index.predictor_deployment(&namespace, &isvc_name);
    let desired_replicas = deployment.as_deref().and_then(|d| d.spec.replicas);
    let pods_refused = deployment.as_deref().and_then(|d| {
        d.status
            .as_ref()?
            .conditions
            .as_ref()?
            .iter()
            .find(|c| c.type_.as_deref() == Some("ReplicaFailure") && c.status.as_deref() == Some("True"))
            .map(|c| {
                c.message
                    .clone()
                    .unwrap_or_else(|| c.reason.clone().unwrap_or_default())
            })
    });
    let deployed_ready = deployment
        .as_deref()
        .map(|d| d.status.as_ref().and_then(|s| s.ready_replicas).unwrap_or(0) as usize);
    // The pods are read only while KServe does not call the runtime ready or its replica count moves: a ready,
    // settled service's reconciles stay free of a scan over the cluster's pods.
    let settled = runtime.as_ref().is_some_and(Reported::is_true)
        && deployed_ready
            .zip(desired_replicas)
            .is_none_or(|(ready, desired)| ready as i32 == desired);
    // A wake from zero is recorded like a start: the pods are read until it is over.
    let waking = svc.status.as_ref().is_some_and(|s| {
        s.head.status == Some(crate::api::ServiceState::Idle)
            || s.last_wake.as_ref().is_some_and(|w| w.time_to_ready.is_none())
    });
    let pods = match settled && !recording && !waking {
        true => vec![],
        false => index.pods_of_inference_service(&namespace, &isvc_name),
    };
    let unplaced = unschedulable(&pods);
    let replica_runs = pods.iter().map(|p| replica_run(p)).collect();
    let ready_replicas = deployed_ready.unwrap_or_else(|| pods.iter().filter(|p| pod_ready(p)).count());
    let gpu_pool = match (&unplaced, &resolution) {
        (Some(_), Resolution::Resolved { template, .. }) => {
            template.profile.parameters.gpu_selector.as_ref().and_then(|gpu| {
                index
                    .inventory()?
                    .into_iter()
                    .find(|p| p.model.eq_ignore_ascii_case(&gpu.model) && p.resource == gpu.resource())
            })
        }
        _ => None,
    };
    let route = index.route(&namespace, &isvc_name);
    let config = index.cluster_config();
    let route_accepted = match (&routing, &route) {
        (Routing::On { gateway, .. }, Some(r)) => accepted(&r.field_value("status"), gateway),
        _ => None,
    };
    let auto_scaling = config.as_ref().and_then(|c| c.spec.auto_scaling.as_ref());
    let wake_children = wake_path::observe(
        index,
        &namespace,
        &isvc_name,
        auto_scaling.and_then(|a| a.wake.as_ref()),
    );
    let start = StartFacts {
        created: svc.metadata.creation_timestamp.clone(),
        caching: svc.spec.cache_model,
        download,
        runtime_created: isvc.as_deref().and_then(|i| i.metadata.creation_timestamp.clone()),
        pods: pod_times(&pods),
        route: matches!(routing, Routing::On { .. }).then(|| {
            (
                route.as_deref().and_then(|r| r.metadata.creation_timestamp.clone()),
                route_accepted
                    .as_ref()
                    .filter(|a| a.is_true())
                    .and_then(|a| a.since.clone()),
            )
        }),
    };
    Ok(Observed {
        resolution,
        cache,
        service_cache,
        derived,
        isvc_name,
        isvc,
        runtime,
        runtime_mode,
        unplaced,
        replica_runs,
        pods_refused,
        ready_replicas,
        desired_replicas,
        gpu_pool,
        runtime_blocked: unnamable.map(RuntimeBlocked::Unnamable),
        routing,
        route,
        route_accepted,
        start,
        propagation: Propagation::from_config(config.as_ref().map(|c| &c.spec)),
        scaling: ClusterScaling {
            prometheus: auto_scaling.and_then(|a| a.prometheus.clone()),
            wake: auto_scaling.and_then(|a| a.wake.clone()),
        },
        wake_children,
        owner: owner_ref(svc, true)?,
        now: Timestamp::now(),
    })
}

/// When the latest of `pods` was placed, started its serving container and was ready (the pods that are
/// ready count, so a replica still waiting does not hold a start that is over).
pub(crate) fn pod_times(pods: &[Arc<Pod>]) -> PodTimes {
    let turned_true = |pod: &Pod, type_: &str| {
        let c = pod
            .status
            .as_ref()?
            .conditions
            .as_ref()?
            .iter()
            .find(|c| c.type_ == type_)?;
        (c.status == "True").then(|| c.last_transition_time.clone()).flatten()
    };
    let started = |pod: &Pod| {
        let statuses = pod.status.as_ref()?.container_statuses.as_ref()?;
        let serving = statuses
            .iter()
            .find(|c| c.name == build::CONTAINER)
            .or(statuses.first())?;
        serving.state.as_ref()?.running.as_ref()?.started_at.clone()
    };
    let ready: Vec<&Pod> = pods.iter().map(Arc::as_ref).filter(|p| pod_ready(p)).collect();
    let counted: Vec<&Pod> = if ready.is_empty() {
        pods.iter().map(Arc::as_ref).collect()
    } else {
        ready
    };
    let latest = |f: &dyn Fn(&Pod) -> Option<Time>| counted.iter().filter_map(|p| f(p)).max_by_key(|t| t.0);
    PodTimes {
        created: latest(&|p| p.metadata.creation_timestamp.clone()),
        scheduled: latest(&|p| turned_true(p, "PodScheduled")),
        started: latest(&started),
        ready: latest(&|p| turned_true(p, "Ready")),
    }
}

/// The serving container of `pod` as the kubelet reports it.
pub(crate) fn replica_run(pod: &Pod) -> ReplicaRun {
    let statuses = pod.status.as_ref().and_then(|s| s.container_statuses.as_ref());
    let Some(c) = statuses.and_then(|all| all.iter().find(|c| c.name == build::CONTAINER).or(all.first())) else {
        return ReplicaRun {
            pod: pod.name_any(),
            ..Default::default()
        };
    };
    let state = c.state.as_ref();
    let last = c.last_state.as_ref().and_then(|s| s.terminated.as_ref());
    ReplicaRun {
        pod: pod.name_any(),
        ready: c.ready,
        running_since: state.and_then(|s| s.running.as_ref()?.started_at.clone()),
        restarts: c.restart_count,
        last_exit: last.map(|t| Exit {
            reason: t.reason.clone().unwrap_or_default(),
            code: t.exit_code,
            ran: t
                .started_at
                .as_ref()
                .zip(t.finished_at.as_ref())
                .map(|(s, f)| Duration::from_millis((f.0.as_millisecond() - s.0.as_millisecond()).max(0) as u64)),
        }),
        waiting: state.and_then(|s| s.waiting.as_ref()).and_then(|w| {
            let reason = w.reason.clone()?;
            Some(match &w.message {
                Some(m) => format!("{reason}: {m}"),
                None => reason,
            })
        }),
    }
}

/// True when `pod`'s `Ready` condition holds.
pub(crate) fn pod_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// What the scheduler said of a predictor pod it could not place, if one waits unscheduled.
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
