//! The runtime step of a service's plan: the InferenceService to write (once the template is ready and, with
//! caching, the cache warm; an existing one is kept as wanted, and left alone while they are not, so a running
//! service keeps serving), the `RuntimeReady` condition, and the replica status.
//!
//! `RuntimeReady` says, in order: refused by the API server; cannot scale as asked (`ScalingUnsupported`);
//! scaling (`Scaling`, true: the service serves while its replica count moves, whether an autoscaler or a
//! person moved it, and says what the next replica waits for); ready; some replicas serving and the rest waiting for GPUs (`ReplicasWaiting`); none placed
//! (`Unschedulable`); not ready as KServe says; not reported yet.

use super::Observed;
use super::loading;
use super::messages::unschedulable_message;
use super::wake::{self, WakeStep};
use crate::api::{AIMService, AIMServiceStatus, InterceptorRef, ReplicaStatus, ResourceState, ServiceState};
use crate::controller::kit::conditions::{self, Cond, reasons, types};
use crate::controller::kit::writes::{Ownership, Writes};
use crate::controller::service::build::{self, RuntimeInputs};
use crate::controller::service::cache::CacheMount;
use crate::controller::service::candidates::TemplateRecord;
use crate::controller::service::observe::RuntimeBlocked;
use crate::controller::service::reported::Reported;
use crate::controller::service::scaling::{self, Replicas};
use crate::controller::service::serving;

/// What the runtime step decided.
pub(super) struct RuntimeStep {
    /// `RuntimeReady`.
    pub(super) cond: Cond,
    /// A failure a person must act on.
    pub(super) failure: Option<Cond>,
    /// The interceptor the service's route goes through (it wakes from zero through KEDA's HTTP add-on).
    pub(super) through: Option<InterceptorRef>,
}

