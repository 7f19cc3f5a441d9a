//! Where discovery stands for a template, and moving it one step: find the image, reuse a finished result,
//! wait out a backoff, wait for a free slot, start the Job, read a finished Job's output.
//!
//! May touch: discovery Jobs (create, delete after a failure) and read Pods and their logs.

use super::dry_run;
use super::job::{self, CONTAINER, DiscoveryInputs};
use crate::api::{DiscoveryStatus, ModelSource, TemplateProfile, TemplateStatus};
use crate::controller::apply::create_once;
use crate::controller::context::{Context, backoff};
use crate::controller::error::{Error, kube_err};
use crate::controller::labels;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{OwnerReference, Time};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DeleteParams, ListParams, LogParams, PropagationPolicy};
use std::time::Duration;

/// The outcome of one discovery step.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Model sources known for the current spec.
    Done {
        /// The sources.
        sources: Vec<ModelSource>,
        /// The profile discovery chose (none for inline sources).
        profile: Option<String>,
        /// Given inline rather than discovered.
        inline: bool,
    },
    /// A Job is running, or was just started.
    Running {
        /// The Job's name.
        job: String,
    },
    /// Not started yet: waiting for a slot or a backoff.
    Waiting {
        /// Condition reason.
        reason: &'static str,
        /// Condition message.
        message: String,
        /// When to look again.
        retry: Duration,
    },
    /// Failed.
    Failed {
        /// Condition reason.
        reason: &'static str,
        /// Condition message.
        message: String,
        /// When the next attempt starts (none: when something changes).
        retry: Option<Duration>,
    },
}

/// What the template's status says about discovery after this step.
pub struct Progress {
    /// The step.
    pub step: Step,
    /// The discovery block to store.
    pub record: Option<DiscoveryStatus>,
}

/// Moves discovery one step for a template whose model sources are not given inline.
pub async fn advance(
    ctx: &Context,
    template: &str,
    job_namespace: &str,
    owner: OwnerReference,
    profile: &TemplateProfile,
    status: &TemplateStatus,
) -> Result<Progress, Error> {
    let Some(image) = crate::controller::catalog::image_for(&ctx.client, &profile.model_id)
        .await?
        .map(|i| i.spec.image)
    else {
        return Ok(Progress {
            step: Step::Failed {
                reason: crate::controller::conditions::reasons::MODEL_NOT_FOUND,
                message: format!(
                    "no AIMImage has modelId '{}': install the model's catalog pack or create an AIMImage for it",
                    profile.model_id
                ),
                retry: None,
            },
            record: status.discovery.clone(),
        });
    };
    let hash = job::spec_hash(&image, profile);
    let mut record = match &status.discovery {
        Some(d) if d.spec_hash == hash => d.clone(),
        _ => DiscoveryStatus {
            spec_hash: hash.clone(),
            ..Default::default()
        },
    };
    let discovered_now =
        status.discovery.as_ref().is_some_and(|d| d.spec_hash == hash) && !status.model_sources.is_empty();
    if discovered_now {
        let step = Step::Done {
            sources: status.model_sources.clone(),
            profile: record.profile.clone(),
            inline: false,
        };
        return Ok(Progress {
            step,
            record: Some(record),
        });
    }

    let jobs: Api<Job> = Api::namespaced(ctx.client.clone(), job_namespace);
    let name = job::job_name(template, &hash);
    record.job = Some(format!("{job_namespace}/{name}"));
    if let Some(existing) = jobs
        .get_opt(&name)
        .await
        .map_err(kube_err(format!("read Job {name}")))?
    {
        return finished_or_running(ctx, &jobs, &existing, &name, job_namespace, record).await;
    }

    if record.failed_attempts > 0 {
        let wait = backoff(
            ctx.config.discovery.backoff_base,
            ctx.config.discovery.backoff_max,
            record.failed_attempts as u32,
        );
        let since = record.last_attempt_time.as_ref().map_or(Duration::MAX, elapsed);
        if since < wait {
            return Ok(Progress {
                step: Step::Waiting {
                    reason: crate::controller::conditions::reasons::DISCOVERY_BACKOFF,
                    message: format!(
                        "attempt {} failed; the next starts in {}s",
                        record.failed_attempts,
                        (wait - since).as_secs().max(1)
                    ),
                    retry: wait - since,
                },
                record: Some(record),
            });
        }
    }
    let _slot = ctx.discovery_slots.lock().await;
    let running = running_discovery_jobs(ctx).await?;
    if running >= ctx.config.discovery.max_concurrent_jobs {
        return Ok(Progress {
            step: Step::Waiting {
                reason: crate::controller::conditions::reasons::WAITING_FOR_DISCOVERY_SLOT,
                message: format!(
                    "{running} discovery Jobs are running, the most allowed at once; this one starts when one finishes"
                ),
                retry: Duration::from_secs(5),
            },
            record: Some(record),
        });
    }
    let inputs = DiscoveryInputs {
        template,
        namespace: job_namespace,
        owner,
        image: &image,
        profile,
    };
    create_once(&jobs, &job::build(&inputs, &hash)).await?;
    Ok(Progress {
        step: Step::Running { job: name },
        record: Some(record),
    })
}

