//! AMD GPUs as Kubernetes sees them, as the AMD GPU operator's node labeller (`ROCm/k8s-device-plugin`,
//! `cmd/k8s-node-labeller`) and device plugin publish them: the extended resource a GPU is requested as, and
//! the node labels that say which GPU a node has.
//!
//! A node's GPU model is read from its PCI **device ID** first (`amd.com/gpu.device-id=74a1`): the labeller
//! always writes it, while it leaves `amd.com/gpu.product-name` out where the product name cannot be read (MI300X
//! virtual functions, the common cloud nodes). The product name is the second way. A node with GPUs of more than
//! one kind gets only count-suffixed keys (`amd.com/gpu.device-id.74a1=4`): a pod asking for `amd.com/gpu` there
//! could be given either kind, so such a node is not placed on and not counted.

use k8s_openapi::api::core::v1::Node;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// The extended resource a GPU is requested as, unless a template names another (the API owns the default).
pub(crate) use crate::api::GPU_RESOURCE as RESOURCE;
/// The node label with the GPUs' PCI device ID, in hex without `0x` (single-kind nodes).
pub(crate) const DEVICE_ID_LABEL: &str = "amd.com/gpu.device-id";
/// The node label with the GPUs' product name, spaces as `_` (single-kind nodes whose product name is readable).
pub(crate) const PRODUCT_LABEL: &str = "amd.com/gpu.product-name";

/// One AMD GPU model: the name templates use and the PCI device IDs it is reported as (the physical function
/// first, then its other SKUs and virtual functions). From the AIM runtime's own table
/// (`aim-build: src/aim_common/object_model.py`, `GPUModel`), which the upstream operator's matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GpuModel {
    /// As templates write it, for example `MI300X`.
    pub name: &'static str,
    /// PCI device IDs, lower-case hex.
    pub device_ids: &'static [&'static str],
}

/// The AMD Instinct GPUs an AIM runtime has profiles for, or may have.
pub const MODELS: [GpuModel; 8] = [
    GpuModel {
        name: "MI300X",
        device_ids: &["74a1", "74a9", "74b5", "74bd"],
    },
    GpuModel {
        name: "MI325X",
        device_ids: &["74a5", "74b9"],
    },
    GpuModel {
        name: "MI355X",
        device_ids: &["75a3", "75b3"],
    },
    GpuModel {
        name: "MI350X",
        device_ids: &["75a0", "75b0"],
    },
    GpuModel {
        name: "MI308X",
        device_ids: &["74a2", "74a8", "74b6"],
    },
    GpuModel {
        name: "MI300A",
        device_ids: &["74a0"],
    },
    GpuModel {
        name: "MI250X",
        device_ids: &["7408", "740c"],
    },
    GpuModel {
        name: "MI210",
        device_ids: &["740f", "7410"],
    },
];

/// The model of `name`, compared case-insensitively.
pub fn model_named(name: &str) -> Option<GpuModel> {
    MODELS.into_iter().find(|m| m.name.eq_ignore_ascii_case(name))
}

/// The model a PCI device ID belongs to (`74b5` → MI300X).
pub fn model_of_device(device_id: &str) -> Option<GpuModel> {
    let id = device_id.trim().trim_start_matches("0x").to_ascii_lowercase();
    MODELS.into_iter().find(|m| m.device_ids.contains(&id.as_str()))
}

/// Product names a model is reported as, e.g. `AMD_Instinct_MI300X` and `AMD_Instinct_MI300X_OAM`.
pub(crate) fn product_names(model: &str) -> Vec<String> {
    let model = model.to_uppercase();
    vec![
        model.clone(),
        format!("AMD_Instinct_{model}"),
        format!("AMD_Instinct_{model}_OAM"),
        format!("AMD_Instinct_{model}_VF"),
    ]
}

/// The short model name in a product name: `AMD_Instinct_MI325X_OAM` → `MI325X`.
pub fn model_of(product: &str) -> Option<String> {
    product
        .split(['_', '-', ' '])
        .find(|part| {
            part.len() > 2
                && part[..2].eq_ignore_ascii_case("MI")
                && part[2..].starts_with(|c: char| c.is_ascii_digit())
        })
        .map(str::to_uppercase)
}

