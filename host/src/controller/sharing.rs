//! Objects several users share (model caches, derived templates, service template caches): every user is one
//! of the object's owners. Joining adds an owner reference; letting go removes it, and deletes the object
//! when no owner is left (the garbage collector only deletes objects whose owners are all gone, and an object
//! that never had owners is not garbage). Both writes carry the resourceVersion they read, so concurrent
//! changes fail and are retried rather than lost.

use super::context::FIELD_MANAGER;
use super::error::{Error, kube_err};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use kube::{Resource, ResourceExt};
use serde::de::DeserializeOwned;
use std::fmt::Debug;

/// Adds `owner` to `obj`'s owners if it is not there yet.
pub async fn join<K>(api: &Api<K>, obj: &K, owner: &OwnerReference) -> Result<(), Error>
where
    K: Resource<DynamicType = ()> + Clone + Debug + DeserializeOwned,
{
    let mut owners = obj.owner_references().to_vec();
    if owners.iter().any(|o| o.uid == owner.uid) {
        return Ok(());
    }
    owners.push(owner.clone());
    let patch =
        serde_json::json!({ "metadata": { "resourceVersion": obj.resource_version(), "ownerReferences": owners } });
    api.patch(
        &obj.name_any(),
        &PatchParams::apply(FIELD_MANAGER),
        &Patch::Merge(&patch),
    )
    .await
    .map_err(kube_err(format!("add an owner to {} {}", K::kind(&()), obj.name_any())))?;
    Ok(())
}

/// Removes the owner `uid` from every object matching `selector` except those `keep` accepts; deletes the ones
/// left without owners.
pub async fn release_all<K>(api: &Api<K>, selector: &str, uid: &str, keep: impl Fn(&K) -> bool) -> Result<(), Error>
where
    K: Resource<DynamicType = ()> + Clone + Debug + DeserializeOwned,
{
    let list = api
        .list(&ListParams::default().labels(selector))
        .await
        .map_err(kube_err(format!("list {}", K::plural(&()))))?;
    for obj in list.items {
        let owners = obj.owner_references();
        if keep(&obj) || !owners.iter().any(|o| o.uid == uid) {
            continue;
        }
        let rest: Vec<&OwnerReference> = owners.iter().filter(|o| o.uid != uid).collect();
        let name = obj.name_any();
        if rest.is_empty() {
            api.delete(&name, &DeleteParams::background())
                .await
                .map_err(kube_err(format!("delete unused {} {name}", K::kind(&()))))?;
        } else {
            let patch = serde_json::json!({ "metadata": { "resourceVersion": obj.resource_version(), "ownerReferences": rest } });
            api.patch(&name, &PatchParams::apply(FIELD_MANAGER), &Patch::Merge(&patch))
                .await
                .map_err(kube_err(format!("release {} {name}", K::kind(&()))))?;
        }
    }
    Ok(())
}
