//! Applying the runtime children (InferenceService, HTTPRoute) only when they differ from what is wanted, and
//! reading their state. They are untyped (`DynamicObject`): the operator needs a handful of their fields, and
//! the upstream CRDs validate the rest.

use crate::controller::context::FIELD_MANAGER;
use crate::controller::error::{Error, kube_err};
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, Patch, PatchParams};
use serde_json::Value;

/// True when every field of `wanted` has the same value in `have` (fields the API server or other controllers
/// added are ignored).
pub fn is_subset(wanted: &Value, have: &Value) -> bool {
    match (wanted, have) {
        (Value::Object(w), Value::Object(h)) => w.iter().all(|(k, v)| h.get(k).is_some_and(|hv| is_subset(v, hv))),
        (Value::Array(w), Value::Array(h)) => w.len() == h.len() && w.iter().zip(h).all(|(a, b)| is_subset(a, b)),
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        _ => wanted == have,
    }
}

/// Applies `desired` unless the existing object already matches; returns the object as it is now.
pub async fn ensure(api: &Api<DynamicObject>, name: &str, desired: &Value) -> Result<Value, Error> {
    if let Some(existing) = api.get_opt(name).await.map_err(kube_err(format!("read {name}")))? {
        let existing = serde_json::to_value(&existing).unwrap_or_default();
        if is_subset(desired, &existing) {
            return Ok(existing);
        }
    }
    let applied = api
        .patch(name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(desired))
        .await
        .map_err(kube_err(format!("apply {name}")))?;
    Ok(serde_json::to_value(&applied).unwrap_or_default())
}

/// The object, if it exists.
pub async fn get(api: &Api<DynamicObject>, name: &str) -> Result<Option<Value>, Error> {
    Ok(api
        .get_opt(name)
        .await
        .map_err(kube_err(format!("read {name}")))?
        .map(|o| serde_json::to_value(&o).unwrap_or_default()))
}

/// Deletes the object if it exists and is labelled as the operator's.
pub async fn remove_managed(api: &Api<DynamicObject>, name: &str) -> Result<(), Error> {
    if let Some(existing) = api.get_opt(name).await.map_err(kube_err(format!("read {name}")))?
        && crate::controller::labels::is_managed(&existing.metadata.labels.clone().unwrap_or_default())
    {
        api.delete(name, &DeleteParams::background())
            .await
            .map_err(kube_err(format!("delete {name}")))?;
    }
    Ok(())
}

/// The API of a dynamic resource in a namespace.
pub fn api(client: &kube::Client, namespace: &str, resource: &ApiResource) -> Api<DynamicObject> {
    Api::namespaced_with(client.clone(), namespace, resource)
}

#[cfg(test)]
mod tests {
    use super::is_subset;
    use serde_json::json;

    #[test]
    fn server_added_fields_do_not_count_as_differences() {
        let wanted = json!({ "spec": { "replicas": 2, "ports": [{ "port": 80 }] } });
        let have = json!({ "spec": { "replicas": 2.0, "ports": [{ "port": 80, "protocol": "TCP" }], "extra": 1 }, "status": {} });
        assert!(is_subset(&wanted, &have));
        assert!(!is_subset(&json!({ "spec": { "replicas": 3 } }), &have));
        assert!(!is_subset(&json!({ "spec": { "ports": [] } }), &have));
    }
}