/// The GPU model of a node with these labels: by device ID, else by product name; `None` for a node without
/// AMD GPUs, of an unknown device, or with GPUs of several kinds (only count-suffixed keys).
pub fn model_of_node(labels: &BTreeMap<String, String>) -> Option<String> {
    if let Some(id) = labels.get(DEVICE_ID_LABEL) {
        // A known device decides; an unknown one may still carry a readable product name.
        if let Some(model) = model_of_device(id) {
            return Some(model.name.to_string());
        }
    }
    labels.get(PRODUCT_LABEL).and_then(|p| model_of(p))
}

/// The node affinity that places a replica on nodes with `model` GPUs: by device ID, or by product name (node
/// selector terms are ORed, so a node labelled either way matches).
pub(crate) fn node_affinity(model: &str) -> Value {
    let mut terms = Vec::new();
    if let Some(known) = model_named(model) {
        terms.push(
            json!({ "matchExpressions": [{ "key": DEVICE_ID_LABEL, "operator": "In", "values": known.device_ids }] }),
        );
    }
    terms.push(
        json!({ "matchExpressions": [{ "key": PRODUCT_LABEL, "operator": "In", "values": product_names(model) }] }),
    );
    json!({ "nodeAffinity": { "requiredDuringSchedulingIgnoredDuringExecution": { "nodeSelectorTerms": terms } } })
}

/// The GPUs of one model in the cluster, as one resource counts them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GpuPool {
    /// Short model name, e.g. `MI300X`.
    pub(crate) model: String,
    /// The extended resource counted (`amd.com/gpu`, or a partitioned name).
    pub(crate) resource: String,
    /// Nodes that have it.
    pub(crate) nodes: u32,
    /// Allocatable GPUs over all those nodes.
    pub(crate) allocatable: u32,
    /// Most allocatable GPUs on any one node (a replica runs on one node).
    pub(crate) max_per_node: u32,
}

/// GPUs per model and resource across `nodes`, ordered by model then resource. Cordoned nodes, nodes whose GPU
/// model is not known ([`model_of_node`]) and resources outside `amd.com/` do not count.
pub(crate) fn inventory<'a>(nodes: impl IntoIterator<Item = &'a Node>) -> Vec<GpuPool> {
    let mut pools: BTreeMap<(String, String), GpuPool> = BTreeMap::new();
    for node in nodes {
        if node.spec.as_ref().and_then(|s| s.unschedulable) == Some(true) {
            continue;
        }
        let Some(model) = node.metadata.labels.as_ref().and_then(model_of_node) else {
            continue;
        };
        let allocatable = node.status.as_ref().and_then(|s| s.allocatable.as_ref());
        for (resource, quantity) in allocatable.into_iter().flatten() {
            if !resource.starts_with("amd.com/") {
                continue;
            }
            let count = quantity.0.parse::<u32>().unwrap_or(0);
            let pool = pools
                .entry((model.clone(), resource.clone()))
                .or_insert_with(|| GpuPool {
                    model: model.clone(),
                    resource: resource.clone(),
                    nodes: 0,
                    allocatable: 0,
                    max_per_node: 0,
                });
            pool.nodes += 1;
            pool.allocatable += count;
            pool.max_per_node = pool.max_per_node.max(count);
        }
    }
    pools.into_values().collect()
}

