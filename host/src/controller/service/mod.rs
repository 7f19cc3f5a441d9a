//! The `AIMService` controller: turns a service into an endpoint.
//!
//! Per reconcile: observe and decide ([`resolve`]: the template, through the matcher and merger plugins where
//! the product says so; [`cache`] with `cacheModel`; [`routing`]: the path, through the router plugin) → plan
//! ([`plan`], pure: the derived template, the template cache, the KServe InferenceService ([`build`]) gated on a
//! ready template and a warm cache, the HTTPRoute, and the status) → apply (only differences) → status →
//! deletions (a route no longer wanted).

pub mod build;
pub mod cache;
pub mod candidates;
pub mod derived;
pub mod fit;
pub mod plan;
pub mod resolve;
pub mod routing;

use crate::api::{AIMService, AIMServiceStatus};
use crate::controller::kit::apply::{self, owner_ref};
use crate::controller::kit::status::{self, WithConditions};
use crate::controller::kit::{Context, Error, reasons};
use crate::labels;
use crate::upstream;
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use kube::runtime::controller::Action;
use plan::{RouteAction, Routing};
use resolve::Resolution;
use std::sync::Arc;
use std::time::Duration;

impl WithConditions for AIMServiceStatus {
    fn conditions(&self) -> &[k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition] {
        &self.conditions
    }
    fn state(&self) -> Option<String> {
        self.status.map(|s| format!("{s:?}"))
    }
}

/// A decision a plugin failed is tried again after this (a swap of the plugin retries at once).
const POLICY_RETRY: Duration = Duration::from_secs(60);

/// One reconcile of a service.
#[tracing::instrument(skip_all, fields(name = %svc.name_any(), namespace = svc.namespace().unwrap_or_default()))]
pub async fn reconcile(svc: Arc<AIMService>, ctx: Arc<Context>) -> Result<Action, Error> {
    let namespace = svc
        .namespace()
        .ok_or_else(|| Error::Invariant("AIMService without namespace".into()))?;
    if svc.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let index = &ctx.index;
    let resolution = resolve::resolve(&ctx, &svc).await;
    let (cache, service_cache) = match &resolution {
        Resolution::Resolved { template, .. } if svc.spec.cache_model => {
            let existing = index.template_caches_of(&namespace, &template.name).into_iter().next();
            let create = existing.is_none().then(|| cache::service_cache(&svc, template));
            let state = cache::state(existing.as_deref(), template, |uri| {
                index.model_caches_of_source(&namespace, uri).into_iter().next()
            });
            (Some(state), create)
        }
        _ => (None, None),
    };
    let routing = match &resolution {
        Resolution::Resolved { .. } => routing::decide(&ctx, &svc).await,
        Resolution::Failed { .. } => Routing::Off,
    };
    let name = build::isvc_name(&svc);
    let isvc = index.inference_service(&namespace, &name);
    let runtime_pods = index.pods_of_inference_service(&namespace, &name);
    let route = index.route(&namespace, &name);
    let observed = plan::Observed {
        resolution: &resolution,
        cache,
        service_cache,
        isvc: isvc.as_deref(),
        runtime_pods: &runtime_pods,
        routing,
        route: route.as_deref(),
        owner: owner_ref(svc.as_ref(), true)?,
        now: Timestamp::now(),
    };
    let planned = plan::plan(&svc, &observed);

    if let Some(derived) = &planned.derive {
        let existing = index.namespace_template(&namespace, &derived.name_any());
        apply::apply(&ctx, existing.as_deref(), derived, |_| false, true).await?;
    }
    if let Some(tc) = &planned.service_cache {
        let existing = index.template_cache(&namespace, &tc.name_any());
        apply::create_once(&ctx, existing.as_deref(), tc).await?;
    }
    if let Some(desired) = &planned.isvc {
        apply::apply_dynamic(&ctx, &upstream::inference_service(), isvc.as_deref(), desired).await?;
    }
    if let RouteAction::Apply(desired) = &planned.route {
        apply::apply_dynamic(&ctx, &upstream::http_route(), route.as_deref(), desired).await?;
    }
    let policy_failed = planned
        .status
        .conditions
        .iter()
        .any(|c| c.type_ == "Failure" && c.status == "True" && c.reason == reasons::POLICY_FAILED);
    status::write(&ctx, svc.as_ref(), planned.status).await?;
    if planned.route == RouteAction::Delete
        && let Some(existing) = &route
        && labels::is_managed(existing.labels())
    {
        apply::delete_dynamic(&ctx, &upstream::http_route(), existing).await?;
    }
    Ok(if policy_failed {
        Action::requeue(POLICY_RETRY)
    } else {
        Action::await_change()
    })
}
