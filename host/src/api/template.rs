//! `AIMClusterServiceTemplate` and `AIMServiceTemplate`: runtime profiles for one model (metric, precision, GPUs).
//!
//! Both kinds share [`TemplateProfile`]; only the namespace kind has `caching`. The operator discovers a
//! template's model sources with a dry-run Job unless `spec.modelSources` is given inline.

use super::common::{
    Credentials, MAX_MODEL_SOURCES, ModelFiles, ModelSource, ResourceState, RuntimeParameters, StatusHead,
};
use super::pod::PodSettings;
use super::scaling::{self, ScalingBounds};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The fields both template kinds share.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = scaling::ordered_bounds_rule(), validation = scaling::scale_to_zero_rule())]
pub struct TemplateProfile {
    /// Model this profile serves; must match an `AIMImage`'s `spec.modelId`. Immutable.
    #[schemars(length(min = 1, max = 256))]
    #[x_kube(validation = Rule::new("self == oldSelf").message("modelId is immutable: create a new template for another model"))]
    pub model_id: String,
    /// Runtime knobs that select the profile.
    #[serde(flatten)]
    pub parameters: RuntimeParameters,
    /// Environment and pull secrets for the runtime and the discovery Job.
    #[serde(flatten)]
    pub credentials: Credentials,
    /// Model sources given inline. When set, the operator skips the discovery Job and uses these (air-gapped
    /// clusters, tests, demos).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = MAX_MODEL_SOURCES))]
    pub model_sources: Option<Vec<ModelSource>>,
    /// Which files of each model source the caches for this template download (default: all but
    /// `original/**`). Services caching this template (`cacheModel: true`) and template caches without their own
    /// `modelFiles` use these; a derived template keeps its base's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_files: Option<ModelFiles>,
    /// How the runtime's pods run (resources, service account, priority, placement); services add to these or
    /// win over them, field by field.
    #[serde(flatten)]
    pub pod: PodSettings,
    /// Autoscaling defaults for the services that run this template: a service's own bounds and metric win
    /// field by field, and its `replicas` (a fixed count) over all of them.
    #[serde(flatten)]
    pub scaling: ScalingBounds,
}

/// Cluster-wide runtime profile for one model, maintained by cluster admins or catalog packs.
#[derive(CustomResource, JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    derive = "PartialEq",
    group = "aim.silogen.ai",
    version = "v1alpha1",
    kind = "AIMClusterServiceTemplate",
    shortname = "aimclst",
    category = "aim",
    status = "TemplateStatus",
    doc = "Cluster-wide runtime profile for one model: metric, precision and GPUs. Discovery runs in the operator's namespace.",
    printcolumn(name = "Model", type_ = "string", json_path = ".spec.modelId"),
    printcolumn(name = "Metric", type_ = "string", json_path = ".spec.metric"),
    printcolumn(name = "Precision", type_ = "string", json_path = ".spec.precision"),
    printcolumn(name = "GPU", type_ = "string", json_path = ".spec.gpuSelector.model"),
    printcolumn(name = "GPUs", type_ = "integer", json_path = ".spec.gpuSelector.count"),
    printcolumn(name = "Status", type_ = "string", json_path = ".status.status"),
    printcolumn(name = "Profile", type_ = "string", json_path = ".status.profile.id", priority = 1),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
pub struct AIMClusterServiceTemplateSpec {
    /// The profile.
    #[serde(flatten)]
    pub profile: TemplateProfile,
}

/// Namespace runtime profile for one model, owned by a tenant; can pre-warm its model caches.
#[derive(CustomResource, JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    derive = "PartialEq",
    group = "aim.silogen.ai",
    version = "v1alpha1",
    kind = "AIMServiceTemplate",
    namespaced,
    shortname = "aimst",
    category = "aim",
    status = "TemplateStatus",
    doc = "Namespace runtime profile for one model: metric, precision, GPUs and optional cache pre-warming.",
    printcolumn(name = "Model", type_ = "string", json_path = ".spec.modelId"),
    printcolumn(name = "Metric", type_ = "string", json_path = ".spec.metric"),
    printcolumn(name = "Precision", type_ = "string", json_path = ".spec.precision"),
    printcolumn(name = "GPU", type_ = "string", json_path = ".spec.gpuSelector.model"),
    printcolumn(name = "GPUs", type_ = "integer", json_path = ".spec.gpuSelector.count"),
    printcolumn(name = "Cache", type_ = "string", json_path = ".status.cache"),
    printcolumn(
        name = "Caching",
        type_ = "boolean",
        json_path = ".spec.caching.enabled",
        priority = 1
    ),
    printcolumn(name = "Status", type_ = "string", json_path = ".status.status"),
    printcolumn(name = "Profile", type_ = "string", json_path = ".status.profile.id", priority = 1),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
pub struct AIMServiceTemplateSpec {
    /// The profile.
    #[serde(flatten)]
    pub profile: TemplateProfile,
    /// Pre-warming of this template's model caches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caching: Option<TemplateCaching>,
}

/// Cache pre-warming for a namespace template.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct TemplateCaching {
    /// When true, the operator creates an `AIMTemplateCache` for this template so its model sources are
    /// downloaded before any service needs them.
    #[serde(default)]
    pub enabled: bool,
}

/// Observed state of a template (both kinds).
///
/// State: Pending, Progressing, Available, Degraded or Failed.
/// Conditions: Discovered, CacheWarm, Ready, Progressing, Failure.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TemplateStatus {
    /// Generation, state and conditions.
    #[serde(flatten)]
    pub head: StatusHead<ResourceState>,
    /// Model artifacts this profile needs, from discovery or from `spec.modelSources`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = MAX_MODEL_SOURCES))]
    pub model_sources: Vec<ModelSource>,
    /// Progress of model-source discovery (the dry-run Job).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discovery: Option<DiscoveryStatus>,
    /// The runtime profile the image's dry run chose (none for inline model sources). Its `id` reaches the
    /// serving container as `AIM_PROFILE_ID`, so the runtime serves exactly the profile discovery found.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<RuntimeProfile>,
    /// Where an `AIMTemplateCache` of this template in its namespace stands, whoever made it (this template's
    /// `caching`, a service with `cacheModel: true`, a person): `Warm`, `Warming`, `Degraded` or `Failed`; unset
    /// when there is none (the `CACHE` column).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache: Option<String>,
}

/// A runtime profile of an AIM image, as its dry run reports it (the profile file's `metadata`).
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RuntimeProfile {
    /// The profile's ID: its file name without `.yaml`, for example `vllm-mi300x-fp8-tp1-latency`.
    pub id: String,
    /// The GPU model it is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu: Option<String>,
    /// GPUs per replica (the tensor-parallel size).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu_count: Option<i32>,
    /// Weight precision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub precision: Option<String>,
    /// `latency` or `throughput`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric: Option<String>,
    /// How far the image's makers tuned it: `optimized`, `preview`, `unoptimized` or `general`.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_: Option<String>,
    /// The inference engine, for example `vllm`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine: Option<String>,
}

/// Where discovery stands for the current spec.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DiscoveryStatus {
    /// Hash of the inputs discovery ran for (image, runtime parameters, environment); a change runs it again.
    pub spec_hash: String,
    /// The discovery Job, `<namespace>/<name>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<String>,
    /// Failed attempts for this spec; the next attempt waits longer after each.
    #[serde(default)]
    pub failed_attempts: i32,
    /// When the last attempt ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_attempt_time: Option<Time>,
    /// Set when the image's dry run answered that it has no profile for this spec (an empty list): what it
    /// said. Discovery does not run again for the same spec and image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub no_profile: Option<String>,
}
