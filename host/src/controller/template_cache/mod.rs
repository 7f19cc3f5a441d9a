//! The `AIMTemplateCache` controller: resolves `spec.templateRef` (namespace template first, then the cluster
//! template of that name), makes sure each model source has a `ModelCache` in the namespace, and reports
//! `Resolved`, `CacheWarm`, `Ready`, `Progressing`, `Failure` and `status.resolvedTemplateKind`.
//!
//! A `ModelCache` for a source is found by `spec.sourceUri` and shared: an existing one is used as it is,
//! whoever made it (a user's own keeps its own credentials); otherwise one is created with this cache's
//! credentials. A template cache made for services (`cacheModel: true`) is collected once no service in the
//! namespace has used its template for the grace period (the users are the index's `services_caching`).
//!
//! Per reconcile: prelude → observe (the index: the template and the model cache of each source) → [`plan`]
//! (pure) → create missing model caches → status.

pub(crate) mod plan;

use crate::api::AIMTemplateCache;
use crate::controller::kit::pipeline::{self, Prelude};
use crate::controller::kit::{Context, Error};
use crate::labels::Component;
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use kube::runtime::controller::Action;
use std::sync::Arc;

/// One reconcile of a template cache.
#[tracing::instrument(skip_all, fields(name = %tc.name_any(), namespace = tc.namespace().unwrap_or_default()))]
pub(crate) async fn reconcile(tc: Arc<AIMTemplateCache>, ctx: Arc<Context>) -> Result<Action, Error> {
    let namespace = tc
        .namespace()
        .ok_or_else(|| Error::Invariant("AIMTemplateCache without namespace".into()))?;
    // Prelude: a cache made for services goes when no service caches its template any more.
    let users = (Component::of(tc.labels()) == Some(Component::ServiceCache))
        .then(|| ctx.index.services_caching(&namespace, &tc.spec.template_ref).len());
    let Prelude::Reconcile(waited) = pipeline::prelude(&ctx, tc.as_ref(), users).await? else {
        return Ok(Action::await_change());
    };
    // Observe: the template and the model cache of each of its sources.
    let template = ctx.index.template(&namespace, &tc.spec.template_ref);
    let template_status = template.as_ref().map(|t| t.status());
    let sources = template_status
        .as_ref()
        .map(|s| s.model_sources.as_slice())
        .unwrap_or_default();
    let files = ctx.index.files_of_template_cache(&tc);
    let observed = plan::Observed {
        template: template.as_ref().map(|t| (t.scope(), sources)),
        caches: sources
            .iter()
            .map(|s| {
                (
                    s,
                    ctx.index
                        .model_caches_holding(&namespace, &s.source_uri, &files)
                        .into_iter()
                        .next(),
                )
            })
            .collect(),
        files,
        now: Timestamp::now(),
    };
    // Plan: pure.
    let planned = plan::plan(&tc, &observed);
    pipeline::finish(&ctx, tc.as_ref(), planned.clone(), waited, |_| planned).await
}
