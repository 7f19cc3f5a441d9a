//! Derived templates: a namespace `AIMServiceTemplate` the merge policy made from a base template and a
//! service's overrides. Its name is `<base>-<suffix>` (the merger's suffix is deterministic), so services asking
//! for the same thing share it. It records no users on itself: the template controller counts the services
//! whose status names it and collects it when none has for the grace period. Pure builders.

use super::candidates::{TemplateRecord, from_wit};
use crate::api::{AIMServiceTemplate, AIMServiceTemplateSpec, TemplateProfile};
use crate::controller::kit::names::with_suffix;
use crate::labels::{self, Component};
use crate::policy::Provenance;
use crate::policy::bindings::MergeResult;
use kube::ResourceExt;
use kube::api::ObjectMeta;

/// The derived template's name.
pub fn name(base: &str, merged: &MergeResult) -> String {
    with_suffix(base, &merged.name_suffix)
}

/// The derived template of `base` with the merger's answer, in `namespace`.
pub fn desired(namespace: &str, base: &TemplateRecord, merged: &MergeResult, by: &Provenance) -> AIMServiceTemplate {
    let mut meta_labels = labels::managed(Component::DerivedTemplate);
    meta_labels.insert(labels::DERIVED_FROM.into(), labels::value(&base.name));
    AIMServiceTemplate {
        metadata: ObjectMeta {
            name: Some(name(&base.name, merged)),
            namespace: Some(namespace.to_string()),
            labels: Some(meta_labels),
            annotations: Some([(labels::DERIVED_BY.to_string(), by.to_string())].into_iter().collect()),
            ..Default::default()
        },
        spec: AIMServiceTemplateSpec {
            profile: TemplateProfile {
                parameters: from_wit(&merged.merged),
                ..base.profile.clone()
            },
            caching: None,
        },
        status: None,
    }
}

/// How an existing template of the derived template's name relates to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fit {
    /// None exists: create it.
    Absent,
    /// It exists as wanted.
    Same,
    /// It exists with another profile (its base changed since it was derived): update it.
    Differs,
    /// A template of that name exists that the operator did not derive: leave it alone.
    Foreign,
}

/// How `existing` compares with `desired`.
pub fn compare(existing: Option<&AIMServiceTemplate>, desired: &AIMServiceTemplate) -> Fit {
    match existing {
        None => Fit::Absent,
        Some(t) if Component::of(t.labels()) != Some(Component::DerivedTemplate) => Fit::Foreign,
        Some(t) if t.spec.profile == desired.spec.profile => Fit::Same,
        Some(_) => Fit::Differs,
    }
}
