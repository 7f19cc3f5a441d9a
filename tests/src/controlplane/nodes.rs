//! The local cluster's fake GPU nodes, kept alive by kwok: 8-GPU AMD Instinct MI300X and MI325X servers, with the
//! labels the AMD GPU operator's node labeller puts on real ones and the CPU and memory of such a server. The
//! real scheduler places pods on them by `amd.com/gpu` capacity and node affinity; kwok runs no containers.

use serde_json::{Value, json};

/// The annotation kwok manages nodes by (`kwok --manage-nodes-with-annotation-selector`).
pub const KWOK_ANNOTATION: &str = "kwok.x-k8s.io/node";

/// One GPU model's servers.
#[derive(Debug, Clone, Copy)]
pub struct GpuServer {
    /// Short model name, as templates write it.
    pub model: &'static str,
    /// `amd.com/gpu.product-name`.
    pub product: &'static str,
    /// `amd.com/gpu.device-id` (PCI device ID).
    pub device_id: &'static str,
    /// `amd.com/gpu.vram` per GPU.
    pub vram: &'static str,
}

/// An 8 × MI300X (192 GB HBM3) server.
pub const MI300X: GpuServer = GpuServer {
    model: "MI300X",
    product: "AMD_Instinct_MI300X_OAM",
    device_id: "74a1",
    vram: "192G",
};

/// An 8 × MI325X (256 GB HBM3E) server.
pub const MI325X: GpuServer = GpuServer {
    model: "MI325X",
    product: "AMD_Instinct_MI325X_OAM",
    device_id: "74a5",
    vram: "256G",
};

/// GPUs per server.
pub const GPUS_PER_NODE: u32 = 8;

/// How many servers of each model the cluster has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GpuNodes {
    /// MI300X servers.
    pub mi300x: usize,
    /// MI325X servers.
    pub mi325x: usize,
}

impl Default for GpuNodes {
    /// Enough for the tests running at once: 4 servers of each model, 64 GPUs.
    fn default() -> Self {
        GpuNodes { mi300x: 4, mi325x: 4 }
    }
}

/// The Node object of server `index` of `server`'s model.
pub fn node(server: &GpuServer, index: usize) -> Value {
    let name = format!("gpu-{}-{index}", server.model.to_lowercase());
    let resources = json!({
        "cpu": "192",
        "memory": "2Ti",
        "ephemeral-storage": "30Ti",
        "pods": "110",
        "amd.com/gpu": GPUS_PER_NODE.to_string(),
    });
    json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": { KWOK_ANNOTATION: "fake", "node.alpha.kubernetes.io/ttl": "0" },
            "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "type": "kwok",
                "amd.com/gpu.product-name": server.product,
                "amd.com/gpu.device-id": server.device_id,
                "amd.com/gpu.vram": server.vram,
                "amd.com/gpu.family": "AI",
                "amd.com/gpu.count": GPUS_PER_NODE.to_string(),
            },
        },
        "spec": {},
        "status": {
            "allocatable": resources,
            "capacity": resources,
            "nodeInfo": {
                "architecture": "amd64",
                "operatingSystem": "linux",
                "kubeletVersion": "fake",
                "containerRuntimeVersion": "kwok",
                "kernelVersion": "",
                "osImage": "",
                "bootID": "",
                "machineID": "",
                "systemUUID": "",
                "kubeProxyVersion": "",
            },
        },
    })
}

/// Every node of `nodes`, as one List.
pub fn list(nodes: GpuNodes) -> Value {
    let items: Vec<Value> = (0..nodes.mi300x)
        .map(|i| node(&MI300X, i))
        .chain((0..nodes.mi325x).map(|i| node(&MI325X, i)))
        .collect();
    json!({ "apiVersion": "v1", "kind": "List", "items": items })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn servers_carry_the_gpu_operators_labels_and_eight_gpus() {
        let n = node(&MI325X, 2);
        assert_eq!(n["metadata"]["name"], "gpu-mi325x-2");
        assert_eq!(
            n["metadata"]["labels"]["amd.com/gpu.product-name"],
            "AMD_Instinct_MI325X_OAM"
        );
        assert_eq!(n["status"]["allocatable"]["amd.com/gpu"], "8");
        assert_eq!(
            aim_operator::testing::model_of(n["metadata"]["labels"]["amd.com/gpu.product-name"].as_str().unwrap())
                .as_deref(),
            Some("MI325X"),
            "the operator reads the model from the product name"
        );
        assert_eq!(
            list(GpuNodes { mi300x: 2, mi325x: 1 })["items"]
                .as_array()
                .unwrap()
                .len(),
            3
        );
    }
}
