//! AMD GPUs as Kubernetes sees them: the node label the AMD GPU operator sets (`amd.com/gpu.product-name`),
//! the extended resource (`amd.com/gpu`), and the mapping between product names and the short model names
//! templates use (`MI300X`).

use k8s_openapi::api::core::v1::Node;
use std::collections::BTreeMap;

/// The extended resource a GPU is requested as.
pub(crate) const RESOURCE: &str = "amd.com/gpu";
/// The node label with the GPU's product name.
pub(crate) const PRODUCT_LABEL: &str = "amd.com/gpu.product-name";

/// Product names a model is reported as, e.g. `AMD_Instinct_MI300X` and `AMD_Instinct_MI300X_OAM`.
pub(crate) fn product_names(model: &str) -> Vec<String> {
    let model = model.to_uppercase();
    vec![
        model.clone(),
        format!("AMD_Instinct_{model}"),
        format!("AMD_Instinct_{model}_OAM"),
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

/// The GPUs of one model in the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GpuPool {
    /// Short model name, e.g. `MI300X`.
    pub(crate) model: String,
    /// Nodes that have it.
    pub(crate) nodes: u32,
    /// Allocatable GPUs over all those nodes.
    pub(crate) allocatable: u32,
    /// Most allocatable GPUs on any one node (a replica runs on one node).
    pub(crate) max_per_node: u32,
}

/// GPUs per model across `nodes`, by model name. Nodes that are not schedulable (cordoned) do not count.
pub(crate) fn inventory<'a>(nodes: impl IntoIterator<Item = &'a Node>) -> Vec<GpuPool> {
    let mut pools: BTreeMap<String, GpuPool> = BTreeMap::new();
    for node in nodes {
        if node.spec.as_ref().and_then(|s| s.unschedulable) == Some(true) {
            continue;
        }
        let Some(model) = node
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(PRODUCT_LABEL))
            .and_then(|p| model_of(p))
        else {
            continue;
        };
        let allocatable = node
            .status
            .as_ref()
            .and_then(|s| s.allocatable.as_ref()?.get(RESOURCE))
            .and_then(|q| q.0.parse::<u32>().ok())
            .unwrap_or(0);
        let pool = pools.entry(model.clone()).or_insert_with(|| GpuPool {
            model,
            nodes: 0,
            allocatable: 0,
            max_per_node: 0,
        });
        pool.nodes += 1;
        pool.allocatable += allocatable;
        pool.max_per_node = pool.max_per_node.max(allocatable);
    }
    pools.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn product_names_map_to_models() {
        assert_eq!(model_of("AMD_Instinct_MI300X_OAM").as_deref(), Some("MI300X"));
        assert_eq!(model_of("AMD Instinct MI325X").as_deref(), Some("MI325X"));
        assert_eq!(model_of("Radeon_RX_7900"), None);
        assert!(product_names("mi300x").contains(&"AMD_Instinct_MI300X".to_string()));
    }
}
