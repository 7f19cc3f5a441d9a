//! Writing status: only when the plan's status differs from the index's copy (and from a write still on its way
//! to the index, and, for a kind that settles, once a step of a normal start has lasted: [`super::settle`]),
//! with server-side apply under the operator's field manager, and an Event when something a person should notice
//! happened: the overall state changed, or a failure appeared.

use super::conditions::types;
use super::context::{Context, FIELD_MANAGER};
use super::error::Error;
use crate::events;
use crate::index::pending::{Key, What};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::api::{Patch, PatchParams};
use kube::core::object::HasStatus;
use kube::runtime::events::{Event, EventType};
use kube::{Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fmt::Debug;

/// A status with an overall state and standard conditions.
pub(crate) trait WithConditions {
    fn conditions(&self) -> &[Condition];
    /// The overall state (`status.status`) as written, e.g. `Running`.
    fn state(&self) -> Option<String>;
    /// Top-level fields that ride along with other writes: a plan that differs from a write still on its way
    /// only in them is that write (see [`content_print`]); the write's own watch event plans again, with them.
    const RIDES_ALONG: &'static [&'static str] = &[];
    /// True for a kind whose start steps are held back until they have lasted ([`super::settle`]): its status is
    /// only read by people (a kind whose controller reads back what it wrote, such as attempts, does not settle).
    const SETTLES: bool = false;
}

/// Every AIM status reads both from its [`StatusHead`](crate::api::StatusHead); some name the fields that ride
/// along.
macro_rules! from_the_head {
    ($($status:ty $(=> rides along $ride:expr, settles)?),* $(,)?) => {$(
        impl WithConditions for $status {
            $(const RIDES_ALONG: &'static [&'static str] = $ride;
            const SETTLES: bool = true;)?
            fn conditions(&self) -> &[Condition] {
                &self.head.conditions
            }
            fn state(&self) -> Option<String> {
                self.head.status.map(|s| format!("{s:?}"))
            }
        }
    )*};
}

from_the_head!(
    crate::api::AIMImageStatus,
    crate::api::AIMClusterConfigStatus,
    crate::api::TemplateStatus,
    crate::api::AIMTemplateCacheStatus,
    crate::api::ModelCacheStatus,
    // A service's open start record, and its replica counts (which a plan from the copy before the first
    // write has once the InferenceService shows, and that copy's status had not). A service's start settles.
    crate::api::AIMServiceStatus => rides along &["startup", "replicas"], settles,
);

/// What [`write`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Written {
    /// It wrote the status.
    Yes,
    /// The object already had it.
    Unchanged,
    /// The same status by what a person reads ([`content_print`]) is on its way to the index; what rides along
    /// may still differ, so the object is to be planned again once the index has the write (the write's own
    /// event wakes no one).
    OnItsWay,
    /// A step of a normal start, held back for this much longer ([`super::settle`]); the object is to be
    /// planned again then.
    Settling(std::time::Duration),
}

impl Written {
    /// When the object is to be planned again because of what the write did, if at all.
    pub(crate) fn look_again(self) -> Option<std::time::Duration> {
        match self {
            Written::OnItsWay => Some(LOOK_AGAIN),
            Written::Settling(left) => Some(left),
            Written::Yes | Written::Unchanged => None,
        }
    }
}

/// How long after a status held back behind a write on its way ([`Written::OnItsWay`]) the object is planned
/// again: time for the index to show the write.
pub(crate) const LOOK_AGAIN: std::time::Duration = std::time::Duration::from_secs(2);

