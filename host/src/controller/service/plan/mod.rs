//! A service's plan, pure: from its resolution, its cache, its runtime and route as the index shows them, and
//! the routing decision, to the children to write and the status: `Resolved`, `CacheReady`, `RuntimeReady`,
//! `RoutingReady`, `Ready`, `Progressing`, `Failure`, and Pending / Starting / Running / Failed / Degraded.
//!
//! Running means the runtime serves: a route still waiting for its gateway leaves the service Running with
//! `RoutingReady=False` saying what it waits for; a rejected route makes it Degraded.

use super::build::{self, RuntimeInputs};
use super::cache::{CacheMount, CacheState};
use super::candidates::TemplateRecord;
use super::resolve::Resolution;
use crate::api::{
    AIMService, AIMServiceStatus, AIMServiceTemplate, AIMTemplateCache, GatewayRef, ResolvedTemplate, ResourceState,
    ServiceState, TemplateScope,
};
use crate::controller::kit::conditions::{self, Cond, reasons, types};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use k8s_openapi::jiff::Timestamp;
use kube::api::DynamicObject;
use serde_json::Value;

/// The route a service should have.
#[derive(Debug, Clone, PartialEq)]
pub enum Routing {
    /// No gateway is configured (or automatic routes are off).
    Off,
    /// A route at `path` on `gateway`, the path chosen by `decided_by`.
    On {
        /// The gateway.
        gateway: GatewayRef,
        /// The path.
        path: String,
        /// The router plugin and digest that chose it.
        decided_by: String,
    },
    /// The router plugin failed to choose a path.
    PolicyFailed {
        /// The gateway.
        gateway: GatewayRef,
        /// What failed.
        message: String,
    },
}

/// What the plan reads besides the service.
pub struct Observed<'a> {
    /// Where resolution ended.
    pub resolution: &'a Resolution,
    /// The cache, with `cacheModel: true`.
    pub cache: Option<CacheState>,
    /// Whether the template cache the service needs must be created.
    pub service_cache: Option<AIMTemplateCache>,
    /// The InferenceService, if it exists.
    pub isvc: Option<&'a DynamicObject>,
    /// Its pods (KServe's predictor replicas).
    pub runtime_pods: &'a [std::sync::Arc<Pod>],
    /// The route decision.
    pub routing: Routing,
    /// The HTTPRoute, if it exists.
    pub route: Option<&'a DynamicObject>,
    /// The service as owner of its runtime and route.
    pub owner: OwnerReference,
    /// The time.
    pub now: Timestamp,
}

/// What to do with the route.
#[derive(Debug, Clone, PartialEq)]
pub enum RouteAction {
    /// Nothing.
    Keep,
    /// Apply this HTTPRoute.
    Apply(Value),
    /// Delete the existing one (routing was turned off).
    Delete,
}

/// The plan.
#[derive(Debug, Clone)]
pub struct Plan {
    /// A derived template to create or update.
    pub derive: Option<AIMServiceTemplate>,
    /// A template cache to create.
    pub service_cache: Option<AIMTemplateCache>,
    /// The InferenceService to apply (`None`: leave it as it is).
    pub isvc: Option<Value>,
    /// The route.
    pub route: RouteAction,
    /// The status.
    pub status: AIMServiceStatus,
}

fn describe(t: &TemplateRecord) -> String {
    let scope = match t.scope {
        TemplateScope::Namespace => "namespace",
        TemplateScope::Cluster => "cluster",
    };
    format!(
        "{scope} template {}{}",
        t.name,
        if t.derived { " (derived)" } else { "" }
    )
}

