//! A template's status as a pure function of where discovery stands and where its own cache stands:
//! `Discovered`, `CacheWarm`, `Ready`, `Progressing`, `Failure` and `status.status`.

use super::caching::CacheState;
use super::discovery::Step;
use crate::api::{DiscoveryStatus, ModelSource, ResourceState, TemplateStatus};
use crate::controller::kit::conditions::{self, Cond, reasons, types};
use k8s_openapi::jiff::Timestamp;
use std::time::Duration;

/// Where the template's model sources come from.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Sources {
    /// Given inline in the spec.
    Inline(Vec<ModelSource>),
    /// Discovered, as far as discovery has got.
    Discovery {
        step: Step,
        record: Option<DiscoveryStatus>,
    },
}

/// The status and when to look again.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Planned {
    /// The status to write.
    pub(crate) status: TemplateStatus,
    /// When to reconcile again without a change (a backoff ending, a grace period).
    pub(crate) requeue: Option<Duration>,
}

/// The template's status from its sources and its cache (`None`: caching is off).
pub(crate) fn status(
    current: &TemplateStatus,
    generation: Option<i64>,
    sources: &Sources,
    cache: Option<&CacheState>,
    now: Timestamp,
) -> Planned {
    let mut next = current.clone();
    next.head.observed_generation = generation;
    let set = |next: &mut TemplateStatus, t: &str, c: &Cond| {
        conditions::set(&mut next.head.conditions, t, c, generation, now)
    };
    let mut requeue = None;
    let (discovered, failure) = match sources {
        Sources::Inline(inline) => {
            next.discovery = None;
            next.profile = None;
            next.model_sources = inline.clone();
            let c = Cond::yes(
                reasons::INLINE_MODEL_SOURCES,
                format!("{} model sources given inline; discovery skipped", inline.len()),
            );
            set(&mut next, types::DISCOVERED, &c);
            (true, None)
        }
        Sources::Discovery { step, record } => {
            next.discovery = record.clone();
            match step {
                Step::Done { sources, profile } => {
                    next.model_sources = sources.clone();
                    next.profile = profile.as_deref().cloned();
                    let c = Cond::yes(
                        reasons::PROFILES_DISCOVERED,
                        format!(
                            "{} model sources from profile {}",
                            sources.len(),
                            profile.as_ref().map_or("?", |p| p.id.as_str())
                        ),
                    );
                    set(&mut next, types::DISCOVERED, &c);
                    (true, None)
                }
                Step::Running { job } => {
                    next.model_sources.clear();
                    next.profile = None;
                    let c = Cond::no(reasons::DISCOVERY_RUNNING, format!("discovery Job {job} is running"));
                    set(&mut next, types::DISCOVERED, &c);
                    (false, None)
                }
                Step::Waiting { reason, message, retry } => {
                    next.model_sources.clear();
                    next.profile = None;
                    requeue = Some(*retry);
                    set(&mut next, types::DISCOVERED, &Cond::no(reason, message.clone()));
                    (false, None)
                }
                Step::Failed { reason, message, retry } => {
                    next.model_sources.clear();
                    next.profile = None;
                    requeue = *retry;
                    let c = Cond::no(reason, message.clone());
                    set(&mut next, types::DISCOVERED, &c);
                    (false, Some(c))
                }
            }
        }
    };

    // While a retry runs, the last failure stays visible until an attempt succeeds.
    let retrying = matches!(
        sources,
        Sources::Discovery { step: Step::Running { .. } | Step::Waiting { .. }, record: Some(r) } if r.failed_attempts > 0
    );
    let retry_failure = conditions::get(&current.head.conditions, types::FAILURE)
        .filter(|c| retrying && c.status == "True" && c.reason == reasons::DISCOVERY_FAILED)
        .map(|c| {
            Cond::yes(
                reasons::DISCOVERY_FAILED,
                format!("{} (retrying)", c.message.trim_end_matches(" (retrying)")),
            )
        });

    let mut cache_failure = None;
    let cache_warm = match cache {
        None => {
            next.head.conditions.retain(|c| c.type_ != types::CACHE_WARM);
            true
        }
        Some(state) => {
            let c = Cond {
                ok: state.warm,
                reason: state.reason,
                message: state.message.clone(),
            };
            set(&mut next, types::CACHE_WARM, &c);
            if state.failed {
                cache_failure = Some(Cond::yes(reasons::WARM_FAILED, state.message.clone()));
            }
            state.warm
        }
    };
    let ready = discovered && cache_warm;
    let progressing = !ready && failure.is_none() && cache_failure.is_none();
    let any_failure = failure
        .clone()
        .map(|c| Cond::yes(c.reason, c.message))
        .or(cache_failure.clone())
        .or(retry_failure);
    set(
        &mut next,
        types::FAILURE,
        &any_failure.unwrap_or(Cond::no(reasons::NO_FAILURE, "")),
    );
    let blocking_type = if discovered {
        types::CACHE_WARM
    } else {
        types::DISCOVERED
    };
    let blocking = conditions::get(&next.head.conditions, blocking_type)
        .map(|c| (c.reason.clone(), c.message.clone()))
        .unwrap_or_default();
    let blocking_reason = reason_const(&blocking.0);
    if ready {
        set(
            &mut next,
            types::READY,
            &Cond::yes(reasons::READY, "model sources known and cached as configured"),
        );
    } else {
        set(&mut next, types::READY, &Cond::no(blocking_reason, blocking.1.clone()));
    }
    let p = if progressing {
        Cond::yes(blocking_reason, blocking.1.clone())
    } else {
        Cond::no(reasons::IDLE, "")
    };
    set(&mut next, types::PROGRESSING, &p);
    next.head.status = Some(match (ready, failure.is_some(), cache_failure.is_some(), progressing) {
        (true, ..) => ResourceState::Available,
        (_, true, ..) => ResourceState::Failed,
        (_, _, true, _) if discovered => ResourceState::Degraded,
        (_, _, true, _) => ResourceState::Failed,
        (_, _, _, true) => ResourceState::Progressing,
        _ => ResourceState::Pending,
    });
    Planned { status: next, requeue }
}

