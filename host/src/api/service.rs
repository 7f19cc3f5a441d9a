//! `AIMService`: a running inference endpoint for one model, resolved to a template and served by KServe.

use super::common::{Credentials, GpuSelector, Metric, Precision, RuntimeParameters, ServiceState, StatusHead};
use super::pod::PodSettings;
use super::scaling::{self, ScalingBounds};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// An inference endpoint: one model, a runtime profile (template, overrides, or both), replicas and caching.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    derive = "PartialEq",
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
    printcolumn(name = "Replicas", type_ = "string", json_path = ".status.replicas.summary"),
    printcolumn(name = "Status", type_ = "string", json_path = ".status.status"),
    printcolumn(name = "Path", type_ = "string", json_path = ".status.routePath", priority = 1),
    printcolumn(
        name = "Time-To-Ready",
        type_ = "string",
        json_path = ".status.startup.timeToReady",
        priority = 1
    ),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new(
    "!has(self.replicas) || !(has(self.minReplicas) || has(self.maxReplicas) || has(self.autoScaling))"
).message(
    "replicas is a fixed count; minReplicas, maxReplicas and autoScaling have an autoscaler choose it: set one or \
     the other (to autoscale a service that has replicas, remove spec.replicas)"
))]
#[x_kube(validation = scaling::ordered_bounds_rule(), validation = scaling::scale_to_zero_rule())]
pub struct AIMServiceSpec {
    /// Model to serve; must match an `AIMImage`'s `spec.modelId`, for example `meta/llama-3-8b:1.1+20240915`.
    #[schemars(length(min = 1, max = 256))]
    pub aim_model_id: String,
    /// Template to run: an `AIMServiceTemplate` in this namespace, else the `AIMClusterServiceTemplate` of that
    /// name. Without it, the model's default template is used, or the matching policy picks one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template_ref: Option<String>,
    /// Runtime parameters that win over the template's; each names only what it changes. With `templateRef`, the
    /// operator derives a namespace template from it; without, the matching policy picks an existing template
    /// that fits or derives one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overrides: Option<RuntimeOverrides>,
    /// Download the model into a shared `ModelCache` before starting, so replicas start from the cache.
    #[serde(default)]
    pub cache_model: bool,
    /// A fixed number of inference replicas, each with the template's GPU count (default 1, unless
    /// `minReplicas`, `maxReplicas` or `autoScaling`, here or on the template, have an autoscaler choose it).
    /// Wins over the template's scaling; cannot be set together with this service's own bounds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub replicas: Option<i32>,
    /// Autoscaling: replica bounds and the signal to follow, over the template's field by field.
    #[serde(flatten)]
    pub scaling: ScalingBounds,
    /// Environment and pull secrets; these win over the template's.
    #[serde(flatten)]
    pub credentials: Credentials,
    /// How the replicas' pods run (resources, service account, priority, placement): over the template's,
    /// field by field (each field says how).
    #[serde(flatten)]
    pub pod: PodSettings,
}

/// What a service changes of its template's runtime parameters. Whatever it leaves out comes from the base
/// template: `gpuSelector: {count: 2}` asks for two GPUs of the base template's model.
#[derive(Serialize, Deserialize, KubeSchema, Clone, Debug, Default, PartialEq, Eq, Hash)]
#[serde(rename_all = "camelCase")]
pub struct RuntimeOverrides {
    /// What the profile optimises for: `latency` or `throughput`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric: Option<Metric>,
    /// Weight precision: one of auto, fp4, fp8, fp16, fp32, bf16, int4, int8.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub precision: Option<Precision>,
    /// GPU model and/or count per replica; what is left out is the base template's (`templateRef`, else the
    /// model's default template).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu_selector: Option<GpuOverride>,
}

/// A GPU model, a count, or both.
#[derive(Serialize, Deserialize, KubeSchema, Clone, Debug, Default, PartialEq, Eq, Hash)]
#[x_kube(validation = Rule::new("has(self.count) || has(self.model)").message("gpuSelector names a count, a model, or both"))]
pub struct GpuOverride {
    /// GPUs per replica (the tensor-parallel size). At least 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub count: Option<i32>,
    /// AMD GPU model, for example `MI300X` or `MI325X`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63))]
    pub model: Option<String>,
}

