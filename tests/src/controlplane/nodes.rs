//! The local cluster's fake GPU nodes, kept alive by kwok: 8-GPU AMD Instinct MI300X, MI325X and MI355X servers,
//! labelled as the AMD GPU operator's node labeller labels real ones, with the CPU and memory of such a server.
//! The real scheduler places pods on them by `amd.com/gpu` capacity and node affinity; kwok runs no containers.
//!
//! The labeller (`ROCm/k8s-device-plugin`, `cmd/k8s-node-labeller`) writes three shapes, and the cluster has each:
//! - bare metal: `amd.com/gpu.device-id` (the physical function's PCI ID) and `amd.com/gpu.product-name`;
//! - cloud virtual machines with virtual functions (MI300X on Azure and the like): the product name cannot be
//!   read there, so only `amd.com/gpu.device-id`, the VF's ID (the last server of each MI300X and MI325X pool);
//! - a node with GPUs of two kinds: only count-suffixed keys (`amd.com/gpu.device-id.74a1: "4"`), on which a pod
//!   asking for `amd.com/gpu` could get either kind (one such server, 4 × MI300X and 4 × MI325X).

use serde_json::{Map, Value, json};

/// The annotation kwok manages nodes by (`kwok --manage-nodes-with-annotation-selector`).
pub const KWOK_ANNOTATION: &str = "kwok.x-k8s.io/node";

/// One GPU model's servers.
#[derive(Debug, Clone, Copy)]
pub struct GpuServer {
    /// Short model name, as templates write it.
    pub model: &'static str,
    /// `amd.com/gpu.product-name`.
    pub product: &'static str,
    /// `amd.com/gpu.device-id` (PCI device ID of the physical function).
    pub device_id: &'static str,
    /// The device ID of its virtual function, as cloud nodes report it.
    pub vf_device_id: &'static str,
    /// `amd.com/gpu.vram` per GPU.
    pub vram: &'static str,
}

/// An 8 × MI300X (192 GB HBM3) server.
pub const MI300X: GpuServer = GpuServer {
    model: "MI300X",
    product: "AMD_Instinct_MI300X_OAM",
    device_id: "74a1",
    vf_device_id: "74b5",
    vram: "192G",
};

/// An 8 × MI325X (256 GB HBM3E) server.
pub const MI325X: GpuServer = GpuServer {
    model: "MI325X",
    product: "AMD_Instinct_MI325X_OAM",
    device_id: "74a5",
    vf_device_id: "74b9",
    vram: "256G",
};

/// An 8 × MI355X (288 GB HBM3E) server.
pub const MI355X: GpuServer = GpuServer {
    model: "MI355X",
    product: "AMD_Instinct_MI355X_OAM",
    device_id: "75a3",
    vf_device_id: "75b3",
    vram: "288G",
};

/// GPUs per server.
pub const GPUS_PER_NODE: u32 = 8;

/// How many servers of each kind the cluster has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GpuNodes {
    /// MI300X servers (the last one, of two or more, a cloud node).
    pub mi300x: usize,
    /// MI325X servers (the last one, of two or more, a cloud node).
    pub mi325x: usize,
    /// MI355X servers.
    pub mi355x: usize,
    /// Servers with 4 × MI300X and 4 × MI325X.
    pub mixed: usize,
}

impl GpuNodes {
    /// No GPU servers at all.
    pub const fn none() -> Self {
        GpuNodes {
            mi300x: 0,
            mi325x: 0,
            mi355x: 0,
            mixed: 0,
        }
    }
}

impl Default for GpuNodes {
    /// Enough for the tests running at once: 4 servers of MI300X and of MI325X (64 GPUs), one MI355X server and
    /// one mixed server.
    fn default() -> Self {
        GpuNodes {
            mi300x: 4,
            mi325x: 4,
            mi355x: 1,
            mixed: 1,
        }
    }
}

