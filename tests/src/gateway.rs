//! `GatewayAcceptance`: plays a Gateway API implementation, the one part of the routing chain that no upstream
//! component here provides. Like an implementation does for the Gateways it runs, it accepts every HTTPRoute whose
//! parent Gateway exists, writing that parent's `Accepted` and `ResolvedRefs` conditions; a route whose Gateway
//! does not exist gets no status for it (no implementation owns that parent). A parent status someone already
//! wrote (a test rejecting a route) is left alone. The control plane runs it; it stops when dropped.

use futures::StreamExt;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::{Value, json};

/// The controller name this implementation writes into route status.
pub const CONTROLLER_NAME: &str = "aim.silogen.ai/local-gateway";

/// The running implementation.
pub struct GatewayAcceptance {
    task: tokio::task::JoinHandle<()>,
}

impl Drop for GatewayAcceptance {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn resource(kind: &str) -> ApiResource {
    ApiResource::from_gvk(&GroupVersionKind::gvk("gateway.networking.k8s.io", "v1", kind))
}

/// The parents of `route` (namespace, name), the route's namespace standing in for an omitted one.
fn parents(route: &DynamicObject) -> Vec<(String, String)> {
    let ns = route.metadata.namespace.clone().unwrap_or_default();
    route
        .data
        .pointer("/spec/parentRefs")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|p| p.get("kind").and_then(Value::as_str).is_none_or(|k| k == "Gateway"))
        .filter_map(|p| {
            let name = p.get("name")?.as_str()?.to_string();
            let pns = p.get("namespace").and_then(Value::as_str).unwrap_or(&ns).to_string();
            Some((pns, name))
        })
        .collect()
}

fn has_status_for(route: &DynamicObject, (ns, name): &(String, String)) -> bool {
    route
        .data
        .pointer("/status/parents")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|p| {
            p.pointer("/parentRef/name").and_then(Value::as_str) == Some(name)
                && p.pointer("/parentRef/namespace").and_then(Value::as_str).unwrap_or(ns) == ns
        })
}

async fn accept(client: &kube::Client, route: &DynamicObject, gateways: &Store<DynamicObject>) {
    let missing: Vec<(String, String)> = parents(route)
        .into_iter()
        .filter(|p| !has_status_for(route, p))
        .filter(|(ns, name)| {
            gateways
                .get(&ObjectRef::new_with(name, resource("Gateway")).within(ns))
                .is_some()
        })
        .collect();
    if missing.is_empty() {
        return;
    }
    let now = k8s_openapi::jiff::Timestamp::now().to_string();
    let generation = route.metadata.generation.unwrap_or(1);
    let mut statuses: Vec<Value> = route
        .data
        .pointer("/status/parents")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for (ns, name) in missing {
        let condition = |type_: &str, reason: &str, message: &str| {
            json!({ "type": type_, "status": "True", "reason": reason, "message": message,
                "lastTransitionTime": now, "observedGeneration": generation })
        };
        statuses.push(json!({
            "parentRef": { "group": "gateway.networking.k8s.io", "kind": "Gateway", "name": name, "namespace": ns },
            "controllerName": CONTROLLER_NAME,
            "conditions": [
                condition("Accepted", "Accepted", "accepted by the local gateway"),
                condition("ResolvedRefs", "ResolvedRefs", "backends resolved"),
            ],
        }));
    }
    let api: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        route.metadata.namespace.as_deref().unwrap_or_default(),
        &resource("HTTPRoute"),
    );
    let patch = json!({ "status": { "parents": statuses } });
    let name = route.metadata.name.clone().unwrap_or_default();
    if let Err(e) = api
        .patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
    {
        tracing::debug!(route = name, error = %e, "could not accept a route");
    }
}

impl GatewayAcceptance {
    /// Starts accepting routes in every namespace.
    pub fn start(client: kube::Client) -> Self {
        let task = tokio::spawn(async move {
            let gateway_writer = reflector::store::Writer::new(resource("Gateway"));
            let gateways = gateway_writer.as_reader();
            let route_writer = reflector::store::Writer::new(resource("HTTPRoute"));
            let routes = route_writer.as_reader();
            let gateway_events = reflector::reflector(
                gateway_writer,
                watcher(
                    Api::<DynamicObject>::all_with(client.clone(), &resource("Gateway")),
                    Default::default(),
                ),
            )
            .default_backoff()
            .applied_objects();
            let route_events = reflector::reflector(
                route_writer,
                watcher(
                    Api::<DynamicObject>::all_with(client.clone(), &resource("HTTPRoute")),
                    Default::default(),
                ),
            )
            .default_backoff()
            .applied_objects();
            let mut gateway_events = std::pin::pin!(gateway_events);
            let mut route_events = std::pin::pin!(route_events);
            loop {
                tokio::select! {
                    Some(route) = route_events.next() => {
                        if let Ok(route) = route {
                            accept(&client, &route, &gateways).await;
                        }
                    }
                    Some(gateway) = gateway_events.next() => {
                        // A Gateway that appears later takes up the routes waiting for it.
                        if let Ok(gw) = gateway {
                            let key = (gw.metadata.namespace.clone().unwrap_or_default(), gw.metadata.name.clone().unwrap_or_default());
                            for route in routes.state().iter().filter(|r| parents(r).contains(&key)) {
                                accept(&client, route, &gateways).await;
                            }
                        }
                    }
                    else => return,
                }
            }
        });
        GatewayAcceptance { task }
    }
}

/// Rejects HTTPRoute `name` in `namespace` on gateway `gw_ns/gw_name` with `reason`, as an implementation does
/// when a listener does not allow the route (tests of what a user sees then).
pub async fn reject(client: &kube::Client, namespace: &str, name: &str, (gw_ns, gw_name): (&str, &str), reason: &str) {
    let now = k8s_openapi::jiff::Timestamp::now().to_string();
    let patch = json!({ "status": { "parents": [{
        "parentRef": { "group": "gateway.networking.k8s.io", "kind": "Gateway", "name": gw_name, "namespace": gw_ns },
        "controllerName": CONTROLLER_NAME,
        "conditions": [{ "type": "Accepted", "status": "False", "reason": reason,
            "message": "the listener does not allow routes from this namespace",
            "lastTransitionTime": now, "observedGeneration": 1 }],
    }] } });
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), namespace, &resource("HTTPRoute"));
    api.patch_status(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("write HTTPRoute status");
}

/// A GatewayClass and a Gateway `name` in `namespace` that allows routes from every namespace.
pub fn gateway_yaml(namespace: &str, name: &str) -> String {
    format!(
        "apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata:
  name: aim-local
spec:
  controllerName: {CONTROLLER_NAME}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: {name}
  namespace: {namespace}
spec:
  gatewayClassName: aim-local
  listeners:
  - name: http
    port: 80
    protocol: HTTP
    allowedRoutes:
      namespaces:
        from: All
"
    )
}
