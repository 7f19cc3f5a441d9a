//! Controllers of `AIMServiceTemplate` and `AIMClusterServiceTemplate`: discover each template's model
//! sources (or take them inline), pre-warm caches for namespace templates with `caching.enabled`, and report
//! `Discovered`, `CacheWarm`, `Ready`, `Progressing`, `Failure` and `status.status`.
//!
//! Pipeline per reconcile: discovery step ([`discovery`]) → template cache ([`caching`]) → status. Namespace
//! templates run discovery in their namespace, cluster templates in the operator's.

pub mod caching;
pub mod discovery;
pub mod dry_run;
pub mod job;

use crate::api::{
    AIMClusterServiceTemplate, AIMImage, AIMServiceTemplate, ResourceState, TemplateProfile, TemplateStatus,
};
use crate::controller::apply::owner_ref;
use crate::controller::conditions::{self, reasons, types};
use crate::controller::context::Context;
use crate::controller::error::Error;
use crate::controller::status::{self, WithConditions};
use discovery::Step;
use futures::StreamExt;
use k8s_openapi::api::batch::v1::Job;
use kube::api::Api;
use kube::core::object::HasStatus;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use kube::{Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

impl WithConditions for TemplateStatus {
    fn conditions(&self) -> &[k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition] {
        &self.conditions
    }
}

/// What the reconcile needs from either template kind.
pub trait Template:
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
    /// The profile.
    fn profile(&self) -> &TemplateProfile;
    /// Whether the template asks for its own cache (namespace templates only).
    fn caching_enabled(&self) -> bool;
    /// The API for this object.
    fn api(ctx: &Context, obj: &Self) -> Api<Self>;
    /// Where its discovery Job runs.
    fn job_namespace(&self, ctx: &Context) -> String;
}

impl Template for AIMServiceTemplate {
    fn profile(&self) -> &TemplateProfile {
        &self.spec.profile
    }
    fn caching_enabled(&self) -> bool {
        self.spec.caching.as_ref().is_some_and(|c| c.enabled)
    }
    fn api(ctx: &Context, obj: &Self) -> Api<Self> {
        Api::namespaced(ctx.client.clone(), &obj.namespace().unwrap_or_default())
    }
    fn job_namespace(&self, _ctx: &Context) -> String {
        self.namespace().unwrap_or_default()
    }
}

impl Template for AIMClusterServiceTemplate {
    fn profile(&self) -> &TemplateProfile {
        &self.spec.profile
    }
    fn caching_enabled(&self) -> bool {
        false
    }
    fn api(ctx: &Context, _obj: &Self) -> Api<Self> {
        Api::all(ctx.client.clone())
    }
    fn job_namespace(&self, ctx: &Context) -> String {
        ctx.config.namespace.clone()
    }
}

