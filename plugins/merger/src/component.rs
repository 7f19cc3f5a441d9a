//! The component glue for the merger.

wit_bindgen::generate!({ path: "../../wit", world: "merger-policy" });

use crate::policy;
use aim::policy::types::{GpuSelector, Metric, PolicyError, Precision, RuntimeParameters};
use exports::aim::policy::merger::{Guest, MergeRequest, MergeResult};

struct Merger;

impl Guest for Merger {
    fn merge(request: MergeRequest) -> Result<MergeResult, PolicyError> {
        let (merged, name_suffix) = policy::merge(&request.base_name, &into(&request.base), &into(&request.overrides));
        Ok(MergeResult {
            merged: from(&merged)?,
            name_suffix,
        })
    }
}

const METRICS: [(&str, Metric); 2] = [("latency", Metric::Latency), ("throughput", Metric::Throughput)];

const PRECISIONS: [(&str, Precision); 8] = [
    ("auto", Precision::Auto),
    ("fp4", Precision::Fp4),
    ("fp8", Precision::Fp8),
    ("fp16", Precision::Fp16),
    ("fp32", Precision::Fp32),
    ("bf16", Precision::Bf16),
    ("int4", Precision::Int4),
    ("int8", Precision::Int8),
];

fn name_of<T: PartialEq + Copy>(table: &[(&'static str, T)], value: T) -> String {
    table
        .iter()
        .find(|(_, v)| *v == value)
        .map(|(n, _)| n.to_string())
        .unwrap_or_default()
}

fn value_of<T: Copy>(table: &[(&'static str, T)], name: &str, what: &str) -> Result<T, PolicyError> {
    table
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| *v)
        .ok_or_else(|| PolicyError::Internal(format!("unknown {what} {name}")))
}

fn into(p: &RuntimeParameters) -> policy::Params {
    policy::Params {
        metric: p.metric.map(|m| name_of(&METRICS, m)),
        precision: p.precision.map(|p| name_of(&PRECISIONS, p)),
        gpu: p.gpu.as_ref().map(|g| (g.model.clone(), g.count)),
    }
}

fn from(p: &policy::Params) -> Result<RuntimeParameters, PolicyError> {
    Ok(RuntimeParameters {
        metric: p
            .metric
            .as_deref()
            .map(|m| value_of(&METRICS, m, "metric"))
            .transpose()?,
        precision: p
            .precision
            .as_deref()
            .map(|pr| value_of(&PRECISIONS, pr, "precision"))
            .transpose()?,
        gpu: p.gpu.clone().map(|(model, count)| GpuSelector { model, count }),
    })
}

export!(Merger);