/// The pools of `inventory` that count `resource`.
pub(crate) fn pools_of<'a>(inventory: &'a [GpuPool], resource: &'a str) -> impl Iterator<Item = &'a GpuPool> + 'a {
    inventory.iter().filter(move |p| p.resource == resource)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn node(pairs: &[(&str, &str)], resources: &[(&str, &str)]) -> Node {
        let mut node = Node::default();
        node.metadata.labels = Some(labels(pairs));
        node.status = Some(k8s_openapi::api::core::v1::NodeStatus {
            allocatable: Some(
                resources
                    .iter()
                    .map(|(k, v)| (k.to_string(), Quantity(v.to_string())))
                    .collect(),
            ),
            ..Default::default()
        });
        node
    }

    #[test]
    fn product_names_map_to_models() {
        assert_eq!(model_of("AMD_Instinct_MI300X_OAM").as_deref(), Some("MI300X"));
        assert_eq!(model_of("AMD Instinct MI325X").as_deref(), Some("MI325X"));
        assert_eq!(model_of("Radeon_RX_7900"), None);
        assert!(product_names("mi300x").contains(&"AMD_Instinct_MI300X".to_string()));
    }

    #[rstest::rstest]
    #[case::bare_metal_mi300x(&[(DEVICE_ID_LABEL, "74a1"), (PRODUCT_LABEL, "AMD_Instinct_MI300X_OAM")], Some("MI300X"))]
    #[case::cloud_vf_without_product_name(&[(DEVICE_ID_LABEL, "74b5")], Some("MI300X"))]
    #[case::mi325x_vf(&[(DEVICE_ID_LABEL, "74b9")], Some("MI325X"))]
    #[case::mi355x(&[(DEVICE_ID_LABEL, "75a3")], Some("MI355X"))]
    #[case::product_name_only(&[(PRODUCT_LABEL, "AMD_Instinct_MI325X_OAM")], Some("MI325X"))]
    #[case::unknown_device_readable_name(&[(DEVICE_ID_LABEL, "ffff"), (PRODUCT_LABEL, "AMD_Instinct_MI300X")], Some("MI300X"))]
    #[case::mixed_node(&[("amd.com/gpu.device-id.74a1", "4"), ("amd.com/gpu.device-id.74a5", "4")], None)]
    #[case::no_gpu(&[("kubernetes.io/os", "linux")], None)]
    fn a_nodes_model_comes_from_its_device_id_first(#[case] pairs: &[(&str, &str)], #[case] model: Option<&str>) {
        assert_eq!(model_of_node(&labels(pairs)).as_deref(), model);
    }

    #[test]
    fn placement_matches_a_device_id_or_a_product_name() {
        let affinity = node_affinity("MI300X");
        let terms = &affinity["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"];
        assert_eq!(terms.as_array().unwrap().len(), 2, "two terms, ORed: {terms}");
        assert_eq!(terms[0]["matchExpressions"][0]["key"], DEVICE_ID_LABEL);
        assert_eq!(
            terms[0]["matchExpressions"][0]["values"],
            json!(["74a1", "74a9", "74b5", "74bd"])
        );
        assert_eq!(terms[1]["matchExpressions"][0]["key"], PRODUCT_LABEL);
        let unknown = node_affinity("MI999");
        let terms = &unknown["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"];
        assert_eq!(
            terms.as_array().unwrap().len(),
            1,
            "no device IDs known: the product name alone"
        );
    }

    #[test]
    fn the_inventory_counts_each_resource_of_each_known_model() {
        let nodes = [
            node(&[(DEVICE_ID_LABEL, "74a1")], &[("amd.com/gpu", "8"), ("cpu", "192")]),
            node(&[(DEVICE_ID_LABEL, "74b5")], &[("amd.com/gpu", "4")]),
            node(&[(DEVICE_ID_LABEL, "74a1")], &[("amd.com/cpx_nps4", "64")]),
            node(
                &[("amd.com/gpu.device-id.74a1", "4"), ("amd.com/gpu.device-id.74a5", "4")],
                &[("amd.com/gpu", "8")],
            ),
        ];
        let pools = inventory(nodes.iter());
        assert_eq!(
            pools,
            vec![
                GpuPool {
                    model: "MI300X".into(),
                    resource: "amd.com/cpx_nps4".into(),
                    nodes: 1,
                    allocatable: 64,
                    max_per_node: 64
                },
                GpuPool {
                    model: "MI300X".into(),
                    resource: RESOURCE.into(),
                    nodes: 2,
                    allocatable: 12,
                    max_per_node: 8
                },
            ],
            "the mixed node is not counted"
        );
        assert_eq!(pools_of(&pools, RESOURCE).count(), 1);
    }
}
