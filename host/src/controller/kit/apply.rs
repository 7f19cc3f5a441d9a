//! Writing what a plan wants: only the difference, with server-side apply under the operator's one field
//! manager. The plan compares against the index; the index lags the API server by one watch event, so each
//! write is remembered in the index's [`crate::index::pending::PendingWrites`] until the index sees the object change, and a
//! reconcile that runs in between does not write the same thing again.
//!
//! Shared objects (derived templates) are updated with the resourceVersion they were read at, so two writers
//! cannot overwrite each other; creation needs no precondition, since applying the same object twice is a
//! no-op, not a conflict.

use super::context::{Context, FIELD_MANAGER};
use super::error::Error;
use crate::index::pending::{Key, What};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, Patch, PatchParams, Preconditions};
use kube::{Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::fmt::Debug;
use std::hash::{Hash, Hasher};

/// A stable fingerprint of what is written.
pub fn fingerprint(value: &impl Serialize) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    serde_json::to_vec(value).unwrap_or_default().hash(&mut hasher);
    hasher.finish()
}

fn key_of(kind: &str, namespace: Option<String>, name: &str, what: What) -> Key {
    Key {
        kind: kind.to_string(),
        namespace: namespace.unwrap_or_default(),
        name: name.to_string(),
        what,
    }
}

/// An untyped API of `K` in `namespace` (or cluster-wide): the typed one needs the scope at compile time,
/// and these helpers serve both scopes.
pub fn api_for<K: Resource<DynamicType = ()>>(ctx: &Context, namespace: Option<&str>) -> Api<DynamicObject> {
    let resource = ApiResource::erase::<K>(&());
    match namespace {
        Some(ns) => Api::namespaced_with(ctx.client.clone(), ns, &resource),
        None => Api::all_with(ctx.client.clone(), &resource),
    }
}

/// Applies `desired` unless `existing` (the index's copy) already satisfies `unchanged`. With `shared`, an update
/// carries the resourceVersion of `existing`, so a concurrent change makes it fail (and retry) rather than be
/// overwritten.
pub async fn apply<K>(
    ctx: &Context,
    existing: Option<&K>,
    desired: &K,
    unchanged: impl Fn(&K) -> bool,
    shared: bool,
) -> Result<(), Error>
where
    K: Resource<DynamicType = ()> + Clone + Debug + DeserializeOwned + Serialize,
{
    if existing.is_some_and(&unchanged) {
        return Ok(());
    }
    let name = desired.name_any();
    let kind = K::kind(&()).into_owned();
    let key = key_of(&kind, desired.namespace(), &name, What::Object);
    let current = existing.and_then(|e| e.resource_version());
    let print = fingerprint(desired);
    if ctx.index.pending.in_flight(&key, current.as_deref(), print) {
        return Ok(());
    }
    let mut body = serde_json::to_value(desired).unwrap_or_default();
    if shared && let Some(rv) = &current {
        body["metadata"]["resourceVersion"] = Value::String(rv.clone());
    }
    let api = api_for::<K>(ctx, desired.namespace().as_deref());
    let result = api
        .patch(&name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(&body))
        .await;
    ctx.metrics.write(&kind, "apply", result.as_ref().err());
    result.map_err(|source| Error::Apply {
        what: format!("{kind} {name}"),
        source,
    })?;
    ctx.index.pending.record(key, current, print);
    Ok(())
}

/// Creates `desired` when the index has no such object, and never changes an existing one (Jobs and volume
/// claims are immutable once made).
pub async fn create_once<K>(ctx: &Context, existing: Option<&K>, desired: &K) -> Result<(), Error>
where
    K: Resource<DynamicType = ()> + Clone + Debug + DeserializeOwned + Serialize,
{
    apply(ctx, existing, desired, |_| true, false).await
}

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

/// Applies the untyped object `desired` (an InferenceService or HTTPRoute) unless `existing` already has every
/// field of it.
pub async fn apply_dynamic(
    ctx: &Context,
    resource: &ApiResource,
    existing: Option<&DynamicObject>,
    desired: &Value,
) -> Result<(), Error> {
    if let Some(existing) = existing
        && is_subset(desired, &serde_json::to_value(existing).unwrap_or_default())
    {
        return Ok(());
    }
    let name = desired
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let namespace = desired
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let key = key_of(&resource.kind, Some(namespace.to_string()), name, What::Object);
    let current = existing.and_then(|e| e.resource_version());
    let print = fingerprint(desired);
    if ctx.index.pending.in_flight(&key, current.as_deref(), print) {
        return Ok(());
    }
    let api: Api<DynamicObject> = Api::namespaced_with(ctx.client.clone(), namespace, resource);
    let result = api
        .patch(name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(desired))
        .await;
    ctx.metrics.write(&resource.kind, "apply", result.as_ref().err());
    result.map_err(|source| Error::Apply {
        what: format!("{} {name}", resource.kind),
        source,
    })?;
    ctx.index.pending.record(key, current, print);
    Ok(())
}

/// Deletes `obj` (as the index shows it), only if it is still that object (same uid). Gone already is fine.
pub async fn delete<K>(ctx: &Context, obj: &K) -> Result<(), Error>
where
    K: Resource<DynamicType = ()>,
{
    let api = api_for::<K>(ctx, obj.meta().namespace.as_deref());
    delete_with(ctx, &api, &K::kind(&()), obj.meta()).await
}

/// [`delete`] for an untyped object.
pub async fn delete_dynamic(ctx: &Context, resource: &ApiResource, obj: &DynamicObject) -> Result<(), Error> {
    let api: Api<DynamicObject> = Api::namespaced_with(
        ctx.client.clone(),
        obj.metadata.namespace.as_deref().unwrap_or_default(),
        resource,
    );
    delete_with(ctx, &api, &resource.kind, &obj.metadata).await
}

async fn delete_with(
    ctx: &Context,
    api: &Api<DynamicObject>,
    kind: &str,
    meta: &kube::api::ObjectMeta,
) -> Result<(), Error> {
    let name = meta.name.clone().unwrap_or_default();
    let key = key_of(kind, meta.namespace.clone(), &name, What::Delete);
    // A delete is "in flight" while the index still shows the same version of the object.
    if ctx.index.pending.in_flight(&key, meta.resource_version.as_deref(), 0) {
        return Ok(());
    }
    let params = DeleteParams {
        preconditions: Some(Preconditions {
            uid: meta.uid.clone(),
            resource_version: None,
        }),
        ..DeleteParams::background()
    };
    let result = api.delete(&name, &params).await.map(drop);
    let result = match result {
        Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => Ok(()),
        other => other,
    };
    ctx.metrics.write(kind, "delete", result.as_ref().err());
    result.map_err(|source| Error::Delete {
        what: format!("{kind} {name}"),
        source,
    })?;
    ctx.index.pending.record(key, meta.resource_version.clone(), 0);
    Ok(())
}

/// An owner reference to `owner`; `controller` marks the single managing owner.
pub fn owner_ref<K: Resource<DynamicType = ()>>(owner: &K, controller: bool) -> Result<OwnerReference, Error> {
    let meta = owner.meta();
    Ok(OwnerReference {
        api_version: K::api_version(&()).into_owned(),
        kind: K::kind(&()).into_owned(),
        name: owner.name_any(),
        uid: meta
            .uid
            .clone()
            .ok_or_else(|| Error::Invariant(format!("{} {} has no uid", K::kind(&()), owner.name_any())))?,
        controller: Some(controller),
        block_owner_deletion: Some(true),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
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
