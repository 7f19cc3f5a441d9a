//! The `AIMTemplateCache` controller: resolves `spec.templateRef` (namespace template first, then the cluster
//! template of that name), makes sure each model source has a `ModelCache` in the namespace, and reports
//! `Resolved`, `CacheWarm`, `Ready`, `Progressing`, `Failure` and `status.resolvedTemplateKind`.
//!
//! A `ModelCache` for a source is found by `spec.sourceUri` and shared: an existing one is used as it is,
//! whoever made it (a user's own keeps its own credentials); otherwise one is created with this cache's
//! credentials. A template cache made for services (`cacheModel: true`) is collected once no service in the
//! namespace has used its template for the grace period.
//!
//! Per reconcile: observe (the index) → [`plan`] (pure) → create missing model caches → status.

pub mod plan;

pub use plan::model_cache_name;

use crate::api::{AIMService, AIMTemplateCache, AIMTemplateCacheStatus};
use crate::controller::kit::apply;
use crate::controller::kit::sharing::Usage;
use crate::controller::kit::status::{self, WithConditions};
use crate::controller::kit::{Context, Error};
use crate::labels::Component;
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use kube::runtime::controller::Action;
use std::sync::Arc;

impl WithConditions for AIMTemplateCacheStatus {
    fn conditions(&self) -> &[k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition] {
        &self.conditions
    }
    fn state(&self) -> Option<String> {
        self.status.map(|s| format!("{s:?}"))
    }
}

/// Services in `namespace` that run `template` with `cacheModel: true`.
pub fn cache_users(ctx: &Context, namespace: &str, template: &str) -> usize {
    ctx.index
        .services_where(|s: &AIMService| {
            s.metadata.namespace.as_deref() == Some(namespace)
                && s.spec.cache_model
                && s.status
                    .as_ref()
                    .and_then(|st| st.resolved_template.as_ref())
                    .is_some_and(|r| r.name == template)
        })
        .len()
}

/// One reconcile of a template cache.
#[tracing::instrument(skip_all, fields(name = %tc.name_any(), namespace = tc.namespace().unwrap_or_default()))]
pub async fn reconcile(tc: Arc<AIMTemplateCache>, ctx: Arc<Context>) -> Result<Action, Error> {
    let namespace = tc
        .namespace()
        .ok_or_else(|| Error::Invariant("AIMTemplateCache without namespace".into()))?;
    if tc.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let mut requeue = None;
    if Component::of(tc.labels()) == Some(Component::ServiceCache) {
        let uid = tc.uid().unwrap_or_default();
        let users = cache_users(&ctx, &namespace, &tc.spec.template_ref);
        match ctx.unused.judge(&uid, users, ctx.config.unused_grace) {
            Usage::Collect => {
                tracing::info!("deleting a template cache no service uses");
                apply::delete(&ctx, tc.as_ref()).await?;
                ctx.unused.forget(&uid);
                return Ok(Action::await_change());
            }
            Usage::Unused(left) => requeue = Some(left),
            Usage::InUse => {}
        }
    }
    let template = ctx.index.template(&namespace, &tc.spec.template_ref);
    let template_status = template.as_ref().map(|t| t.status());
    let sources = template_status
        .as_ref()
        .map(|s| s.model_sources.as_slice())
        .unwrap_or_default();
    let observed = plan::Observed {
        template: template.as_ref().map(|t| (t.scope(), sources)),
        caches: sources
            .iter()
            .map(|s| {
                (
                    s,
                    ctx.index
                        .model_caches_of_source(&namespace, &s.source_uri)
                        .into_iter()
                        .next(),
                )
            })
            .collect(),
        now: Timestamp::now(),
    };
    let planned = plan::plan(&tc, &observed);
    for mc in &planned.create {
        let existing = ctx.index.model_cache(&namespace, &mc.name_any());
        apply::create_once(&ctx, existing.as_deref(), mc).await?;
    }
    status::write(&ctx, tc.as_ref(), planned.status).await?;
    Ok(requeue.map_or(Action::await_change(), Action::requeue))
}
