//! A service's cold start, phase by phase (pure): when each began and ended, read off what the cluster already
//! reports, never off the operator's own clock between writes. The operator's conditions give when the service
//! was resolved, its cache warm and it first Running; the InferenceService's creation time when its runtime was
//! made; its pods' `PodScheduled` and `Ready` conditions and the container's `startedAt` when its replicas were
//! placed, their image pulled (the container started) and ready; the route's `Accepted` condition when the gateway
//! took it. So a phase's times are right whenever the status that carries them is written, and the record
//! costs no write of its own: the plan writes an open record only along with a change a person reads.
//!
//! Phases: `Resolved`, `CacheWarm` (with `cacheModel`; bytes, rate and time left while downloading),
//! `RuntimeCreated`, `PodsScheduled`, `ImagePulled`, `ContainersReady`, `RouteAccepted` (with routing). Once the
//! service is first Running the record is complete, names its slowest phase, and never changes again.
//!
//! A service that scales to zero also keeps the record of its last wake ([`next_wake`]): from its replica
//! being created (KEDA scaled it up) to it being ready, `PodsScheduled`, `ImagePulled`, `ContainersReady`.

use crate::api::{AIMServiceStatus, ServiceState, StartupPhase, StartupStatus};
use crate::controller::kit::conditions::{self, reasons, types};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

/// What the cluster reports about the start, besides the service's own conditions.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct StartFacts {
    /// When the service was created.
    pub(crate) created: Option<Time>,
    /// Whether the service caches its model.
    pub(crate) caching: bool,
    /// Bytes, rate and time left of the download, while the cache warms.
    pub(crate) download: Option<String>,
    /// When its InferenceService was created.
    pub(crate) runtime_created: Option<Time>,
    /// Its replicas: when the last of them was placed, started its container and was ready.
    pub(crate) pods: PodTimes,
    /// Routing on: when the route was created and when its gateway accepted it.
    pub(crate) route: Option<(Option<Time>, Option<Time>)>,
}

/// When a service's replicas reached each step (the latest of them, so the phase ends when all have).
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct PodTimes {
    /// The pod was created (its replica asked for).
    pub(crate) created: Option<Time>,
    /// `PodScheduled` turned true.
    pub(crate) scheduled: Option<Time>,
    /// The serving container started (its image pulled).
    pub(crate) started: Option<Time>,
    /// `Ready` turned true.
    pub(crate) ready: Option<Time>,
}

/// What a person calls each phase, in "3m40s downloading the model".
fn doing(phase: &str) -> &'static str {
    match phase {
        "Resolved" => "resolving the template",
        "CacheWarm" => "downloading the model",
        "RuntimeCreated" => "waiting for the template and creating the runtime",
        "PodsScheduled" => "waiting for GPUs to place the replicas",
        "ImagePulled" => "pulling the image",
        "ContainersReady" => "loading the model in the runtime",
        _ => "waiting for the gateway to accept the route",
    }
}

/// Seconds from `from` to `to` (never negative).
fn seconds(from: &Time, to: &Time) -> i64 {
    (to.0.as_second() - from.0.as_second()).max(0)
}