/// One reconcile of a template.
#[tracing::instrument(skip_all, fields(kind = %T::kind(&()), name = %obj.name_any(), namespace = obj.namespace().unwrap_or_default()))]
pub async fn reconcile<T: Template>(obj: Arc<T>, ctx: Arc<Context>) -> Result<Action, Error> {
    let profile = obj.profile();
    let current = obj.status().cloned().unwrap_or_default();
    let generation = obj.meta().generation;
    let mut next = TemplateStatus {
        observed_generation: generation,
        conditions: current.conditions.clone(),
        ..current.clone()
    };

    let step = match &profile.model_sources {
        Some(inline) => {
            next.discovery = None;
            Step::Done {
                sources: inline.clone(),
                profile: None,
                inline: true,
            }
        }
        None => {
            let owner = owner_ref(obj.as_ref(), true)?;
            let progress = discovery::advance(
                &ctx,
                &obj.name_any(),
                &obj.job_namespace(&ctx),
                owner,
                profile,
                &current,
            )
            .await?;
            next.discovery = progress.record;
            progress.step
        }
    };
    let conds = &mut next.conditions;
    let mut requeue = None;
    let (discovered, failure) = match &step {
        Step::Done {
            sources,
            profile: chosen,
            inline,
        } => {
            next.model_sources = sources.clone();
            let (reason, message) = if *inline {
                (
                    reasons::INLINE_MODEL_SOURCES,
                    format!("{} model sources given inline; discovery skipped", sources.len()),
                )
            } else {
                (
                    reasons::PROFILES_DISCOVERED,
                    format!(
                        "{} model sources from profile {}",
                        sources.len(),
                        chosen.as_deref().unwrap_or("?")
                    ),
                )
            };
            conditions::set(conds, types::DISCOVERED, true, reason, message, generation);
            (true, None)
        }
        Step::Running { job } => {
            next.model_sources.clear();
            conditions::set(
                conds,
                types::DISCOVERED,
                false,
                reasons::DISCOVERY_RUNNING,
                format!("discovery Job {job} is running"),
                generation,
            );
            (false, None)
        }
        Step::Waiting { reason, message, retry } => {
            next.model_sources.clear();
            requeue = Some(*retry);
            conditions::set(conds, types::DISCOVERED, false, reason, message.clone(), generation);
            (false, None)
        }
        Step::Failed { reason, message, retry } => {
            next.model_sources.clear();
            requeue = *retry;
            conditions::set(conds, types::DISCOVERED, false, reason, message.clone(), generation);
            (false, Some((*reason, message.clone())))
        }
    };

    // While a retry runs, the last failure stays visible until an attempt succeeds.
    let retrying = matches!(step, Step::Running { .. } | Step::Waiting { .. })
        && next.discovery.as_ref().is_some_and(|d| d.failed_attempts > 0);
    let last_failure = conditions::get(&current.conditions, types::FAILURE)
        .filter(|c| c.status == "True" && c.reason == reasons::DISCOVERY_FAILED)
        .map(|c| {
            (
                reasons::DISCOVERY_FAILED,
                format!("{} (retrying)", c.message.trim_end_matches(" (retrying)")),
            )
        });
    let retry_failure = if retrying { last_failure } else { None };

    let cache = if obj.caching_enabled() || current_has_cache_condition(&current) {
        caching::reconcile(&ctx, obj.as_ref(), discovered).await?
    } else {
        None
    };
    let conds = &mut next.conditions;
    let mut cache_failure = None;
    let cache_warm = match &cache {
        None => {
            conds.retain(|c| c.type_ != types::CACHE_WARM);
            true
        }
        Some(state) => {
            conditions::set(
                conds,
                types::CACHE_WARM,
                state.warm,
                state.reason,
                state.message.clone(),
                generation,
            );
            if state.failed {
                cache_failure = Some((reasons::WARM_FAILED, state.message.clone()));
            }
            state.warm
        }
    };
    let ready = discovered && cache_warm;
    let progressing = !ready && failure.is_none() && cache_failure.is_none();
    let any_failure = failure.clone().or(cache_failure.clone()).or(retry_failure);
    match &any_failure {
        Some((reason, message)) => conditions::set(conds, types::FAILURE, true, reason, message.clone(), generation),
        None => conditions::set(conds, types::FAILURE, false, reasons::NO_FAILURE, "", generation),
    }
    let blocking = conditions::get(
        conds,
        if discovered {
            types::CACHE_WARM
        } else {
            types::DISCOVERED
        },
    )
    .map(|c| (c.reason.clone(), c.message.clone()))
    .unwrap_or_default();
    if ready {
        conditions::set(
            conds,
            types::READY,
            true,
            reasons::READY,
            "model sources known and cached as configured",
            generation,
        );
    } else {
        conditions::set(conds, types::READY, false, &blocking.0, blocking.1.clone(), generation);
    }
    conditions::set(
        conds,
        types::PROGRESSING,
        progressing,
        if progressing {
            blocking.0.as_str()
        } else {
            reasons::IDLE
        },
        if progressing { blocking.1.clone() } else { String::new() },
        generation,
    );
    next.status = Some(match (ready, failure.is_some(), cache_failure.is_some(), progressing) {
        (true, ..) => ResourceState::Available,
        (_, true, ..) => ResourceState::Failed,
        (_, _, true, _) if discovered => ResourceState::Degraded,
        (_, _, true, _) => ResourceState::Failed,
        (_, _, _, true) => ResourceState::Progressing,
        _ => ResourceState::Pending,
    });
    status::write(&ctx, &T::api(&ctx, &obj), obj.as_ref(), next).await?;
    Ok(requeue.map_or(Action::await_change(), Action::requeue))
}

