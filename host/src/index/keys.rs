//! Secondary keys: objects by what relates them, kept in step with the stores from every change the index hands
//! on (relists included, as differences). A relation that would otherwise scan a whole kind on every reconcile
//! reads its names here and the objects by key.
//!
//! Only where a profile showed the scan mattered: the pods of an InferenceService (KServe labels them), which a
//! starting service reads on every reconcile; scanning every pod for it took about a quarter of the operator's
//! CPU during a 1,000-service rollout.

use super::informer::Change;
use crate::upstream::INFERENCE_SERVICE_LABEL;
use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt;
use std::collections::{BTreeSet, HashMap};
use std::sync::RwLock;

/// Pod names by (namespace, InferenceService).
#[derive(Debug, Default)]
pub(crate) struct PodsByInferenceService(RwLock<HashMap<(String, String), BTreeSet<String>>>);

fn key(pod: &Pod) -> Option<((String, String), String)> {
    let isvc = pod.labels().get(INFERENCE_SERVICE_LABEL)?;
    Some(((pod.namespace()?, isvc.clone()), pod.name_any()))
}

impl PodsByInferenceService {
    /// Follows one change of a pod: its old key goes, its new one comes.
    pub(crate) fn update(&self, change: &Change<Pod>) {
        let mut map = self.0.write().unwrap_or_else(|e| e.into_inner());
        if let Some((owner, name)) = change.old.as_deref().and_then(key)
            && let Some(names) = map.get_mut(&owner)
        {
            names.remove(&name);
            if names.is_empty() {
                map.remove(&owner);
            }
        }
        if let Some((owner, name)) = change.new.as_deref().and_then(key) {
            map.entry(owner).or_default().insert(name);
        }
    }

    /// The names of InferenceService `isvc`'s pods in `namespace`, in order.
    pub(crate) fn names(&self, namespace: &str, isvc: &str) -> Vec<String> {
        let map = self.0.read().unwrap_or_else(|e| e.into_inner());
        map.get(&(namespace.to_string(), isvc.to_string()))
            .map(|names| names.iter().cloned().collect())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn pod(name: &str, isvc: Option<&str>) -> Arc<Pod> {
        let mut p = Pod::default();
        p.metadata.name = Some(name.into());
        p.metadata.namespace = Some("team".into());
        p.metadata.labels = isvc.map(|i| [(INFERENCE_SERVICE_LABEL.to_string(), i.to_string())].into());
        Arc::new(p)
    }

    #[test]
    fn pods_follow_their_inference_service_through_changes() {
        let keys = PodsByInferenceService::default();
        let change = |old: Option<Arc<Pod>>, new: Option<Arc<Pod>>| keys.update(&Change { old, new });
        change(None, Some(pod("chat-b", Some("chat"))));
        change(None, Some(pod("chat-a", Some("chat"))));
        change(None, Some(pod("job-x", None)));
        assert_eq!(keys.names("team", "chat"), ["chat-a", "chat-b"]);
        assert!(keys.names("other", "chat").is_empty(), "by namespace too");
        // Relabelled to another InferenceService, then deleted.
        change(Some(pod("chat-a", Some("chat"))), Some(pod("chat-a", Some("chat2"))));
        assert_eq!(keys.names("team", "chat"), ["chat-b"]);
        assert_eq!(keys.names("team", "chat2"), ["chat-a"]);
        change(Some(pod("chat-b", Some("chat"))), None);
        assert!(keys.names("team", "chat").is_empty());
    }
}