/// The constant for a reason the plan itself set (every reason a template carries is one of these).
fn reason_const(reason: &str) -> &'static str {
    [
        reasons::INLINE_MODEL_SOURCES,
        reasons::PROFILES_DISCOVERED,
        reasons::AWAITING_DISCOVERY,
        reasons::DISCOVERY_RUNNING,
        reasons::WAITING_FOR_DISCOVERY_SLOT,
        reasons::DISCOVERY_BACKOFF,
        reasons::DISCOVERY_FAILED,
        reasons::NO_RUNTIME_PROFILE,
        reasons::WAITING_FOR_IMAGE,
        reasons::MODEL_NOT_FOUND,
        reasons::WARMING,
        reasons::WARM,
        reasons::WARM_FAILED,
        reasons::CACHING_DISABLED,
    ]
    .into_iter()
    .find(|r| *r == reason)
    .unwrap_or(reasons::NOT_READY)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::ModelSource;
    use crate::fixtures::now;

    fn source() -> ModelSource {
        ModelSource {
            source_uri: "hf://org/m".into(),
            size: None,
            name: None,
        }
    }

    fn cond<'a>(s: &'a TemplateStatus, t: &str) -> (&'a str, &'a str) {
        let c = conditions::get(&s.head.conditions, t).expect(t);
        (c.status.as_str(), c.reason.as_str())
    }

    #[test]
    fn inline_sources_are_available_at_once() {
        let p = status(
            &TemplateStatus::default(),
            Some(1),
            &Sources::Inline(vec![source()]),
            None,
            now(),
        );
        assert_eq!(p.status.head.status, Some(ResourceState::Available));
        assert_eq!(
            cond(&p.status, types::DISCOVERED),
            ("True", reasons::INLINE_MODEL_SOURCES)
        );
        assert_eq!(cond(&p.status, types::FAILURE), ("False", reasons::NO_FAILURE));
        assert_eq!(p.status.model_sources, vec![source()]);
        assert!(conditions::get(&p.status.head.conditions, types::CACHE_WARM).is_none());
    }

    #[test]
    fn running_discovery_is_progressing_and_a_failure_is_failed_with_its_retry() {
        let running = Sources::Discovery {
            step: Step::Running { job: "j".into() },
            record: None,
        };
        let p = status(&TemplateStatus::default(), Some(1), &running, None, now());
        assert_eq!(p.status.head.status, Some(ResourceState::Progressing));
        assert_eq!(
            cond(&p.status, types::PROGRESSING),
            ("True", reasons::DISCOVERY_RUNNING)
        );
        let failed = Sources::Discovery {
            step: Step::Failed {
                reason: reasons::DISCOVERY_FAILED,
                message: "attempt 1: bad".into(),
                retry: Some(Duration::from_secs(30)),
            },
            record: Some(DiscoveryStatus {
                failed_attempts: 1,
                ..Default::default()
            }),
        };
        let p = status(&p.status, Some(1), &failed, None, now());
        assert_eq!(p.status.head.status, Some(ResourceState::Failed));
        assert_eq!(cond(&p.status, types::FAILURE), ("True", reasons::DISCOVERY_FAILED));
        assert_eq!(p.requeue, Some(Duration::from_secs(30)));
        // The retry runs: the failure stays visible, marked as retrying.
        let retrying = Sources::Discovery {
            step: Step::Running { job: "j".into() },
            record: Some(DiscoveryStatus {
                failed_attempts: 1,
                ..Default::default()
            }),
        };
        let p = status(&p.status, Some(1), &retrying, None, now());
        let f = conditions::get(&p.status.head.conditions, types::FAILURE).unwrap();
        assert_eq!(
            (f.status.as_str(), f.message.as_str()),
            ("True", "attempt 1: bad (retrying)")
        );
    }

    #[test]
    fn a_cache_gates_readiness_and_its_failure_degrades_a_discovered_template() {
        let inline = Sources::Inline(vec![source()]);
        let warming = CacheState {
            warm: false,
            failed: false,
            reason: reasons::WARMING,
            message: "AIMTemplateCache t is warming".into(),
        };
        let p = status(&TemplateStatus::default(), Some(1), &inline, Some(&warming), now());
        assert_eq!(p.status.head.status, Some(ResourceState::Progressing));
        assert_eq!(cond(&p.status, types::READY), ("False", reasons::WARMING));
        let failed = CacheState {
            warm: false,
            failed: true,
            reason: reasons::WARM_FAILED,
            message: "AIMTemplateCache t failed".into(),
        };
        let p = status(&p.status, Some(1), &inline, Some(&failed), now());
        assert_eq!(p.status.head.status, Some(ResourceState::Degraded));
        assert_eq!(cond(&p.status, types::FAILURE), ("True", reasons::WARM_FAILED));
    }
}
