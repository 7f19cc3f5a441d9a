//! How a service's replicas run, rendered into the InferenceService predictor (pure): the service's
//! [`PodSettings`] over its template's, over the operator's per-GPU CPU and memory defaults. GPUs are always the
//! profile's `gpuSelector` (the API refuses `amd.com/gpu` in `resources`).

use crate::api::{GpuSelector, PodSettings, ReplicaResources};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use serde_json::{Value, json};

/// CPU and memory per GPU: an LLM server needs host memory to stage weights and CPU for tokenisation and
/// scheduling; without requests its pod would run BestEffort next to expensive GPUs.
pub(crate) const CPU_PER_GPU: u64 = 4;
/// Memory requested per GPU, in GiB.
pub(crate) const MEMORY_REQUEST_GIB_PER_GPU: u64 = 32;
/// The resource the runtime's download volume is requested as.
const EPHEMERAL_STORAGE: &str = "ephemeral-storage";
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

/// The container's requests and limits: the selector's GPUs, as its resource (none without a selector, and
/// then no CPU and memory defaults either), with `own` (the merged pod settings' resources) over the per-GPU
/// defaults; `scratch`, the runtime's download volume, requested as ephemeral storage unless `own` names some.
pub(crate) fn resources(
    gpu: Option<&GpuSelector>,
    own: Option<&ReplicaResources>,
    scratch: Option<&Quantity>,
) -> Value {
    let gpus = gpu.map(|g| g.count.max(1) as u64);
    let mut base = gpus.map(defaults_for).unwrap_or_default();
    if let Some(scratch) = scratch {
        base.requests.insert(EPHEMERAL_STORAGE.into(), scratch.clone());
    }
    let merged = own.map_or_else(|| base.clone(), |o| o.over(&base));
    let mut requests = json!(merged.requests);
    let mut limits = json!(merged.limits);
    if let (Some(gpu), Some(gpus)) = (gpu, gpus) {
        requests[gpu.resource()] = json!(gpus.to_string());
        limits[gpu.resource()] = json!(gpus.to_string());
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

    #[test]
    fn a_download_volume_is_requested_as_ephemeral_storage_and_a_named_resource_as_itself() {
        let gpu = GpuSelector {
            resource_name: Some("amd.com/spx_nps1".into()),
            ..GpuSelector::new("MI300X", 1)
        };
        let r = resources(Some(&gpu), None, Some(&Quantity("17Gi".into())));
        assert_eq!(r["requests"]["ephemeral-storage"], "17Gi");
        assert_eq!(r["limits"]["amd.com/spx_nps1"], "1");
        assert!(r["limits"].get("amd.com/gpu").is_none(), "{r}");
    }

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
    fn resources_per_replica(#[case] gpus: Option<i32>, #[case] own: Option<Value>, #[case] expected: Value) {
        let own: Option<ReplicaResources> = own.map(|o| serde_json::from_value(o).unwrap());
        let gpu = gpus.map(|n| GpuSelector::new("MI300X", n));
        assert_eq!(resources(gpu.as_ref(), own.as_ref(), None), expected);
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