/// Applies `next` as `obj`'s status unless it already has it or it is on its way; says which.
pub(crate) async fn write<K>(ctx: &Context, obj: &K, next: K::Status) -> Result<Written, Error>
where
    K: Resource<DynamicType = ()> + HasStatus + Clone + Debug + DeserializeOwned + Serialize,
    K::Status: PartialEq + Serialize + WithConditions,
{
    let old = obj.status();
    let name = obj.name_any();
    let kind = K::kind(&()).into_owned();
    let key = || Key {
        kind: kind.clone(),
        namespace: obj.namespace().unwrap_or_default(),
        name: name.clone(),
        what: What::Status,
    };
    // The common case of every reconcile: nothing to write, and (almost always) no wait to end.
    if old == Some(&next) {
        if K::Status::SETTLES && ctx.settling.waiting() {
            ctx.settling.done(&key());
        }
        return Ok(Written::Unchanged);
    }
    let key = key();
    if K::Status::SETTLES
        && a_start_step(&next)
        && let Some(left) = ctx
            .settling
            .left(&key, ctx.config.settle_window(), std::time::Instant::now())
    {
        return Ok(Written::Settling(left));
    }
    let current = obj.resource_version();
    let print = content_print(&next);
    if ctx.index.pending.in_flight(&key, current.as_deref(), print) {
        return Ok(Written::OnItsWay);
    }
    let patch = serde_json::json!({
        "apiVersion": K::api_version(&()),
        "kind": kind,
        "status": next,
    });
    let resource = kube::api::ApiResource::erase::<K>(&());
    let api: kube::Api<kube::api::DynamicObject> = match obj.namespace() {
        Some(ns) => kube::Api::namespaced_with(ctx.client.clone(), &ns, &resource),
        None => kube::Api::all_with(ctx.client.clone(), &resource),
    };
    let result = api
        .patch_status(&name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(&patch))
        .await;
    ctx.metrics
        .write(&format!("{kind}/status"), "apply", result.as_ref().err());
    result.map_err(|source| Error::Status {
        what: format!("{kind} {name}"),
        source,
    })?;
    if K::Status::SETTLES {
        ctx.settling.done(&key);
    }
    ctx.index.pending.record(key, current, print);
    publish(ctx, obj, notable(old, &next)).await;
    Ok(Written::Yes)
}

/// The fingerprint of a status by what a person reads in it: its conditions' `lastTransitionTime` and the
/// fields that ride along (a service's open start record and replica counts) left out. A reconcile that runs
/// before the index shows this operator's last status write plans the same status again from the older copy,
/// at a later `now`, with the start a step further and the replica counts of an InferenceService created
/// meanwhile; by this print it is the same write, still on its way, and is skipped, and the object is planned
/// again [`LOOK_AGAIN`] later from the new copy, which settles whether the counts are news. By the whole status's
/// print it was written twice whenever the two plans fell in different seconds, either side of a start phase,
/// or either side of the InferenceService showing: 77 of 300 services in a rollout wrote a second `Starting`
/// that differed from the first only in `startup` and `replicas`.
fn content_print<S: Serialize + WithConditions>(status: &S) -> u64 {
    let mut value = serde_json::to_value(status).unwrap_or_default();
    if let Some(fields) = value.as_object_mut() {
        for field in S::RIDES_ALONG {
            fields.remove(*field);
        }
    }
    if let Some(conditions) = value.get_mut("conditions").and_then(serde_json::Value::as_array_mut) {
        for condition in conditions.iter_mut().filter_map(serde_json::Value::as_object_mut) {
            condition.remove("lastTransitionTime");
        }
    }
    super::writes::fingerprint(&value)
}

/// Records `events` about `obj`; a failure to record is logged, not returned (an Event is a courtesy).
pub(crate) async fn publish<K: Resource<DynamicType = ()>>(ctx: &Context, obj: &K, events: Vec<Event>) {
    for event in events {
        ctx.metrics.write("Event", "create", None);
        if let Err(e) = ctx.recorder.publish(&event, &obj.object_ref(&())).await {
            if publish_failure_expected(&e) {
                tracing::debug!(error = %e, "no event: the namespace is being deleted");
            } else {
                tracing::warn!(error = %e, "failed to publish an event");
            }
        }
    }
}

/// True when an Event could not be recorded for a reason that needs no one's attention: its namespace is being
/// deleted (the API server refuses new content there, and the object goes with it).
pub(crate) fn publish_failure_expected(error: &kube::Error) -> bool {
    super::error::refused_in_terminating_namespace(error)
}

/// The overall states of an object's normal start before it is ready.
const FIRST_STEPS: [&str; 3] = ["Pending", "Starting", "Progressing"];

