//! `ModelCache`: one PVC holding one downloaded model source. `spec.sourceUri` and `spec.modelFiles` (which of its
//! files) are its identity.

use super::common::{Credentials, MAX_SOURCE_URI_LENGTH, ModelFiles, ResourceState, StatusHead, source_uri_rule};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A persistent volume holding one downloaded model source, shared by every service and template in the
/// namespace that needs that source.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    derive = "PartialEq",
    group = "aim.silogen.ai",
    version = "v1alpha1",
    kind = "ModelCache",
    namespaced,
    shortname = "mc",
    category = "aim",
    status = "ModelCacheStatus",
    doc = "One PVC holding one downloaded model source (spec.sourceUri, immutable and unique in the namespace).",
    printcolumn(name = "Source", type_ = "string", json_path = ".spec.sourceUri"),
    printcolumn(name = "Size", type_ = "string", json_path = ".spec.size"),
    printcolumn(name = "PVC", type_ = "string", json_path = ".status.persistentVolumeClaim"),
    printcolumn(name = "Status", type_ = "string", json_path = ".status.status"),
    printcolumn(name = "Progress", type_ = "string", json_path = ".status.download.progress"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new(
    "has(self.modelFiles) == has(oldSelf.modelFiles) && (!has(self.modelFiles) || self.modelFiles == oldSelf.modelFiles)"
).message("modelFiles is immutable: create a new ModelCache for another selection of files"))]
pub struct ModelCacheSpec {
    /// What to download. Supported schemes: `hf://<org>/<model>` (Hugging Face Hub) and `s3://<bucket>/<path>`
    /// (S3-compatible storage). Immutable: it is the cache's identity in its namespace.
    #[schemars(length(min = 1, max = MAX_SOURCE_URI_LENGTH))]
    #[x_kube(
        validation = source_uri_rule(),
        validation = Rule::new("self == oldSelf").message("sourceUri is immutable: create a new ModelCache for another source")
    )]
    pub source_uri: String,
    /// Which of the source's files to download (default: all but `original/**`). Immutable: with
    /// `sourceUri`, it is the cache's identity. `status.modelFiles` shows the patterns in effect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_files: Option<ModelFiles>,
    /// Storage class of the volume; defaults to `AIMClusterConfig.spec.cacheStorageClassName`, then to the
    /// cluster's default storage class. The volume is ReadWriteMany so every replica can mount it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_class_name: Option<String>,
    /// Size of the model; the volume gets some headroom on top. Defaults to the size discovered for the source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<Quantity>,
    /// Credentials for the download Job (for example `HF_TOKEN` from a Secret).
    #[serde(flatten)]
    pub credentials: Credentials,
}

/// Observed state of a `ModelCache`.
///
/// State: Pending, Progressing, Available, Degraded or Failed.
/// Conditions: StorageReady, Progressing, Ready, Failure.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ModelCacheStatus {
    /// Generation, state and conditions.
    #[serde(flatten)]
    pub head: StatusHead<ResourceState>,
    /// Name of the PersistentVolumeClaim that holds the downloaded model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persistent_volume_claim: Option<String>,
    /// The storage class the volume was requested with (empty: the cluster default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_class_name: Option<String>,
    /// The size requested for the volume (the model's size plus headroom).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity: Option<Quantity>,
    /// The source's size as the size check found it (`spec.size` unset): what the volume is sized from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_size: Option<Quantity>,
    /// The file patterns in effect (`spec.modelFiles`, or the default when it names none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_files: Option<ModelFiles>,
    /// What those patterns leave out of the source, as the size check or the download counted it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skipped: Option<SkippedFiles>,
    /// The size check's attempts (a cache without `spec.size`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_check: Option<SizeCheckStatus>,
    /// The download Job and its progress.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub download: Option<DownloadStatus>,
}

/// The files of a source the cache's patterns leave out.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct SkippedFiles {
    /// How many files.
    pub files: i64,
    /// Their size in bytes.
    pub bytes: i64,
}

/// Where the size check stands: an unreachable source is asked again with a growing wait.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SizeCheckStatus {
    /// Attempts that failed for a reason that may pass (unreachable, stalled, a server error).
    #[serde(default)]
    pub failed_attempts: i32,
    /// When the last failed attempt was counted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_attempt_time: Option<Time>,
}

/// Where the download stands.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DownloadStatus {
    /// The current download Job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<String>,
    /// Failed attempts so far; the next attempt waits longer after each.
    #[serde(default)]
    pub failed_attempts: i32,
    /// When the last attempt ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_attempt_time: Option<Time>,
    /// Bytes downloaded so far, as the downloader reports them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub downloaded_bytes: Option<i64>,
    /// Bytes to download in total, as the downloader reports them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_bytes: Option<i64>,
    /// Progress in percent (0-100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percent: Option<i32>,
    /// The recent download rate, as the downloader reports it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes_per_second: Option<i64>,
    /// Percent and rate in one line, for `kubectl get mc` (for example `42% 31.5 MiB/s`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<String>,
}
