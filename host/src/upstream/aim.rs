//! The AIM container image's contract: the `AIM_*` variables that select a runtime profile (read by both the
//! dry-run discovery and the serving container), and the names it takes metrics and precisions by.

use crate::api::{Metric, Precision, RuntimeParameters, TemplateProfile};
use k8s_openapi::api::core::v1::EnvVar;

/// An environment variable with a plain value.
pub(crate) fn var(name: &str, value: impl Into<String>) -> EnvVar {
    EnvVar {
        name: name.into(),
        value: Some(value.into()),
        value_from: None,
    }
}

/// The `AIM_*` variables a profile selects a runtime with.
pub(crate) fn profile_env(profile: &TemplateProfile) -> Vec<EnvVar> {
    let p = &profile.parameters;
    let mut env = Vec::new();
    if let Some(m) = p.metric {
        env.push(var("AIM_METRIC", metric_name(m)));
    }
    if let Some(pr) = p.precision {
        env.push(var("AIM_PRECISION", precision_name(pr)));
    }
    if let Some(gpu) = &p.gpu_selector {
        env.push(var("AIM_GPU_MODEL", gpu.model.clone()));
        env.push(var("AIM_GPU_COUNT", gpu.count.to_string()));
    }
    env
}

/// What a profile asks of the runtime, for messages: `2 × MI300X, fp8, latency` (`any …` for what it leaves
/// to the runtime).
pub(crate) fn describe(p: &RuntimeParameters) -> String {
    let gpu = p
        .gpu_selector
        .as_ref()
        .map_or("any GPU".to_string(), |g| format!("{} × {}", g.count, g.model));
    let precision = p.precision.map_or("any precision", precision_name);
    let metric = p.metric.map_or("any metric", metric_name);
    format!("{gpu}, {precision}, {metric}")
}

/// Lower-case metric name, as `AIM_METRIC` takes it.
pub(crate) fn metric_name(m: Metric) -> &'static str {
    match m {
        Metric::Latency => "latency",
        Metric::Throughput => "throughput",
    }
}

/// Lower-case precision name, as `AIM_PRECISION` takes it.
pub(crate) fn precision_name(p: Precision) -> &'static str {
    match p {
        Precision::Auto => "auto",
        Precision::Fp4 => "fp4",
        Precision::Fp8 => "fp8",
        Precision::Fp16 => "fp16",
        Precision::Fp32 => "fp32",
        Precision::Bf16 => "bf16",
        Precision::Int4 => "int4",
        Precision::Int8 => "int8",
    }
}
