//! `FakeKServe` and `FakeGatewayController`: play the KServe controller and a Gateway API implementation,
//! neither of which runs here. They write the status those controllers write: the InferenceService's `Ready`
//! condition, and the HTTPRoute's per-parent `Accepted` condition.

use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams};
use serde_json::json;

fn api(client: &kube::Client, ns: &str, group: &str, version: &str, kind: &str) -> Api<DynamicObject> {
    Api::namespaced_with(
        client.clone(),
        ns,
        &ApiResource::from_gvk(&GroupVersionKind::gvk(group, version, kind)),
    )
}

/// Plays the KServe controller.
pub struct FakeKServe {
    client: kube::Client,
}

impl FakeKServe {
    /// KServe for `client`'s cluster.
    pub fn new(client: kube::Client) -> Self {
        FakeKServe { client }
    }

    /// Reports InferenceService `name` as ready (`true`) or not.
    pub async fn set_ready(&self, ns: &str, name: &str, ready: bool) {
        let now = k8s_openapi::jiff::Timestamp::now().to_string();
        let (status, reason) = if ready {
            ("True", "")
        } else {
            ("False", "PredictorNotReady")
        };
        let patch = json!({ "status": { "conditions": [
            { "type": "PredictorReady", "status": status, "lastTransitionTime": now, "reason": reason },
            { "type": "Ready", "status": status, "lastTransitionTime": now, "reason": reason },
        ], "url": format!("http://{name}.{ns}.svc.cluster.local") } });
        api(&self.client, ns, "serving.kserve.io", "v1beta1", "InferenceService")
            .patch_status(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .expect("write InferenceService status");
    }
}

/// Plays a Gateway API implementation.
pub struct FakeGatewayController {
    client: kube::Client,
}

impl FakeGatewayController {
    /// The controller for `client`'s cluster.
    pub fn new(client: kube::Client) -> Self {
        FakeGatewayController { client }
    }

    /// Accepts (or rejects, with `reason`) HTTPRoute `name` on gateway `gw_ns/gw_name`.
    pub async fn set_accepted(&self, ns: &str, name: &str, gw_ns: &str, gw_name: &str, accepted: bool, reason: &str) {
        let now = k8s_openapi::jiff::Timestamp::now().to_string();
        let patch = json!({ "status": { "parents": [{
            "parentRef": { "group": "gateway.networking.k8s.io", "kind": "Gateway", "name": gw_name, "namespace": gw_ns },
            "controllerName": "example.com/fake-gateway-controller",
            "conditions": [{ "type": "Accepted", "status": if accepted { "True" } else { "False" }, "reason": reason,
                "message": if accepted { "accepted" } else { "the listener does not allow routes from this namespace" },
                "lastTransitionTime": now, "observedGeneration": 1 }],
        }] } });
        api(&self.client, ns, "gateway.networking.k8s.io", "v1", "HTTPRoute")
            .patch_status(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .expect("write HTTPRoute status");
    }
}
