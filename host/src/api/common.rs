//! Types shared by several AIM kinds: runtime parameters, model sources, status values and conditions.

use k8s_openapi::api::core::v1::{EnvVar, LocalObjectReference};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

// No `///` on this type: kube's schema rewriter hoists an `Option<enum>`'s type description over the field's own,
// and `kubectl explain` would show the type's generic text instead of what the field means.
#[allow(missing_docs)]
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Metric {
    /// Lowest time to first token and per-token latency, for interactive use.
    Latency,
    /// Highest tokens per second across many concurrent requests, for batch use.
    Throughput,
}

// No `///` on this type: kube's schema rewriter hoists an `Option<enum>`'s type description over the field's own,
// and `kubectl explain` would show the type's generic text instead of what the field means.
#[allow(missing_docs)]
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// Let the runtime choose the best precision it has a profile for.
    Auto,
    /// 4-bit floating point (MXFP4).
    Fp4,
    /// 8-bit floating point.
    Fp8,
    /// 16-bit floating point (IEEE half precision).
    Fp16,
    /// 32-bit floating point.
    Fp32,
    /// 16-bit brain floating point.
    Bf16,
    /// 4-bit integer quantisation.
    Int4,
    /// 8-bit integer quantisation.
    Int8,
}

/// Which AMD GPUs a runtime needs, and how many per replica.
#[derive(Serialize, Deserialize, KubeSchema, Clone, Debug, PartialEq, Eq, Hash)]
pub struct GpuSelector {
    /// GPUs per replica (the tensor-parallel size). At least 1.
    #[schemars(range(min = 1))]
    pub count: i32,
    /// AMD GPU model, for example `MI300X`, `MI325X` or `MI355X`. Replicas are placed only on nodes whose AMD
    /// node labels say they have it: `amd.com/gpu.device-id` (the PCI device ID, always labelled), or
    /// `amd.com/gpu.product-name` where the device is not one the operator knows.
    #[schemars(length(min = 1, max = 63))]
    pub model: String,
    /// The extended resource a GPU is requested as: `amd.com/gpu` (the default, the device plugin's `single`
    /// naming), or the name the device plugin's `mixed` naming gives a partition profile (for example
    /// `amd.com/spx_nps1`). Derived templates keep their base's.
    #[serde(default, rename = "resourceName", skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 9, max = 253))]
    #[x_kube(validation = Rule::new(r"self.matches('^amd\\.com/[a-z0-9]([-a-z0-9_.]*[a-z0-9])?$')").message(
        "resourceName must be an AMD extended resource such as amd.com/gpu or amd.com/spx_nps1"
    ))]
    pub resource_name: Option<String>,
}

impl GpuSelector {
    /// `count` GPUs of `model`, requested as `amd.com/gpu`.
    pub fn new(model: impl Into<String>, count: i32) -> Self {
        GpuSelector {
            count,
            model: model.into(),
            resource_name: None,
        }
    }

    /// The extended resource a GPU is requested as.
    pub fn resource(&self) -> &str {
        self.resource_name.as_deref().unwrap_or(GPU_RESOURCE)
    }
}

/// The extended resource a GPU is requested as, unless a template names another (the device plugin's `mixed`
/// naming of partitions, `amd.com/spx_nps1` and the like): AMD's device plugin's single naming.
pub const GPU_RESOURCE: &str = "amd.com/gpu";

/// The knobs that select a runtime profile. Shared by templates (their profile) and services (their overrides).
#[derive(Serialize, Deserialize, KubeSchema, Clone, Debug, Default, PartialEq, Eq, Hash)]
#[serde(rename_all = "camelCase")]
pub struct RuntimeParameters {
    /// What the profile optimises for: `latency` or `throughput`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric: Option<Metric>,
    /// Weight precision: one of auto, fp4, fp8, fp16, fp32, bf16, int4, int8.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub precision: Option<Precision>,
    /// GPU model and count per replica.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu_selector: Option<GpuSelector>,
}

