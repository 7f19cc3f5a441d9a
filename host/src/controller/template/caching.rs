//! A namespace template with `caching.enabled` owns an `AIMTemplateCache` of the same name; the template's
//! `CacheWarm` follows it. Turning caching off removes that cache (and, through ownership, nothing else: the
//! model caches it made are shared and go when unused). Pure: what the template wants, from what the index
//! shows.

use crate::api::{AIMTemplateCache, AIMTemplateCacheSpec, Credentials, ResourceState};
use crate::controller::kit::conditions::{self, reasons, types, with_detail};
use crate::labels::{self, Component};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::ObjectMeta;

/// The template cache's state, as the template reports it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CacheState {
    /// Every model source is cached.
    pub(crate) warm: bool,
    pub(crate) failed: bool,
    pub(crate) reason: &'static str,
    pub(crate) message: String,
}

/// What to do about the template's own cache.
#[derive(Debug, Clone)]
pub(crate) enum CacheAction {
    Keep,
    /// Create or update it.
    Apply(Box<AIMTemplateCache>),
    /// Delete it (caching was turned off).
    Delete,
}

/// The template whose cache is planned.
pub(crate) struct Owner<'a> {
    /// Template name (also the cache's name).
    pub(crate) name: &'a str,
    pub(crate) namespace: &'a str,
    /// The template as owner.
    pub(crate) owner: OwnerReference,
    /// Its credentials (the cache downloads with them).
    pub(crate) credentials: &'a Credentials,
    pub(crate) enabled: bool,
}

/// The desired cache and the state the template reports (`None`: caching is off).
pub(crate) fn plan(
    template: &Owner<'_>,
    discovered: bool,
    existing: Option<&AIMTemplateCache>,
) -> (Option<CacheState>, CacheAction) {
    let owned = existing.is_some_and(|tc| {
        tc.metadata
            .owner_references
            .iter()
            .flatten()
            .any(|o| o.uid == template.owner.uid)
    });
    if !template.enabled {
        return (None, if owned { CacheAction::Delete } else { CacheAction::Keep });
    }
    if !discovered {
        let state = CacheState {
            warm: false,
            failed: false,
            reason: reasons::AWAITING_DISCOVERY,
            message: "the cache starts once the model sources are known".into(),
        };
        return (Some(state), CacheAction::Keep);
    }
    let desired = AIMTemplateCache {
        metadata: ObjectMeta {
            name: Some(template.name.to_string()),
            namespace: Some(template.namespace.to_string()),
            labels: Some(labels::managed(Component::TemplateCache)),
            owner_references: Some(vec![template.owner.clone()]),
            ..Default::default()
        },
        spec: AIMTemplateCacheSpec {
            template_ref: template.name.to_string(),
            model_files: None,
            storage_class_name: None,
            credentials: template.credentials.clone(),
        },
        status: None,
    };
    let action = match existing {
        Some(tc) if tc.spec == desired.spec && owned => CacheAction::Keep,
        _ => CacheAction::Apply(Box::new(desired)),
    };
    let status = existing.and_then(|tc| tc.status.clone()).unwrap_or_default();
    let detail = conditions::get(&status.head.conditions, types::READY)
        .map(|c| c.message.clone())
        .unwrap_or_default();
    let name = template.name;
    let state = match status.head.status {
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
            message: with_detail(format!("AIMTemplateCache {name} failed"), &detail),
        },
        _ => CacheState {
            warm: false,
            failed: false,
            reason: reasons::WARMING,
            message: with_detail(format!("AIMTemplateCache {name} is warming"), &detail),
        },
    };
    (Some(state), action)
}
