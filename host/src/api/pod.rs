//! `PodSettings`: how an inference replica's pod runs (CPU and memory, service account, priority, placement,
//! runtime class). On both template kinds (the profile's defaults) and on `AIMService` (which wins); the
//! operator merges them into the InferenceService's predictor. GPUs are not among them: they are the profile's
//! `gpuSelector`.

use k8s_openapi::api::core::v1::Toleration;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use kube::KubeSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Most entries a `nodeSelector` or a `resources` list may hold (the API server needs a bound to cost CEL rules).
pub const MAX_POD_ENTRIES: u32 = 16;

/// Most tolerations one object may list.
pub const MAX_TOLERATIONS: u32 = 32;

/// Settings of the runtime's pods.
#[derive(Serialize, Deserialize, KubeSchema, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PodSettings {
    /// CPU, memory (and other non-GPU resources) per replica. Without it each replica requests 4 CPUs and 32Gi
    /// per GPU, with a 48Gi memory limit per GPU. Per resource name (`cpu`, `memory`, …) the first of the
    /// service, the template and those defaults that names it (as a request or a limit) decides both its request
    /// and its limit. GPUs come from `gpuSelector` and cannot be set here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ReplicaResources>,
    /// ServiceAccount the replicas run as (default: the namespace's `default`). The service's wins over the
    /// template's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub service_account_name: Option<String>,
    /// PriorityClass of the replicas, so a scheduler short of GPUs knows what to place first (and what may be
    /// preempted). The service's wins over the template's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub priority_class_name: Option<String>,
    /// Node labels a replica's node must have, on top of the GPU model the profile asks for. Merged by key with
    /// the template's; the service's value wins for a key both name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("maxProperties" = MAX_POD_ENTRIES))]
    pub node_selector: BTreeMap<String, String>,
    /// Taints the replicas tolerate (for example a GPU pool's `NoSchedule` taint). The template's and the
    /// service's together.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = MAX_TOLERATIONS))]
    pub tolerations: Vec<Toleration>,
    /// RuntimeClass of the replicas' pods (for example one a GPU runtime installs). The service's wins over the
    /// template's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub runtime_class_name: Option<String>,
}

/// Requests and limits of one replica, for what is not a GPU.
#[derive(Serialize, Deserialize, KubeSchema, Clone, Debug, Default, PartialEq)]
pub struct ReplicaResources {
    /// What a replica is guaranteed, by resource name (for example `cpu: "16"`, `memory: 128Gi`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("maxProperties" = MAX_POD_ENTRIES))]
    #[x_kube(validation = Rule::new("!self.exists(k, k.startsWith('amd.com/'))").message(
        "GPUs come from gpuSelector (the template's, or overrides.gpuSelector): resources sets CPU and memory"
    ))]
    pub requests: BTreeMap<String, Quantity>,
    /// The most a replica may use, by resource name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("maxProperties" = MAX_POD_ENTRIES))]
    #[x_kube(validation = Rule::new("!self.exists(k, k.startsWith('amd.com/'))").message(
        "GPUs come from gpuSelector (the template's, or overrides.gpuSelector): resources sets CPU and memory"
    ))]
    pub limits: BTreeMap<String, Quantity>,
}

impl PodSettings {
    /// `self` (a service's) over `base` (its template's): scalars from `self` when set, node selectors merged
    /// by key, tolerations of both, resources per resource name.
    pub fn over(&self, base: &PodSettings) -> PodSettings {
        let mut node_selector = base.node_selector.clone();
        node_selector.extend(self.node_selector.clone());
        let mut tolerations = base.tolerations.clone();
        tolerations.extend(
            self.tolerations
                .iter()
                .filter(|t| !base.tolerations.contains(t))
                .cloned(),
        );
        PodSettings {
            resources: match (&self.resources, &base.resources) {
                (Some(own), Some(base)) => Some(own.over(base)),
                (own, base) => own.clone().or_else(|| base.clone()),
            },
            service_account_name: self
                .service_account_name
                .clone()
                .or_else(|| base.service_account_name.clone()),
            priority_class_name: self
                .priority_class_name
                .clone()
                .or_else(|| base.priority_class_name.clone()),
            node_selector,
            tolerations,
            runtime_class_name: self
                .runtime_class_name
                .clone()
                .or_else(|| base.runtime_class_name.clone()),
        }
    }
}

impl ReplicaResources {
    /// Resource names this sets a request or a limit for.
    pub fn names(&self) -> impl Iterator<Item = &String> {
        self.requests.keys().chain(self.limits.keys())
    }

    /// `self` over `base`, per resource name: a name `self` sets (as request or limit) takes both from `self`.
    pub fn over(&self, base: &ReplicaResources) -> ReplicaResources {
        let own: Vec<&String> = self.names().collect();
        let from_base = |m: &BTreeMap<String, Quantity>| -> Vec<(String, Quantity)> {
            m.iter()
                .filter(|(k, _)| !own.contains(k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        };
        let mut merged = self.clone();
        merged.requests.extend(from_base(&base.requests));
        merged.limits.extend(from_base(&base.limits));
        merged
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quantities(entries: &[(&str, &str)]) -> BTreeMap<String, Quantity> {
        entries
            .iter()
            .map(|(k, v)| (k.to_string(), Quantity(v.to_string())))
            .collect()
    }

    #[test]
    fn a_resource_the_service_names_takes_request_and_limit_from_the_service() {
        let template = ReplicaResources {
            requests: quantities(&[("cpu", "8"), ("memory", "64Gi")]),
            limits: quantities(&[("memory", "96Gi")]),
        };
        let service = ReplicaResources {
            requests: quantities(&[("memory", "200Gi")]),
            limits: BTreeMap::new(),
        };
        let merged = service.over(&template);
        assert_eq!(merged.requests, quantities(&[("cpu", "8"), ("memory", "200Gi")]));
        assert!(
            merged.limits.is_empty(),
            "the template's 96Gi limit is below the service's request: it goes with the name"
        );
    }

    #[test]
    fn the_service_wins_scalars_merges_node_selectors_and_adds_tolerations() {
        let toleration = |key: &str| Toleration {
            key: Some(key.into()),
            operator: Some("Exists".into()),
            effect: Some("NoSchedule".into()),
            ..Default::default()
        };
        let template = PodSettings {
            priority_class_name: Some("batch".into()),
            service_account_name: Some("runner".into()),
            node_selector: [
                ("pool".to_string(), "gpu".to_string()),
                ("zone".to_string(), "a".to_string()),
            ]
            .into(),
            tolerations: vec![toleration("amd.com/gpu")],
            ..Default::default()
        };
        let service = PodSettings {
            priority_class_name: Some("interactive".into()),
            node_selector: [("zone".to_string(), "b".to_string())].into(),
            tolerations: vec![toleration("amd.com/gpu"), toleration("dedicated")],
            ..Default::default()
        };
        let merged = service.over(&template);
        assert_eq!(merged.priority_class_name.as_deref(), Some("interactive"));
        assert_eq!(
            merged.service_account_name.as_deref(),
            Some("runner"),
            "the template's when unset"
        );
        assert_eq!(
            merged.node_selector,
            [
                ("pool".to_string(), "gpu".to_string()),
                ("zone".to_string(), "b".to_string())
            ]
            .into()
        );
        assert_eq!(
            merged.tolerations,
            vec![toleration("amd.com/gpu"), toleration("dedicated")]
        );
        assert_eq!(merged.runtime_class_name, None);
    }
}
