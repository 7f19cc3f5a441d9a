//! What the index drops from an object before storing it: fields no controller reads and that make up most of
//! an object's memory. Objects in the index are for reading decisions from; nothing is ever written back from
//! them. What each kind keeps, beyond its metadata (less managed fields and `kubectl apply`'s copy):
//!
//! | kind | kept | read by |
//! |---|---|---|
//! | Node | spec, status less images, volumes and daemon endpoints | the GPU inventory (labels, allocatable, conditions) |
//! | Deployment | spec less the pod template, status | replica counts (scaling status, readiness) |
//! | Pod | status: phase, reason, conditions, each container's name, state and readiness; no spec | readiness, scheduling, start times, termination messages |
//! | Job | spec less the pod template, status | Job outcomes (conditions) and progress (annotations); Jobs are created once, never compared |
//! | InferenceService | spec, status conditions only | `Ready`; the spec for "write only differences" |
//! | everything else | all | |

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ContainerStatus, Node, Pod, PodStatus};
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

/// [`common`], and a pod's spec (the operator never reads it: KServe's and the Job controller's to keep) and the
/// status fields no decision reads (addresses, QoS class, images and resources of each container).
pub(crate) fn pod(pod: &mut Pod) {
    common(pod);
    pod.spec = None;
    if let Some(status) = pod.status.take() {
        let containers = status.container_statuses.map(|all| {
            all.into_iter()
                .map(|c| ContainerStatus {
                    name: c.name,
                    state: c.state,
                    last_state: c.last_state,
                    ready: c.ready,
                    started: c.started,
                    restart_count: c.restart_count,
                    ..Default::default()
                })
                .collect()
        });
        pod.status = Some(PodStatus {
            phase: status.phase,
            reason: status.reason,
            message: status.message,
            conditions: status.conditions,
            container_statuses: containers,
            start_time: status.start_time,
            ..Default::default()
        });
    }
}

/// [`common`], and a Job's pod template: Jobs are created once and never compared, and only their status and
/// annotations are read.
pub(crate) fn job(job: &mut Job) {
    common(job);
    if let Some(spec) = job.spec.as_mut() {
        spec.template = Default::default();
    }
}

/// [`common`], and an InferenceService's status but its conditions (KServe's per-component status, model
/// status and addresses are not read). The spec stays: "write only differences" compares against it.
pub(crate) fn inference_service(isvc: &mut crate::upstream::InferenceService) {
    common(isvc);
    if let Some(status) = isvc
        .object
        .data
        .get_mut("status")
        .and_then(serde_json::Value::as_object_mut)
    {
        status.retain(|field, _| field == "conditions");
    }
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

    /// A predictor pod as the kubelet reports it: what readiness, scheduling, start times and termination
    /// messages read stays; the spec and the rest go.
    #[test]
    fn a_pod_keeps_its_conditions_and_container_states() {
        let mut p: Pod = serde_json::from_value(serde_json::json!({
            "metadata": { "name": "chat-predictor-1", "labels": { "serving.kserve.io/inferenceservice": "chat" } },
            "spec": { "containers": [{ "name": "kserve-container", "image": "aim:1", "env": [{ "name": "A", "value": "b" }] }] },
            "status": {
                "phase": "Running", "podIP": "10.0.0.1", "qosClass": "Guaranteed",
                "conditions": [{ "type": "Ready", "status": "True", "lastTransitionTime": "2026-12-04T10:00:00Z" }],
                "containerStatuses": [{ "name": "kserve-container", "ready": true, "restartCount": 0, "image": "aim:1",
                    "imageID": "sha256:1", "containerID": "containerd://1",
                    "state": { "running": { "startedAt": "2026-12-04T09:59:00Z" } } }]
            }
        }))
        .unwrap();
        let before = p.clone();
        pod(&mut p);
        assert!(p.spec.is_none());
        let (status, was) = (p.status.as_ref().unwrap(), before.status.as_ref().unwrap());
        assert_eq!(status.conditions, was.conditions);
        assert_eq!(status.phase, was.phase);
        assert!(status.pod_ip.is_none() && status.qos_class.is_none());
        let (c, was_c) = (
            &status.container_statuses.as_ref().unwrap()[0],
            &was.container_statuses.as_ref().unwrap()[0],
        );
        assert_eq!((&c.name, &c.state, c.ready), (&was_c.name, &was_c.state, was_c.ready));
        assert!(c.image.is_empty() && c.image_id.is_empty() && c.container_id.is_none());
        assert_eq!(p.metadata.labels, before.metadata.labels);
    }

    #[test]
    fn an_inference_service_keeps_its_spec_and_ready_conditions() {
        let mut isvc: crate::upstream::InferenceService = serde_json::from_value(serde_json::json!({
            "apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
            "metadata": { "name": "chat", "namespace": "team" },
            "spec": { "predictor": { "minReplicas": 1 } },
            "status": {
                "conditions": [{ "type": "Ready", "status": "True" }],
                "components": { "predictor": { "url": "http://chat" } },
                "modelStatus": { "transitionStatus": "UpToDate" },
                "address": { "url": "http://chat.team" }
            }
        }))
        .unwrap();
        let spec = isvc.data["spec"].clone();
        inference_service(&mut isvc);
        assert_eq!(isvc.data["spec"], spec);
        assert_eq!(
            isvc.data["status"],
            serde_json::json!({ "conditions": [{ "type": "Ready", "status": "True" }] })
        );
    }
}
