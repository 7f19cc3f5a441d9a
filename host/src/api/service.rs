//! `AIMService`: a running inference endpoint for one model, resolved to a template and served by KServe.

use super::common::{Conditions, Credentials, RuntimeParameters, ServiceState};
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// An inference endpoint: one model, a runtime profile (template, overrides, or both), replicas and caching.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "aim.silogen.ai",
    version = "v1alpha1",
    kind = "AIMService",
    namespaced,
    shortname = "aimsvc",
    category = "aim",
    status = "AIMServiceStatus",
    doc = "A running LLM inference endpoint: a model, its runtime profile, replicas and caching, served through KServe.",
    printcolumn(name = "Model", type_ = "string", json_path = ".spec.aimModelId"),
    printcolumn(name = "Template", type_ = "string", json_path = ".status.resolvedTemplate.name"),
    printcolumn(name = "Replicas", type_ = "integer", json_path = ".spec.replicas"),
    printcolumn(name = "Status", type_ = "string", json_path = ".status.status"),
    printcolumn(name = "Path", type_ = "string", json_path = ".status.routePath", priority = 1),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
pub struct AIMServiceSpec {
    /// Model to serve; must match an `AIMImage`'s `spec.modelId`, for example `meta/llama-3-8b:1.1+20240915`.
    #[schemars(length(min = 1, max = 256))]
    pub aim_model_id: String,
    /// Template to run: an `AIMServiceTemplate` in this namespace, else the `AIMClusterServiceTemplate` of that
    /// name. Without it, the model's default template is used, or the matching policy picks one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template_ref: Option<String>,
    /// Runtime parameters that win over the template's. With `templateRef`, the operator derives a namespace
    /// template from it; without, the matching policy picks an existing template that fits or derives one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overrides: Option<RuntimeParameters>,
    /// Download the model into a shared `ModelCache` before starting, so replicas start from the cache.
    #[serde(default)]
    pub cache_model: bool,
    /// Number of inference replicas, each with the template's GPU count.
    #[serde(default = "default_replicas")]
    #[schemars(range(min = 1))]
    pub replicas: i32,
    /// Environment and pull secrets; these win over the template's.
    #[serde(flatten)]
    pub credentials: Credentials,
}

fn default_replicas() -> i32 {
    1
}

// No `///` on this type: kube's schema rewriter hoists an `Option<enum>`'s type description over the field's own,
// and `kubectl explain` would show the type's generic text instead of what the field means.
#[allow(missing_docs)]
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq)]
pub enum TemplateScope {
    /// An `AIMServiceTemplate` in the service's namespace.
    Namespace,
    /// An `AIMClusterServiceTemplate`.
    Cluster,
}

/// The template a service resolved to.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ResolvedTemplate {
    /// Template name.
    pub name: String,
    /// Namespace or Cluster.
    pub scope: TemplateScope,
    /// True when the operator derived this template from another one with the service's overrides.
    #[serde(default)]
    pub derived: bool,
}

/// Observed state of an `AIMService`.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AIMServiceStatus {
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Overall state: Pending, Starting, Running, Failed or Degraded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<ServiceState>,
    /// Standard conditions: Resolved, CacheReady, RuntimeReady, RoutingReady, Ready, Progressing, Failure.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["type".into()]))]
    pub conditions: Conditions,
    /// The template this service runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_template: Option<ResolvedTemplate>,
    /// Path of the service on the gateway, when routing is on. Kept when the router plugin is swapped (clients
    /// depend on it); annotate the service with `aim.silogen.ai/redecide` to have it decided again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route_path: Option<String>,
    /// The router plugin (and its digest) that chose `routePath`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route_decided_by: Option<String>,
    /// The value of the `aim.silogen.ai/redecide` annotation the current decisions were made for: setting the
    /// annotation to a new value has the template and the path decided again by the plugins in use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redecided: Option<String>,
    /// The KServe InferenceService serving this service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inference_service: Option<String>,
    /// How the template was chosen when a policy chose it: the plugin, its decision, and every candidate's
    /// verdict.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<PolicyDecision>,
}

/// A matcher plugin's decision, kept with the service so `kubectl describe` shows why.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PolicyDecision {
    /// The plugin that decided: `builtin:matcher` or its file name.
    pub plugin: String,
    /// SHA-256 of the plugin.
    pub digest: String,
    /// What it decided: `use <template>`, `derive <parameters>` or `none`.
    pub outcome: String,
    /// Why, in the plugin's words.
    pub reason: String,
    /// Every candidate template and its verdict.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub candidates: Vec<CandidateVerdict>,
}

/// One candidate template's verdict.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CandidateVerdict {
    /// Template name.
    pub name: String,
    /// `Namespace` or `Cluster`.
    pub scope: String,
    /// Whether the plugin accepted it.
    pub accepted: bool,
    /// Its score (higher is better; accepted candidates only).
    pub score: i32,
    /// Why.
    pub reason: String,
}
