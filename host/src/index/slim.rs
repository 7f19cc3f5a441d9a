//! What the index drops from an object before storing it: fields no controller reads and that make up most of
//! an object's memory. Objects in the index are for reading decisions from; nothing is ever written back from
//! them. What each kind keeps, beyond its metadata (less managed fields and `kubectl apply`'s copy):
//!
//! | kind | kept | read by |
//! |---|---|---|
//! | Node | labels, `spec.unschedulable`, `status.allocatable` | the GPU inventory |
//! | Deployment | `spec.replicas`, `status.replicas` and `readyReplicas`, a `ReplicaFailure` that holds | replica counts (scaling status, readiness), pods refused |
//! | Pod | name, labels, creation time; status: phase, `PodScheduled` and `Ready`, each container's name, state, readiness, restarts and how its last run ended; no spec | readiness, scheduling, start times, termination messages |
//! | Job | spec less the pod template, status | Job outcomes (conditions) and progress (annotations); Jobs are created once, never compared |
//! | InferenceService | spec, status conditions only | `Ready`; the spec for "write only differences" |
//! | everything else | all | |
//!
//! InferenceServices, routes and gateways are kept as typed metadata plus JSON text, not `Value` trees
//! ([`crate::upstream::dynamic::Dynamic`]): a tree costs several times its text.
//!
//! What is dropped also stops waking anyone: a change that leaves what the index keeps as it was (a node's
//! heartbeat, a Deployment's condition timestamps) is stored but handed on to no one
//! ([`super::informer::Change::unchanged`]), so the less a kind keeps, the fewer reconciles its churn costs.

use k8s_openapi::api::apps::v1::{Deployment, DeploymentCondition, DeploymentSpec, DeploymentStatus};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{
    ContainerState, ContainerStateTerminated, ContainerStatus, Node, NodeSpec, NodeStatus, Pod, PodCondition, PodStatus,
};
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

/// [`common`], and all of a node but what the GPU inventory reads: its labels, whether it is schedulable and its
/// allocatable resources (its conditions and heartbeats, addresses, images and capacity go).
pub(crate) fn node(node: &mut Node) {
    common(node);
    node.spec = node.spec.take().map(|spec| NodeSpec {
        unschedulable: spec.unschedulable,
        ..Default::default()
    });
    node.status = node.status.take().map(|status| NodeStatus {
        allocatable: status.allocatable,
        ..Default::default()
    });
}

/// [`common`], and all of a Deployment but its replica counts (wanted, existing, ready) and a `ReplicaFailure`
/// that holds (Kubernetes refusing its pods, with why; without its timestamps, which move on every retry): its
/// pod template (a whole pod spec, KServe's to keep), its selector and strategy, and its other conditions and
/// generations.
pub(crate) fn deployment(deployment: &mut Deployment) {
    common(deployment);
    deployment.spec = DeploymentSpec {
        replicas: deployment.spec.replicas,
        ..Default::default()
    };
    deployment.status = deployment.status.take().map(|status| DeploymentStatus {
        replicas: status.replicas,
        ready_replicas: status.ready_replicas,
        conditions: status.conditions.and_then(|all| {
            let kept: Vec<DeploymentCondition> = all
                .into_iter()
                .filter(|c| c.type_.as_deref() == Some("ReplicaFailure") && c.status.as_deref() == Some("True"))
                .map(|c| DeploymentCondition {
                    last_transition_time: None,
                    last_update_time: None,
                    ..c
                })
                .collect();
            (!kept.is_empty()).then_some(kept)
        }),
        ..Default::default()
    });
}

/// The pod conditions a decision reads: `PodScheduled` (placement, start times) and `Ready` (readiness).
const POD_CONDITIONS: [&str; 2] = ["PodScheduled", "Ready"];