/// The runtime of `svc` running `template` (`image`, `mounts`); `cache_blocks` while the cache is not warm.
/// Adds the InferenceService to `writes` and sets `next`'s `inferenceService` and `replicas`.
#[allow(clippy::too_many_arguments)]
pub(super) fn step(
    svc: &AIMService,
    o: &Observed,
    template: &TemplateRecord,
    image: &str,
    mounts: &[CacheMount],
    cache_blocks: bool,
    current: &AIMServiceStatus,
    writes: &mut Writes,
    next: &mut AIMServiceStatus,
) -> RuntimeStep {
    let name = &o.isvc_name;
    let template_ready = template.status.head.status == Some(ResourceState::Available);
    let replicas = scaling::decide(&svc.spec, &template.profile, &o.scaling);
    next.replicas = match (&replicas, &o.isvc) {
        (Ok(r), Some(_)) => Some(replica_status(r, o)),
        _ => None,
    };
    if o.isvc.is_none() && !template_ready {
        next.inference_service = None;
        let why = conditions::get(&template.status.head.conditions, types::READY)
            .map(|c| c.message.clone())
            .unwrap_or_default();
        return no_failure(Cond::no(
            reasons::WAITING_FOR_TEMPLATE,
            conditions::with_detail(format!("waiting for template {} to be ready", template.name), &why),
        ));
    }
    if o.isvc.is_none() && cache_blocks {
        next.inference_service = None;
        return no_failure(Cond::no(
            reasons::WAITING_FOR_CACHE,
            "the InferenceService starts once the model cache is warm",
        ));
    }
    let replicas = match replicas {
        Ok(r) => r,
        Err(why) => {
            // Nothing new is written: an existing runtime keeps serving as it was.
            next.inference_service = o.isvc.is_some().then(|| name.clone());
            let message = format!("the InferenceService {name} cannot scale as asked: {why}");
            return RuntimeStep {
                failure: Some(Cond::yes(reasons::SCALING_UNSUPPORTED, message.clone())),
                cond: Cond::no(reasons::SCALING_UNSUPPORTED, message),
                through: None,
            };
        }
    };
    let writable = template_ready && !cache_blocks && o.runtime_blocked.is_none();
    let budget = budget(template, mounts);
    let (through, wake_problem) = match wake::step(svc, o, &replicas, budget, writable, writes) {
        WakeStep::Direct => (None, None),
        WakeStep::Through(interceptor, problem) => (Some(interceptor), problem),
        WakeStep::Unavailable(c) => {
            // The InferenceService is not made (or changed) either: it would scale to zero with no way back.
            next.inference_service = o.isvc.is_some().then(|| name.clone());
            return RuntimeStep {
                failure: Some(Cond::yes(c.reason, c.message.clone())),
                cond: c,
                through: None,
            };
        }
    };
    if writable {
        let inputs = RuntimeInputs {
            service: svc,
            name,
            owner: o.owner.clone(),
            image,
            template: &template.name,
            profile: &template.profile,
            discovered: &template.status,
            mounts,
            propagation: &o.propagation,
            replicas: &replicas,
        };
        next.applied_runtime = Some(writes.ensure_unmarked(
            build::inference_service(&inputs),
            o.isvc.as_deref(),
            current.applied_runtime.as_deref(),
            Ownership::Owned,
        ));
        if o.isvc.is_none() && current.inference_service.as_deref() == Some(name.as_str()) {
            writes.restoring_deleted();
        }
    }
    next.inference_service = (writable || o.isvc.is_some()).then(|| name.clone());
    if let Some(blocked) = &o.runtime_blocked {
        let c = Cond::no(
            reasons::RUNTIME_REJECTED,
            match blocked {
                RuntimeBlocked::Refused(why) => format!("the InferenceService {name} was refused: {why}"),
                RuntimeBlocked::Unnamable(why) => format!("no InferenceService can be made for this service: {why}"),
            },
        );
        return RuntimeStep {
            failure: Some(Cond::yes(c.reason, c.message.clone())),
            cond: c,
            through,
        };
    }
    if let Some(refused) = o.pods_refused.as_ref().filter(|_| o.isvc.is_some()) {
        let c = Cond::no(
            reasons::PODS_REJECTED,
            format!(
                "Kubernetes refuses to create the pods of InferenceService {name}: {refused}; fix what it names (a \
                 spec.priorityClassName or spec.serviceAccountName that does not exist, a quota, an admission policy)"
            ),
        );
        return RuntimeStep {
            failure: Some(Cond::yes(c.reason, c.message.clone())),
            cond: c,
            through,
        };
    }
    if let Some(unsupported) = unsupported_kserve(name, o.runtime_mode.as_deref()) {
        return RuntimeStep {
            failure: Some(Cond::yes(unsupported.reason, unsupported.message.clone())),
            cond: unsupported,
            through,
        };
    }
    if let Some(c) = wake_problem {
        return RuntimeStep {
            failure: Some(Cond::yes(c.reason, c.message.clone())),
            cond: c,
            through,
        };
    }
    let was_running = current.head.status == Some(ServiceState::Running);
    let was_idle = current.head.status == Some(ServiceState::Idle) || waking(current);
    let held = wake::held_for(&replicas, budget);
    let cond = condition(o, template, &replicas, was_running, was_idle, held.as_deref());
    // A replica not ready while nothing else is wrong: loading within its startup budget, or stuck.
    let starting = [reasons::CREATING_RUNTIME, reasons::RUNTIME_NOT_READY, reasons::WAKING].contains(&cond.reason);
    if starting && let Some((cond, stuck)) = loading::condition(name, &o.replica_runs, budget) {
        return RuntimeStep {
            failure: stuck.then(|| Cond::yes(cond.reason, cond.message.clone())),
            cond,
            through,
        };
    }
    RuntimeStep {
        cond,
        failure: None,
        through,
    }
}

/// True while a wake from zero is under way: its record is open.
fn waking(current: &AIMServiceStatus) -> bool {
    current.last_wake.as_ref().is_some_and(|w| w.time_to_ready.is_none())
}