/// True when `status` is a step of a normal start: a first step, and no failure.
fn a_start_step<S: WithConditions>(status: &S) -> bool {
    failure(status).is_none() && status.state().is_some_and(|s| FIRST_STEPS.contains(&s.as_str()))
}

/// `status`'s `Failure` condition when it is true.
fn failure<S: WithConditions>(status: &S) -> Option<&Condition> {
    status
        .conditions()
        .iter()
        .find(|c| c.type_ == types::FAILURE && c.status == "True")
}

/// The Events a status change is worth: a Warning when a failure appears (or its reason changes), otherwise a
/// Normal one (Warning for `Degraded`) when the overall state changes, except along a normal start: into the
/// first steps of a new object, and from a first step into the steady state (`Running`, `Available`). Progress
/// within a state is not an Event: the conditions show it.
///
/// A normal start is what the create asked for, and the `Ready` condition already says it happened, when (its
/// `lastTransitionTime`) and how long it took; an Event saying it again is one more write per object (a fifth
/// per service, a fifth of a rollout's writes), as a Deployment records none on becoming `Available`. Leaving
/// the steady state, failing and recovering from a failure or degradation are Events: they are what a person
/// looks for afterwards, when the status has moved on.
pub(crate) fn notable<S: WithConditions>(old: Option<&S>, new: &S) -> Vec<Event> {
    let new_failure = failure(new);
    let old_failure = old.and_then(failure);
    if let Some(f) = &new_failure
        && old_failure.as_ref().is_none_or(|o| o.reason != f.reason)
    {
        return vec![Event {
            type_: EventType::Warning,
            reason: f.reason.clone(),
            note: Some(events::note(&f.message)),
            action: "Reconcile".into(),
            secondary: None,
        }];
    }
    let (old_state, new_state) = (old.and_then(WithConditions::state), new.state());
    // An object's first steps and their end in the steady state are its normal start, not news.
    let steady = ["Running", "Available"];
    let from_first_step = old_state.as_deref().is_none_or(|s| FIRST_STEPS.contains(&s));
    match new_state {
        Some(state) if old_state.is_none() && FIRST_STEPS.contains(&state.as_str()) => vec![],
        Some(state) if from_first_step && steady.contains(&state.as_str()) && new_failure.is_none() => vec![],
        Some(state) if old_state.as_ref() != Some(&state) && new_failure.is_none() => {
            let ready = new.conditions().iter().find(|c| c.type_ == types::READY);
            let detail = ready.map(|c| c.message.clone()).unwrap_or_default();
            vec![Event {
                type_: if state == "Degraded" {
                    EventType::Warning
                } else {
                    EventType::Normal
                },
                // The reason is the state already: the note says why (`Degraded: Degraded: …` read twice).
                note: Some(events::note(if detail.trim().is_empty() { &state } else { &detail })),
                reason: state.clone(),
                action: "Reconcile".into(),
                secondary: None,
            }]
        }
        _ => vec![],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::kit::conditions::{Cond, reasons, set};
    use k8s_openapi::jiff::Timestamp;

    #[test]
    fn a_status_planned_again_a_second_later_is_the_same_write() {
        let at = |t: &str| {
            let mut status = crate::api::AIMServiceStatus::default();
            set(
                &mut status.head.conditions,
                types::READY,
                &Cond::no(reasons::CREATING_RUNTIME, "waiting"),
                Some(1),
                t.parse::<Timestamp>().unwrap(),
            );
            status
        };
        let (first, again) = (at("2026-12-04T10:00:00Z"), at("2026-12-04T10:00:01Z"));
        assert_ne!(first, again, "the plans differ in their timestamps");
        assert_eq!(content_print(&first), content_print(&again));
        let mut further = again.clone();
        further.startup = Some(crate::api::StartupStatus::default());
        assert_eq!(
            content_print(&first),
            content_print(&further),
            "the start record rides along"
        );
        further.replicas = Some(crate::api::ReplicaStatus {
            ready: 0,
            desired: 1,
            ..Default::default()
        });
        assert_eq!(
            content_print(&first),
            content_print(&further),
            "the replica counts ride along"
        );
        let mut other = again.clone();
        set(
            &mut other.head.conditions,
            types::READY,
            &Cond::yes(reasons::READY, "serving"),
            Some(1),
            "2026-12-04T10:00:01Z".parse::<Timestamp>().unwrap(),
        );
        assert_ne!(
            content_print(&first),
            content_print(&other),
            "a new state is a new write"
        );
    }

    #[test]
    fn an_event_refused_in_a_namespace_being_deleted_is_expected_and_others_are_not() {
        let refused = |code: u16, message: &str| {
            kube::Error::Api(
                kube::core::Status::failure(message, "Forbidden")
                    .with_code(code)
                    .boxed(),
            )
        };
        // What the API server answers while a namespace is being deleted.
        let terminating = refused(
            403,
            "events \"svc.1\" is forbidden: unable to create new content in namespace team because it is being \
             terminated",
        );
        assert!(publish_failure_expected(&terminating));
        assert!(!publish_failure_expected(&refused(
            403,
            "events is forbidden: User cannot create"
        )));
        assert!(!publish_failure_expected(&refused(
            500,
            "etcdserver: request timed out"
        )));
    }

    #[derive(Default)]
    struct S {
        state: Option<String>,
        conditions: Vec<Condition>,
    }

    impl WithConditions for S {
        fn conditions(&self) -> &[Condition] {
            &self.conditions
        }
        fn state(&self) -> Option<String> {
            self.state.clone()
        }
    }

    fn status(state: &str, ready: Cond, failure: Option<Cond>) -> S {
        let mut s = S {
            state: Some(state.into()),
            ..Default::default()
        };
        let now = Timestamp::now();
        set(&mut s.conditions, types::READY, &ready, None, now);
        let failure = failure.unwrap_or(Cond::no(reasons::NO_FAILURE, ""));
        set(&mut s.conditions, types::FAILURE, &failure, None, now);
        s
    }

    #[test]
    fn a_normal_start_is_no_event_and_leaving_or_regaining_the_steady_state_is_one() {
        let starting = status(
            "Starting",
            Cond::no(reasons::CREATING_RUNTIME, "waiting for KServe"),
            None,
        );
        assert!(notable(None, &starting).is_empty(), "a new object starting is not news");
        let still = status(
            "Starting",
            Cond::no(reasons::CONFIGURING_ROUTE, "waiting for the gateway"),
            None,
        );
        assert!(notable(Some(&starting), &still).is_empty());
        let running = status("Running", Cond::yes(reasons::READY, "serving"), None);
        assert!(
            notable(Some(&still), &running).is_empty(),
            "reaching Running from a normal start is in the Ready condition, not an Event"
        );
        assert!(
            notable(None, &running).is_empty(),
            "nor when the first write is already Running"
        );
        let degraded = status("Degraded", Cond::no(reasons::CREATING_RUNTIME, "one pod lost"), None);
        let events = notable(Some(&running), &degraded);
        assert_eq!(
            (events.len(), events[0].type_, events[0].reason.as_str()),
            (1, EventType::Warning, "Degraded")
        );
        assert_eq!(
            events[0].note.as_deref(),
            Some("one pod lost"),
            "the reason says the state; the note why"
        );
        let events = notable(Some(&degraded), &running);
        assert_eq!((events.len(), events[0].reason.as_str()), (1, "Running"));
        assert_eq!(events[0].note.as_deref(), Some("serving"));
        let restarting = status("Starting", Cond::no(reasons::CREATING_RUNTIME, "new runtime"), None);
        let events = notable(Some(&running), &restarting);
        assert_eq!(
            (events.len(), events[0].type_, events[0].reason.as_str()),
            (1, EventType::Normal, "Starting"),
            "leaving the steady state is news"
        );
    }

    #[test]
    fn a_failure_is_a_warning_once() {
        let failed = status(
            "Failed",
            Cond::no(reasons::TEMPLATE_NOT_FOUND, "no template"),
            Some(Cond::yes(reasons::TEMPLATE_NOT_FOUND, "no template t")),
        );
        let events = notable(None, &failed);
        assert_eq!(
            (events[0].type_, events[0].reason.as_str()),
            (EventType::Warning, "TemplateNotFound")
        );
        assert!(notable(Some(&failed), &failed).is_empty());
    }
}
