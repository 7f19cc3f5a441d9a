//! How many replicas a service runs, decided (pure) from its spec over its template's, and rendered into the
//! InferenceService's predictor: a fixed count (KServe's `none` autoscaler class: `minReplicas = maxReplicas`),
//! a HorizontalPodAutoscaler on CPU or memory (`hpa`), or a KEDA ScaledObject on a request metric read from
//! Prometheus (`keda`, the only class that can scale to zero). A service that scales to zero where the cluster
//! holds waking requests (KEDA's HTTP add-on, `AIMClusterConfig` `spec.autoScaling.wake`) gets its own
//! ScaledObject instead ([`super::wake_path`]), and KServe's `external` class, which leaves its replica count to
//! it. What cannot run is said with the fields to change, for a condition; the schema refuses what one object
//! alone gets wrong.

use crate::api::{AIMServiceSpec, AutoScaling, ScalingBounds, ScalingMetric, TemplateProfile, WakeConfig};
use serde_json::{Value, json};

/// KServe's annotation naming the autoscaler class of an InferenceService.
pub(crate) const AUTOSCALER_CLASS: &str = "serving.kserve.io/autoscalerClass";

/// The CPU target when bounds are given without a metric: KServe's own default.
pub(crate) const DEFAULT_CPU_TARGET: i32 = 80;

/// What decides a service's replica count.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Replicas {
    /// Exactly this many.
    Fixed(i32),
    /// An autoscaler between `min` and `max`.
    Auto {
        min: i32,
        max: i32,
        metric: AutoScaling,
        /// Where KEDA reads a request metric (set for request metrics only).
        prometheus: Option<String>,
        /// Scaling to zero where the cluster holds waking requests: through KEDA's HTTP add-on.
        wake: Option<WakeConfig>,
    },
}

/// What the cluster config says about autoscaling: where request metrics are read, and whether (and through
/// what) waking requests are held.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct ClusterScaling {
    /// The default Prometheus server.
    pub(crate) prometheus: Option<String>,
    /// KEDA's HTTP add-on, when the admin set it.
    pub(crate) wake: Option<WakeConfig>,
}

impl Replicas {
    /// KServe's autoscaler class for it.
    pub(crate) fn class(&self) -> &'static str {
        match self {
            Replicas::Fixed(_) => "none",
            Replicas::Auto { wake: Some(_), .. } => "external",
            Replicas::Auto { metric, .. } if metric.metric.is_request_metric() => "keda",
            Replicas::Auto { .. } => "hpa",
        }
    }

    /// The bounds: `(min, max)`.
    pub(crate) fn bounds(&self) -> (i32, i32) {
        match self {
            Replicas::Fixed(n) => (*n, *n),
            Replicas::Auto { min, max, .. } => (*min, *max),
        }
    }
}

/// The replica policy of `spec` running `profile` in a cluster configured as `cluster`. Fails with what to
/// change when the combination cannot run (a metric or bound from the template meeting the service's).
pub(crate) fn decide(
    spec: &AIMServiceSpec,
    profile: &TemplateProfile,
    cluster: &ClusterScaling,
) -> Result<Replicas, String> {
    if let Some(n) = spec.replicas {
        return Ok(Replicas::Fixed(n));
    }
    let bounds: ScalingBounds = spec.scaling.over(&profile.scaling);
    if bounds.is_empty() {
        return Ok(Replicas::Fixed(1));
    }
    let min = bounds.min_replicas.unwrap_or(1);
    let max = bounds.max_replicas.unwrap_or(min.max(1));
    let from = |own: bool| if own { "the service's" } else { "the template's" };
    if min > max {
        return Err(format!(
            "minReplicas {min} ({}) is more than maxReplicas {max} ({}): lower spec.minReplicas or raise spec.maxReplicas",
            from(spec.scaling.min_replicas.is_some()),
            from(spec.scaling.max_replicas.is_some()),
        ));
    }
    let metric = bounds.auto_scaling.clone().unwrap_or(AutoScaling {
        metric: ScalingMetric::Cpu,
        target: DEFAULT_CPU_TARGET,
        query: None,
        prometheus: None,
        scale_down_delay_seconds: None,
        idle_seconds: None,
        wake_timeout_seconds: None,
    });
    let own_metric = spec.scaling.auto_scaling.is_some();
    if min == 0 && !metric.metric.is_request_metric() {
        return Err(format!(
            "minReplicas 0 (scale to zero) needs autoScaling on a request metric (runningRequests, waitingRequests or \
             custom), which KEDA scales on; {} {} through a HorizontalPodAutoscaler, which keeps at least one \
             replica: set spec.autoScaling.metric, or spec.minReplicas to 1 or more",
            if own_metric {
                "this service scales on"
            } else if bounds.auto_scaling.is_some() {
                "the template scales on"
            } else {
                "without autoScaling it scales on"
            },
            metric_name(metric.metric),
        ));
    }
    let prometheus = if metric.metric.is_request_metric() {
        match metric.prometheus.clone().or_else(|| cluster.prometheus.clone()) {
            Some(address) => Some(address),
            None => {
                return Err(format!(
                    "autoScaling on {} reads the metric from Prometheus, and no server is named: set \
                     spec.autoScaling.prometheus, or ask the cluster admin to set spec.autoScaling.prometheus in \
                     AIMClusterConfig default",
                    metric_name(metric.metric)
                ));
            }
        }
    } else {
        None
    };
    Ok(Replicas::Auto {
        min,
        max,
        metric,
        prometheus,
        wake: if min == 0 { cluster.wake.clone() } else { None },
    })
}