/// One model artifact a runtime needs, as discovered by the dry-run Job or given inline.
#[derive(Serialize, Deserialize, KubeSchema, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ModelSource {
    /// Where the artifact is downloaded from; see `ModelCache.spec.sourceUri` for the supported schemes.
    #[schemars(length(min = 1, max = MAX_SOURCE_URI_LENGTH))]
    #[x_kube(validation = source_uri_rule())]
    pub source_uri: String,
    /// Size of the artifact, used to size the cache volume (for example `16Gi`). Unknown when the dry run
    /// could not ask the source (`size_gb: null`): a cache then asks the source itself before sizing its volume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<Quantity>,
    /// The model's ID as the runtime looks it up (`org/model`, the dry run's `models[].name`): the runtime uses
    /// a cached model found as the directory `$AIM_CACHE_PATH/<name>`, so that is where a cache volume holding
    /// this source is mounted. Optional: an `hf://` source's is its repository (`hf://org/model@rev` →
    /// `org/model`); for an `s3://` source give the ID of the model the runtime serves, else the last two
    /// segments of its path are used (as the AIM runtime's own `download-to-cache` names an S3 model).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 256))]
    #[x_kube(validation = Rule::new(r"self.matches('^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)*$')").message(
        "name is a model ID such as meta-llama/Llama-3.1-8B-Instruct: segments of letters, digits, '.', '_' and '-' separated by '/'"
    ))]
    pub name: Option<String>,
}

impl ModelSource {
    /// A source of `uri` with no size or name given.
    pub fn new(uri: impl Into<String>) -> Self {
        ModelSource {
            source_uri: uri.into(),
            size: None,
            name: None,
        }
    }

    /// The model ID the runtime looks this source up by: [`Self::name`], else what the URI implies (`None`
    /// for a URI that does not parse).
    pub fn model_id(&self) -> Option<String> {
        if let Some(name) = &self.name {
            return Some(name.clone());
        }
        crate::download::source::Source::parse(&self.source_uri)
            .ok()
            .map(|s| s.model_id())
    }
}

/// Longest accepted source URI. The bound also keeps the CEL rule's cost within the API server's budget.
pub const MAX_SOURCE_URI_LENGTH: u32 = 1024;

/// Most model sources one template may list (the API server needs a bound to cost CEL rules on list items).
pub const MAX_MODEL_SOURCES: u32 = 32;

/// CEL rule that keeps source URIs to the downloader's schemes ([`crate::download::source::SOURCE_SCHEMES`]),
/// with a path that is not empty and has no white space.
pub fn source_uri_rule() -> kube::core::Rule {
    use crate::download::source::{SOURCE_SCHEMES, source_schemes_in_words};
    let schemes: Vec<&str> = SOURCE_SCHEMES.iter().map(|s| s.scheme).collect();
    let message = format!(
        "sourceUri must start with {}, followed by a path without spaces",
        source_schemes_in_words()
    );
    kube::core::Rule::new(format!(r"self.matches('^({})://[^\\s/][^\\s]*$')", schemes.join("|")))
        .message(kube::core::Message::Message(message))
}

/// Most patterns one `modelFiles` list may hold.
pub const MAX_FILE_PATTERNS: u32 = 32;

/// Which files of a model source a cache downloads: glob patterns over the source's paths (`/`-separated; `*`
/// within one segment, `**` across segments, `?` one character; a pattern without `/` matches the file name in
/// any directory, so `*.pth` is every `.pth` file). A file is kept when it matches an `include` pattern (or
/// `include` is empty) and no `exclude` pattern. With both lists empty (or `modelFiles` unset) the default
/// applies: exclude `original/**`, the consolidated PyTorch checkpoint Meta's repositories ship beside the
/// safetensors, which no runtime here reads. `include: ["**"]` downloads everything.
#[derive(Serialize, Deserialize, KubeSchema, Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct ModelFiles {
    /// Only files matching one of these are downloaded (empty: every file).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = MAX_FILE_PATTERNS), inner(length(min = 1, max = 256)))]
    #[x_kube(validation = file_patterns_rule())]
    pub include: Vec<String>,
    /// Files matching one of these are skipped.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = MAX_FILE_PATTERNS), inner(length(min = 1, max = 256)))]
    #[x_kube(validation = file_patterns_rule())]
    pub exclude: Vec<String>,
}

