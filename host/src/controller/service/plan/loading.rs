//! A replica on its way up, told apart: still loading its model within the startup budget (a normal, if long,
//! start), or stuck (its container was restarted after running out the budget, or keeps exiting). Pure: what
//! the predictor's pods report in, a condition out. Messages name times, not durations, so a reconcile during a
//! long load writes nothing new.

use crate::controller::kit::conditions::{Cond, reasons};
use crate::controller::service::startup::duration;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use std::time::Duration;

/// The serving container of one predictor pod, as the kubelet reports it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct ReplicaRun {
    pub(crate) pod: String,
    pub(crate) ready: bool,
    /// When the running container started, while it runs.
    pub(crate) running_since: Option<Time>,
    pub(crate) restarts: i32,
    /// How its last run ended, after a restart.
    pub(crate) last_exit: Option<Exit>,
    /// Why it waits to run again (`CrashLoopBackOff`), with the kubelet's message.
    pub(crate) waiting: Option<String>,
}

/// A container run that ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Exit {
    pub(crate) reason: String,
    pub(crate) code: i32,
    /// How long it ran.
    pub(crate) ran: Option<Duration>,
}

/// How a replica's start stands, for `RuntimeReady`, when one is not ready yet: `None` when no pod says more
/// than "starting". A stuck replica comes first: it needs a person.
pub(crate) fn condition(isvc: &str, runs: &[ReplicaRun], budget: Duration) -> Option<(Cond, bool)> {
    if let Some(stuck) = runs.iter().filter(|r| !r.ready).find_map(|r| stuck(r, budget)) {
        return Some((
            Cond::no(reasons::RUNTIME_STUCK, format!("InferenceService {isvc}: {stuck}")),
            true,
        ));
    }
    let loading = runs.iter().find(|r| !r.ready && r.running_since.is_some())?;
    let since = loading.running_since.as_ref()?;
    let until = since
        .0
        .checked_add(k8s_openapi::jiff::SignedDuration::try_from(budget).ok()?)
        .ok()?;
    Some((
        Cond::no(
            reasons::LOADING_MODEL,
            format!(
                "InferenceService {isvc}: replica {} is loading the model since {}; its startup budget is {} (until {}), \
                 after which the kubelet restarts it",
                loading.pod,
                since.0.strftime("%H:%M:%S"),
                duration(budget.as_secs() as i64),
                until.strftime("%H:%M:%S UTC"),
            ),
        ),
        false,
    ))
}

/// Why `run` is stuck, if it is: restarted after a run as long as the startup budget (it never answered
/// `/v1/models`), or exited by itself and restarted.
fn stuck(run: &ReplicaRun, budget: Duration) -> Option<String> {
    let exit = run.last_exit.as_ref().filter(|_| run.restarts > 0)?;
    let times = if run.restarts == 1 {
        "once".to_string()
    } else {
        format!("{} times", run.restarts)
    };
    let logs = format!("kubectl logs {} -c kserve-container --previous", run.pod);
    // The kubelet gives the container its termination grace before it is gone: a run within a minute of the
    // budget ran it out.
    let ran_out = exit.ran.is_some_and(|ran| ran + Duration::from_secs(60) >= budget);
    let what = if ran_out {
        format!(
            "replica {} did not answer /v1/models within its startup budget of {} and was restarted {times}",
            run.pod,
            duration(budget.as_secs() as i64)
        )
    } else {
        format!(
            "replica {}'s runtime exited ({}, exit code {}{}) and was restarted {times}",
            run.pod,
            exit.reason,
            exit.code,
            exit.ran
                .map(|r| format!(", after {}", duration(r.as_secs() as i64)))
                .unwrap_or_default()
        )
    };
    let waiting = run.waiting.as_ref().map(|w| format!("; now {w}")).unwrap_or_default();
    Some(format!("{what}{waiting}; its log says why: {logs}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::jiff::Timestamp;

    fn at(s: i64) -> Time {
        Time(Timestamp::from_second(1_767_225_600 + s).unwrap())
    }

    fn loading(pod: &str) -> ReplicaRun {
        ReplicaRun {
            pod: pod.into(),
            running_since: Some(at(0)),
            ..Default::default()
        }
    }

    const BUDGET: Duration = Duration::from_secs(45 * 60);

    #[test]
    fn a_replica_within_its_budget_is_loading_with_a_message_that_does_not_tick() {
        let (c, failed) = condition("svc", &[loading("p-1")], BUDGET).unwrap();
        assert!(!failed);
        assert_eq!(c.reason, reasons::LOADING_MODEL);
        assert!(
            c.message.contains("replica p-1 is loading the model since 00:00:00")
                && c.message.contains("startup budget is 45m0s (until 00:45:00 UTC)"),
            "{}",
            c.message
        );
    }

    #[test]
    fn a_replica_restarted_after_its_budget_is_stuck() {
        let run = ReplicaRun {
            restarts: 2,
            last_exit: Some(Exit {
                reason: "Error".into(),
                code: 137,
                ran: Some(BUDGET + Duration::from_secs(20)),
            }),
            ..loading("p-1")
        };
        let (c, failed) = condition("svc", &[loading("p-0"), run], BUDGET).unwrap();
        assert!(failed, "a person must look");
        assert_eq!(c.reason, reasons::RUNTIME_STUCK);
        assert!(
            c.message.contains(
                "replica p-1 did not answer /v1/models within its startup budget of 45m0s and was restarted 2 times"
            ) && c.message.contains("kubectl logs p-1 -c kserve-container --previous"),
            "{}",
            c.message
        );
    }

    #[test]
    fn a_runtime_that_exits_is_stuck_with_its_exit() {
        let run = ReplicaRun {
            running_since: None,
            restarts: 1,
            last_exit: Some(Exit {
                reason: "Error".into(),
                code: 1,
                ran: Some(Duration::from_secs(12)),
            }),
            waiting: Some("CrashLoopBackOff: back-off 10s restarting failed container".into()),
            ..loading("p-0")
        };
        let (c, _) = condition("svc", &[run], BUDGET).unwrap();
        assert!(
            c.message.contains(
                "runtime exited (Error, exit code 1, after 12s) and was restarted once; now CrashLoopBackOff"
            ),
            "{}",
            c.message
        );
    }

    #[test]
    fn ready_or_unstarted_replicas_say_nothing_more() {
        let ready = ReplicaRun {
            ready: true,
            ..loading("p-0")
        };
        assert_eq!(condition("svc", &[ready], BUDGET), None);
        let pulling = ReplicaRun {
            running_since: None,
            ..loading("p-0")
        };
        assert_eq!(condition("svc", &[pulling], BUDGET), None);
    }
}
