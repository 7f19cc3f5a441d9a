//! Status for the cluster-level kinds: an `AIMImage` reports whether its default template exists and whether
//! another image claims the same model; an `AIMClusterConfig` reports whether it is the one in use (only
//! `default` is read) and whether the gateway it names exists.

use crate::api::{
    AIMClusterConfig, AIMClusterConfigStatus, AIMClusterServiceTemplate, AIMImage, AIMImageStatus, CLUSTER_CONFIG_NAME,
    ResourceState,
};
use crate::controller::conditions::{self, reasons, types};
use crate::controller::context::Context;
use crate::controller::error::{Error, kube_err};
use crate::controller::status::{self, WithConditions};
use futures::StreamExt;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, ListParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Resource, ResourceExt};
use std::sync::Arc;
use std::time::Duration;

/// Reasons of the catalog kinds.
pub mod reason {
    /// The image's default template exists.
    pub const DEFAULT_TEMPLATE_FOUND: &str = "DefaultTemplateFound";
    /// The image names no default template; the matcher chooses.
    pub const NO_DEFAULT_TEMPLATE: &str = "NoDefaultTemplate";
    /// The image's default template does not exist as a cluster template.
    pub const DEFAULT_TEMPLATE_MISSING: &str = "DefaultTemplateMissing";
    /// Another image maps the same model.
    pub const DUPLICATE_MODEL: &str = "DuplicateModelId";
    /// This config is the one in use.
    pub const IN_USE: &str = "InUse";
    /// This config is not named `default` and is not read.
    pub const IGNORED: &str = "Ignored";
    /// The named gateway does not exist.
    pub const GATEWAY_NOT_FOUND: &str = "GatewayNotFound";
}

/// The AIMImage serving `model`. With several for one model, the first by name wins, so the choice is stable
/// (the others report `DuplicateModelId`).
pub async fn image_for(client: &kube::Client, model: &str) -> Result<Option<AIMImage>, Error> {
    let api: Api<AIMImage> = Api::all(client.clone());
    let mut images: Vec<AIMImage> = api
        .list(&ListParams::default())
        .await
        .map_err(kube_err("list AIMImages"))?
        .items
        .into_iter()
        .filter(|i| i.spec.model_id == model)
        .collect();
    images.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    Ok(images.into_iter().next())
}

impl WithConditions for AIMImageStatus {
    fn conditions(&self) -> &[Condition] {
        &self.conditions
    }
}

impl WithConditions for AIMClusterConfigStatus {
    fn conditions(&self) -> &[Condition] {
        &self.conditions
    }
}

async fn reconcile_image(image: Arc<AIMImage>, ctx: Arc<Context>) -> Result<Action, Error> {
    let generation = image.meta().generation;
    let current = image.status.clone().unwrap_or_default();
    let mut next = AIMImageStatus {
        observed_generation: generation,
        ..current
    };
    let images: Api<AIMImage> = Api::all(ctx.client.clone());
    let mut same_model: Vec<String> = images
        .list(&ListParams::default())
        .await
        .map_err(kube_err("list AIMImages"))?
        .items
        .into_iter()
        .filter(|i| i.spec.model_id == image.spec.model_id)
        .map(|i| i.name_any())
        .collect();
    same_model.sort();
    let first = same_model.first().cloned().unwrap_or_default();
    let (ok, why, message) = match &image.spec.default_service_template {
        _ if first != image.name_any() => (
            false,
            reason::DUPLICATE_MODEL,
            format!(
                "AIMImage {first} also maps modelId '{}' and is used instead (the first by name)",
                image.spec.model_id
            ),
        ),
        None => (
            true,
            reason::NO_DEFAULT_TEMPLATE,
            "no default template: the matcher chooses for services that name none".into(),
        ),
        Some(name) => {
            let templates: Api<AIMClusterServiceTemplate> = Api::all(ctx.client.clone());
            match templates
                .get_opt(name)
                .await
                .map_err(kube_err(format!("read AIMClusterServiceTemplate {name}")))?
            {
                Some(_) => (
                    true,
                    reason::DEFAULT_TEMPLATE_FOUND,
                    format!("default template {name} exists"),
                ),
                None => (
                    false,
                    reason::DEFAULT_TEMPLATE_MISSING,
                    format!(
                        "defaultServiceTemplate {name} names no AIMClusterServiceTemplate: services of this model that name no template fail unless their namespace has an AIMServiceTemplate {name}"
                    ),
                ),
            }
        }
    };
    let conds = &mut next.conditions;
    conditions::set(
        conds,
        types::READY,
        ok,
        if ok { reasons::READY } else { why },
        message.clone(),
        generation,
    );
    if ok {
        conditions::set(conds, types::FAILURE, false, reasons::NO_FAILURE, "", generation);
    } else {
        conditions::set(conds, types::FAILURE, true, why, message, generation);
    }
    next.status = Some(if ok {
        ResourceState::Available
    } else {
        ResourceState::Degraded
    });
    status::write(&ctx, &images, image.as_ref(), next).await?;
    Ok(Action::await_change())
}

