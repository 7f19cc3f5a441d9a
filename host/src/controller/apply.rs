//! Creating and updating children with server-side apply under the operator's field manager, skipping the
//! request entirely when the object already is as desired (a quiet steady state writes nothing).

use super::context::FIELD_MANAGER;
use super::error::{Error, kube_err};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{Api, Patch, PatchParams};
use kube::{Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fmt::Debug;

/// Applies `desired` unless the existing object satisfies `unchanged`. Returns the object as it now is.
pub async fn ensure<K>(api: &Api<K>, desired: &K, unchanged: impl Fn(&K) -> bool) -> Result<K, Error>
where
    K: Resource<DynamicType = ()> + Clone + Debug + DeserializeOwned + Serialize,
{
    let name = desired.name_any();
    let what = || format!("{} {name}", K::kind(&()));
    if let Some(existing) = api.get_opt(&name).await.map_err(kube_err(format!("read {}", what())))?
        && unchanged(&existing)
    {
        return Ok(existing);
    }
    api.patch(
        &name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(desired),
    )
    .await
    .map_err(kube_err(format!("apply {}", what())))
}

/// Creates `desired` if absent and never changes it afterwards (Jobs and volume claims are immutable).
pub async fn create_once<K>(api: &Api<K>, desired: &K) -> Result<K, Error>
where
    K: Resource<DynamicType = ()> + Clone + Debug + DeserializeOwned + Serialize,
{
    ensure(api, desired, |_| true).await
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

/// True when `obj` lists `owner` among its owners.
pub fn has_owner<K: Resource>(obj: &K, owner: &OwnerReference) -> bool {
    obj.meta().owner_references.iter().flatten().any(|o| o.uid == owner.uid)
}