impl RuntimeOverrides {
    /// The runtime parameters asked for, the GPU selector completed from `base` (the base template's): metric
    /// and precision stay as named (left out, they are not asked for). Fails, saying what to name, when a GPU
    /// field is left out and there is no base to take it from.
    pub fn completed(&self, base: Option<&GpuSelector>) -> Result<RuntimeParameters, String> {
        let gpu_selector = match &self.gpu_selector {
            None => None,
            Some(o) => {
                let count = o.count.or(base.map(|b| b.count));
                let model = o.model.clone().or_else(|| base.map(|b| b.model.clone()));
                match (count, model) {
                    (Some(count), Some(model)) => Some(GpuSelector {
                        count,
                        model,
                        resource_name: base.and_then(|b| b.resource_name.clone()),
                    }),
                    (_, None) => {
                        return Err(
                            "spec.overrides.gpuSelector names no model and there is no base template \
                                    with one to take it from: name gpuSelector.model"
                                .into(),
                        );
                    }
                    (None, _) => {
                        return Err(
                            "spec.overrides.gpuSelector names no count and there is no base template \
                                    with one to take it from: name gpuSelector.count"
                                .into(),
                        );
                    }
                }
            }
        };
        Ok(RuntimeParameters {
            metric: self.metric,
            precision: self.precision,
            gpu_selector,
        })
    }
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
///
/// State: Pending, Starting, Running, Failed or Degraded.
/// Conditions: Resolved, CacheReady, RuntimeReady, RoutingReady, Ready, Progressing, Failure.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AIMServiceStatus {
    /// Generation, state and conditions.
    #[serde(flatten)]
    pub head: StatusHead<ServiceState>,
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
    /// The operator's mark of the InferenceService it last applied (`sha256:…`): how it tells a spec change from
    /// a hand edit and removes a field it no longer sets. Kept here, not on the InferenceService, because KServe
    /// copies an InferenceService's annotations onto its pods, and a changing mark there would restart every
    /// replica.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applied_runtime: Option<String>,
    /// How the template was chosen when a policy chose it: the plugin, its decision, and every candidate's
    /// verdict.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<PolicyDecision>,
    /// How many replicas run and may run (the `REPLICAS` column), once the InferenceService exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<ReplicaStatus>,
    /// The service's last wake from zero (`minReplicas: 0`), phase by phase: from the replica being asked for
    /// (a request arrived, or the metric rose) to it being ready; `timeToReady` is how long the request that
    /// woke it waited, to within KEDA's reaction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_wake: Option<StartupStatus>,
    /// The service's first start, phase by phase, from what the cluster reports (`-o wide`: the time to ready).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub startup: Option<StartupStatus>,
}

/// Replicas of a service's runtime.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ReplicaStatus {
    /// Replicas ready to serve.
    pub ready: i32,
    /// Replicas wanted now: the fixed count, or the autoscaler's latest choice.
    pub desired: i32,
    /// Fewest replicas (the fixed count without autoscaling).
    pub min: i32,
    /// Most replicas (the fixed count without autoscaling).
    pub max: i32,
    /// What chooses the count: `none` (fixed), `hpa` (CPU or memory) or `keda` (request metrics).
    pub autoscaler: String,
    /// `ready/desired`, with `(min-max)` when autoscaled: the `REPLICAS` column.
    pub summary: String,
}

/// When each phase of the service's first start began and ended, from what the cluster reports: the
/// operator's own conditions, the model caches, the InferenceService and its pods' conditions and container
/// states, and the route's `Accepted` condition. Recorded with the status writes the service makes anyway, and
/// complete once it is first Running.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct StartupStatus {
    /// The phases so far, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub phases: Vec<StartupPhase>,
    /// From creation to first Running, for example `4m12s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_to_ready: Option<String>,
    /// The longest phase and how long it took, for example `3m40s downloading the model`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slowest: Option<String>,
}

/// One phase of a start.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct StartupPhase {
    /// `Resolved`, `CacheWarm`, `RuntimeCreated`, `PodsScheduled`, `ImagePulled`, `ContainersReady` or
    /// `RouteAccepted` (a wake: `PodsScheduled`, `ImagePulled`, `ContainersReady`).
    pub name: String,
    /// When it began.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started: Option<Time>,
    /// When it ended (unset while it runs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished: Option<Time>,
    /// How long it took, for example `3m40s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<String>,
    /// What it is doing, while it runs: for the cache, bytes done, rate and time left.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_override_names_only_what_it_changes_and_the_gpu_rest_comes_from_the_base() {
        let base = GpuSelector::new("MI325X", 1);
        let count_only = RuntimeOverrides {
            gpu_selector: Some(GpuOverride {
                count: Some(2),
                model: None,
            }),
            ..Default::default()
        };
        let completed = count_only.completed(Some(&base)).unwrap();
        assert_eq!(completed.gpu_selector, Some(GpuSelector::new("MI325X", 2)));
        assert_eq!(
            (completed.metric, completed.precision),
            (None, None),
            "not asked for stays unasked"
        );
        let model_only = RuntimeOverrides {
            gpu_selector: Some(GpuOverride {
                count: None,
                model: Some("MI300X".into()),
            }),
            ..Default::default()
        };
        assert_eq!(
            model_only.completed(Some(&base)).unwrap().gpu_selector.unwrap().count,
            1
        );
        let without_base = count_only.completed(None).unwrap_err();
        assert!(without_base.contains("name gpuSelector.model"), "{without_base}");
    }
}
