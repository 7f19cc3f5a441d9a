//! Derived templates: a namespace `AIMServiceTemplate` the merge policy made from a base template and a
//! service's overrides. Its name is `<base>-<suffix>` (the suffix from the merger is deterministic), so
//! services asking for the same thing share it. Every service using one is among its owners; when the last
//! one lets go, the operator deletes it.

use super::candidates::{TemplateRecord, from_wit, to_wit};
use crate::api::{AIMService, AIMServiceTemplate, AIMServiceTemplateSpec, TemplateProfile};
use crate::controller::apply::owner_ref;
use crate::controller::context::{Context, FIELD_MANAGER};
use crate::controller::error::{Error, kube_err};
use crate::controller::labels;
use crate::controller::names::with_suffix;
use crate::controller::sharing;
use crate::policy::CallError;
use crate::policy::bindings::MergeRequest;
use kube::ResourceExt;
use kube::api::{Api, ObjectMeta, Patch, PatchParams};

/// The component label of derived templates.
pub const COMPONENT: &str = "derived-template";
/// The label naming the base template.
pub const DERIVED_FROM: &str = "aim.silogen.ai/derived-from";

/// Why a derived template could not be made.
pub enum DeriveError {
    /// The merge policy failed.
    Policy(CallError),
    /// A template with that name exists and is not a derived one.
    NameTaken(String),
    /// An API call failed.
    Api(Error),
}

/// Merges `overrides` into `base` and ensures the derived template, owned (among others) by `service`.
pub async fn derive(
    ctx: &Context,
    service: &AIMService,
    base: &TemplateRecord,
    overrides: &crate::api::RuntimeParameters,
) -> Result<(TemplateRecord, crate::policy::Provenance), DeriveError> {
    let request = MergeRequest {
        base_name: base.name.clone(),
        model_id: base.profile.model_id.clone(),
        base: to_wit(&base.profile.parameters),
        overrides: to_wit(overrides),
    };
    let decided = ctx.policy.merge(request).await.map_err(DeriveError::Policy)?;
    let name = with_suffix(&base.name, &decided.value.name_suffix);
    let namespace = service.namespace().unwrap_or_default();
    let api: Api<AIMServiceTemplate> = Api::namespaced(ctx.client.clone(), &namespace);
    let owner = owner_ref(service, false).map_err(DeriveError::Api)?;
    let profile = TemplateProfile {
        parameters: from_wit(&decided.value.merged),
        ..base.profile.clone()
    };
    let existing = api
        .get_opt(&name)
        .await
        .map_err(|e| DeriveError::Api(kube_err(format!("read AIMServiceTemplate {name}"))(e)))?;
    let template = match existing {
        Some(t) if t.labels().get(labels::COMPONENT).map(String::as_str) != Some(COMPONENT) => {
            return Err(DeriveError::NameTaken(name));
        }
        Some(t) => {
            sharing::join(&api, &t, &owner).await.map_err(DeriveError::Api)?;
            if t.spec.profile == profile {
                t
            } else {
                // The base changed since the template was derived (its name only encodes the base's name and the
                // overrides): carry the change over. A merge patch of the spec leaves the owner list alone.
                let patch =
                    serde_json::json!({ "spec": AIMServiceTemplateSpec { profile: profile.clone(), caching: None } });
                api.patch(&name, &PatchParams::apply(FIELD_MANAGER), &Patch::Merge(&patch))
                    .await
                    .map_err(|e| DeriveError::Api(kube_err(format!("update derived template {name}"))(e)))?
            }
        }
        None => {
            let mut meta_labels = labels::managed(COMPONENT);
            meta_labels.insert(DERIVED_FROM.into(), base.name.chars().take(63).collect());
            let desired = AIMServiceTemplate {
                metadata: ObjectMeta {
                    name: Some(name.clone()),
                    namespace: Some(namespace),
                    labels: Some(meta_labels),
                    annotations: Some(
                        [("aim.silogen.ai/derived-by".to_string(), decided.provenance.to_string())]
                            .into_iter()
                            .collect(),
                    ),
                    owner_references: Some(vec![owner]),
                    ..Default::default()
                },
                spec: AIMServiceTemplateSpec {
                    profile: profile.clone(),
                    caching: None,
                },
                status: None,
            };
            api.patch(&name, &PatchParams::apply(FIELD_MANAGER), &Patch::Apply(&desired))
                .await
                .map_err(|e| DeriveError::Api(kube_err(format!("create derived template {name}"))(e)))?
        }
    };
    let record = TemplateRecord {
        name,
        scope: crate::api::TemplateScope::Namespace,
        derived: true,
        profile: template.spec.profile,
        status: template.status.unwrap_or_default(),
    };
    Ok((record, decided.provenance))
}

/// Lets go of every derived template in the namespace `service` owns except `keep`; deletes those nobody
/// owns any more.
pub async fn release_others(ctx: &Context, service: &AIMService, keep: Option<&str>) -> Result<(), Error> {
    let Some(uid) = service.metadata.uid.as_deref() else {
        return Ok(());
    };
    let api: Api<AIMServiceTemplate> = Api::namespaced(ctx.client.clone(), &service.namespace().unwrap_or_default());
    let selector = format!("{}={COMPONENT}", labels::COMPONENT);
    sharing::release_all(&api, &selector, uid, |t| Some(t.name_any().as_str()) == keep).await
}