/// The plan for `svc`.
pub fn plan(svc: &AIMService, o: &Observed<'_>) -> Plan {
    let generation = svc.metadata.generation;
    let current = svc.status.clone().unwrap_or_default();
    let mut next = AIMServiceStatus {
        observed_generation: generation,
        redecided: svc
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(crate::labels::REDECIDE).cloned()),
        ..current.clone()
    };
    let mut plan = Plan {
        derive: None,
        service_cache: None,
        isvc: None,
        route: RouteAction::Keep,
        status: AIMServiceStatus::default(),
    };
    let (template, image) = match o.resolution {
        Resolution::Failed {
            reason,
            message,
            decision,
        } => {
            next.resolved_template = None;
            next.decision = decision.clone();
            let unresolved = Cond::no(reasons::NOT_RESOLVED, "waiting for the template to be resolved");
            let ladder = Ladder {
                resolved: Cond::no(reason, message.clone()),
                cache: unresolved.clone(),
                runtime: unresolved.clone(),
                routing: unresolved,
                failure: Some(Cond::yes(reason, message.clone())),
            };
            ladder.apply(&mut next, &current, generation, o.now);
            plan.status = next;
            return plan;
        }
        Resolution::Resolved {
            template,
            image,
            decision,
            derive,
        } => {
            next.decision = decision.clone();
            plan.derive = derive.clone();
            (template, image)
        }
    };
    next.resolved_template = Some(ResolvedTemplate {
        name: template.name.clone(),
        scope: template.scope,
        derived: template.derived,
    });
    let resolved = Cond::yes(reasons::RESOLVED, describe(template));

    let mut failure = None;
    let (cache, mounts, cache_blocks): (Cond, Vec<CacheMount>, bool) = match &o.cache {
        None => (
            Cond::yes(
                reasons::NOT_REQUESTED,
                "caching not requested (spec.cacheModel is false)",
            ),
            vec![],
            false,
        ),
        Some(CacheState::Warm(mounts)) => (
            Cond::yes(reasons::CACHE_READY, format!("{} model caches are warm", mounts.len())),
            mounts.clone(),
            false,
        ),
        Some(CacheState::Warming(m)) => (Cond::no(reasons::CACHE_WARMING, m.clone()), vec![], true),
        Some(CacheState::Failed(m)) => {
            failure = Some(Cond::yes(reasons::CACHE_FAILED, m.clone()));
            (Cond::no(reasons::CACHE_FAILED, m.clone()), vec![], true)
        }
    };
    plan.service_cache = o.service_cache.clone();

    // The runtime: created once the template is ready (and, with caching, the cache warm), then kept as wanted.
    // An existing one is left alone while the template or cache is not ready, so a running service keeps
    // serving.
    let name = build::isvc_name(svc);
    let template_ready = template.status.status == Some(ResourceState::Available);
    let runtime = if o.isvc.is_none() && !template_ready {
        let why = conditions::get(&template.status.conditions, types::READY)
            .map(|c| c.message.clone())
            .unwrap_or_default();
        Cond::no(
            reasons::WAITING_FOR_TEMPLATE,
            conditions::with_detail(format!("waiting for template {} to be ready", template.name), &why),
        )
    } else if o.isvc.is_none() && cache_blocks {
        Cond::no(
            reasons::WAITING_FOR_CACHE,
            "the InferenceService starts once the model cache is warm",
        )
    } else {
        if template_ready && !cache_blocks {
            let inputs = RuntimeInputs {
                service: svc,
                owner: o.owner.clone(),
                image,
                template: &template.name,
                profile: &template.profile,
                mounts: &mounts,
            };
            plan.isvc = Some(build::inference_service(&inputs));
        }
        next.inference_service = Some(name.clone());
        let existing = o
            .isvc
            .map(|i| serde_json::to_value(i).unwrap_or_default())
            .unwrap_or_default();
        let ready = matches!(build::isvc_condition(&existing, "Ready"), Some((s, _, _)) if s == "True");
        let unplaced = if ready { None } else { unschedulable(o.runtime_pods) };
        match build::isvc_condition(&existing, "Ready") {
            Some((s, _, _)) if s == "True" => {
                Cond::yes(reasons::RUNTIME_READY, format!("InferenceService {name} is ready"))
            }
            _ if unplaced.is_some() => Cond::no(
                reasons::UNSCHEDULABLE,
                unschedulable_message(&name, template, unplaced.as_deref().unwrap_or_default()),
            ),
            Some((_, reason, message)) => Cond::no(
                reasons::RUNTIME_NOT_READY,
                format!("InferenceService {name} is not ready: {reason} {message}")
                    .trim()
                    .to_string(),
            ),
            None => Cond::no(
                reasons::CREATING_RUNTIME,
                format!("waiting for KServe to report on InferenceService {name}"),
            ),
        }
    };
    if o.isvc.is_none() && plan.isvc.is_none() {
        next.inference_service = None;
    }

    let routing = match &o.routing {
        Routing::Off => {
            next.route_path = None;
            next.route_decided_by = None;
            if o.route.is_some() {
                plan.route = RouteAction::Delete;
            }
            Cond::yes(
                reasons::ROUTING_DISABLED,
                "no gateway is configured in AIMClusterConfig default",
            )
        }
        Routing::PolicyFailed { message, .. } => {
            failure = failure.or(Some(Cond::yes(reasons::POLICY_FAILED, message.clone())));
            Cond::no(reasons::POLICY_FAILED, message.clone())
        }
        Routing::On {
            gateway,
            path,
            decided_by,
        } => {
            next.route_path = Some(path.clone());
            next.route_decided_by = Some(decided_by.clone());
            plan.route = RouteAction::Apply(build::http_route(svc, o.owner.clone(), gateway, path, decided_by));
            let existing = o
                .route
                .map(|r| serde_json::to_value(r).unwrap_or_default())
                .unwrap_or_default();
            let route = format!("route {name}");
            match build::route_accepted(&existing, gateway) {
                Some((s, _, _)) if s == "True" => Cond::yes(
                    reasons::ROUTE_READY,
                    format!("served at {path} on gateway {}/{}", gateway.namespace, gateway.name),
                ),
                Some((_, reason, message)) => {
                    let m = format!(
                        "gateway {}/{} did not accept {route}: {reason}: {message}",
                        gateway.namespace, gateway.name
                    );
                    failure = failure.or(Some(Cond::yes(reasons::ROUTE_FAILED, m.clone())));
                    Cond::no(reasons::ROUTE_FAILED, m)
                }
                None => Cond::no(
                    reasons::CONFIGURING_ROUTE,
                    format!(
                        "waiting for gateway {}/{} to accept {route}",
                        gateway.namespace, gateway.name
                    ),
                ),
            }
        }
    };
    let ladder = Ladder {
        resolved,
        cache,
        runtime,
        routing,
        failure,
    };
    ladder.apply(&mut next, &current, generation, o.now);
    plan.status = next;
    plan
}

