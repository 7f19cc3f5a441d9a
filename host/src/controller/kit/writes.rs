//! What a plan asks to write, as a list ([`Writes`]) that one loop carries out ([`super::apply::carry_out`]).
//!
//! "Only differences" is decided here, once, for typed and untyped children alike: a plan adds a write with the
//! index's copy of the object, and a write the copy already satisfies (every field of the desired object has
//! the same value in it; what the API server or other controllers added does not count) is not added at all.

use crate::index::pending::What;
use crate::labels;
use kube::Resource;
use kube::api::ApiResource;
use serde::Serialize;
use serde_json::Value;

/// A stable fingerprint of what is written.
pub(crate) fn fingerprint(value: &impl Serialize) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    serde_json::to_vec(value).unwrap_or_default().hash(&mut hasher);
    hasher.finish()
}

/// Who else writes an object, which decides how an update guards against them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ownership {
    /// Only this object's reconcile writes it: apply without a precondition.
    Owned,
    /// Reconciles of several objects may write it (a derived template many services share): an update carries
    /// the resourceVersion it was planned from, so a concurrent one fails (and is retried) instead of being
    /// overwritten.
    Shared,
}

/// What a write needs before it may go out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Guard {
    None,
    /// A free discovery slot (the cap on discovery Jobs running at once, cluster-wide).
    DiscoverySlot,
}

/// The object a write is about.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Target {
    pub(crate) resource: ApiResource,
    /// Its namespace (`None`: cluster-scoped).
    pub(crate) namespace: Option<String>,
    pub(crate) name: String,
}

impl Target {
    fn of<K: Resource<DynamicType = ()>>(namespace: Option<String>, name: String) -> Self {
        Target {
            resource: ApiResource::erase::<K>(&()),
            namespace,
            name,
        }
    }

    /// `Kind name`, for messages.
    pub(crate) fn describe(&self) -> String {
        format!("{} {}", self.resource.kind, self.name)
    }
}

/// One write.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Write {
    /// Server-side apply of `body` (create or update).
    Apply {
        target: Target,
        /// What it should be.
        body: Value,
        /// The resourceVersion of the index's copy (`None`: it does not exist).
        based_on: Option<String>,
        /// Who else writes it.
        ownership: Ownership,
        /// What this write puts back that someone else changed (or deleted), for the Event that says so.
        restores: Option<String>,
    },
    /// Create `body`, which the index does not show; never changed after (Jobs, claims).
    Create {
        target: Target,
        body: Value,
        /// What it needs first.
        guard: Guard,
    },
    /// Delete the object as the index shows it (only if it is still the same object: same uid).
    Delete {
        target: Target,
        uid: Option<String>,
        /// Its resourceVersion in the index.
        based_on: Option<String>,
    },
}

impl Write {
    pub(crate) fn target(&self) -> &Target {
        match self {
            Write::Apply { target, .. } | Write::Create { target, .. } | Write::Delete { target, .. } => target,
        }
    }

    /// What the write changes, for the index's record of writes on their way.
    pub(crate) fn what(&self) -> What {
        match self {
            Write::Delete { .. } => What::Delete,
            _ => What::Object,
        }
    }
}

/// True when every field of `wanted` has the same value in `have` (fields the API server or other controllers
/// added are ignored; numbers compare by value, so `2` equals `2.0`).
/// The first field (as `spec.a.b[0].c`) where `have` lacks or differs from `wanted`, if any.
pub(crate) fn first_difference(wanted: &Value, have: &Value, at: String) -> Option<String> {
    match (wanted, have) {
        (Value::Object(w), Value::Object(h)) => w.iter().find_map(|(k, v)| {
            let field = if at.is_empty() { k.clone() } else { format!("{at}.{k}") };
            match h.get(k) {
                Some(hv) => first_difference(v, hv, field),
                None => Some(field),
            }
        }),
        (Value::Array(w), Value::Array(h)) if w.len() == h.len() => w
            .iter()
            .zip(h)
            .enumerate()
            .find_map(|(i, (a, b))| first_difference(a, b, format!("{at}[{i}]"))),
        _ if is_subset(wanted, have) => None,
        _ => Some(at),
    }
}

pub(crate) fn is_subset(wanted: &Value, have: &Value) -> bool {
    match (wanted, have) {
        (Value::Object(w), Value::Object(h)) => w.iter().all(|(k, v)| h.get(k).is_some_and(|hv| is_subset(v, hv))),
        (Value::Array(w), Value::Array(h)) => w.len() == h.len() && w.iter().zip(h).all(|(a, b)| is_subset(a, b)),
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        _ => wanted == have,
    }
}

