//! Decoding what a watch delivers without letting one bad object fail the kind: [`Readable<K>`] decodes as either
//! the object or an [`Unreadable`] (its metadata, and what could not be read, with the field's path).
//!
//! Like kube's `DeserializeGuard`, but the message names the field (`spec.aimModelId: invalid type: integer
//! `5`, expected a string`), which is what a person needs to fix the object. The object's JSON text is kept raw
//! and decoded straight into its type (no intermediate tree of values, which cost as much as the decode itself
//! on every watch event); the path is found again only for an object that failed.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Resource;
use serde::de::{Deserialize, DeserializeOwned, Deserializer};
use serde_json::value::RawValue;
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
        // The object's text, kept as it came (one copy, no tree of values): decoded once into `K`, and only
        // for an object that fails, again with the path tracked and for its metadata. This needs serde_json's
        // own deserializer, which is what reads a list, and a watch event whose `type` comes before its
        // `object`, as the API server writes them (`metav1.WatchEvent`'s field order).
        let raw = Box::<RawValue>::deserialize(deserializer)?;
        if let Ok(obj) = serde_json::from_str::<K>(raw.get()) {
            return Ok(Readable(Ok(obj)));
        }
        let error = match serde_path_to_error::deserialize::<_, K>(&mut serde_json::Deserializer::from_str(raw.get())) {
            Err(e) if e.path().to_string() != "." => format!("{}: {}", e.path(), e.inner()),
            Err(e) => e.inner().to_string(),
            Ok(_) => "it decodes only on a second try".to_string(),
        };
        let metadata = serde_json::from_str::<MetadataOnly>(raw.get())
            .map_err(serde::de::Error::custom)?
            .metadata
            .unwrap_or_default();
        Ok(Readable(Err(Unreadable { error, metadata })))
    }
}

/// An object's metadata, whatever else it holds.
#[derive(serde::Deserialize)]
struct MetadataOnly {
    #[serde(default)]
    metadata: Option<ObjectMeta>,
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
    use kube::core::WatchEvent;
    use serde_json::json;

    /// As a watch delivers it: one line of text, the event's type first (as the API server writes it; the
    /// object is then decoded straight from the text).
    fn delivered(object: serde_json::Value) -> Readable<ConfigMap> {
        let line = format!(r#"{{"type":"MODIFIED","object":{object}}}"#);
        match serde_json::from_str::<WatchEvent<Readable<ConfigMap>>>(&line).unwrap() {
            WatchEvent::Modified(read) => read,
            other => panic!("not a modification: {other:?}"),
        }
    }

    #[test]
    fn an_unreadable_object_keeps_its_metadata_and_names_the_field() {
        let read = delivered(json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": { "name": "c", "namespace": "n", "resourceVersion": "7" },
            "data": { "k": 5 },
        }));
        let bad = read.0.unwrap_err();
        assert_eq!(bad.metadata.name.as_deref(), Some("c"));
        assert_eq!(bad.metadata.resource_version.as_deref(), Some("7"));
        assert!(
            bad.error.starts_with("data.k: invalid type: integer `5`"),
            "{}",
            bad.error
        );

        let read = delivered(json!({ "metadata": { "name": "c" }, "data": { "k": "v" } }));
        assert_eq!(read.0.unwrap().data.unwrap()["k"], "v");
    }

    #[test]
    fn a_list_reads_its_objects_one_by_one() {
        let text = json!({
            "metadata": { "resourceVersion": "9" },
            "items": [
                { "metadata": { "name": "good" }, "data": { "k": "v" } },
                { "metadata": { "name": "bad" }, "data": 3 },
            ],
        })
        .to_string();
        let list: kube::core::ObjectList<Readable<ConfigMap>> = serde_json::from_str(&text).unwrap();
        let names: Vec<_> = list
            .items
            .iter()
            .map(|r| (r.meta().name.clone().unwrap(), r.0.is_ok()))
            .collect();
        assert_eq!(names, [("good".to_string(), true), ("bad".to_string(), false)]);
    }
}
