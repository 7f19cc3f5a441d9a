//! How many replicas a service runs: a fixed `replicas` count, or bounds (`minReplicas`, `maxReplicas`) an
//! autoscaler moves between, following the signal `autoScaling` names. On both template kinds (the profile's
//! defaults) and on `AIMService` (which wins, field by field; a service's `replicas` wins over all of it). The
//! operator renders the result into the InferenceService's predictor, and KServe makes the autoscaler: a
//! HorizontalPodAutoscaler for CPU and memory, a KEDA `ScaledObject` for request metrics read from Prometheus.

use kube::KubeSchema;
use serde::{Deserialize, Serialize};

/// Most characters of a Prometheus query or server address (the API server needs a bound to cost CEL rules).
pub const MAX_QUERY_LENGTH: u32 = 1024;

/// Replica bounds and the signal to scale on (flattened into the spec that carries it).
#[derive(Serialize, Deserialize, KubeSchema, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ScalingBounds {
    /// Fewest replicas the autoscaler keeps (default 1). `0` scales the service to zero when idle, which only
    /// KEDA can do: it needs `autoScaling` on a request metric (`runningRequests`, `waitingRequests` or
    /// `custom`); CPU and memory go through a HorizontalPodAutoscaler, which keeps at least one replica.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub min_replicas: Option<i32>,
    /// Most replicas the autoscaler may run (default: `minReplicas`, so set it to scale). Each replica takes
    /// the template's GPUs: the scheduler places a replica only where that many are free.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub max_replicas: Option<i32>,
    /// The signal replicas follow (default with `minReplicas`/`maxReplicas`: `cpu` at 80 % of the request).
    /// A service's `autoScaling` replaces its template's as a whole.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_scaling: Option<AutoScaling>,
}

/// The metric an autoscaler follows and the value per replica it aims for.
#[derive(Serialize, Deserialize, KubeSchema, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.metric != 'custom' || has(self.query)").message(
    "autoScaling.metric custom needs a query: a PromQL expression whose value is divided by target to give the replicas"
))]
#[x_kube(validation = Rule::new("!has(self.query) || self.metric == 'custom'").message(
    "autoScaling.query goes with metric: custom; the other metrics have their query built in"
))]
#[x_kube(validation = Rule::new("!(self.metric in ['cpu', 'memory']) || !has(self.prometheus)").message(
    "autoScaling.prometheus is for request metrics; cpu and memory come from the cluster's metrics server"
))]
#[x_kube(validation = Rule::new("!(self.metric in ['cpu', 'memory']) || !has(self.scaleDownDelaySeconds)").message(
    "autoScaling.scaleDownDelaySeconds is for request metrics (KEDA); for cpu and memory KServe's \
     HorizontalPodAutoscaler keeps the cluster's scale-down window (Kubernetes' default: 5 minutes)"
))]
pub struct AutoScaling {
    /// What replicas follow, one of cpu, memory, runningRequests, waitingRequests, custom. `cpu` or `memory`:
    /// the average use, as a percentage of a replica's request, through a HorizontalPodAutoscaler;
    /// `runningRequests` or `waitingRequests`: vLLM's `vllm:num_requests_running` /
    /// `vllm:num_requests_waiting`, summed over the service's replicas and read from Prometheus by KEDA;
    /// `custom`: your `query`, through KEDA.
    pub metric: ScalingMetric,
    /// The value per replica to aim for: for `cpu` and `memory` a percentage of the request (80 means scale
    /// out above 80 %); for request metrics the requests per replica (8 means 24 running requests want 3
    /// replicas); for `custom`, the query's value per replica.
    #[schemars(range(min = 1))]
    pub target: i32,
    /// For `custom`: the PromQL query whose value, divided by `target`, is the number of replicas wanted. The
    /// service's pods are `<status.inferenceService>-predictor-…` in its namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = MAX_QUERY_LENGTH))]
    pub query: Option<String>,
    /// The Prometheus server KEDA reads request metrics from, for example
    /// `http://prometheus-operated.monitoring:9090` (default: `AIMClusterConfig` `default`'s
    /// `spec.autoScaling.prometheus`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = MAX_QUERY_LENGTH))]
    pub prometheus: Option<String>,
    /// For request metrics: seconds the metric must stay below the target before a replica is removed
    /// (default 300, Kubernetes' own). A longer delay keeps loaded GPUs through short lulls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 3600))]
    pub scale_down_delay_seconds: Option<i32>,
    /// With `minReplicas: 0`: seconds without requests before the last replica goes (default 300).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 10, max = 604800))]
    pub idle_seconds: Option<i32>,
    /// With `minReplicas: 0`, where the cluster holds waking requests (`AIMClusterConfig`
    /// `spec.autoScaling.wake`): how long a request to an idle service waits for a replica to be ready before
    /// it is answered `504 Gateway Timeout` (default: the service's startup budget, the time its replicas are
    /// given to load the model).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 86400))]
    pub wake_timeout_seconds: Option<i32>,
}

