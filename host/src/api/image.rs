//! `AIMImage`: a cluster-wide catalog entry that maps a model ID to the AIM container image serving it.

use super::common::{ResourceState, StatusHead};
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

/// Catalog entry: which container image serves a model, and which template to use by default.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    derive = "PartialEq",
    group = "aim.silogen.ai",
    version = "v1alpha1",
    kind = "AIMImage",
    shortname = "aimimg",
    category = "aim",
    status = "AIMImageStatus",
    doc = "Catalog entry (cluster-scoped): maps a model ID to the AIM container image that serves it.",
    printcolumn(name = "Model", type_ = "string", json_path = ".spec.modelId"),
    printcolumn(name = "Image", type_ = "string", json_path = ".spec.image"),
    printcolumn(
        name = "Default-Template",
        type_ = "string",
        json_path = ".spec.defaultServiceTemplate"
    ),
    printcolumn(name = "Status", type_ = "string", json_path = ".status.status"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
pub struct AIMImageSpec {
    /// Model ID that services and templates refer to, for example `meta/llama-3-8b:1.1+20240915`.
    #[schemars(length(min = 1, max = 256))]
    pub model_id: String,
    /// Container image of the AIM runtime for this model, for example `registry.example.com/aim/llama3-8b:1.1`.
    #[schemars(length(min = 1))]
    pub image: String,
    /// Name of the template a service uses when it names no template and no overrides (advisory: a namespace
    /// `AIMServiceTemplate` of that name wins over the `AIMClusterServiceTemplate`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_service_template: Option<String>,
}

/// Observed state of an `AIMImage`.
///
/// State: Pending, Progressing, Available, Degraded or Failed.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AIMImageStatus {
    /// Generation, state and conditions.
    #[serde(flatten)]
    pub head: StatusHead<ResourceState>,
}