/// The deployment modes of a KServe that took the InferenceService as written: `Standard`, and its legacy name.
const STANDARD_MODES: [&str; 2] = ["Standard", "RawDeployment"];

/// A KServe older than 0.16 does not know `deploymentMode: Standard` and records its own default (usually
/// `Serverless`, which needs Knative): say so, with the supported range, instead of waiting for a runtime that
/// never comes.
fn unsupported_kserve(isvc: &str, mode: Option<&str>) -> Option<Cond> {
    let mode = mode.filter(|m| !STANDARD_MODES.contains(m))?;
    Some(Cond::no(
        reasons::KSERVE_UNSUPPORTED,
        format!(
            "KServe runs InferenceService {isvc} in deployment mode {mode}: it did not take the annotation \
             serving.kserve.io/deploymentMode: Standard, which KServe understands from v0.16; the operator supports \
             KServe v0.16 to v0.20, so upgrade KServe"
        ),
    ))
}

/// The startup budget its replicas' startup probe allows (the same figure the InferenceService was built with).
fn budget(template: &TemplateRecord, mounts: &[CacheMount]) -> std::time::Duration {
    serving::startup_budget(serving::model_bytes(&template.status.model_sources), !mounts.is_empty())
}

fn no_failure(cond: Cond) -> RuntimeStep {
    RuntimeStep {
        cond,
        failure: None,
        through: None,
    }
}

/// The replicas wanted now: the Deployment's count (the autoscaler's choice), else the least `replicas` allows.
fn desired(replicas: &Replicas, o: &Observed) -> i32 {
    match replicas {
        Replicas::Fixed(n) => *n,
        Replicas::Auto { min, max, .. } => o.desired_replicas.unwrap_or(*min).clamp(*min, *max),
    }
}

/// Replicas ready, up to those wanted: a rolling update's surge and a scale-down's last moments are not more
/// replicas serving than asked for.
fn ready(replicas: &Replicas, o: &Observed) -> i32 {
    (o.ready_replicas as i32).min(desired(replicas, o))
}

fn replica_status(replicas: &Replicas, o: &Observed) -> ReplicaStatus {
    let (min, max) = replicas.bounds();
    let (ready, desired) = (ready(replicas, o), desired(replicas, o));
    let summary = match replicas {
        Replicas::Fixed(_) => format!("{ready}/{desired}"),
        Replicas::Auto { .. } => format!("{ready}/{desired} ({min}-{max})"),
    };
    ReplicaStatus {
        ready,
        desired,
        min,
        max,
        autoscaler: replicas.class().into(),
        summary,
    }
}

