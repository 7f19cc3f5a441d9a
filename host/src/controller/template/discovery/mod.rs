//! Where discovery stands for a template and its next step, as a pure function of what the index shows: the
//! model's image, the Job for the current spec and what its pod printed, whether a discovery slot is free, and
//! the time. The reconcile carries out the step's [`JobAction`].

use super::dry_run::{self, Answer};
use crate::api::{DiscoveryStatus, ModelSource, RuntimeProfile, TemplateStatus};
use crate::controller::kit::context::{DiscoveryConfig, backoff};
use crate::controller::kit::reasons;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use std::time::Duration;

/// The discovery Job of the current spec, as the index shows it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum JobState {
    Absent,
    /// It runs (or waits to).
    Running,
    /// It succeeded; its output, or why the output cannot be read.
    Succeeded(Result<String, String>),
    /// It failed, at `at`, for `detail`.
    Failed {
        /// What the container or the Job said.
        detail: String,
        at: Option<Timestamp>,
    },
}

/// What the discovery step reads.
#[derive(Debug, Clone)]
pub(crate) struct Observed<'a> {
    /// The template's status now.
    pub(crate) status: &'a TemplateStatus,
    /// The model's image, if an AIMImage serves the model.
    pub(crate) image: Option<&'a str>,
    /// The model, for messages.
    pub(crate) model: &'a str,
    /// What the dry run is asked for, for messages (`2 × MI300X, fp8, latency`).
    pub(crate) asked: String,
    /// When the template was created.
    pub(crate) created: Option<Timestamp>,
    /// Hash of the inputs discovery depends on (with the image).
    pub(crate) hash: String,
    /// `<namespace>/<name>` of the Job for that hash.
    pub(crate) job_name: String,
    pub(crate) job: JobState,
    /// Discovery Jobs running cluster-wide, and the cap.
    pub(crate) running: (usize, usize),
    /// Why starting the Job was refused, when it was.
    pub(crate) refused: Option<Refused>,
    pub(crate) now: Timestamp,
}

/// Why the API server (or the cap) refused to start the Job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refused {
    /// Another reconcile took the last free slot first.
    NoSlot,
    /// The Job's namespace does not exist; what to do about it.
    NamespaceMissing(String),
}

/// The outcome of one discovery step.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Step {
    /// Model sources known for the current spec.
    Done {
        sources: Vec<ModelSource>,
        /// The profile discovery chose (boxed: a step is moved around, and this is most of its size).
        profile: Option<Box<RuntimeProfile>>,
    },
    /// A Job is running, or is being started.
    Running { job: String },
    /// Not started yet: waiting for the image, a slot or a backoff. Not a failure.
    Waiting {
        reason: &'static str,
        message: String,
        /// When to look again.
        retry: Duration,
    },
    Failed {
        reason: &'static str,
        message: String,
        /// When the next attempt starts (none: when something changes).
        retry: Option<Duration>,
    },
}

/// What to do with the discovery Job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JobAction {
    Keep,
    Create,
    /// Remove the finished, failed one (its name is the spec hash; the retry creates it again).
    Delete,
}

/// The step, the discovery record to store, and what to do with the Job.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Plan {
    pub(crate) step: Step,
    pub(crate) record: Option<DiscoveryStatus>,
    pub(crate) job: JobAction,
}

/// How soon discovery tries again after finding its namespace missing (namespaces are not watched).
pub(crate) const NAMESPACE_RETRY: Duration = Duration::from_secs(30);

fn since(t: &Time, now: Timestamp) -> Duration {
    Duration::from_millis((now.as_millisecond() - t.0.as_millisecond()).max(0) as u64)
}