async fn reconcile_config(config: Arc<AIMClusterConfig>, ctx: Arc<Context>) -> Result<Action, Error> {
    let generation = config.meta().generation;
    let current = config.status.clone().unwrap_or_default();
    let mut next = AIMClusterConfigStatus {
        observed_generation: generation,
        ..current
    };
    let (state, ok, why, message) = if config.name_any() != CLUSTER_CONFIG_NAME {
        (
            ResourceState::Failed,
            false,
            reason::IGNORED,
            format!("only the AIMClusterConfig named '{CLUSTER_CONFIG_NAME}' is read; this one is ignored"),
        )
    } else {
        match config.spec.routing.as_ref().and_then(|r| r.gateway.clone()) {
            Some(gw) => {
                let resource =
                    ApiResource::from_gvk(&GroupVersionKind::gvk("gateway.networking.k8s.io", "v1", "Gateway"));
                let gateways: Api<DynamicObject> = Api::namespaced_with(ctx.client.clone(), &gw.namespace, &resource);
                match gateways
                    .get_opt(&gw.name)
                    .await
                    .map_err(kube_err(format!("read Gateway {}/{}", gw.namespace, gw.name)))?
                {
                    Some(_) => (
                        ResourceState::Available,
                        true,
                        reason::IN_USE,
                        format!(
                            "in use; services are routed through Gateway {}/{}",
                            gw.namespace, gw.name
                        ),
                    ),
                    None => (
                        ResourceState::Degraded,
                        false,
                        reason::GATEWAY_NOT_FOUND,
                        format!(
                            "Gateway {}/{} does not exist: routes are created but no gateway will accept them",
                            gw.namespace, gw.name
                        ),
                    ),
                }
            }
            None => (
                ResourceState::Available,
                true,
                reason::IN_USE,
                "in use; no gateway, so services are not routed".into(),
            ),
        }
    };
    let conds = &mut next.conditions;
    conditions::set(conds, types::READY, ok, why, message.clone(), generation);
    if ok {
        conditions::set(conds, types::FAILURE, false, reasons::NO_FAILURE, "", generation);
    } else {
        conditions::set(conds, types::FAILURE, true, why, message, generation);
    }
    next.status = Some(state);
    status::write(&ctx, &Api::all(ctx.client.clone()), config.as_ref(), next).await?;
    // The gateway is not watched; look again now and then.
    Ok(Action::requeue(Duration::from_secs(60)))
}

fn error_policy<K>(_obj: Arc<K>, error: &Error, _ctx: Arc<Context>) -> Action {
    tracing::warn!(%error, "catalog reconcile failed; retrying");
    Action::requeue(Duration::from_secs(5))
}

/// Runs the AIMImage and AIMClusterConfig status controllers until their shutdown futures resolve.
pub async fn run(
    ctx: Arc<Context>,
    images_shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
    configs_shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let client = ctx.client.clone();
    let images = Controller::new(Api::<AIMImage>::all(client.clone()), watcher::Config::default());
    let store = images.store();
    let (by_template, by_model) = (store.clone(), store);
    let images = images
        .watches(
            Api::<AIMClusterServiceTemplate>::all(client.clone()),
            watcher::Config::default(),
            move |t| {
                let name = t.name_any();
                by_template
                    .state()
                    .into_iter()
                    .filter(|i| i.spec.default_service_template.as_deref() == Some(name.as_str()))
                    .map(|i| ObjectRef::from_obj(i.as_ref()))
                    .collect::<Vec<_>>()
            },
        )
        .watches(
            Api::<AIMImage>::all(client.clone()),
            watcher::Config::default(),
            move |image| {
                let model = image.spec.model_id.clone();
                by_model
                    .state()
                    .into_iter()
                    .filter(|i| i.spec.model_id == model)
                    .map(|i| ObjectRef::from_obj(i.as_ref()))
                    .collect::<Vec<_>>()
            },
        )
        .graceful_shutdown_on(images_shutdown)
        .run(
            crate::controller::metrics::metered("aimimage", reconcile_image),
            error_policy,
            ctx.clone(),
        )
        .for_each(|_| async {});
    let configs = Controller::new(Api::<AIMClusterConfig>::all(client), watcher::Config::default())
        .graceful_shutdown_on(configs_shutdown)
        .run(
            crate::controller::metrics::metered("aimclusterconfig", reconcile_config),
            error_policy,
            ctx,
        )
        .for_each(|_| async {});
    tokio::join!(images, configs);
}
