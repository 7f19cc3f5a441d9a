//! How a service's replicas run, rendered into the InferenceService predictor (pure): the service's
//! [`PodSettings`] over its template's, over the operator's per-GPU CPU and memory defaults. GPUs are always the
//! profile's `gpuSelector` (the API refuses `amd.com/gpu` in `resources`).

use crate::api::{PodSettings, ReplicaResources};
use crate::upstream::gpu;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use serde_json::{Value, json};

/// CPU and memory per GPU: an LLM server needs host memory to stage weights and CPU for tokenisation and
/// scheduling; without requests its pod would run BestEffort next to expensive GPUs.
pub(crate) const CPU_PER_GPU: u64 = 4;
/// Memory requested per GPU, in GiB.
pub(crate) const MEMORY_REQUEST_GIB_PER_GPU: u64 = 32;
/// Memory limit per GPU, in GiB.
pub(crate) const MEMORY_LIMIT_GIB_PER_GPU: u64 = 48;

/// The operator's CPU and memory for a replica of `gpus` GPUs.
pub(crate) fn defaults_for(gpus: u64) -> ReplicaResources {
    let q = |s: String| Quantity(s);
    ReplicaResources {
        requests: [
            ("cpu".to_string(), q((CPU_PER_GPU * gpus).to_string())),
            (
                "memory".to_string(),
                q(format!("{}Gi", MEMORY_REQUEST_GIB_PER_GPU * gpus)),
            ),
        ]
        .into(),
        limits: [(
            "memory".to_string(),
            q(format!("{}Gi", MEMORY_LIMIT_GIB_PER_GPU * gpus)),
        )]
        .into(),
    }
}

/// The container's requests and limits: `gpus` GPUs (none without a selector, and then no defaults either),
/// with `own` (the merged pod settings' resources) over the per-GPU defaults.
pub(crate) fn resources(gpus: Option<u64>, own: Option<&ReplicaResources>) -> Value {
    let base = gpus.map(defaults_for).unwrap_or_default();
    let merged = own.map_or_else(|| base.clone(), |o| o.over(&base));
    let mut requests = json!(merged.requests);
    let mut limits = json!(merged.limits);
    if let Some(gpus) = gpus {
        requests[gpu::RESOURCE] = json!(gpus.to_string());
        limits[gpu::RESOURCE] = json!(gpus.to_string());
    }
    let mut out = json!({});
    for (key, value) in [("requests", requests), ("limits", limits)] {
        if value.as_object().is_some_and(|m| !m.is_empty()) {
            out[key] = value;
        }
    }
    out
}

/// Sets the pod-level fields `settings` names on `predictor` (a KServe predictor spec, which takes a pod
/// spec's fields inline).
pub(crate) fn settle(predictor: &mut Value, settings: &PodSettings) {
    let scalars = [
        ("serviceAccountName", &settings.service_account_name),
        ("priorityClassName", &settings.priority_class_name),
        ("runtimeClassName", &settings.runtime_class_name),
    ];
    for (field, value) in scalars {
        if let Some(value) = value {
            predictor[field] = json!(value);
        }
    }
    if !settings.node_selector.is_empty() {
        predictor["nodeSelector"] = json!(settings.node_selector);
    }
    if !settings.tolerations.is_empty() {
        predictor["tolerations"] = json!(settings.tolerations);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[rstest::rstest]
    #[case::per_gpu_defaults(Some(2), None, json!({
        "requests": { "amd.com/gpu": "2", "cpu": "8", "memory": "64Gi" },
        "limits": { "amd.com/gpu": "2", "memory": "96Gi" },
    }))]
    #[case::own_cpu_keeps_default_memory(Some(2), Some(json!({ "requests": { "cpu": "16" }, "limits": { "cpu": "32" } })), json!({
        "requests": { "amd.com/gpu": "2", "cpu": "16", "memory": "64Gi" },
        "limits": { "amd.com/gpu": "2", "cpu": "32", "memory": "96Gi" },
    }))]
    #[case::own_memory_request_drops_the_default_limit(Some(1), Some(json!({ "requests": { "memory": "200Gi" } })), json!({
        "requests": { "amd.com/gpu": "1", "cpu": "4", "memory": "200Gi" },
        "limits": { "amd.com/gpu": "1" },
    }))]
    #[case::no_gpus_no_defaults(None, Some(json!({ "requests": { "cpu": "1" } })), json!({ "requests": { "cpu": "1" } }))]
    fn resources_per_replica(#[case] gpus: Option<u64>, #[case] own: Option<Value>, #[case] expected: Value) {
        let own: Option<ReplicaResources> = own.map(|o| serde_json::from_value(o).unwrap());
        assert_eq!(resources(gpus, own.as_ref()), expected);
    }

    #[test]
    fn only_the_fields_set_reach_the_predictor() {
        let mut predictor = json!({ "containers": [] });
        settle(&mut predictor, &PodSettings::default());
        assert_eq!(predictor, json!({ "containers": [] }));
        let settings: PodSettings = serde_json::from_value(json!({
            "serviceAccountName": "runner", "priorityClassName": "interactive", "runtimeClassName": "rocm",
            "nodeSelector": { "pool": "gpu" },
            "tolerations": [{ "key": "amd.com/gpu", "operator": "Exists", "effect": "NoSchedule" }],
        }))
        .unwrap();
        settle(&mut predictor, &settings);
        assert_eq!(
            predictor,
            json!({
                "containers": [], "serviceAccountName": "runner", "priorityClassName": "interactive",
                "runtimeClassName": "rocm", "nodeSelector": { "pool": "gpu" },
                "tolerations": [{ "key": "amd.com/gpu", "operator": "Exists", "effect": "NoSchedule" }],
            })
        );
    }
}