/// The next discovery step for a template whose model sources are not given inline.
pub(crate) fn plan(o: &Observed<'_>, config: &DiscoveryConfig) -> Plan {
    let keep = |step| Plan {
        step,
        record: o.status.discovery.clone(),
        job: JobAction::Keep,
    };
    if o.image.is_none() {
        let age = o
            .created
            .map(|c| Duration::from_millis((o.now.as_millisecond() - c.as_millisecond()).max(0) as u64))
            .unwrap_or(Duration::MAX);
        return keep(match config.image_grace.checked_sub(age) {
            Some(left) if !left.is_zero() => Step::Waiting {
                reason: reasons::WAITING_FOR_IMAGE,
                message: format!("waiting for an AIMImage with modelId '{}' to run discovery", o.model),
                retry: left,
            },
            _ => Step::Failed {
                reason: reasons::MODEL_NOT_FOUND,
                message: format!(
                    "no AIMImage has modelId '{}': install the model's catalog pack or create an AIMImage for it",
                    o.model
                ),
                retry: None,
            },
        });
    }
    let mut record = match &o.status.discovery {
        Some(d) if d.spec_hash == o.hash => d.clone(),
        _ => DiscoveryStatus {
            spec_hash: o.hash.clone(),
            ..Default::default()
        },
    };
    let current = o.status.discovery.as_ref().is_some_and(|d| d.spec_hash == o.hash);
    if current && !o.status.model_sources.is_empty() {
        return Plan {
            step: Step::Done {
                sources: o.status.model_sources.clone(),
                profile: o.status.profile.clone().map(Box::new),
            },
            record: Some(record),
            job: JobAction::Keep,
        };
    }
    // The image said it has no profile for this spec: asking again would give the same answer.
    if let Some(said) = record.no_profile.clone() {
        let job = match o.job {
            JobState::Absent => JobAction::Keep,
            _ => JobAction::Delete,
        };
        return Plan {
            step: no_profile_step(o, &said),
            record: Some(record),
            job,
        };
    }
    record.job = Some(o.job_name.clone());
    let job_short = o.job_name.rsplit('/').next().unwrap_or_default().to_string();
    let outcome = match &o.job {
        JobState::Running => {
            return Plan {
                step: Step::Running { job: job_short },
                record: Some(record),
                job: JobAction::Keep,
            };
        }
        JobState::Succeeded(output) => match output.clone().and_then(|text| dry_run::parse(&text)) {
            Ok(Answer::Found(found)) => Ok(found),
            Ok(Answer::NoProfile { said }) => {
                record.last_attempt_time = Some(Time(o.now));
                record.failed_attempts = 0;
                let said = said.unwrap_or_default();
                record.no_profile = Some(said.clone());
                return Plan {
                    step: no_profile_step(o, &said),
                    record: Some(record),
                    job: JobAction::Delete,
                };
            }
            Err(e) => Err(e),
        },
        JobState::Failed { detail, at } => {
            // The failure was counted already when the record's last attempt is not older than it: the Job is
            // still in the index only because its deletion has not arrived yet.
            let counted = match (&record.last_attempt_time, at) {
                (Some(last), Some(at)) => last.0 >= *at,
                _ => false,
            };
            if counted {
                let message = format!("attempt {} failed: {detail}", record.failed_attempts);
                return Plan {
                    step: Step::Failed {
                        reason: reasons::DISCOVERY_FAILED,
                        message,
                        retry: Some(Duration::from_secs(1)),
                    },
                    record: Some(record),
                    job: JobAction::Delete,
                };
            }
            Err(detail.clone())
        }
        JobState::Absent => {
            if record.failed_attempts > 0 {
                let wait = backoff(config.backoff_base, config.backoff_max, record.failed_attempts as u32);
                let elapsed = record
                    .last_attempt_time
                    .as_ref()
                    .map_or(Duration::MAX, |t| since(t, o.now));
                if elapsed < wait {
                    let left = wait - elapsed;
                    return Plan {
                        step: Step::Waiting {
                            reason: reasons::DISCOVERY_BACKOFF,
                            message: format!(
                                "attempt {} failed; the next starts in {}s",
                                record.failed_attempts,
                                left.as_secs().max(1)
                            ),
                            retry: left,
                        },
                        record: Some(record),
                        job: JobAction::Keep,
                    };
                }
            }
            if let Some(Refused::NamespaceMissing(message)) = &o.refused {
                return Plan {
                    step: Step::Failed {
                        reason: reasons::NAMESPACE_MISSING,
                        message: message.clone(),
                        retry: Some(NAMESPACE_RETRY),
                    },
                    record: Some(record),
                    job: JobAction::Keep,
                };
            }
            let (running, cap) = o.running;
            // Refused a slot: another reconcile took the last one since this one counted.
            let running = if o.refused == Some(Refused::NoSlot) {
                running.max(cap)
            } else {
                running
            };
            if running >= cap {
                return Plan {
                    step: Step::Waiting {
                        reason: reasons::WAITING_FOR_DISCOVERY_SLOT,
                        message: format!(
                            "{running} discovery Jobs are running, the most allowed at once; this one starts when one finishes"
                        ),
                        // A finishing Job wakes the waiting templates; this is only a safety net.
                        retry: Duration::from_secs(60),
                    },
                    record: Some(record),
                    job: JobAction::Keep,
                };
            }
            return Plan {
                step: Step::Running { job: job_short },
                record: Some(record),
                job: JobAction::Create,
            };
        }
    };
    record.last_attempt_time = Some(Time(o.now));
    match outcome {
        Ok(found) => {
            record.failed_attempts = 0;
            Plan {
                step: Step::Done {
                    sources: found.sources,
                    profile: Some(Box::new(found.profile)),
                },
                record: Some(record),
                job: JobAction::Keep,
            }
        }
        Err(message) => {
            record.failed_attempts += 1;
            let wait = backoff(config.backoff_base, config.backoff_max, record.failed_attempts as u32);
            Plan {
                step: Step::Failed {
                    reason: reasons::DISCOVERY_FAILED,
                    message: format!(
                        "attempt {}: {message}; retrying in {}s",
                        record.failed_attempts,
                        wait.as_secs()
                    ),
                    retry: Some(wait),
                },
                record: Some(record),
                job: JobAction::Delete,
            }
        }
    }
}

/// The image has no profile for what the template asks: say what was asked, what the runtime said, and what to
/// change. Not retried for the same spec and image.
fn no_profile_step(o: &Observed<'_>, said: &str) -> Step {
    let said = if said.is_empty() {
        String::new()
    } else {
        format!(" (the runtime said: {said})")
    };
    Step::Failed {
        reason: reasons::NO_RUNTIME_PROFILE,
        message: format!(
            "the image has no runtime profile for {}: its dry run listed none{said}; change the template's \
             gpuSelector, precision or metric to one the image has, or use another image",
            o.asked
        ),
        retry: None,
    }
}

#[cfg(test)]
mod tests;
