//! The `AIMService` controller: turns a service into an endpoint.
//!
//! - [`observe`]: the resolution ([`resolve`]: the template, through the matcher and merger plugins where the
//!   product says so), the cache ([`cache`], with `cacheModel`), the route decision ([`routing`]: the router
//!   plugin), and how the runtime and route are doing.
//! - [`plan`] (pure): the derived template ([`derived`]), the template cache, the KServe InferenceService
//!   ([`build`]) gated on a ready template and a warm cache, the HTTPRoute (or its deletion), and the status.
//! - then the one shape every controller finishes with ([`crate::controller::kit::pipeline`]).

pub(crate) mod build;
pub(crate) mod cache;
pub(crate) mod candidates;
pub(crate) mod derived;
pub(crate) mod fit;
pub(crate) mod metadata;
pub(crate) mod observe;
pub(crate) mod plan;
pub(crate) mod pod;
pub(crate) mod reported;
pub(crate) mod resolve;
pub(crate) mod routing;
pub(crate) mod scaling;
pub(crate) mod serving;
pub(crate) mod startup;
pub(crate) mod wake_path;

use crate::api::AIMService;
use crate::controller::kit::apply::Refusal;
use crate::controller::kit::pipeline::{self, Prelude};
use crate::controller::kit::{Context, Error};
use kube::ResourceExt;
use kube::runtime::controller::Action;
use std::sync::Arc;

/// One reconcile of a service.
#[tracing::instrument(skip_all, fields(name = %svc.name_any(), namespace = svc.namespace().unwrap_or_default()))]
pub(crate) async fn reconcile(svc: Arc<AIMService>, ctx: Arc<Context>) -> Result<Action, Error> {
    // Prelude: a service being deleted is the garbage collector's.
    let Prelude::Reconcile(waited) = pipeline::prelude(&ctx, svc.as_ref(), None).await? else {
        return Ok(Action::await_change());
    };
    // Observe: the index and the policy plugins.
    let observed = observe::observe(&ctx, &svc).await?;
    // Plan: pure.
    let planned = plan::plan(&svc, &observed);
    // Writes, status, deletions; an InferenceService the API server or KServe's webhook refuses is planned
    // again knowing why, so the status says it.
    pipeline::finish(&ctx, svc.as_ref(), planned, waited, |refused| {
        let mut again = observed.clone();
        again.runtime_blocked = refused.iter().find_map(|r| match r {
            Refusal::Invalid(target, message) if target.resource.kind == "InferenceService" => {
                Some(observe::RuntimeBlocked::Refused(message.clone()))
            }
            _ => None,
        });
        plan::plan(&svc, &again)
    })
    .await
}
