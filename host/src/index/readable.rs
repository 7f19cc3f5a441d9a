//! Decoding what a watch delivers without letting one bad object fail the kind: [`Readable<K>`] decodes as either
//! the object or an [`Unreadable`] (its metadata, and what could not be read, with the field's path).
//!
//! Like kube's `DeserializeGuard`, but the message names the field (`spec.aimModelId: invalid type: integer
//! `5`, expected a string`), which is what a person needs to fix the object, and the object is decoded from the
//! buffered value without copying it (the path is found again only for an object that failed).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Resource;
use serde::de::{Deserialize, DeserializeOwned, Deserializer};
use serde_json::Value;
use std::borrow::Cow;

/// An object as a watch delivered it: read, or not.
#[derive(Debug, Clone)]
pub(crate) struct Readable<K>(pub Result<K, Unreadable>);

/// An object the operator's types cannot read.
#[derive(Debug, Clone)]
pub(crate) struct Unreadable {
    /// What could not be read, starting with the field's path.
    pub(crate) error: String,
    /// The object's metadata (name, namespace, uid, resourceVersion), which could be read.
    pub(crate) metadata: ObjectMeta,
}

impl<'de, K: DeserializeOwned + Resource> Deserialize<'de> for Readable<K> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        if let Ok(obj) = K::deserialize(&value) {
            return Ok(Readable(Ok(obj)));
        }
        let error = match serde_path_to_error::deserialize::<_, K>(&value) {
            Err(e) if e.path().to_string() != "." => format!("{}: {}", e.path(), e.inner()),
            Err(e) => e.inner().to_string(),
            Ok(_) => "it decodes only on a second try".to_string(),
        };
        let metadata = value
            .get("metadata")
            .map(ObjectMeta::deserialize)
            .transpose()
            .map_err(serde::de::Error::custom)?
            .unwrap_or_default();
        Ok(Readable(Err(Unreadable { error, metadata })))
    }
}

impl<K: Resource> Resource for Readable<K> {
    type DynamicType = K::DynamicType;
    type Scope = K::Scope;

    fn kind(dt: &Self::DynamicType) -> Cow<'_, str> {
        K::kind(dt)
    }

    fn group(dt: &Self::DynamicType) -> Cow<'_, str> {
        K::group(dt)
    }

    fn version(dt: &Self::DynamicType) -> Cow<'_, str> {
        K::version(dt)
    }

    fn plural(dt: &Self::DynamicType) -> Cow<'_, str> {
        K::plural(dt)
    }

    fn meta(&self) -> &ObjectMeta {
        self.0.as_ref().map_or_else(|bad| &bad.metadata, K::meta)
    }

    fn meta_mut(&mut self) -> &mut ObjectMeta {
        self.0.as_mut().map_or_else(|bad| &mut bad.metadata, K::meta_mut)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ConfigMap;
    use serde_json::json;

    #[test]
    fn an_unreadable_object_keeps_its_metadata_and_names_the_field() {
        let read: Readable<ConfigMap> = serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": { "name": "c", "namespace": "n", "resourceVersion": "7" },
            "data": { "k": 5 },
        }))
        .unwrap();
        let bad = read.0.unwrap_err();
        assert_eq!(bad.metadata.name.as_deref(), Some("c"));
        assert_eq!(bad.metadata.resource_version.as_deref(), Some("7"));
        assert!(
            bad.error.starts_with("data.k: invalid type: integer `5`"),
            "{}",
            bad.error
        );

        let read: Readable<ConfigMap> =
            serde_json::from_value(json!({ "metadata": { "name": "c" }, "data": { "k": "v" } })).unwrap();
        assert_eq!(read.0.unwrap().data.unwrap()["k"], "v");
    }
}
