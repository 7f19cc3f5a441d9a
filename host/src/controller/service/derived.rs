//! Derived templates: a namespace `AIMServiceTemplate` the merge policy made from a base template and a
//! service's overrides. Its name is `<base>-<suffix>` (the merger's suffix is deterministic), so services asking
//! for the same thing share it. It records no users on itself: the template controller counts the services
//! whose status names it and collects it when none has for the grace period. Pure builders.

use super::candidates::{TemplateRecord, from_wit};
use crate::api::{AIMServiceTemplate, AIMServiceTemplateSpec, RuntimeParameters, TemplateProfile};
use crate::controller::kit::names::with_suffix;
use crate::labels::{self, Component};
use crate::policy::Provenance;
use crate::policy::bindings::MergeResult;
use kube::ResourceExt;
use kube::api::ObjectMeta;

/// The derived template's name: the base's, with the merger's suffix. Where the base's name spells a profile
/// parameter the overrides change (`llama-3-1-8b-mi300x-fp8-tp1-latency` on 8 × MI325X), that word is the
/// merged value, so the name does not read as the base's GPUs.
pub(crate) fn name(base: &TemplateRecord, merged: &MergeResult) -> String {
    with_suffix(
        &readable_base(&base.name, &base.profile.parameters, &from_wit(&merged.merged)),
        &merged.name_suffix,
    )
}

/// `base_name` with each dash-separated word that spells one of `from`'s parameters (GPU model, `tp<count>`,
/// precision, metric) replaced by `to`'s value where they differ.
fn readable_base(base_name: &str, from: &RuntimeParameters, to: &RuntimeParameters) -> String {
    use crate::upstream::aim::{metric_name, precision_name};
    let mut words: Vec<(String, String)> = Vec::new();
    if let (Some(a), Some(b)) = (&from.gpu_selector, &to.gpu_selector) {
        words.push((a.model.to_lowercase(), b.model.to_lowercase()));
        words.push((format!("tp{}", a.count), format!("tp{}", b.count)));
    }
    if let (Some(a), Some(b)) = (from.precision, to.precision) {
        words.push((precision_name(a).into(), precision_name(b).into()));
    }
    if let (Some(a), Some(b)) = (from.metric, to.metric) {
        words.push((metric_name(a).into(), metric_name(b).into()));
    }
    base_name
        .split('-')
        .map(|word| {
            words
                .iter()
                .find(|(a, b)| a == word && a != b)
                .map_or(word, |(_, b)| b.as_str())
        })
        .collect::<Vec<_>>()
        .join("-")
}

/// The derived template of `base` with the merger's answer, in `namespace`.
pub(crate) fn desired(
    namespace: &str,
    base: &TemplateRecord,
    merged: &MergeResult,
    by: &Provenance,
) -> AIMServiceTemplate {
    let mut meta_labels = labels::managed(Component::DerivedTemplate);
    meta_labels.insert(labels::DERIVED_FROM.into(), labels::value(&base.name));
    AIMServiceTemplate {
        metadata: ObjectMeta {
            name: Some(name(base, merged)),
            namespace: Some(namespace.to_string()),
            labels: Some(meta_labels),
            annotations: Some([(labels::DERIVED_BY.to_string(), by.to_string())].into_iter().collect()),
            ..Default::default()
        },
        spec: AIMServiceTemplateSpec {
            profile: TemplateProfile {
                parameters: keep_resource(from_wit(&merged.merged), base),
                ..base.profile.clone()
            },
            caching: None,
        },
        status: None,
    }
}

/// The merged parameters with the base's GPU resource name (the WIT carries none: the merger decides models
/// and counts, and the cluster's resource naming is the base template's to say).
fn keep_resource(mut merged: crate::api::RuntimeParameters, base: &TemplateRecord) -> crate::api::RuntimeParameters {
    let base_resource = base
        .profile
        .parameters
        .gpu_selector
        .as_ref()
        .and_then(|g| g.resource_name.clone());
    if let Some(gpu) = merged.gpu_selector.as_mut() {
        gpu.resource_name = base_resource;
    }
    merged
}

/// True when a template of the derived template's name exists that the operator did not derive: it is the
/// user's, and left alone.
pub(crate) fn foreign(existing: Option<&AIMServiceTemplate>) -> bool {
    existing.is_some_and(|t| Component::of(t.labels()) != Some(Component::DerivedTemplate))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{Metric, Precision, TemplateScope, TemplateStatus};
    use crate::policy::bindings::{self, RuntimeParameters as WitParameters};

    /// A derived template, pinned whole: the base's profile with the merged parameters, its name from the
    /// merger's suffix, labelled and annotated with where it came from.
    #[test]
    fn a_derived_template_as_written() {
        let base = TemplateRecord {
            name: "llama3-8b-fast".into(),
            scope: TemplateScope::Cluster,
            profile: crate::fixtures::profile(),
            status: TemplateStatus::default(),
            derived: false,
        };
        let merged = MergeResult {
            merged: WitParameters {
                metric: Some(bindings::Metric::Throughput),
                precision: Some(bindings::Precision::Bf16),
                gpu: None,
            },
            name_suffix: "ovr-bf16-1a2b3c4d".into(),
        };
        let by = Provenance {
            plugin: "builtin:merger".into(),
            digest: "sha256:ab".into(),
        };
        let derived = desired("team-a", &base, &merged, &by);
        assert_eq!(derived.spec.profile.parameters.metric, Some(Metric::Throughput));
        assert_eq!(derived.spec.profile.parameters.precision, Some(Precision::Bf16));
        insta::assert_json_snapshot!("derived_template", derived);
    }

    #[test]
    fn a_derived_name_does_not_read_as_the_bases_gpus() {
        let mut base = crate::fixtures::template_record(
            "llama-3-1-8b-mi300x-fp8-tp1-latency",
            TemplateScope::Cluster,
            TemplateStatus::default(),
        );
        base.profile.parameters.gpu_selector = Some(crate::api::GpuSelector::new("MI300X", 1));
        base.profile.parameters.precision = Some(Precision::Fp8);
        let merged = MergeResult {
            merged: WitParameters {
                metric: Some(bindings::Metric::Latency),
                precision: Some(bindings::Precision::Fp8),
                gpu: Some(bindings::GpuSelector {
                    model: "MI325X".into(),
                    count: 8,
                }),
            },
            name_suffix: "ovr-8xmi325x-1a2b3c4d".into(),
        };
        assert_eq!(
            name(&base, &merged),
            "llama-3-1-8b-mi325x-fp8-tp8-latency-ovr-8xmi325x-1a2b3c4d"
        );
    }
}