async fn finished_or_running(
    ctx: &Context,
    jobs: &Api<Job>,
    job: &Job,
    name: &str,
    namespace: &str,
    mut record: DiscoveryStatus,
) -> Result<Progress, Error> {
    let status = job.status.clone().unwrap_or_default();
    let failed_condition = status
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == "Failed" && c.status == "True");
    let outcome = if status.succeeded.unwrap_or(0) > 0 {
        match read_output(ctx, namespace, name, "Succeeded").await {
            Ok(output) => dry_run::parse(&output),
            Err(why) => Err(why),
        }
    } else if let Some(condition) = failed_condition {
        let detail = read_output(ctx, namespace, name, "Failed")
            .await
            .ok()
            .filter(|m| !m.trim().is_empty());
        Err(match detail {
            Some(message) => format!("the dry-run container failed: {}", last_lines(&message, 5)),
            None => format!(
                "the discovery Job failed: {}",
                condition.message.clone().unwrap_or_default()
            ),
        })
    } else {
        return Ok(Progress {
            step: Step::Running { job: name.to_string() },
            record: Some(record),
        });
    };
    record.last_attempt_time = Some(Time(Timestamp::now()));
    match outcome {
        Ok(found) => {
            record.failed_attempts = 0;
            record.profile = Some(found.profile.clone());
            Ok(Progress {
                step: Step::Done {
                    sources: found.sources,
                    profile: Some(found.profile),
                    inline: false,
                },
                record: Some(record),
            })
        }
        Err(message) => {
            record.failed_attempts += 1;
            // The Job's name is the spec hash; removing it lets the retry create it again.
            let delete = DeleteParams {
                propagation_policy: Some(PropagationPolicy::Background),
                ..Default::default()
            };
            jobs.delete(name, &delete)
                .await
                .map_err(kube_err(format!("delete failed Job {name}")))?;
            let wait = backoff(
                ctx.config.discovery.backoff_base,
                ctx.config.discovery.backoff_max,
                record.failed_attempts as u32,
            );
            Ok(Progress {
                step: Step::Failed {
                    reason: crate::controller::conditions::reasons::DISCOVERY_FAILED,
                    message: format!(
                        "attempt {}: {message}; retrying in {}s",
                        record.failed_attempts,
                        wait.as_secs()
                    ),
                    retry: Some(wait),
                },
                record: Some(record),
            })
        }
    }
}

/// The dry-run's output: the termination message of the Job's pod in `phase`, else its log.
async fn read_output(ctx: &Context, namespace: &str, job: &str, phase: &str) -> Result<String, String> {
    let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), namespace);
    let list = pods
        .list(&ListParams::default().labels(&format!("batch.kubernetes.io/job-name={job}")))
        .await
        .map_err(|e| format!("cannot list the discovery pod: {e}"))?;
    let pod = list
        .items
        .iter()
        .find(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some(phase))
        .ok_or_else(|| {
            format!(
                "the discovery Job's {} pod is gone, so its output cannot be read",
                phase.to_lowercase()
            )
        })?;
    let message = pod
        .status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.name == CONTAINER))
        .and_then(|c| c.state.as_ref()?.terminated.as_ref()?.message.clone())
        .filter(|m| !m.trim().is_empty());
    if let Some(message) = message {
        return Ok(message);
    }
    let name = pod.metadata.name.clone().unwrap_or_default();
    pods.logs(
        &name,
        &LogParams {
            container: Some(CONTAINER.into()),
            ..Default::default()
        },
    )
    .await
    .map_err(|e| format!("the dry-run left no termination message and its log cannot be read: {e}"))
}

async fn running_discovery_jobs(ctx: &Context) -> Result<usize, Error> {
    let jobs: Api<Job> = Api::all(ctx.client.clone());
    let selector = format!(
        "{}=discovery,{}={}",
        labels::COMPONENT,
        labels::MANAGED_BY,
        labels::MANAGED_BY_VALUE
    );
    let list = jobs
        .list(&ListParams::default().labels(&selector))
        .await
        .map_err(kube_err("list discovery Jobs"))?;
    Ok(list
        .items
        .iter()
        .filter(|j| {
            let s = j.status.clone().unwrap_or_default();
            s.succeeded.unwrap_or(0) == 0
                && !s
                    .conditions
                    .iter()
                    .flatten()
                    .any(|c| (c.type_ == "Failed" || c.type_ == "Complete") && c.status == "True")
        })
        .count())
}

fn elapsed(t: &Time) -> Duration {
    let ms = Timestamp::now().as_millisecond() - t.0.as_millisecond();
    Duration::from_millis(ms.max(0) as u64)
}

fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.trim().lines().collect();
    lines[lines.len().saturating_sub(n)..].join(" | ")
}
