//! A service's plan, pure: from its resolution, its cache, its runtime and route as observed, and the routing
//! decision, to the children to write and the status: `Resolved`, `CacheReady`, `RuntimeReady`, `RoutingReady`,
//! `Ready`, `Progressing`, `Failure`, and Pending / Starting / Running / Failed / Degraded.
//!
//! Running means the runtime serves: a route still waiting for its gateway leaves the service Running with
//! `RoutingReady=False` saying what it waits for; a rejected route makes it Degraded.

use super::build;
use super::cache::{CacheMount, CacheState};
use super::candidates::TemplateRecord;
use super::observe::Observed;
use super::resolve::Resolution;
use super::routing::Routing;
use super::startup;
use super::wake_path;
use crate::api::{AIMService, AIMServiceStatus, ResolvedTemplate, ServiceState, TemplateScope};
use crate::controller::kit::conditions::{self, Cond, reasons, types};
use crate::controller::kit::pipeline;
use crate::controller::kit::writes::{Ownership, Writes};
use crate::labels;
use crate::upstream::HttpRoute;
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use std::time::Duration;

/// The plan: the derived template, the template cache, the InferenceService and the route to write, the
/// status, and a retry after a plugin failed.
pub(crate) type Plan = pipeline::Plan<AIMServiceStatus>;

