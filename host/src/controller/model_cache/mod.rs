//! The `ModelCache` controller: one ReadWriteMany volume per source URI and a download Job that fills it.
//!
//! - prelude: a cache the operator made for template caches is collected once none in the namespace has needed
//!   its source for the grace period (the users are the index's `template_caches_needing`).
//! - [`observe`]: duplicates, the storage class, the claim and a provisioner's warnings, the size check, the
//!   download Job and its progress.
//! - [`plan`] (pure): the size-check Job, the claim, or the download pod's identity and its Job ([`build`]),
//!   and the status; a claim a ResourceQuota refuses is planned again as `InsufficientCapacity`.

pub(crate) mod build;
pub(crate) mod identity;
pub(crate) mod names;
pub(crate) mod observe;
pub(crate) mod plan;

use crate::api::{ModelCache, ModelFiles};
use crate::controller::kit::apply::{Refusal, owner_ref};
use crate::controller::kit::pipeline::{self, Prelude};
use crate::controller::kit::{Context, Error};
use crate::labels::Component;
use kube::ResourceExt;
use kube::runtime::controller::Action;
use std::sync::Arc;

/// One reconcile of a model cache.
#[tracing::instrument(skip_all, fields(name = %mc.name_any(), namespace = mc.namespace().unwrap_or_default()))]
pub(crate) async fn reconcile(mc: Arc<ModelCache>, ctx: Arc<Context>) -> Result<Action, Error> {
    let namespace = mc
        .namespace()
        .ok_or_else(|| Error::Invariant("ModelCache without namespace".into()))?;
    // Prelude: a shared cache the operator made goes when no template cache needs these files of its source.
    let files = ModelFiles::effective(mc.spec.model_files.as_ref());
    let users = (Component::of(mc.labels()) == Some(Component::ModelCache)).then(|| {
        ctx.index
            .template_caches_needing(&namespace, &mc.spec.source_uri, Some(&files))
            .len()
    });
    let Prelude::Reconcile(waited) = pipeline::prelude(&ctx, mc.as_ref(), users).await? else {
        return Ok(Action::await_change());
    };
    // Observe: the index.
    let claim = observe::claim(&ctx.index, &mc);
    let observed = observe::observe(&ctx.index, &mc, &claim);
    // Plan: pure; a refused claim is planned again knowing why.
    let owner = owner_ref(mc.as_ref(), true)?;
    let config = &ctx.config.download;
    let planned = plan::plan(&mc, &observed, config).writes(&mc, &owner, config);
    pipeline::finish(&ctx, mc.as_ref(), planned, waited, |refused| {
        let mut again = observed.clone();
        again.claim_refused = refused.iter().find_map(|r| match r {
            Refusal::Quota(_, message) => Some(message.clone()),
            _ => None,
        });
        plan::plan(&mc, &again, config).writes(&mc, &owner, config)
    })
    .await
}
