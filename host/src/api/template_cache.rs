//! `AIMTemplateCache`: pre-warms every model source of one template into `ModelCache`s.

use super::common::{Credentials, ModelFiles, ResourceState, StatusHead};
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Pre-warms the model caches of a template (namespace template first, then the cluster template of that name).
#[derive(CustomResource, JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    derive = "PartialEq",
    group = "aim.silogen.ai",
    version = "v1alpha1",
    kind = "AIMTemplateCache",
    namespaced,
    shortname = "aimtc",
    category = "aim",
    status = "AIMTemplateCacheStatus",
    doc = "Pre-warms all model sources of one template into ModelCaches in this namespace.",
    printcolumn(name = "Template", type_ = "string", json_path = ".spec.templateRef"),
    printcolumn(name = "Template-Kind", type_ = "string", json_path = ".status.resolvedTemplateKind"),
    printcolumn(name = "Status", type_ = "string", json_path = ".status.status"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
pub struct AIMTemplateCacheSpec {
    /// Name of the template to warm: an `AIMServiceTemplate` in this namespace, else the
    /// `AIMClusterServiceTemplate` of that name.
    #[schemars(length(min = 1, max = 253))]
    pub template_ref: String,
    /// Storage class for the cache volumes; defaults to `AIMClusterConfig.spec.cacheStorageClassName`, then to
    /// the cluster's default storage class.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_class_name: Option<String>,
    /// Which files of each source to download; unset: the template's `modelFiles`, else the default (all but
    /// `original/**`). A model cache is shared only between caches asking for the same files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_files: Option<ModelFiles>,
    /// Credentials for the downloads (for example `HF_TOKEN`); used by the `ModelCache`s this object creates.
    #[serde(flatten)]
    pub credentials: Credentials,
}

// No `///` on this type: kube's schema rewriter hoists an `Option<enum>`'s type description over the field's own,
// and `kubectl explain` would show the type's generic text instead of what the field means.
#[allow(missing_docs)]
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq)]
pub enum TemplateKind {
    /// A namespace `AIMServiceTemplate`.
    AIMServiceTemplate,
    /// A cluster-wide `AIMClusterServiceTemplate`.
    AIMClusterServiceTemplate,
}

/// Observed state of an `AIMTemplateCache`.
///
/// State: Pending, Progressing, Available, Degraded or Failed.
/// Conditions: Resolved, CacheWarm, Ready, Progressing, Failure.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AIMTemplateCacheStatus {
    /// Generation, state and conditions.
    #[serde(flatten)]
    pub head: StatusHead<ResourceState>,
    /// The kind `spec.templateRef` resolved to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_template_kind: Option<TemplateKind>,
}
