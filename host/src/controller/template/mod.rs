//! Controllers of `AIMServiceTemplate` and `AIMClusterServiceTemplate`: discover each template's model sources
//! (or take them inline), pre-warm caches for namespace templates with `caching.enabled`, collect derived
//! templates no service uses, and report `Discovered`, `CacheWarm`, `Ready`, `Progressing`, `Failure` and
//! `status.status`.
//!
//! Per reconcile: observe (the index: image, discovery Job and its pod, own cache, users) → plan ([`discovery`],
//! [`caching`], [`plan`]; pure) → apply (start a Job, apply the cache) → status → deletions (a failed Job, a
//! cache no longer wanted, an unused derived template). Namespace templates run discovery in their namespace,
//! cluster templates in the operator's.

pub mod caching;
pub mod discovery;
pub mod dry_run;
pub mod job;
pub mod plan;
pub mod slots;

use crate::api::{AIMClusterServiceTemplate, AIMService, AIMServiceTemplate, TemplateProfile, TemplateStatus};
use crate::controller::kit::apply::{self, owner_ref};
use crate::controller::kit::conditions::{self, types};
use crate::controller::kit::sharing::Usage;
use crate::controller::kit::status::{self, WithConditions};
use crate::controller::kit::{Context, Error, reasons};
use crate::labels::Component;
use caching::CacheAction;
use discovery::{JobAction, JobState, Step};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, LogParams};
use kube::core::object::HasStatus;
use kube::runtime::controller::Action;
use kube::{Resource, ResourceExt};
use plan::Sources;
use serde::Serialize;
use serde::de::DeserializeOwned;
use slots::DiscoverySlots;
use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

impl WithConditions for TemplateStatus {
    fn conditions(&self) -> &[k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition] {
        &self.conditions
    }
    fn state(&self) -> Option<String> {
        self.status.map(|s| format!("{s:?}"))
    }
}

/// What the reconcile needs from either template kind.
pub trait TemplateKind:
    Resource<DynamicType = ()>
    + HasStatus<Status = TemplateStatus>
    + Clone
    + Debug
    + DeserializeOwned
    + Serialize
    + Send
    + Sync
    + 'static
{
    /// The controller's name in metrics and logs.
    const CONTROLLER: &'static str;
    /// The profile.
    fn profile(&self) -> &TemplateProfile;
    /// Whether the template asks for its own cache (namespace templates only).
    fn caching_enabled(&self) -> bool;
    /// Where its discovery Job runs.
    fn job_namespace(&self, ctx: &Context) -> String;
}

impl TemplateKind for AIMServiceTemplate {
    const CONTROLLER: &'static str = "aimservicetemplate";
    fn profile(&self) -> &TemplateProfile {
        &self.spec.profile
    }
    fn caching_enabled(&self) -> bool {
        self.spec.caching.as_ref().is_some_and(|c| c.enabled)
    }
    fn job_namespace(&self, _ctx: &Context) -> String {
        self.namespace().unwrap_or_default()
    }
}

impl TemplateKind for AIMClusterServiceTemplate {
    const CONTROLLER: &'static str = "aimclusterservicetemplate";
    fn profile(&self) -> &TemplateProfile {
        &self.spec.profile
    }
    fn caching_enabled(&self) -> bool {
        false
    }
    fn job_namespace(&self, ctx: &Context) -> String {
        ctx.config.namespace.clone()
    }
}

/// The services using a derived template: those whose status names it.
fn users_of_derived(ctx: &Context, namespace: &str, name: &str) -> usize {
    ctx.index
        .services_where(|s: &AIMService| {
            s.metadata.namespace.as_deref() == Some(namespace)
                && s.status
                    .as_ref()
                    .and_then(|st| st.resolved_template.as_ref())
                    .is_some_and(|r| r.derived && r.name == name)
        })
        .len()
}

