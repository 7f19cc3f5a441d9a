//! What a template's plan reads: the model's image, the discovery Job of the current spec and what its pod
//! printed (its termination message, else its log: the only read the operator makes outside the index, once per
//! finished Job that left no message), the discovery Jobs running cluster-wide, and the template's own cache.

use super::TemplateKind;
use super::discovery::JobState;
use super::job;
use crate::api::{AIMTemplateCache, TemplateStatus};
use crate::controller::kit::Context;
use crate::controller::kit::jobs::{self, JobRun};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use kube::api::{Api, LogParams};
use std::sync::Arc;

/// What a template's plan reads besides the template.
#[derive(Debug, Clone)]
pub(crate) struct Observed {
    pub(crate) status: TemplateStatus,
    /// The model's image, if an AIMImage serves the model.
    pub(crate) image: Option<String>,
    /// Hash of the inputs discovery depends on (with the image).
    pub(crate) hash: String,
    /// Where its discovery Job runs, and its name for that hash.
    pub(crate) job: (String, String),
    pub(crate) job_state: JobState,
    /// Discovery Jobs running cluster-wide now.
    pub(crate) running: usize,
    /// The template cache of its name in its namespace, if any.
    pub(crate) cache: Option<Arc<AIMTemplateCache>>,
    /// A template cache in its namespace naming it, whoever made it (that one first): for the `CACHE` column.
    pub(crate) any_cache: Option<Arc<AIMTemplateCache>>,
    pub(crate) now: Timestamp,
}

/// Reads everything the plan of `obj` needs.
pub(crate) async fn observe<T: TemplateKind>(ctx: &Context, obj: &T) -> Observed {
    let profile = obj.profile();
    let job_namespace = obj.job_namespace(ctx);
    let image = ctx
        .index
        .image_for_model(&profile.model_id)
        .map(|i| i.spec.image.clone());
    let hash = job::spec_hash(image.as_deref().unwrap_or_default(), profile);
    let job_name = job::job_name(&obj.name_any(), &hash);
    // Inline sources need no discovery: no Job is looked for.
    let job_state = match &profile.model_sources {
        Some(_) => JobState::Absent,
        None => job_state(ctx, &job_namespace, &job_name).await,
    };
    let cache = obj
        .namespace()
        .and_then(|ns| ctx.index.template_cache(&ns, &obj.name_any()));
    let any_cache = cache.clone().or_else(|| {
        let ns = obj.namespace()?;
        ctx.index.template_caches_of(&ns, &obj.name_any()).into_iter().next()
    });
    Observed {
        status: obj.status().cloned().unwrap_or_default(),
        image,
        hash,
        job: (job_namespace, job_name),
        job_state,
        running: ctx.discovery_slots.running(&ctx.index),
        cache,
        any_cache,
        now: Timestamp::now(),
    }
}

/// The discovery Job's state, with the dry run's output.
async fn job_state(ctx: &Context, namespace: &str, name: &str) -> JobState {
    match jobs::observe(&ctx.index, namespace, name, job::CONTAINER) {
        JobRun::Absent => JobState::Absent,
        JobRun::Running => JobState::Running,
        JobRun::Succeeded { message: Some(m), .. } => JobState::Succeeded(Ok(m)),
        JobRun::Succeeded { pod: Some(pod), .. } => JobState::Succeeded(pod_log(ctx, &pod).await),
        JobRun::Succeeded { pod: None, .. } => JobState::Succeeded(Err(
            "the discovery Job's succeeded pod is gone, so its output cannot be read".into(),
        )),
        JobRun::Failed {
            message,
            job_message,
            at,
        } => JobState::Failed {
            detail: match message {
                Some(m) => format!("the dry-run container failed: {}", last_lines(&m, 5)),
                None => format!("the discovery Job failed: {job_message}"),
            },
            at,
        },
    }
}

async fn pod_log(ctx: &Context, pod: &Pod) -> Result<String, String> {
    let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), &pod.namespace().unwrap_or_default());
    let params = LogParams {
        container: Some(job::CONTAINER.into()),
        ..Default::default()
    };
    pods.logs(&pod.name_any(), &params)
        .await
        .map_err(|e| format!("the dry-run left no termination message and its log cannot be read: {e}"))
}

fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.trim().lines().collect();
    lines[lines.len().saturating_sub(n)..].join(" | ")
}