fn current_has_cache_condition(status: &TemplateStatus) -> bool {
    conditions::get(&status.conditions, types::CACHE_WARM).is_some()
}

/// Retries an API failure after a pause.
pub fn error_policy<T>(_obj: Arc<T>, error: &Error, _ctx: Arc<Context>) -> Action {
    tracing::warn!(%error, "template reconcile failed; retrying");
    Action::requeue(Duration::from_secs(5))
}

/// Runs the `AIMServiceTemplate` controller until `shutdown`.
pub async fn run_namespaced(
    ctx: Arc<Context>,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let client = ctx.client.clone();
    let controller = Controller::new(
        Api::<AIMServiceTemplate>::all(client.clone()),
        watcher::Config::default(),
    );
    let store = controller.store();
    controller
        .owns(Api::<Job>::all(client.clone()), labelled("discovery"))
        .owns(
            Api::<crate::api::AIMTemplateCache>::all(client.clone()),
            watcher::Config::default(),
        )
        .watches(
            Api::<AIMImage>::all(client.clone()),
            watcher::Config::default(),
            templates_of_image(store),
        )
        .graceful_shutdown_on(shutdown)
        .run(
            crate::controller::metrics::metered("aimservicetemplate", reconcile::<AIMServiceTemplate>),
            error_policy,
            ctx,
        )
        .for_each(|_| async {})
        .await;
}

/// Runs the `AIMClusterServiceTemplate` controller until `shutdown`.
pub async fn run_cluster(ctx: Arc<Context>, shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static) {
    let client = ctx.client.clone();
    let controller = Controller::new(
        Api::<AIMClusterServiceTemplate>::all(client.clone()),
        watcher::Config::default(),
    );
    let store = controller.store();
    controller
        // A cluster template owns Jobs in the operator's namespace: map them to the cluster-scoped owner
        // (kube's `owns` would look the owner up in the Job's namespace).
        .watches(Api::<Job>::all(client.clone()), labelled("discovery"), |job| {
            job.owner_references()
                .iter()
                .filter(|o| o.kind == "AIMClusterServiceTemplate")
                .map(|o| ObjectRef::<AIMClusterServiceTemplate>::new(&o.name))
                .collect::<Vec<_>>()
        })
        .watches(
            Api::<AIMImage>::all(client.clone()),
            watcher::Config::default(),
            templates_of_image(store),
        )
        .graceful_shutdown_on(shutdown)
        .run(
            crate::controller::metrics::metered("aimclusterservicetemplate", reconcile::<AIMClusterServiceTemplate>),
            error_policy,
            ctx,
        )
        .for_each(|_| async {})
        .await;
}

/// Maps an AIMImage to the templates of its model (a new image can unblock their discovery).
fn templates_of_image<T: Template>(store: Store<T>) -> impl Fn(AIMImage) -> Vec<ObjectRef<T>> {
    move |image| {
        store
            .state()
            .into_iter()
            .filter(|t| t.profile().model_id == image.spec.model_id)
            .map(|t| ObjectRef::from_obj(t.as_ref()))
            .collect()
    }
}

/// Watch only what the operator created for `component`.
pub fn labelled(component: &str) -> watcher::Config {
    watcher::Config::default().labels(&format!("{}={component}", crate::controller::labels::COMPONENT))
}