/// What a node of this shape carries: its name and AMD labels.
fn shaped(name: String, amd_labels: Map<String, Value>) -> Value {
    let resources = json!({
        "cpu": "192",
        "memory": "2Ti",
        "ephemeral-storage": "30Ti",
        "pods": "110",
        "amd.com/gpu": GPUS_PER_NODE.to_string(),
    });
    let mut labels = json!({
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "type": "kwok",
        "amd.com/gpu.family": "AI",
        "amd.com/gpu.count": GPUS_PER_NODE.to_string(),
    });
    labels.as_object_mut().unwrap().extend(amd_labels);
    json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": { KWOK_ANNOTATION: "fake", "node.alpha.kubernetes.io/ttl": "0" },
            "labels": labels,
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

fn labels(pairs: &[(String, &str)]) -> Map<String, Value> {
    pairs.iter().map(|(k, v)| (k.clone(), json!(v))).collect()
}

/// The bare-metal Node object of server `index` of `server`'s model: device ID and product name.
pub fn node(server: &GpuServer, index: usize) -> Value {
    shaped(
        format!("gpu-{}-{index}", server.model.to_lowercase()),
        labels(&[
            ("amd.com/gpu.product-name".into(), server.product),
            ("amd.com/gpu.device-id".into(), server.device_id),
            ("amd.com/gpu.vram".into(), server.vram),
        ]),
    )
}

/// A cloud node of `server`'s model with virtual functions: the VF's device ID, no product name.
pub fn cloud_node(server: &GpuServer, index: usize) -> Value {
    shaped(
        format!("gpu-{}-{index}", server.model.to_lowercase()),
        labels(&[
            ("amd.com/gpu.device-id".into(), server.vf_device_id),
            ("amd.com/gpu.vram".into(), server.vram),
        ]),
    )
}

/// A server with 4 GPUs of each of two models: count-suffixed keys only.
pub fn mixed_node(a: &GpuServer, b: &GpuServer, index: usize) -> Value {
    let half = (GPUS_PER_NODE / 2).to_string();
    shaped(
        format!("gpu-mixed-{index}"),
        labels(&[
            (format!("amd.com/gpu.device-id.{}", a.device_id), &half),
            (format!("amd.com/gpu.device-id.{}", b.device_id), &half),
            (format!("amd.com/gpu.product-name.{}", a.product), &half),
            (format!("amd.com/gpu.product-name.{}", b.product), &half),
        ]),
    )
}

/// `count` servers of `server`'s model, the last a cloud node when there are two or more.
fn pool(server: &GpuServer, count: usize) -> impl Iterator<Item = Value> + '_ {
    (0..count).map(move |i| match count >= 2 && i == count - 1 {
        true => cloud_node(server, i),
        false => node(server, i),
    })
}

/// Every node of `nodes`, as one List.
pub fn list(nodes: GpuNodes) -> Value {
    let items: Vec<Value> = pool(&MI300X, nodes.mi300x)
        .chain(pool(&MI325X, nodes.mi325x))
        .chain(pool(&MI355X, nodes.mi355x))
        .chain((0..nodes.mixed).map(|i| mixed_node(&MI300X, &MI325X, i)))
        .collect();
    json!({ "apiVersion": "v1", "kind": "List", "items": items })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn model(node: &Value) -> Option<String> {
        let labels: BTreeMap<String, String> = serde_json::from_value(node["metadata"]["labels"].clone()).unwrap();
        aim_operator::testing::model_of_node(&labels)
    }

    #[test]
    fn servers_carry_the_gpu_operators_labels_and_eight_gpus() {
        let n = node(&MI325X, 2);
        assert_eq!(n["metadata"]["name"], "gpu-mi325x-2");
        assert_eq!(
            n["metadata"]["labels"]["amd.com/gpu.product-name"],
            "AMD_Instinct_MI325X_OAM"
        );
        assert_eq!(n["status"]["allocatable"]["amd.com/gpu"], "8");
        assert_eq!(model(&n).as_deref(), Some("MI325X"));
        let cloud = cloud_node(&MI300X, 3);
        assert!(cloud["metadata"]["labels"].get("amd.com/gpu.product-name").is_none());
        assert_eq!(
            model(&cloud).as_deref(),
            Some("MI300X"),
            "the operator reads the VF's device ID"
        );
        assert_eq!(
            model(&mixed_node(&MI300X, &MI325X, 0)),
            None,
            "a mixed node is no pool's"
        );
        let all = list(GpuNodes::default());
        let items = all["items"].as_array().unwrap();
        assert_eq!(items.len(), 10);
        assert_eq!(items[3]["metadata"]["labels"]["amd.com/gpu.device-id"], "74b5");
    }
}
