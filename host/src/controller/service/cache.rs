//! On-demand caching for a service with `cacheModel: true`: the `AIMTemplateCache` of its template in its
//! namespace (an existing one is shared, whoever made it), and the cache volumes to mount once it is warm.
//! Credentials: the service's win over the template's for a cache the operator creates.

use super::build::CacheMount;
use super::candidates::TemplateRecord;
use crate::api::{AIMService, AIMTemplateCache, AIMTemplateCacheSpec, Credentials, ModelCache, ResourceState};
use crate::controller::apply::owner_ref;
use crate::controller::conditions::{self, types};
use crate::controller::context::{Context, FIELD_MANAGER};
use crate::controller::error::{Error, kube_err};
use crate::controller::labels;
use crate::controller::sharing;
use kube::ResourceExt;
use kube::api::{Api, ListParams, ObjectMeta, Patch, PatchParams};

/// The component label of caches created for services.
pub const COMPONENT: &str = "service-cache";

/// Where the service's cache stands.
pub enum CacheState {
    /// Warm: these volumes hold the model.
    Warm(Vec<CacheMount>),
    /// Warming; the message says what is pending.
    Warming(String),
    /// Failed; the message says why.
    Failed(String),
}

/// The service's credentials over the template's.
pub fn merged_credentials(template: &Credentials, service: &Credentials) -> Credentials {
    let mut merged = template.clone();
    for var in &service.env {
        match merged.env.iter_mut().find(|e| e.name == var.name) {
            Some(existing) => *existing = var.clone(),
            None => merged.env.push(var.clone()),
        }
    }
    for secret in &service.image_pull_secrets {
        if !merged.image_pull_secrets.contains(secret) {
            merged.image_pull_secrets.push(secret.clone());
        }
    }
    merged
}

/// Ensures the template cache for `template` and reports its state.
pub async fn ensure(ctx: &Context, service: &AIMService, template: &TemplateRecord) -> Result<CacheState, Error> {
    let namespace = service.namespace().unwrap_or_default();
    let api: Api<AIMTemplateCache> = Api::namespaced(ctx.client.clone(), &namespace);
    let owner = owner_ref(service, false)?;
    let all = api
        .list(&ListParams::default())
        .await
        .map_err(kube_err("list AIMTemplateCaches"))?
        .items;
    let cache = match all.into_iter().find(|tc| tc.spec.template_ref == template.name) {
        Some(tc) => {
            // Caches made for services are shared by them; a template's own cache or a user's is used as it is.
            if tc.labels().get(labels::COMPONENT).map(String::as_str) == Some(COMPONENT) {
                sharing::join(&api, &tc, &owner).await?;
            }
            tc
        }
        None => {
            let desired = AIMTemplateCache {
                metadata: ObjectMeta {
                    name: Some(template.name.clone()),
                    namespace: Some(namespace.clone()),
                    labels: Some(labels::managed(COMPONENT)),
                    owner_references: Some(vec![owner]),
                    ..Default::default()
                },
                spec: AIMTemplateCacheSpec {
                    template_ref: template.name.clone(),
                    storage_class_name: None,
                    credentials: merged_credentials(&template.profile.credentials, &service.spec.credentials),
                },
                status: None,
            };
            api.patch(
                &template.name,
                &PatchParams::apply(FIELD_MANAGER),
                &Patch::Apply(&desired),
            )
            .await
            .map_err(kube_err(format!("create AIMTemplateCache {}", template.name)))?
        }
    };
    let status = cache.status.clone().unwrap_or_default();
    let detail = |t| {
        conditions::get(&status.conditions, t)
            .map(|c| c.message.clone())
            .unwrap_or_default()
    };
    Ok(match status.status {
        Some(ResourceState::Available) => CacheState::Warm(mounts(ctx, &namespace, template).await?),
        Some(ResourceState::Failed) => CacheState::Failed(format!(
            "AIMTemplateCache {} failed: {}",
            cache.name_any(),
            detail(types::FAILURE)
        )),
        _ => CacheState::Warming(format!(
            "AIMTemplateCache {} is warming: {}",
            cache.name_any(),
            detail(types::CACHE_WARM)
        )),
    })
}

async fn mounts(ctx: &Context, namespace: &str, template: &TemplateRecord) -> Result<Vec<CacheMount>, Error> {
    let caches: Api<ModelCache> = Api::namespaced(ctx.client.clone(), namespace);
    let all = caches
        .list(&ListParams::default())
        .await
        .map_err(kube_err("list ModelCaches"))?
        .items;
    let mut out = Vec::new();
    for source in &template.status.model_sources {
        let ready = all.iter().find(|m| {
            m.spec.source_uri == source.source_uri
                && m.status.as_ref().and_then(|s| s.status) == Some(ResourceState::Available)
        });
        if let Some(claim) = ready.and_then(|m| m.status.as_ref()?.persistent_volume_claim.clone()) {
            out.push(CacheMount {
                cache: ready.map(ResourceExt::name_any).unwrap_or_default(),
                claim,
            });
        }
    }
    Ok(out)
}

/// Lets go of service caches of other templates this service owned; deletes those nobody uses any more.
pub async fn release_others(ctx: &Context, service: &AIMService, keep: Option<&str>) -> Result<(), Error> {
    let Some(uid) = service.metadata.uid.as_deref() else {
        return Ok(());
    };
    let api: Api<AIMTemplateCache> = Api::namespaced(ctx.client.clone(), &service.namespace().unwrap_or_default());
    let selector = format!("{}={COMPONENT}", labels::COMPONENT);
    sharing::release_all(&api, &selector, uid, |tc| Some(tc.spec.template_ref.as_str()) == keep).await
}