impl ModelFiles {
    /// The patterns that apply for `files` (unset or both lists empty: the default).
    pub fn effective(files: Option<&ModelFiles>) -> ModelFiles {
        match files {
            Some(f) if !(f.include.is_empty() && f.exclude.is_empty()) => f.clone(),
            _ => ModelFiles {
                include: vec![],
                exclude: crate::download::filter::DEFAULT_EXCLUDE
                    .iter()
                    .map(|p| p.to_string())
                    .collect(),
            },
        }
    }

    /// True when these are the default patterns.
    pub fn is_default(&self) -> bool {
        *self == ModelFiles::effective(None)
    }
}

/// CEL rule for a list of file patterns: each one non-empty, at most 256 characters, without commas (the
/// downloader takes them as comma-separated lists) or white space.
pub fn file_patterns_rule() -> kube::core::Rule {
    kube::core::Rule::new(r"self.all(p, size(p) > 0 && size(p) <= 256 && !p.matches('[,\\s]'))").message(
        "file patterns must be non-empty globs of at most 256 characters without commas or spaces, e.g. \
         original/** or *.safetensors",
    )
}

/// Credentials and pull secrets that several kinds accept.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Credentials {
    /// Environment variables for the containers this object starts, for example `HF_TOKEN` from a Secret. A
    /// service's variables are merged with its template's by name, the service's value winning; the merged list
    /// also reaches the caches the operator creates for the service.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<EnvVar>,
    /// Secrets used to pull images from a private registry. A service's non-empty list replaces its
    /// template's; an empty one inherits the template's. The result also reaches the caches the operator creates
    /// for the service.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub image_pull_secrets: Vec<LocalObjectReference>,
}

// No `///` on this type: kube's schema rewriter hoists an `Option<enum>`'s type description over the field's own,
// and `kubectl explain` would show the type's generic text instead of what the field means.
#[allow(missing_docs)]
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ResourceState {
    /// Accepted, nothing done yet.
    #[default]
    Pending,
    /// Work is under way (discovery, download).
    Progressing,
    /// Ready for use.
    Available,
    /// Usable, but something needs attention; see the conditions.
    Degraded,
    /// Not usable; the `Failure` condition says why and what to do.
    Failed,
}

// No `///` on this type: kube's schema rewriter hoists an `Option<enum>`'s type description over the field's own,
// and `kubectl explain` would show the type's generic text instead of what the field means.
#[allow(missing_docs)]
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ServiceState {
    /// Accepted, not started: resolution not finished, or no node can run a replica yet (`RuntimeReady` says
    /// which GPUs it asks for and what the scheduler found).
    #[default]
    Pending,
    /// Resolved; caches, runtime or route are still starting.
    Starting,
    /// Serving requests.
    Running,
    /// Cannot run; the `Failure` condition says why and what to do.
    Failed,
    /// Was running, now partly unavailable; see the conditions.
    Degraded,
    /// Scaled to zero (`minReplicas: 0`): no replica runs, and the next request wakes one (`RuntimeReady` says
    /// whether that request is held until it is ready, or answered 503 meanwhile).
    Idle,
}

/// Conditions list with the standard list-map semantics (one entry per `type`), so server-side apply merges
/// entries by type instead of replacing the whole list.
pub type Conditions = Vec<Condition>;

/// What every AIM status starts with (flattened into it): the generation it describes, the overall state
/// (`S`: [`ResourceState`], or [`ServiceState`] for services) and the conditions. Each status type's own
/// description lists the condition types its kind reports.
// `JsonSchema`, not `KubeSchema`: the latter takes no type parameters, so the list-map keys are written out.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct StatusHead<S> {
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Overall state, the `STATUS` column; the kind's status description lists its values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<S>,
    /// Standard conditions, one per type; the kind's status description lists the types.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Conditions,
}

impl<S> StatusHead<S> {
    /// A head in `state`, with no conditions yet and no generation observed.
    pub fn in_state(state: S) -> Self {
        Self {
            observed_generation: None,
            status: Some(state),
            conditions: Conditions::new(),
        }
    }
}