/// The HorizontalPodAutoscaler behaviour that removes a replica only after the metric stayed low for `delay`
/// seconds.
pub(crate) fn scale_down_behavior(delay: i32) -> Value {
    json!({ "scaleDown": { "stabilizationWindowSeconds": delay } })
}

fn metric_name(metric: ScalingMetric) -> &'static str {
    match metric {
        ScalingMetric::Cpu => "cpu",
        ScalingMetric::Memory => "memory",
        ScalingMetric::RunningRequests => "runningRequests",
        ScalingMetric::WaitingRequests => "waitingRequests",
        ScalingMetric::Custom => "custom",
    }
}

/// The PromQL KEDA runs for a request metric of the service's replicas (`<isvc>-predictor-…` pods in
/// `namespace`): vLLM's gauge summed over them, or the service's own query.
pub(crate) fn query(metric: &AutoScaling, namespace: &str, isvc: &str) -> String {
    let gauge = match metric.metric {
        ScalingMetric::RunningRequests => "vllm:num_requests_running",
        ScalingMetric::WaitingRequests => "vllm:num_requests_waiting",
        _ => return metric.query.clone().unwrap_or_default(),
    };
    format!("sum({gauge}{{namespace=\"{namespace}\",pod=~\"{isvc}-predictor-.*\"}})")
}

/// Sets the predictor's replica fields for `replicas` and returns the autoscaler class, for the
/// InferenceService's [`AUTOSCALER_CLASS`] annotation. A KEDA-scaled predictor's pods are also annotated for
/// Prometheus to scrape (the service's own annotations of those keys win).
pub(crate) fn render(replicas: &Replicas, predictor: &mut Value, namespace: &str, isvc: &str) -> &'static str {
    let (min, max) = replicas.bounds();
    predictor["minReplicas"] = json!(min);
    predictor["maxReplicas"] = json!(max);
    let Replicas::Auto {
        metric,
        prometheus,
        wake: None,
        ..
    } = replicas
    else {
        // A fixed count; or a service waking through the HTTP add-on, whose own ScaledObject scales it.
        return replicas.class();
    };
    let spec = match metric.metric {
        ScalingMetric::Cpu | ScalingMetric::Memory => json!({
            "type": "Resource",
            "resource": {
                "name": metric_name(metric.metric),
                "target": { "type": "Utilization", "averageUtilization": metric.target },
            },
        }),
        // The replicas' pods carry the scrape annotations whatever their metric ([`super::build`]).
        _ => {
            json!({
                "type": "External",
                "external": {
                    "metric": {
                        "backend": "prometheus",
                        "serverAddress": prometheus.clone().unwrap_or_default(),
                        "query": query(metric, namespace, isvc),
                    },
                    "target": { "type": "Value", "value": metric.target.to_string() },
                },
            })
        }
    };
    predictor["autoScaling"] = json!({ "metrics": [spec] });
    if let Some(delay) = metric.scale_down_delay_seconds {
        predictor["autoScaling"]["behavior"] = scale_down_behavior(delay);
    }
    replicas.class()
}

#[cfg(test)]
mod tests;
