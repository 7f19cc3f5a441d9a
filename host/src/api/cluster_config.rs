//! `AIMClusterConfig`: cluster-wide routing and cache storage defaults. Only the object named `default` is used.

use super::common::{ResourceState, StatusHead};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The only `AIMClusterConfig` name the operator reads; others are reported as ignored in their status.
pub const CLUSTER_CONFIG_NAME: &str = "default";

/// Cluster-wide configuration: the gateway services are routed through and the default cache storage class.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[kube(
    derive = "PartialEq",
    group = "aim.silogen.ai",
    version = "v1alpha1",
    kind = "AIMClusterConfig",
    shortname = "aimccfg",
    category = "aim",
    status = "AIMClusterConfigStatus",
    doc = "Cluster-wide routing and cache storage defaults. Only the object named 'default' is used.",
    printcolumn(name = "Gateway", type_ = "string", json_path = ".spec.routing.gateway.name"),
    printcolumn(
        name = "Gateway-Namespace",
        type_ = "string",
        json_path = ".spec.routing.gateway.namespace"
    ),
    printcolumn(name = "Auto-Route", type_ = "boolean", json_path = ".spec.routing.autoCreateRoute"),
    printcolumn(
        name = "Cache-Storage-Class",
        type_ = "string",
        json_path = ".spec.cacheStorageClassName"
    ),
    printcolumn(name = "Status", type_ = "string", json_path = ".status.status"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
pub struct AIMClusterConfigSpec {
    /// How services are exposed through the Gateway API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routing: Option<RoutingConfig>,
    /// Storage class for model cache volumes when neither the `ModelCache` nor the `AIMTemplateCache` names one.
    /// It must support ReadWriteMany. Empty: the cluster's default storage class.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_storage_class_name: Option<String>,
    /// Which of an `AIMService`'s labels reach its InferenceService, its pods and its HTTPRoute: label keys,
    /// `*` matching any run of characters (`team`, `example.com/*`). Unset: every label; `[]`: none. The
    /// `kubectl.kubernetes.io/` and `aim.silogen.ai/` keys and the operator's own labels never do. A service's
    /// annotations (but those same keys) always reach its InferenceService and pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 32), inner(length(min = 1, max = 317)))]
    pub propagate_labels: Option<Vec<String>>,
    /// Where autoscalers read the request metrics services scale on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_scaling: Option<AutoScalingConfig>,
}

/// Cluster-wide autoscaling defaults.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AutoScalingConfig {
    /// The Prometheus server KEDA reads request metrics from (`runningRequests`, `waitingRequests`, `custom`),
    /// for example `http://prometheus-operated.monitoring:9090`, for every service that does not name its own
    /// (`autoScaling.prometheus`). Prometheus must scrape the runtime's pods (vLLM serves `/metrics` on port
    /// 8000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = super::scaling::MAX_QUERY_LENGTH))]
    pub prometheus: Option<String>,
    /// Where a request to a service scaled to zero waits while a replica starts: KEDA's HTTP add-on (v0.15 or
    /// later), installed in the cluster. Set (`wake: {}` takes the add-on chart's defaults), a service with
    /// `minReplicas: 0` is routed through the add-on's interceptor, which holds each request until a replica
    /// is ready, and KEDA wakes it as soon as a request arrives. Unset, such a service scales to zero on its
    /// metric alone, and the requests that arrive while it is idle get the gateway's 503 until it is back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wake: Option<WakeConfig>,
}

/// KEDA's HTTP add-on, as the operator routes waking requests through it.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct WakeConfig {
    /// The interceptor's proxy Service (default: the chart's, `keda/keda-add-ons-http-interceptor-proxy`,
    /// port 8080). Each namespace with a service that scales to zero gets a ReferenceGrant in its namespace, so
    /// that the service's HTTPRoute may send requests to it.
    #[serde(default)]
    pub interceptor: InterceptorRef,
    /// The add-on's external scaler, as KEDA's operator reaches it (`host:port`; default the chart's,
    /// `keda-add-ons-http-external-scaler.keda:9090`).
    #[serde(default = "default_scaler")]
    #[schemars(length(min = 1, max = 253))]
    pub scaler: String,
}

impl Default for WakeConfig {
    fn default() -> Self {
        WakeConfig {
            interceptor: InterceptorRef::default(),
            scaler: default_scaler(),
        }
    }
}

fn default_scaler() -> String {
    "keda-add-ons-http-external-scaler.keda:9090".into()
}

/// A Service port: the HTTP add-on interceptor's proxy.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct InterceptorRef {
    /// Namespace of the Service.
    #[schemars(length(min = 1, max = 63))]
    pub namespace: String,
    /// Name of the Service.
    #[schemars(length(min = 1, max = 63))]
    pub name: String,
    /// Its port.
    #[schemars(range(min = 1, max = 65535))]
    pub port: i32,
}

impl Default for InterceptorRef {
    fn default() -> Self {
        InterceptorRef {
            namespace: "keda".into(),
            name: "keda-add-ons-http-interceptor-proxy".into(),
            port: 8080,
        }
    }
}

/// Routing through a Gateway API gateway.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RoutingConfig {
    /// The Gateway that service routes attach to. Without it no routes are created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<GatewayRef>,
    /// When true (the default) and a gateway is set, the operator creates one HTTPRoute per `AIMService`, at the
    /// path the routing policy chooses (by default `/<namespace>/<service uid>`).
    #[serde(default = "default_true")]
    pub auto_create_route: bool,
    /// Annotations for every service's HTTPRoute (for example a gateway's timeout annotation); a service's own
    /// annotation of the same key wins.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub route_annotations: BTreeMap<String, String>,
}

fn default_true() -> bool {
    true
}

/// A Gateway API `Gateway`, by name and namespace.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct GatewayRef {
    /// Name of the Gateway.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// Namespace of the Gateway.
    #[schemars(length(min = 1, max = 63))]
    pub namespace: String,
}

/// Observed state of an `AIMClusterConfig`.
///
/// State: Available when in use, Failed when ignored (not named `default`) or invalid.
/// Conditions: Ready (in use), with reason `Ignored` when the name is not `default`.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AIMClusterConfigStatus {
    /// Generation, state and conditions.
    #[serde(flatten)]
    pub head: StatusHead<ResourceState>,
    /// The policy plugins the operator runs (in the config in use only): one entry per policy, with the last
    /// plugin file refused for it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["policy".into()]))]
    pub plugins: Vec<PolicyPluginStatus>,
}

/// The plugin deciding one policy.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PolicyPluginStatus {
    /// The policy: matcher, merger or router.
    pub policy: String,
    /// The plugin: `builtin:<policy>` for the default shipped in the operator, else the file name in the plugin
    /// directory.
    pub plugin: String,
    /// `sha256:<hex>` of the component in use.
    pub digest: String,
    /// When the operator started using it.
    pub since: Time,
    /// The last plugin file refused for this policy (a refused file never replaces the plugin in use).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_refusal: Option<PluginRefusal>,
}

/// A plugin file the operator refused.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PluginRefusal {
    /// The file.
    pub file: String,
    /// Why it was refused (contract version, imports, size, smoke test, ...).
    pub reason: String,
    /// When.
    pub at: Time,
}