/// One reconcile of a template.
#[tracing::instrument(skip_all, fields(kind = %T::kind(&()), name = %obj.name_any(), namespace = obj.namespace().unwrap_or_default()))]
pub async fn reconcile<T: TemplateKind>(
    obj: Arc<T>,
    ctx: Arc<Context>,
    slots: Arc<DiscoverySlots>,
) -> Result<Action, Error> {
    let now = Timestamp::now();
    let name = obj.name_any();
    let namespace = obj.namespace();
    let current = obj.status().cloned().unwrap_or_default();
    let generation = obj.meta().generation;
    let mut requeue: Option<Duration> = None;

    if obj.meta().deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    if let Some(ns) = &namespace
        && Component::of(obj.labels()) == Some(Component::DerivedTemplate)
    {
        let uid = obj.uid().unwrap_or_default();
        match ctx
            .unused
            .judge(&uid, users_of_derived(&ctx, ns, &name), ctx.config.unused_grace)
        {
            Usage::Collect => {
                tracing::info!("deleting a derived template no service uses");
                apply::delete(&ctx, obj.as_ref()).await?;
                ctx.unused.forget(&uid);
                return Ok(Action::await_change());
            }
            Usage::Unused(left) => requeue = Some(left),
            Usage::InUse => {}
        }
    }

    let (sources, job_action) = match &obj.profile().model_sources {
        Some(inline) => (Sources::Inline(inline.clone()), None),
        None => {
            let (planned, job) = discover(&ctx, obj.as_ref(), &current, &slots, now).await?;
            (
                Sources::Discovery {
                    step: planned.step,
                    record: planned.record,
                },
                job,
            )
        }
    };
    let discovered = matches!(
        sources,
        Sources::Inline(_)
            | Sources::Discovery {
                step: Step::Done { .. },
                ..
            }
    );

    let had_cache = conditions::get(&current.conditions, types::CACHE_WARM).is_some();
    let (cache_state, cache_action) = match &namespace {
        Some(ns) if obj.caching_enabled() || had_cache => {
            let owner = caching::Owner {
                name: &name,
                namespace: ns,
                owner: owner_ref(obj.as_ref(), true)?,
                credentials: &obj.profile().credentials,
                enabled: obj.caching_enabled(),
            };
            caching::plan(&owner, discovered, ctx.index.template_cache(ns, &name).as_deref())
        }
        _ => (None, CacheAction::Keep),
    };
    if let CacheAction::Apply(desired) = &cache_action {
        let existing = ctx
            .index
            .template_cache(namespace.as_deref().unwrap_or_default(), &name);
        apply::apply(&ctx, existing.as_deref(), desired.as_ref(), |_| false, false).await?;
    }

    let planned = plan::status(&current, generation, &sources, cache_state.as_ref(), now);
    status::write(&ctx, obj.as_ref(), planned.status).await?;

    // Deletions come last, after the status that explains them.
    if let Some((job_namespace, job_name)) = job_action
        && let Some(job) = ctx.index.job(&job_namespace, &job_name)
    {
        apply::delete(&ctx, job.as_ref()).await?;
    }
    if matches!(cache_action, CacheAction::Delete)
        && let Some(tc) = ctx
            .index
            .template_cache(namespace.as_deref().unwrap_or_default(), &name)
    {
        apply::delete(&ctx, tc.as_ref()).await?;
    }
    let requeue = [requeue, planned.requeue].into_iter().flatten().min();
    Ok(requeue.map_or(Action::await_change(), Action::requeue))
}

