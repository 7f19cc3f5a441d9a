//! The AIM API, group `aim.silogen.ai`, version `v1alpha1`: the seven custom resources and the types they share.
//!
//! These types are the single source of the CRDs in `crds/` (`aim-operator crdgen`). Everything the API server can
//! enforce lives here as schema: enums, minimums, required fields, defaults and CEL rules. The `///` docs become
//! `kubectl explain` text, so they are written for the person reading that output.

// Each `printcolumn(...)` repeats keys such as `type_`; clippy reads the repetition as a duplicated attribute.
#![allow(clippy::duplicated_attributes)]

pub mod cluster_config;
pub mod common;
pub mod image;
pub mod model_cache;
pub mod pod;
pub mod scaling;
pub mod service;
pub mod template;
pub mod template_cache;

pub use cluster_config::{
    AIMClusterConfig, AIMClusterConfigSpec, AIMClusterConfigStatus, AutoScalingConfig, CLUSTER_CONFIG_NAME, GatewayRef,
    InterceptorRef, PluginRefusal, PolicyPluginStatus, RoutingConfig, WakeConfig,
};
pub use common::*;
pub use image::{AIMImage, AIMImageSpec, AIMImageStatus};
pub use model_cache::{DownloadStatus, ModelCache, ModelCacheSpec, ModelCacheStatus, SizeCheckStatus, SkippedFiles};
pub use pod::{PodSettings, ReplicaResources};
pub use scaling::{AutoScaling, ScalingBounds, ScalingMetric};
pub use service::{
    AIMService, AIMServiceSpec, AIMServiceStatus, CandidateVerdict, GpuOverride, PolicyDecision, ReplicaStatus,
    ResolvedTemplate, RuntimeOverrides, StartupPhase, StartupStatus, TemplateScope,
};
pub use template::{
    AIMClusterServiceTemplate, AIMClusterServiceTemplateSpec, AIMServiceTemplate, AIMServiceTemplateSpec,
    DiscoveryStatus, RuntimeProfile, TemplateCaching, TemplateProfile, TemplateStatus,
};
pub use template_cache::{AIMTemplateCache, AIMTemplateCacheSpec, AIMTemplateCacheStatus, TemplateKind};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

/// The API group of every AIM kind.
pub const GROUP: &str = "aim.silogen.ai";
/// The API version of every AIM kind.
pub const VERSION: &str = "v1alpha1";

/// Every CRD this operator defines, in a stable order, with descriptions reflowed for `kubectl explain`.
pub fn all_crds() -> Vec<CustomResourceDefinition> {
    [
        AIMImage::crd(),
        AIMClusterServiceTemplate::crd(),
        AIMServiceTemplate::crd(),
        AIMTemplateCache::crd(),
        ModelCache::crd(),
        AIMClusterConfig::crd(),
        AIMService::crd(),
    ]
    .into_iter()
    .map(reflow_descriptions)
    .collect()
}

/// Joins the hard-wrapped lines of every `description` into paragraphs. Doc comments are wrapped at 120
/// columns in the source; `kubectl explain` wraps text itself and would otherwise break lines twice.
fn reflow_descriptions(crd: CustomResourceDefinition) -> CustomResourceDefinition {
    fn walk(value: &mut serde_json::Value) {
        match value {
            serde_json::Value::Object(map) => {
                for (key, v) in map.iter_mut() {
                    match v {
                        serde_json::Value::String(text) if key == "description" => *text = reflow(text),
                        other => walk(other),
                    }
                }
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(walk),
            _ => {}
        }
    }
    let mut value = serde_json::to_value(&crd).expect("a CRD serialises");
    walk(&mut value);
    serde_json::from_value(value).expect("reflowing descriptions keeps a valid CRD")
}

/// Joins lines within paragraphs; keeps paragraph breaks and list items (`- `, `* `) on lines of their own.
fn reflow(text: &str) -> String {
    let paragraph = |p: &str| {
        let mut out = String::new();
        for line in p.lines().map(str::trim).filter(|l| !l.is_empty()) {
            if !out.is_empty() {
                out.push(if line.starts_with("- ") || line.starts_with("* ") {
                    '\n'
                } else {
                    ' '
                });
            }
            out.push_str(line);
        }
        out
    };
    text.split("\n\n")
        .map(paragraph)
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("\n\n")
}

#[cfg(test)]
mod tests {
    use super::{all_crds, reflow};

    /// Paths under `schema` whose field has no description (`kubectl explain` would show it bare).
    fn undescribed(schema: &serde_json::Value, path: &str, out: &mut Vec<String>) {
        if let Some(properties) = schema.get("properties").and_then(|p| p.as_object()) {
            for (name, field) in properties {
                let here = format!("{path}.{name}");
                let described = field
                    .get("description")
                    .and_then(|d| d.as_str())
                    .is_some_and(|d| !d.trim().is_empty());
                if !described {
                    out.push(here.clone());
                }
                undescribed(field, &here, out);
            }
        }
        for nested in ["items", "additionalProperties"] {
            if let Some(inner) = schema.get(nested).filter(|i| i.is_object()) {
                undescribed(inner, &format!("{path}[]"), out);
            }
        }
    }

    /// The hidden-field rule: every field of every kind, spec and status, says what it is in `kubectl explain`.
    #[test]
    fn every_field_is_described_for_kubectl_explain() {
        let mut missing = Vec::new();
        let bare = serde_json::json!({ "properties": { "a": { "items": { "properties": { "b": {} } } } } });
        undescribed(&bare, "x", &mut missing);
        assert_eq!(missing, ["x.a", "x.a[].b"], "the walk finds a bare field at any depth");
        missing.clear();
        for crd in all_crds() {
            let kind = crd.spec.names.kind.clone();
            let schema = serde_json::to_value(&crd.spec.versions[0].schema).unwrap();
            let root = &schema["openAPIV3Schema"];
            for part in ["spec", "status"] {
                undescribed(&root["properties"][part], &format!("{kind}.{part}"), &mut missing);
            }
        }
        assert!(missing.is_empty(), "fields without a description: {missing:#?}");
    }

    #[test]
    fn reflow_joins_wrapped_lines_and_keeps_paragraphs_and_lists() {
        assert_eq!(reflow("one\ntwo\n\nthree\n- a\n- b"), "one two\n\nthree\n- a\n- b");
        assert_eq!(reflow("single"), "single");
    }
}