/// What the scheduler said of a predictor pod it could not place, if one waits unscheduled.
fn unschedulable(pods: &[std::sync::Arc<Pod>]) -> Option<String> {
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

/// Why a replica does not run, in words: what it asks for, and where none fit.
fn unschedulable_message(isvc: &str, template: &TemplateRecord, scheduler: &str) -> String {
    let asks = match &template.profile.parameters.gpu_selector {
        Some(gpu) => format!(
            "{} × {} GPU{} per replica",
            gpu.count,
            gpu.model,
            if gpu.count == 1 { "" } else { "s" }
        ),
        None => "its resources".to_string(),
    };
    conditions::with_detail(
        format!(
            "no node can run a replica of InferenceService {isvc}: it asks for {asks}, and the scheduler found none free; it starts when GPUs are freed or nodes added"
        ),
        scheduler.trim(),
    )
}

/// The four step conditions and a failure, turned into `Ready`, `Progressing`, `Failure` and the state.
struct Ladder {
    resolved: Cond,
    cache: Cond,
    runtime: Cond,
    routing: Cond,
    failure: Option<Cond>,
}

impl Ladder {
    fn apply(self, next: &mut AIMServiceStatus, current: &AIMServiceStatus, generation: Option<i64>, now: Timestamp) {
        let c = &mut next.conditions;
        for (type_, cond) in [
            (types::RESOLVED, &self.resolved),
            (types::CACHE_READY, &self.cache),
            (types::RUNTIME_READY, &self.runtime),
            (types::ROUTING_READY, &self.routing),
        ] {
            conditions::set(c, type_, cond, generation, now);
        }
        let steps = [&self.resolved, &self.cache, &self.runtime, &self.routing];
        let ready = steps.iter().all(|s| s.ok);
        let blocker = steps.into_iter().find(|s| !s.ok).cloned();
        match &blocker {
            None => conditions::set(c, types::READY, &Cond::yes(reasons::READY, "serving"), generation, now),
            Some(b) => conditions::set(c, types::READY, &Cond::no(b.reason, b.message.clone()), generation, now),
        }
        let failure = self.failure.clone().unwrap_or(Cond::no(reasons::NO_FAILURE, ""));
        conditions::set(c, types::FAILURE, &failure, generation, now);
        let progressing = match (&blocker, self.failure.is_none()) {
            (Some(b), true) => Cond::yes(b.reason, b.message.clone()),
            _ => Cond::no(reasons::IDLE, ""),
        };
        conditions::set(c, types::PROGRESSING, &progressing, generation, now);
        let serving = self.resolved.ok && self.cache.ok && self.runtime.ok;
        let was_running = matches!(
            current.status,
            Some(ServiceState::Running) | Some(ServiceState::Degraded)
        );
        let unschedulable = self.runtime.reason == reasons::UNSCHEDULABLE;
        next.status = Some(if ready || (serving && self.failure.is_none()) {
            ServiceState::Running
        } else if serving {
            ServiceState::Degraded
        } else if unschedulable && !was_running {
            ServiceState::Pending
        } else if self.failure.is_some() && !self.resolved.ok {
            ServiceState::Failed
        } else if was_running && self.resolved.ok {
            ServiceState::Degraded
        } else if self.failure.is_some() {
            ServiceState::Failed
        } else if self.resolved.ok {
            ServiceState::Starting
        } else {
            ServiceState::Pending
        });
    }
}

#[cfg(test)]
mod tests;