/// A decision a plugin failed is tried again after this (a swap of the plugin retries at once).
pub(crate) const POLICY_RETRY: Duration = Duration::from_secs(60);

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
pub(crate) fn plan(svc: &AIMService, o: &Observed) -> Plan {
    let generation = svc.metadata.generation;
    let current = svc.status.clone().unwrap_or_default();
    let mut next = current.clone();
    next.head.observed_generation = generation;
    next.redecided = svc.annotations().get(labels::REDECIDE).cloned();
    let mut writes = Writes::new();
    let (template, image) = match &o.resolution {
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
            return finish(writes, settle(svc, &current, o, next));
        }
        Resolution::Resolved {
            template,
            image,
            decision,
            derive,
        } => {
            next.decision = decision.clone();
            if let Some(derived) = derive {
                writes.ensure(derived, o.derived.as_deref(), Ownership::Shared);
            }
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
    if let Some(tc) = &o.service_cache {
        writes.create_once(tc, None);
    }

    // The runtime: the InferenceService, `RuntimeReady` and the replicas.
    let name = &o.isvc_name;
    let runtime = runtime::step(
        svc,
        o,
        template,
        image,
        &mounts,
        cache_blocks,
        &current,
        &mut writes,
        &mut next,
    );
    let runtime_failed = runtime.failure.is_some();
    let through = runtime.through;
    failure = failure.or(runtime.failure);
    let runtime = runtime.cond;

    // No route to a runtime that cannot be made: it would say "served at" a path with nothing behind it.
    let unroutable = runtime_failed && next.inference_service.is_none();
    let routing = match &o.routing {
        Routing::On { .. } if unroutable => {
            next.route_path = None;
            next.route_decided_by = None;
            if let Some(route) = o.route.as_deref().filter(|r| labels::is_managed(r.labels())) {
                writes.delete::<HttpRoute>(Some(route));
            }
            Cond::no(
                reasons::WAITING_FOR_RUNTIME,
                "the route is made once the InferenceService can be: see RuntimeReady",
            )
        }
        Routing::Off => {
            next.route_path = None;
            next.route_decided_by = None;
            if let Some(route) = o.route.as_deref().filter(|r| labels::is_managed(r.labels())) {
                writes.delete::<HttpRoute>(Some(route));
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
            let mut desired = build::http_route(svc, name, o.owner.clone(), gateway, path, decided_by, &o.propagation);
            if let Some(interceptor) = &through {
                let namespace = svc.namespace().unwrap_or_default();
                wake_path::through_interceptor(&mut desired, &namespace, &svc.name_any(), interceptor);
            }
            writes.ensure_json(desired, o.route.as_deref(), Ownership::Owned);
            if o.route.is_none() && current.route_path.is_some() {
                writes.restoring_deleted();
            }
            let route = format!("route {name}");
            match &o.route_accepted {
                Some(a) if a.is_true() => Cond::yes(
                    reasons::ROUTE_READY,
                    format!("served at {path} on gateway {}/{}", gateway.namespace, gateway.name),
                ),
                Some(a) => {
                    let m = format!(
                        "gateway {}/{} did not accept {route}: {}: {}",
                        gateway.namespace, gateway.name, a.reason, a.message
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
    let next = settle(svc, &current, o, next);
    if let Some(wait) = held(&current, &next, o) {
        // A runtime put back a moment ago while the service was running: not Degraded yet. Look again once the
        // hold is over; if KServe reports it ready by then, nothing was ever written.
        return Plan {
            writes,
            status: current,
            requeue: Some(wait),
        };
    }
    finish(writes, next)
}

/// `next` with its startup record, and with the fields that only ride along with other writes (an open
/// startup record; the replica counts before the service has settled into Running, when a change of count is
/// news) kept as they are when nothing else changed: recording the start and the counts adds no write.
fn settle(svc: &AIMService, current: &AIMServiceStatus, o: &Observed, mut next: AIMServiceStatus) -> AIMServiceStatus {
    next.startup = startup::next_record(current, || startup::record(&next, &o.start), svc.status.is_none());
    next.last_wake = startup::next_wake(current, &next, &o.start);
    let message =
        startup::wake_message(next.last_wake.as_ref()).or_else(|| startup::ready_message(next.startup.as_ref()));
    if let Some(message) = message
        && let Some(ready) = next
            .head
            .conditions
            .iter_mut()
            .find(|c| c.type_ == types::READY && c.status == "True" && c.reason == reasons::READY)
    {
        ready.message = message;
    }
    let mut quiet = next.clone();
    quiet.startup = current.startup.clone();
    quiet.last_wake = current.last_wake.clone();
    let running = |s: &AIMServiceStatus| s.head.status == Some(ServiceState::Running);
    if !(running(current) && running(&next)) {
        quiet.replicas = current.replicas.clone();
    }
    if quiet == *current { quiet } else { next }
}

/// The plan of `writes` and `status`, retried after [`POLICY_RETRY`] when a plugin failed, or when an add-on
/// the service needs is not installed (installing one is no change the operator is told of).
fn finish(writes: Writes, status: AIMServiceStatus) -> Plan {
    let retried = conditions::get(&status.head.conditions, types::FAILURE).is_some_and(|c| {
        c.status == "True" && [reasons::POLICY_FAILED, reasons::WAKE_UNAVAILABLE].contains(&c.reason.as_str())
    });
    Plan {
        writes,
        status,
        requeue: retried.then_some(POLICY_RETRY),
    }
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
        let c = &mut next.head.conditions;
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
        let idle = self.runtime.ok && self.runtime.reason == reasons::SCALED_TO_ZERO;
        match &blocker {
            None if idle => conditions::set(
                c,
                types::READY,
                &Cond::yes(reasons::SCALED_TO_ZERO, self.runtime.message.clone()),
                generation,
                now,
            ),
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
            current.head.status,
            Some(ServiceState::Running) | Some(ServiceState::Degraded)
        );
        let unschedulable = self.runtime.reason == reasons::UNSCHEDULABLE;
        let partly_serving = self.runtime.reason == reasons::REPLICAS_WAITING;
        next.head.status = Some(if idle && self.failure.is_none() {
            ServiceState::Idle
        } else if ready || (serving && self.failure.is_none()) {
            ServiceState::Running
        } else if serving || partly_serving {
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

mod hold;
pub(crate) mod loading;
mod messages;
mod runtime;
mod wake;

#[cfg(test)]
use hold::RESTORE_HOLD;
use hold::held;

#[cfg(test)]
mod tests;