/// Observes discovery, plans its next step and starts the Job if the plan says so. Returns the plan and the
/// Job to delete afterwards (a failed one), if any.
async fn discover<T: TemplateKind>(
    ctx: &Context,
    obj: &T,
    current: &TemplateStatus,
    slots: &DiscoverySlots,
    now: Timestamp,
) -> Result<(discovery::Plan, Option<(String, String)>), Error> {
    let profile = obj.profile();
    let name = obj.name_any();
    let job_namespace = obj.job_namespace(ctx);
    let image = ctx
        .index
        .image_for_model(&profile.model_id)
        .map(|i| i.spec.image.clone());
    let hash = job::spec_hash(image.as_deref().unwrap_or_default(), profile);
    let job_name = job::job_name(&name, &hash);
    let job_state = match ctx.index.job(&job_namespace, &job_name) {
        None => JobState::Absent,
        Some(j) => observe_job(ctx, &j).await,
    };
    let cap = ctx.config.discovery.max_concurrent_jobs;
    let mut observed = discovery::Observed {
        status: current,
        image: image.as_deref(),
        model: &profile.model_id,
        created: obj.meta().creation_timestamp.as_ref().map(|t| t.0),
        hash: hash.clone(),
        job_name: format!("{job_namespace}/{job_name}"),
        job: job_state,
        running: (slots.running(&ctx.index), cap),
        now,
    };
    let mut planned = discovery::plan(&observed, &ctx.config.discovery);
    if planned.job == JobAction::Create {
        // Count again under the lock, so concurrent reconciles cannot pass the cap between count and create.
        let _slot = slots.lock().await;
        observed.running.0 = slots.running(&ctx.index);
        planned = discovery::plan(&observed, &ctx.config.discovery);
        if planned.job == JobAction::Create {
            let inputs = job::DiscoveryInputs {
                template: &name,
                namespace: &job_namespace,
                owner: owner_ref(obj, true)?,
                image: image.as_deref().unwrap_or_default(),
                profile,
            };
            let desired = job::build(&inputs, &hash);
            match apply::create_once(ctx, None, &desired).await {
                Ok(()) => slots.started(&job_namespace, &job_name),
                // Creating in a namespace that does not exist is a 404: say so on the template, where the
                // admin looks, instead of failing the reconcile with a raw API error in the operator's log.
                Err(e) if e.code() == Some(404) => {
                    planned.step = Step::Failed {
                        reason: reasons::NAMESPACE_MISSING,
                        message: missing_namespace(obj, ctx, &job_namespace),
                        retry: Some(NAMESPACE_RETRY),
                    };
                    planned.job = JobAction::Keep;
                }
                Err(e) => return Err(e),
            }
        }
    }
    let delete = (planned.job == JobAction::Delete).then_some((job_namespace, job_name));
    Ok((planned, delete))
}

/// How soon discovery tries again after finding its namespace missing (namespaces are not watched).
const NAMESPACE_RETRY: Duration = Duration::from_secs(30);

/// What to do when the discovery Job's namespace does not exist.
fn missing_namespace<T: TemplateKind>(obj: &T, ctx: &Context, namespace: &str) -> String {
    if namespace == ctx.config.namespace && obj.namespace().is_none() {
        format!(
            "discovery Jobs of cluster templates run in the operator's namespace '{namespace}', which does not \
             exist: create it (kubectl create namespace {namespace}) or start the operator with --namespace \
             naming one that exists"
        )
    } else {
        format!("the discovery Job's namespace '{namespace}' does not exist")
    }
}

/// The discovery Job's state, with the dry run's output: the pod's termination message, else its log (the only
/// read the operator makes outside the index, once per finished Job that left no message).
async fn observe_job(ctx: &Context, job: &Job) -> JobState {
    let status = job.status.clone().unwrap_or_default();
    let namespace = job.namespace().unwrap_or_default();
    let failed = status
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == "Failed" && c.status == "True");
    let pods = ctx.index.pods_of_job(&namespace, &job.name_any());
    let finished_pod = |phase: &str| {
        pods.iter()
            .find(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some(phase))
            .cloned()
    };
    if status.succeeded.unwrap_or(0) > 0 {
        let Some(pod) = finished_pod("Succeeded") else {
            return JobState::Succeeded(Err(
                "the discovery Job's succeeded pod is gone, so its output cannot be read".into(),
            ));
        };
        return JobState::Succeeded(match termination_message(&pod) {
            Some(message) => Ok(message),
            None => pod_log(ctx, &pod).await,
        });
    }
    if let Some(condition) = failed {
        let detail = finished_pod("Failed")
            .and_then(|p| termination_message(&p))
            .map(|m| format!("the dry-run container failed: {}", last_lines(&m, 5)))
            .unwrap_or_else(|| {
                format!(
                    "the discovery Job failed: {}",
                    condition.message.clone().unwrap_or_default()
                )
            });
        return JobState::Failed {
            detail,
            at: condition.last_transition_time.as_ref().map(|t| t.0),
        };
    }
    JobState::Running
}

fn termination_message(pod: &Pod) -> Option<String> {
    pod.status
        .as_ref()?
        .container_statuses
        .as_ref()?
        .iter()
        .find(|c| c.name == job::CONTAINER)?
        .state
        .as_ref()?
        .terminated
        .as_ref()?
        .message
        .clone()
        .filter(|m| !m.trim().is_empty())
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