/// [`common`], and all of a pod but what readiness, placement, start times and termination messages read: its
/// name, namespace, labels and creation time; its phase; its `PodScheduled` and `Ready` conditions; each
/// container's name, readiness, state, restarts and last run's end. The spec (KServe's and the Job controller's
/// to keep), annotations, owners, addresses, the other conditions and each container's image go.
pub(crate) fn pod(pod: &mut Pod) {
    common(pod);
    let meta = &mut pod.metadata;
    meta.annotations = None;
    meta.owner_references = None;
    meta.generate_name = None;
    meta.finalizers = None;
    pod.spec = None;
    if let Some(status) = pod.status.take() {
        let containers = status.container_statuses.map(|all| {
            all.into_iter()
                .map(|c| ContainerStatus {
                    name: c.name,
                    state: c.state,
                    ready: c.ready,
                    restart_count: c.restart_count,
                    // How the last run ended tells a stuck start from a long one; its message can be long.
                    last_state: c.last_state.map(|s| ContainerState {
                        terminated: s.terminated.map(|t| ContainerStateTerminated { message: None, ..t }),
                        ..Default::default()
                    }),
                    ..Default::default()
                })
                .collect()
        });
        let conditions = status.conditions.map(|all| {
            all.into_iter()
                .filter(|c| POD_CONDITIONS.contains(&c.type_.as_str()))
                .map(|c| PodCondition {
                    last_probe_time: None,
                    ..c
                })
                .collect()
        });
        pod.status = Some(PodStatus {
            phase: status.phase,
            conditions,
            container_statuses: containers,
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

/// [`common`], and an InferenceService's status but its conditions and the deployment mode KServe recorded
/// (its per-component status, model status and addresses are not read). The spec stays: "write only
/// differences" compares against it.
pub(crate) fn inference_service(isvc: &mut crate::upstream::InferenceService) {
    common(isvc);
    /// The parts of an InferenceService's status that are read.
    #[derive(serde::Deserialize, serde::Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Kept<'a> {
        #[serde(borrow, skip_serializing_if = "Option::is_none")]
        conditions: Option<&'a serde_json::value::RawValue>,
        #[serde(skip_serializing_if = "Option::is_none")]
        deployment_mode: Option<String>,
    }
    let kept = isvc.field("status").map(|status| {
        serde_json::from_str::<Kept>(status.get())
            .ok()
            .and_then(|k| serde_json::to_string(&k).ok())
            .unwrap_or_else(|| "{}".to_string())
    });
    if let Some(kept) = kept {
        isvc.set_field("status", serde_json::value::RawValue::from_string(kept).ok());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::Change;
    use serde_json::json;
    use std::sync::Arc;

    /// A GPU node as kwok (or a kubelet) reports it, at heartbeat `beat`.
    fn gpu_node(beat: &str) -> Node {
        serde_json::from_value(json!({
            "metadata": {
                "name": "gpu-1", "resourceVersion": beat,
                "labels": { "amd.com/gpu.product-name": "AMD_Instinct_MI300X" },
                "annotations": { LAST_APPLIED: "{...}" },
                "managedFields": [{ "manager": "kwok" }],
            },
            "spec": { "unschedulable": true, "podCIDR": "10.0.0.0/24", "taints": [{ "key": "k", "effect": "NoSchedule" }] },
            "status": {
                "allocatable": { "amd.com/gpu": "8" }, "capacity": { "amd.com/gpu": "8" },
                "images": [{ "names": ["aim:1"] }], "addresses": [{ "type": "InternalIP", "address": "10.0.0.1" }],
                "conditions": [{ "type": "Ready", "status": "True", "lastHeartbeatTime": format!("2026-12-04T10:00:{beat}Z") }],
            },
        }))
        .unwrap()
    }

    #[test]
    fn a_node_keeps_what_the_gpu_inventory_reads_and_its_heartbeat_wakes_no_one() {
        let mut n = gpu_node("10");
        node(&mut n);
        assert_eq!(
            serde_json::to_value(&n).unwrap(),
            json!({
                "apiVersion": "v1", "kind": "Node",
                "metadata": {
                    "name": "gpu-1", "resourceVersion": "10",
                    "labels": { "amd.com/gpu.product-name": "AMD_Instinct_MI300X" }, "annotations": {},
                },
                "spec": { "unschedulable": true },
                "status": { "allocatable": { "amd.com/gpu": "8" } },
            })
        );
        let mut beat = gpu_node("20");
        node(&mut beat);
        let heartbeat = Change {
            old: Some(Arc::new(n.clone())),
            new: Some(Arc::new(beat.clone())),
        };
        assert!(heartbeat.unchanged(), "a heartbeat changes nothing the index keeps");
        beat.metadata.labels = None;
        let relabelled = Change {
            old: Some(Arc::new(n)),
            new: Some(Arc::new(beat)),
        };
        assert!(!relabelled.unchanged(), "a label is kept: its change is handed on");
    }

    #[test]
    fn a_deployment_keeps_its_replica_counts() {
        let mut d: Deployment = serde_json::from_value(json!({
            "metadata": { "name": "chat-predictor", "generation": 3, "managedFields": [{ "manager": "kserve" }] },
            "spec": { "replicas": 2, "selector": { "matchLabels": { "app": "chat" } },
                      "template": { "spec": { "containers": [{ "name": "kserve-container", "image": "aim:1" }] } } },
            "status": { "replicas": 2, "readyReplicas": 1, "availableReplicas": 1, "observedGeneration": 3,
                        "conditions": [{ "type": "Available", "status": "False", "lastUpdateTime": "2026-12-04T10:00:00Z" }] },
        }))
        .unwrap();
        deployment(&mut d);
        assert_eq!(
            serde_json::to_value(&d).unwrap(),
            json!({
                "apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": { "name": "chat-predictor", "generation": 3 },
                "spec": { "replicas": 2, "selector": {}, "template": {} },
                "status": { "replicas": 2, "readyReplicas": 1 },
            })
        );
    }

    /// A predictor pod as the kubelet reports it: what readiness, scheduling, start times and termination
    /// messages read stays; the spec and the rest go.
    #[test]
    fn a_pod_keeps_its_conditions_and_container_states() {
        let mut p: Pod = serde_json::from_value(serde_json::json!({
            "metadata": { "name": "chat-predictor-1", "labels": { "serving.kserve.io/inferenceservice": "chat" },
                          "annotations": { "prometheus.io/scrape": "true" }, "generateName": "chat-predictor-",
                          "ownerReferences": [{ "apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "uid": "1" }] },
            "spec": { "containers": [{ "name": "kserve-container", "image": "aim:1", "env": [{ "name": "A", "value": "b" }] }] },
            "status": {
                "phase": "Running", "podIP": "10.0.0.1", "qosClass": "Guaranteed",
                "conditions": [
                    { "type": "PodScheduled", "status": "True", "lastTransitionTime": "2026-12-04T09:58:00Z" },
                    { "type": "ContainersReady", "status": "True", "lastTransitionTime": "2026-12-04T10:00:00Z" },
                    { "type": "Ready", "status": "True", "lastTransitionTime": "2026-12-04T10:00:00Z" }
                ],
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
        let types: Vec<&str> = status.conditions.iter().flatten().map(|c| c.type_.as_str()).collect();
        assert_eq!(types, ["PodScheduled", "Ready"]);
        assert_eq!(
            status.conditions.as_ref().unwrap()[1],
            was.conditions.as_ref().unwrap()[2]
        );
        assert_eq!(status.phase, was.phase);
        assert!(status.pod_ip.is_none() && status.qos_class.is_none());
        let (c, was_c) = (
            &status.container_statuses.as_ref().unwrap()[0],
            &was.container_statuses.as_ref().unwrap()[0],
        );
        assert_eq!((&c.name, &c.state, c.ready), (&was_c.name, &was_c.state, was_c.ready));
        assert!(c.image.is_empty() && c.image_id.is_empty() && c.container_id.is_none());
        assert_eq!(p.metadata.labels, before.metadata.labels);
        assert_eq!(p.metadata.name, before.metadata.name);
        assert!(p.metadata.annotations.is_none() && p.metadata.owner_references.is_none());
    }

    #[test]
    fn an_inference_service_keeps_its_spec_ready_conditions_and_deployment_mode() {
        let mut isvc: crate::upstream::InferenceService = serde_json::from_value(serde_json::json!({
            "apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
            "metadata": { "name": "chat", "namespace": "team" },
            "spec": { "predictor": { "minReplicas": 1 } },
            "status": {
                "conditions": [{ "type": "Ready", "status": "True" }],
                "deploymentMode": "Standard",
                "components": { "predictor": { "url": "http://chat" } },
                "modelStatus": { "transitionStatus": "UpToDate" },
                "address": { "url": "http://chat.team" }
            }
        }))
        .unwrap();
        let spec = isvc.field_value("spec");
        inference_service(&mut isvc);
        assert_eq!(isvc.field_value("spec"), spec);
        assert_eq!(
            isvc.field_value("status"),
            serde_json::json!({ "conditions": [{ "type": "Ready", "status": "True" }], "deploymentMode": "Standard" })
        );
    }
}
