//! Controllers of `AIMServiceTemplate` and `AIMClusterServiceTemplate`: discover each template's model sources
//! (or take them inline), pre-warm caches for namespace templates with `caching.enabled`, collect derived
//! templates no service uses, and report `Discovered`, `CacheWarm`, `Ready`, `Progressing`, `Failure` and
//! `status.status`.
//!
//! Per reconcile: prelude (an unused derived template is collected) → [`observe`] (the index: image, discovery
//! Job and its pod, the Jobs running, own cache) → [`decide`] (pure: [`discovery`], [`caching`], [`plan`]) → the
//! writes (start a Job under the cap, apply the cache), the status, the deletions (a failed Job, a cache no
//! longer wanted). Namespace templates run discovery in their namespace, cluster templates in the operator's.

pub(crate) mod caching;
pub(crate) mod decide;
pub(crate) mod discovery;
pub(crate) mod dry_run;
pub(crate) mod job;
pub(crate) mod observe;
pub(crate) mod plan;

use crate::api::{AIMClusterServiceTemplate, AIMServiceTemplate, TemplateProfile, TemplateStatus};
use crate::controller::kit::apply::{Refusal, owner_ref};
use crate::controller::kit::pipeline::{self, Prelude};
use crate::controller::kit::{Context, Error};
use crate::labels::Component;
use discovery::Refused;
use kube::core::object::HasStatus;
use kube::runtime::controller::Action;
use kube::{Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fmt::Debug;
use std::sync::Arc;

/// What the reconcile needs from either template kind.
pub(crate) trait TemplateKind:
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

/// One reconcile of a template.
#[tracing::instrument(skip_all, fields(kind = %T::kind(&()), name = %obj.name_any(), namespace = obj.namespace().unwrap_or_default()))]
pub(crate) async fn reconcile<T: TemplateKind>(obj: Arc<T>, ctx: Arc<Context>) -> Result<Action, Error> {
    // Prelude: a derived template goes when no service has run it for the grace period.
    let users = match obj.namespace() {
        Some(ns) if Component::of(obj.labels()) == Some(Component::DerivedTemplate) => {
            Some(ctx.index.services_on_derived(&ns, &obj.name_any()).len())
        }
        _ => None,
    };
    let Prelude::Reconcile(waited) = pipeline::prelude(&ctx, obj.as_ref(), users).await? else {
        return Ok(Action::await_change());
    };
    // Observe: the index (and a dry run's log, once, when it left no termination message).
    let observed = observe::observe(&ctx, obj.as_ref()).await;
    // Plan: pure; a Job refused a slot or a namespace is planned again knowing why.
    let owner = owner_ref(obj.as_ref(), true)?;
    let planned = decide::plan(obj.as_ref(), &observed, &ctx, &owner, None);
    pipeline::finish(&ctx, obj.as_ref(), planned, waited, |refused| {
        let why = refused.iter().find_map(|r| match r {
            Refusal::NoSlot(_) => Some(Refused::NoSlot),
            Refusal::NamespaceMissing(target) => Some(Refused::NamespaceMissing(decide::missing_namespace(
                obj.as_ref(),
                &ctx,
                target.namespace.as_deref().unwrap_or_default(),
            ))),
            Refusal::Quota(..) | Refusal::Invalid(..) => None,
        });
        decide::plan(obj.as_ref(), &observed, &ctx, &owner, why)
    })
    .await
}