/// `4m12s`, `1h2m`, `35s`.
pub(crate) fn duration(secs: i64) -> String {
    let (h, m, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
    match (h, m) {
        (0, 0) => format!("{s}s"),
        (0, _) => format!("{m}m{s}s"),
        _ => format!("{h}h{m}m"),
    }
}

fn phase(name: &str, started: Option<&Time>, finished: Option<&Time>, detail: Option<&String>) -> Option<StartupPhase> {
    let started = started?;
    // Times come from different reporters (the API server's creation stamp, a controller's condition, a
    // kubelet), each to the second: a phase never ends before it starts.
    let finished = finished.map(|f| if f.0 < started.0 { started } else { f });
    Some(StartupPhase {
        name: name.into(),
        started: Some(started.clone()),
        finished: finished.cloned(),
        duration: finished.map(|f| duration(seconds(started, f))),
        detail: if finished.is_none() { detail.cloned() } else { None },
    })
}

/// When condition `type_` of `status` turned true with `reason` (any reason when `None`).
fn turned_true(status: &AIMServiceStatus, type_: &str, reason: Option<&str>) -> Option<Time> {
    let c = conditions::get(&status.head.conditions, type_)?;
    (c.status == "True" && reason.is_none_or(|r| c.reason == r)).then(|| c.last_transition_time.clone())
}

/// The start as `next` (the status the plan writes) and `facts` show it.
pub(crate) fn record(next: &AIMServiceStatus, facts: &StartFacts) -> StartupStatus {
    let resolved = turned_true(next, types::RESOLVED, None);
    let warm = turned_true(next, types::CACHE_READY, Some(reasons::CACHE_READY));
    let runtime_from = if facts.caching { warm.clone() } else { resolved.clone() };
    let pods = &facts.pods;
    let mut phases: Vec<StartupPhase> = [
        phase("Resolved", facts.created.as_ref(), resolved.as_ref(), None),
        facts
            .caching
            .then(|| phase("CacheWarm", resolved.as_ref(), warm.as_ref(), facts.download.as_ref()))
            .flatten(),
        phase(
            "RuntimeCreated",
            runtime_from.as_ref(),
            facts.runtime_created.as_ref(),
            None,
        ),
        phase(
            "PodsScheduled",
            facts.runtime_created.as_ref(),
            pods.scheduled.as_ref(),
            None,
        ),
        phase("ImagePulled", pods.scheduled.as_ref(), pods.started.as_ref(), None),
        phase("ContainersReady", pods.started.as_ref(), pods.ready.as_ref(), None),
    ]
    .into_iter()
    .flatten()
    .collect();
    if let Some((created, accepted)) = &facts.route {
        phases.extend(phase("RouteAccepted", created.as_ref(), accepted.as_ref(), None));
    }
    let running = next.head.status == Some(ServiceState::Running);
    let ready = turned_true(next, types::READY, Some(reasons::READY)).filter(|_| running);
    let slowest = ready.as_ref().and_then(|_| slowest(&phases));
    StartupStatus {
        time_to_ready: ready
            .as_ref()
            .zip(facts.created.as_ref())
            .map(|(ready, created)| duration(seconds(created, ready))),
        slowest,
        phases,
    }
}

/// The record the next status holds: a complete one never changes; a service that ran before the operator
/// recorded starts (a status without one) gets none; otherwise the start as it stands now. Whether it is
/// written is the plan's call: an open record rides along with a write made for another reason.
pub(crate) fn next_record(
    current: &AIMServiceStatus,
    fresh: impl FnOnce() -> StartupStatus,
    new: bool,
) -> Option<StartupStatus> {
    let done = current.startup.as_ref().is_some_and(|s| s.time_to_ready.is_some());
    if done || (!new && current.startup.is_none()) {
        return current.startup.clone();
    }
    Some(fresh())
}

/// The record of the service's last wake from zero as `next` has it: begun when the service leaves `Idle`,
/// updated while it wakes (from its replicas' times in `facts`), complete once it is `Running` again, then kept
/// until the next wake. A wake is what the scale from zero costs the request that caused it.
pub(crate) fn next_wake(
    current: &AIMServiceStatus,
    next: &AIMServiceStatus,
    facts: &StartFacts,
) -> Option<StartupStatus> {
    let open = current.last_wake.as_ref().is_some_and(|w| w.time_to_ready.is_none());
    let idle = |s: &AIMServiceStatus| s.head.status == Some(ServiceState::Idle);
    let woke = idle(current) && !idle(next);
    if !(open || woke) || (open && idle(next)) {
        return current.last_wake.clone();
    }
    let pods = &facts.pods;
    let phases: Vec<StartupPhase> = [
        phase("PodsScheduled", pods.created.as_ref(), pods.scheduled.as_ref(), None),
        phase("ImagePulled", pods.scheduled.as_ref(), pods.started.as_ref(), None),
        phase("ContainersReady", pods.started.as_ref(), pods.ready.as_ref(), None),
    ]
    .into_iter()
    .flatten()
    .collect();
    let running = next.head.status == Some(ServiceState::Running);
    let ready = pods.ready.as_ref().filter(|_| running);
    Some(StartupStatus {
        time_to_ready: ready
            .zip(pods.created.as_ref())
            .map(|(ready, created)| duration(seconds(created, ready))),
        slowest: ready.and_then(|_| slowest(&phases)),
        phases,
    })
}

/// The longest of `phases` that ended, in words.
fn slowest(phases: &[StartupPhase]) -> Option<String> {
    phases
        .iter()
        .filter_map(|p| Some((seconds(p.started.as_ref()?, p.finished.as_ref()?), p)))
        .max_by_key(|(secs, _)| *secs)
        .map(|(secs, p)| format!("{} {}", duration(secs), doing(&p.name)))
}

/// The `Ready` message of a service that woke from zero: how long the wake took and where the time went.
pub(crate) fn wake_message(wake: Option<&StartupStatus>) -> Option<String> {
    let w = wake?;
    let took = w.time_to_ready.as_ref()?;
    Some(match &w.slowest {
        Some(slowest) => format!("serving; woke from zero in {took}; {slowest}"),
        None => format!("serving; woke from zero in {took}"),
    })
}

/// The `Ready` message of a service whose start is complete: how long it took and where the time went.
pub(crate) fn ready_message(startup: Option<&StartupStatus>) -> Option<String> {
    let s = startup?;
    let took = s.time_to_ready.as_ref()?;
    Some(match &s.slowest {
        Some(slowest) => format!("serving; ready in {took}; {slowest}"),
        None => format!("serving; ready in {took}"),
    })
}

#[cfg(test)]
mod tests;