/// The writes of one plan, in the order they are to be made (deletions go after the status).
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Writes(Vec<Write>);

impl Writes {
    pub(crate) fn new() -> Self {
        Writes::default()
    }

    /// Makes the object as `desired` says, unless `existing` (the index's copy) already has every field of it.
    pub(crate) fn ensure<K>(&mut self, desired: &K, existing: Option<&K>, ownership: Ownership)
    where
        K: Resource<DynamicType = ()> + Serialize,
    {
        let body = serde_json::to_value(desired).unwrap_or_default();
        self.ensure_json::<K>(body, existing, ownership);
    }

    /// [`Writes::ensure`] of an object built as JSON (an InferenceService, an HTTPRoute).
    ///
    /// The object carries the hash of what was wanted ([`labels::APPLIED_HASH`]): a field that is no longer
    /// wanted changes the hash, so the comparison catches a removal as well as a change or a hand edit.
    pub(crate) fn ensure_json<K>(&mut self, mut body: Value, existing: Option<&K>, ownership: Ownership)
    where
        K: Resource<DynamicType = ()> + Serialize,
    {
        let hash = format!("{:016x}", fingerprint(&body));
        if let Some(meta) = body.get_mut("metadata").and_then(Value::as_object_mut) {
            let annotations = meta
                .entry("annotations")
                .or_insert_with(|| Value::Object(Default::default()));
            if let Some(annotations) = annotations.as_object_mut() {
                annotations.insert(labels::APPLIED_HASH.into(), Value::String(hash));
            }
        }
        let have = existing.map(|e| serde_json::to_value(e).unwrap_or_default());
        if let Some(have) = &have
            && is_subset(&body, have)
        {
            return;
        }
        // The same wanted (same hash) yet different: someone else changed a field the operator sets.
        let restores = have.as_ref().and_then(|have| {
            let pointer = format!("/metadata/annotations/{}", labels::APPLIED_HASH.replace('/', "~1"));
            (have.pointer(&pointer) == body.pointer(&pointer))
                .then(|| first_difference(&body, have, String::new()))
                .flatten()
                .map(|field| format!("{field} was changed outside the operator"))
        });
        let target = Target::of::<K>(
            json_str(&body, "/metadata/namespace"),
            json_str(&body, "/metadata/name").unwrap_or_default(),
        );
        self.0.push(Write::Apply {
            target,
            body,
            based_on: existing.and_then(|e| e.meta().resource_version.clone()),
            ownership,
            restores,
        });
    }

    /// Marks the last write as putting back `what` (an object someone deleted), for the Event that says so.
    pub(crate) fn restoring(&mut self, what: impl Into<String>) {
        if let Some(Write::Apply { restores, .. }) = self.0.last_mut()
            && restores.is_none()
        {
            *restores = Some(what.into());
        }
    }

    /// What the writes put back that someone else changed: (the object, what), for Events.
    pub(crate) fn restorations(&self) -> Vec<(String, String)> {
        self.0
            .iter()
            .filter_map(|w| match w {
                Write::Apply {
                    target,
                    restores: Some(what),
                    ..
                } => Some((target.describe(), what.clone())),
                _ => None,
            })
            .collect()
    }

    /// Creates `desired` when the index shows no such object (`existing`); never changes an existing one.
    pub(crate) fn create_once<K>(&mut self, desired: &K, existing: Option<&K>)
    where
        K: Resource<DynamicType = ()> + Serialize,
    {
        self.create_guarded(desired, existing, Guard::None);
    }

    /// [`Writes::create_once`], once `guard` allows it.
    pub(crate) fn create_guarded<K>(&mut self, desired: &K, existing: Option<&K>, guard: Guard)
    where
        K: Resource<DynamicType = ()> + Serialize,
    {
        if existing.is_some() {
            return;
        }
        let meta = desired.meta();
        self.0.push(Write::Create {
            target: Target::of::<K>(meta.namespace.clone(), meta.name.clone().unwrap_or_default()),
            body: serde_json::to_value(desired).unwrap_or_default(),
            guard,
        });
    }

    /// Deletes `existing` (the index's copy), if there is one.
    pub(crate) fn delete<K: Resource<DynamicType = ()>>(&mut self, existing: Option<&K>) {
        let Some(existing) = existing else { return };
        let meta = existing.meta();
        self.0.push(Write::Delete {
            target: Target::of::<K>(meta.namespace.clone(), meta.name.clone().unwrap_or_default()),
            uid: meta.uid.clone(),
            based_on: meta.resource_version.clone(),
        });
    }