/// `RuntimeReady` of a runtime the API server took; `was_running`: the service was Running before; `was_idle`:
/// it was scaled to zero (or waking from it); `held`: how long a waking request is held, where it is.
fn condition(
    o: &Observed,
    template: &TemplateRecord,
    replicas: &Replicas,
    was_running: bool,
    was_idle: bool,
    held: Option<&str>,
) -> Cond {
    let name = &o.isvc_name;
    let (ready, wanted) = (ready(replicas, o), desired(replicas, o));
    let kserve_ready = o.runtime.as_ref().is_some_and(|r| r.is_true());
    let waits =
        |scheduler: &str| unschedulable_message(name, template, wanted, replicas, o.gpu_pool.as_ref(), scheduler);
    // Serving while the count moves: a ready runtime; a running one with replicas still serving (KServe calls
    // a Deployment below its count unready while the new replicas start); an autoscaled one at its floor.
    let floor = replicas.bounds().0.max(1);
    let serving =
        kserve_ready || (was_running && ready > 0) || (matches!(replicas, Replicas::Auto { .. }) && ready >= floor);
    if o.isvc.is_some() && serving && ready < wanted && o.desired_replicas.is_some() {
        let next = match &o.unplaced {
            Some(scheduler) => format!("; the next replica waits: {}", waits(scheduler)),
            None => String::new(),
        };
        return Cond::yes(
            reasons::SCALING,
            format!("InferenceService {name} is scaling from {ready} to {wanted} ready replicas{next}"),
        );
    }
    // A running service whose replicas all serve while KServe rolls its Deployment out (a change of the spec,
    // or a hand edit put back) is not Degraded: the old pods serve until the new ones are ready. It reads as it
    // did, so a rollout writes no status (the Deployment shows the rollout).
    if was_running
        && wanted > 0
        && ready >= wanted
        && o.unplaced.is_none()
        && o.runtime.as_ref().is_some_and(|r| !r.is_true() && on_its_way_up(r))
    {
        return Cond::yes(reasons::RUNTIME_READY, format!("InferenceService {name} is ready"));
    }
    match (&o.runtime, &o.unplaced) {
        (Some(r), _) if r.is_true() && wanted == 0 => Cond::yes(
            reasons::SCALED_TO_ZERO,
            match held {
                Some(held) => format!(
                    "InferenceService {name} is scaled to zero: the next request through its route wakes it, and \
                     waits until a replica answers it (up to {held})"
                ),
                None => format!(
                    "InferenceService {name} is scaled to zero: the autoscaler starts a replica when its metric \
                     rises, and requests get the gateway's 503 until one is ready (AIMClusterConfig \
                     spec.autoScaling.wake holds them instead)"
                ),
            },
        ),
        (_, None) if was_idle && ready < wanted.max(1) => Cond::no(
            reasons::WAKING,
            match held {
                Some(held) => format!(
                    "InferenceService {name} is waking from zero: {wanted} replica(s) starting; requests wait until \
                     one answers (up to {held})"
                ),
                None => format!("InferenceService {name} is waking from zero: {wanted} replica(s) starting"),
            },
        ),
        (Some(r), _) if r.is_true() => Cond::yes(reasons::RUNTIME_READY, format!("InferenceService {name} is ready")),
        (_, Some(scheduler)) if ready > 0 => Cond::no(
            reasons::REPLICAS_WAITING,
            format!("serving with {ready} of {wanted} replicas ready; {}", waits(scheduler)),
        ),
        (_, Some(scheduler)) => Cond::no(reasons::UNSCHEDULABLE, waits(scheduler)),
        (Some(r), None) if !was_running && on_its_way_up(r) => starting(name),
        (Some(r), None) => Cond::no(
            reasons::RUNTIME_NOT_READY,
            format!("InferenceService {name} is not ready: {} {}", r.reason, r.message)
                .trim()
                .to_string(),
        ),
        (None, None) => starting(name),
    }
}

/// The reasons KServe gives a runtime on its normal way up. In raw deployment mode it passes its Deployment's
/// conditions on (v0.16 `PropagateRawStatus`): `False` with no reason before the Deployment reports, `Unknown`
/// with the `Progressing` reason while the replica set rolls out; a rollout that failed is `False` with the
/// Deployment's reason (`ProgressDeadlineExceeded`), which is kept.
const KSERVE_STARTING: [&str; 5] = [
    "",
    "MinimumReplicasUnavailable",
    "ReplicaSetUpdated",
    "NewReplicaSetCreated",
    "FoundNewReplicaSet",
];

/// True when KServe's report says only that the runtime is still on its way up: for a person that is the same
/// state as no report at all, so the service's status does not change (and is not written) when KServe
/// passes through it. Anything else KServe says (a failed rollout, a model that did not load) is shown as it
/// says it. How far the start has got is in `status.startup`.
fn on_its_way_up(r: &Reported) -> bool {
    r.status == "Unknown" || KSERVE_STARTING.contains(&r.reason.as_str())
}

/// `RuntimeReady` of a runtime starting normally.
fn starting(name: &str) -> Cond {
    Cond::no(
        reasons::CREATING_RUNTIME,
        format!("waiting for InferenceService {name} to become ready"),
    )
}
