//! AMD GPUs as Kubernetes sees them: the node label the AMD GPU operator sets (`amd.com/gpu.product-name`),
//! the extended resource (`amd.com/gpu`), and the mapping between product names and the short model names
//! templates use (`MI300X`).

use k8s_openapi::api::core::v1::Node;
use std::collections::BTreeMap;

/// The extended resource a GPU is requested as.
pub const RESOURCE: &str = "amd.com/gpu";
/// The node label with the GPU's product name.
pub const PRODUCT_LABEL: &str = "amd.com/gpu.product-name";

/// Product names a model is reported as, e.g. `AMD_Instinct_MI300X` and `AMD_Instinct_MI300X_OAM`.
pub fn product_names(model: &str) -> Vec<String> {
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

/// GPUs per model across `nodes`: (nodes with it, allocatable in total, most allocatable on one node).
pub fn inventory(nodes: &[Node]) -> BTreeMap<String, (u32, u32, u32)> {
    let mut pools: BTreeMap<String, (u32, u32, u32)> = BTreeMap::new();
    for node in nodes {
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
        let pool = pools.entry(model).or_default();
        pool.0 += 1;
        pool.1 += allocatable;
        pool.2 = pool.2.max(allocatable);
    }
    pools
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
