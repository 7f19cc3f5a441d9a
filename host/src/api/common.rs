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
    /// AMD GPU model, for example `MI300X` or `MI325X`. Pods are scheduled only on nodes with this GPU model.
    #[schemars(length(min = 1, max = 63))]
    pub model: String,
}

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
    /// Size of the artifact, used to size the cache volume (for example `16Gi`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<Quantity>,
}

/// Longest accepted source URI. The bound also keeps the CEL rule's cost within the API server's budget.
pub const MAX_SOURCE_URI_LENGTH: u32 = 1024;

/// Most model sources one template may list (the API server needs a bound to cost CEL rules on list items).
pub const MAX_MODEL_SOURCES: u32 = 32;

/// The URI schemes a model source may use: `hf://` (Hugging Face Hub) and `s3://` (S3-compatible object storage).
pub const SUPPORTED_SOURCE_SCHEMES: [&str; 2] = ["hf", "s3"];

/// CEL rule that keeps source URIs to [`SUPPORTED_SOURCE_SCHEMES`], with a path that is not empty and has no
/// white space.
pub fn source_uri_rule() -> kube::core::Rule {
    let schemes = SUPPORTED_SOURCE_SCHEMES.join("|");
    kube::core::Rule::new(format!(r"self.matches('^({schemes})://[^\\s/][^\\s]*$')")).message(
        "sourceUri must start with hf:// (Hugging Face Hub, e.g. hf://meta-llama/Llama-3.1-8B-Instruct) or \
         s3:// (S3-compatible storage, e.g. s3://bucket/path), followed by a path without spaces",
    )
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
