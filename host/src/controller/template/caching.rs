//! A namespace template with `caching.enabled` owns an `AIMTemplateCache` of the same name; the template's
//! `CacheWarm` follows it. Turning caching off removes that cache (and, through ownership, what it created).

use super::Template;
use crate::api::{AIMTemplateCache, AIMTemplateCacheSpec, ResourceState};
use crate::controller::apply::{ensure, has_owner, owner_ref};
use crate::controller::conditions::{self, reasons, types};
use crate::controller::context::Context;
use crate::controller::error::{Error, kube_err};
use crate::controller::labels;
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, ObjectMeta};

/// The template cache's state, as the template reports it.
pub struct CacheState {
    /// Every model source is cached.
    pub warm: bool,
    /// The cache failed.
    pub failed: bool,
    /// Condition reason.
    pub reason: &'static str,
    /// Condition message.
    pub message: String,
}

/// Ensures (or removes) the template's own cache. `None` when caching is off.
pub async fn reconcile<T: Template>(
    ctx: &Context,
    template: &T,
    discovered: bool,
) -> Result<Option<CacheState>, Error> {
    let namespace = template.namespace().unwrap_or_default();
    let api: Api<AIMTemplateCache> = Api::namespaced(ctx.client.clone(), &namespace);
    let name = template.name_any();
    let owner = owner_ref(template, true)?;
    if !template.caching_enabled() {
        if let Some(existing) = api
            .get_opt(&name)
            .await
            .map_err(kube_err(format!("read AIMTemplateCache {name}")))?
            && has_owner(&existing, &owner)
        {
            api.delete(&name, &DeleteParams::background())
                .await
                .map_err(kube_err(format!("delete AIMTemplateCache {name}")))?;
        }
        return Ok(None);
    }
    if !discovered {
        return Ok(Some(CacheState {
            warm: false,
            failed: false,
            reason: reasons::AWAITING_DISCOVERY,
            message: "the cache starts once the model sources are known".into(),
        }));
    }
    let desired = AIMTemplateCache {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            namespace: Some(namespace),
            labels: Some(labels::managed("template-cache")),
            owner_references: Some(vec![owner.clone()]),
            ..Default::default()
        },
        spec: AIMTemplateCacheSpec {
            template_ref: name.clone(),
            storage_class_name: None,
            credentials: template.profile().credentials.clone(),
        },
        status: None,
    };
    let cache = ensure(&api, &desired, |existing| {
        existing.spec == desired.spec && has_owner(existing, &owner)
    })
    .await?;
    let status = cache.status.unwrap_or_default();
    let detail = conditions::get(&status.conditions, types::READY)
        .map(|c| c.message.clone())
        .unwrap_or_default();
    Ok(Some(match status.status {
        Some(ResourceState::Available) => CacheState {
            warm: true,
            failed: false,
            reason: reasons::WARM,
            message: format!("AIMTemplateCache {name} holds every model source"),
        },
        Some(ResourceState::Failed) | Some(ResourceState::Degraded) => CacheState {
            warm: false,
            failed: true,
            reason: reasons::WARM_FAILED,
            message: format!("AIMTemplateCache {name} failed: {detail}"),
        },
        _ => CacheState {
            warm: false,
            failed: false,
            reason: reasons::WARMING,
            message: format!(
                "AIMTemplateCache {name} is warming{}",
                if detail.is_empty() {
                    String::new()
                } else {
                    format!(": {detail}")
                }
            ),
        },
    }))
}