    #[cfg(test)]
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Write> {
        self.0.iter()
    }

    #[cfg(test)]
    /// True when there are none.
    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    #[cfg(test)]
    /// The objects of kind `K` this plan creates or applies, as written (for tests and readers of a plan).
    pub(crate) fn objects<K: Resource<DynamicType = ()> + serde::de::DeserializeOwned>(&self) -> Vec<K> {
        let kind = K::kind(&());
        self.0
            .iter()
            .filter_map(|w| match w {
                Write::Apply { target, body, .. } | Write::Create { target, body, .. }
                    if target.resource.kind == kind =>
                {
                    serde_json::from_value(body.clone()).ok()
                }
                _ => None,
            })
            .collect()
    }

    #[cfg(test)]
    /// The names of the objects of kind `K` this plan deletes.
    pub(crate) fn deleted<K: Resource<DynamicType = ()>>(&self) -> Vec<String> {
        let kind = K::kind(&());
        self.0
            .iter()
            .filter_map(|w| match w {
                Write::Delete { target, .. } if target.resource.kind == kind => Some(target.name.clone()),
                _ => None,
            })
            .collect()
    }

    /// Every write but the deletions, then the deletions.
    pub(crate) fn split_deletions(self) -> (Vec<Write>, Vec<Write>) {
        self.0.into_iter().partition(|w| !matches!(w, Write::Delete { .. }))
    }
}

fn json_str(body: &Value, pointer: &str) -> Option<String> {
    body.pointer(pointer).and_then(Value::as_str).map(String::from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ConfigMap;
    use serde_json::json;

    #[test]
    fn server_added_fields_do_not_count_as_differences() {
        let wanted = json!({ "spec": { "replicas": 2, "ports": [{ "port": 80 }] } });
        let have = json!({ "spec": { "replicas": 2.0, "ports": [{ "port": 80, "protocol": "TCP" }], "extra": 1 }, "status": {} });
        assert!(is_subset(&wanted, &have));
        assert!(!is_subset(&json!({ "spec": { "replicas": 3 } }), &have));
        assert!(!is_subset(&json!({ "spec": { "ports": [] } }), &have));
    }

    fn config_map(data: &str, version: Option<&str>) -> ConfigMap {
        let mut cm = ConfigMap::default();
        cm.metadata.name = Some("c".into());
        cm.metadata.namespace = Some("n".into());
        cm.metadata.resource_version = version.map(String::from);
        cm.data = Some([("k".to_string(), data.to_string())].into());
        cm
    }

    #[test]
    fn only_differences_are_planned_and_a_shared_update_carries_its_version() {
        let desired = config_map("v", None);
        // What the operator applied comes back from the API server with a version.
        let mut first = Writes::new();
        first.ensure(&desired, None, Ownership::Shared);
        let mut applied = first.objects::<ConfigMap>().remove(0);
        applied.metadata.resource_version = Some("7".into());
        assert!(
            applied
                .metadata
                .annotations
                .as_ref()
                .unwrap()
                .contains_key(labels::APPLIED_HASH)
        );

        let mut writes = Writes::new();
        writes.ensure(&desired, Some(&applied), Ownership::Shared);
        assert!(writes.is_empty(), "the index already has it");
        let mut edited = applied.clone();
        edited.data = Some([("k".to_string(), "changed by hand".to_string())].into());
        writes.ensure(&desired, Some(&edited), Ownership::Shared);
        writes.create_once(&desired, Some(&edited));
        writes.delete::<ConfigMap>(None);
        let planned: Vec<&Write> = writes.iter().collect();
        assert_eq!(
            planned.len(),
            1,
            "create_once of an existing object and delete of nothing are no writes"
        );
        let Write::Apply {
            target,
            based_on,
            ownership,
            ..
        } = planned[0]
        else {
            panic!("{planned:?}")
        };
        assert_eq!(
            (target.describe(), based_on.as_deref(), *ownership),
            ("ConfigMap c".into(), Some("7"), Ownership::Shared)
        );
    }

    #[test]
    fn a_field_no_longer_wanted_is_a_difference() {
        let mut two = config_map("v", None);
        two.data.as_mut().unwrap().insert("gone".into(), "soon".into());
        let mut first = Writes::new();
        first.ensure(&two, None, Ownership::Owned);
        let applied = first.objects::<ConfigMap>().remove(0);
        let mut writes = Writes::new();
        writes.ensure(&config_map("v", None), Some(&applied), Ownership::Owned);
        assert_eq!(writes.iter().count(), 1, "the hash of what is wanted changed");
    }
}
