//! What the index drops from an object before storing it: fields no controller reads and that make up most of
//! an object's memory (managed fields, `kubectl apply`'s copy of the object, a node's image list). Objects in
//! the index are for reading decisions from; nothing is ever written back from them.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Node;
use kube::Resource;

/// The annotation `kubectl apply` (client-side) keeps a whole copy of the object in.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Drops managed fields and `kubectl apply`'s copy.
pub(crate) fn common<K: Resource>(obj: &mut K) {
    let meta = obj.meta_mut();
    meta.managed_fields = None;
    if let Some(annotations) = meta.annotations.as_mut() {
        annotations.remove(LAST_APPLIED);
    }
}

/// [`common`], and a node's images, volumes and daemon endpoints (only labels, schedulability, allocatable
/// resources and conditions matter here).
pub(crate) fn node(node: &mut Node) {
    common(node);
    if let Some(status) = node.status.as_mut() {
        status.images = None;
        status.volumes_attached = None;
        status.volumes_in_use = None;
        status.daemon_endpoints = None;
    }
}

/// [`common`], and a Deployment's pod template (a whole pod spec, KServe's to keep): only its replica counts
/// and conditions are read.
pub(crate) fn deployment(deployment: &mut Deployment) {
    common(deployment);
    deployment.spec.template = Default::default();
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{ContainerImage, NodeStatus};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ManagedFieldsEntry;

    #[test]
    fn slimming_keeps_what_decisions_read() {
        let mut n = Node::default();
        n.metadata.labels = Some(
            [(
                "amd.com/gpu.product-name".to_string(),
                "AMD_Instinct_MI300X".to_string(),
            )]
            .into(),
        );
        n.metadata.annotations = Some([(LAST_APPLIED.to_string(), "{...}".to_string())].into());
        n.metadata.managed_fields = Some(vec![ManagedFieldsEntry::default()]);
        n.status = Some(NodeStatus {
            images: Some(vec![ContainerImage::default()]),
            allocatable: Some([("amd.com/gpu".to_string(), Default::default())].into()),
            ..Default::default()
        });
        node(&mut n);
        assert!(n.metadata.managed_fields.is_none());
        assert!(n.metadata.annotations.unwrap().is_empty());
        assert!(n.metadata.labels.unwrap().contains_key("amd.com/gpu.product-name"));
        let status = n.status.unwrap();
        assert!(status.images.is_none());
        assert!(status.allocatable.is_some());
    }
}