// No `///` on this type: kube's schema rewriter hoists an enum's type description over the field's own, and
// `kubectl explain` would show the type's generic text instead of what the field means.
#[allow(missing_docs)]
#[derive(Serialize, Deserialize, schemars::JsonSchema, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum ScalingMetric {
    /// Average CPU use, as a percentage of a replica's request (HorizontalPodAutoscaler).
    Cpu,
    /// Average memory use, as a percentage of a replica's request (HorizontalPodAutoscaler).
    Memory,
    /// vLLM's requests being served (`vllm:num_requests_running`), per replica (KEDA, Prometheus).
    RunningRequests,
    /// vLLM's requests waiting for a slot (`vllm:num_requests_waiting`), per replica (KEDA, Prometheus).
    WaitingRequests,
    /// A PromQL query of your own (KEDA, Prometheus).
    Custom,
}

impl ScalingMetric {
    /// True for the metrics KEDA scales on (read from Prometheus); false for CPU and memory (HPA).
    pub fn is_request_metric(self) -> bool {
        !matches!(self, ScalingMetric::Cpu | ScalingMetric::Memory)
    }
}

impl ScalingBounds {
    /// True when none of the fields is set.
    pub fn is_empty(&self) -> bool {
        *self == ScalingBounds::default()
    }

    /// `self` (a service's) over `base` (its template's), field by field.
    pub fn over(&self, base: &ScalingBounds) -> ScalingBounds {
        ScalingBounds {
            min_replicas: self.min_replicas.or(base.min_replicas),
            max_replicas: self.max_replicas.or(base.max_replicas),
            auto_scaling: self.auto_scaling.clone().or_else(|| base.auto_scaling.clone()),
        }
    }
}

/// CEL rule for an object carrying [`ScalingBounds`] (flattened, so the rule sits on that object: a flattened
/// type's own rules would be lost): the bounds in order.
pub fn ordered_bounds_rule() -> kube::core::Rule {
    kube::core::Rule::new("!has(self.minReplicas) || !has(self.maxReplicas) || self.minReplicas <= self.maxReplicas")
        .message("minReplicas must not be more than maxReplicas")
}

/// CEL rule for an object carrying [`ScalingBounds`]: scale to zero only with a metric KEDA scales on, where
/// the object names its metric itself (a service scaling to zero on its template's CPU metric is told in a
/// condition).
pub fn scale_to_zero_rule() -> kube::core::Rule {
    kube::core::Rule::new(
        "!has(self.minReplicas) || self.minReplicas > 0 || !has(self.autoScaling) || \
         !(self.autoScaling.metric in ['cpu', 'memory'])",
    )
    .message(
        "minReplicas 0 (scale to zero) needs autoScaling on a request metric (runningRequests, waitingRequests or \
         custom), which KEDA scales on: a HorizontalPodAutoscaler, which cpu and memory use, keeps at least one \
         replica",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_service_wins_field_by_field_and_its_metric_replaces_the_templates() {
        let template = ScalingBounds {
            min_replicas: Some(1),
            max_replicas: Some(4),
            auto_scaling: Some(AutoScaling {
                metric: ScalingMetric::Cpu,
                target: 80,
                query: None,
                prometheus: None,
                scale_down_delay_seconds: None,
                idle_seconds: None,
                wake_timeout_seconds: None,
            }),
        };
        let service = ScalingBounds {
            max_replicas: Some(8),
            auto_scaling: Some(AutoScaling {
                metric: ScalingMetric::WaitingRequests,
                target: 4,
                query: None,
                prometheus: None,
                scale_down_delay_seconds: None,
                idle_seconds: None,
                wake_timeout_seconds: None,
            }),
            ..Default::default()
        };
        let merged = service.over(&template);
        assert_eq!((merged.min_replicas, merged.max_replicas), (Some(1), Some(8)));
        assert_eq!(merged.auto_scaling.unwrap().metric, ScalingMetric::WaitingRequests);
        assert!(ScalingBounds::default().over(&ScalingBounds::default()).is_empty());
    }
}
