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

/// A fingerprint of what is written, for what stays in this process (writes on their way, statuses settling):
/// `DefaultHasher`'s output may change with the Rust release, so it is never persisted ([`applied_digest`] is).
pub(crate) fn fingerprint(value: &impl Serialize) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    serde_json::to_vec(value).unwrap_or_default().hash(&mut hasher);
    hasher.finish()
}

/// The mark of what was applied, persisted (on a child, or in a service's status): `sha256:` and the first 16
/// hex digits of the SHA-256 of its JSON (object keys sorted), the same for the same content whatever the
/// toolchain or the process.
pub(crate) fn applied_digest(value: &Value) -> String {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(serde_json::to_vec(value).unwrap_or_default());
    let hex: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    format!("{DIGEST_SCHEME}{hex}")
}

/// The scheme of [`applied_digest`]'s marks.
const DIGEST_SCHEME: &str = "sha256:";

/// True for a mark an earlier operator wrote (another hash function): it says nothing about what is wanted now,
/// so a child that already has every wanted field is not rewritten for the mark alone (after an upgrade, every
/// child would be, once).
fn earlier_mark(mark: &str) -> bool {
    !mark.starts_with(DIGEST_SCHEME)
}

/// What a write puts back that someone else changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Repair {
    /// A field the operator sets was changed: its path (`spec.predictor.containers[0].env`).
    Changed(String),
    /// The object was deleted.
    Deleted,
}

impl Repair {
    /// The Event's reason.
    pub(crate) fn reason(&self) -> &'static str {
        match self {
            Repair::Changed(_) => "Restored",
            Repair::Deleted => "Recreated",
        }
    }

    /// What happened, for the Event's note.
    pub(crate) fn what(&self) -> String {
        match self {
            Repair::Changed(field) => format!("{field} was changed outside the operator"),
            Repair::Deleted => "it was deleted outside the operator".into(),
        }
    }

    /// The Event's action, naming the object and the field (at most 128 characters, the API server's limit).
    pub(crate) fn action(&self, object: &str) -> String {
        let mut action = match self {
            Repair::Changed(field) => format!("Restore {object} {field}"),
            Repair::Deleted => format!("Recreate {object}"),
        };
        if action.len() > 128 {
            let mut end = 128;
            while !action.is_char_boundary(end) {
                end -= 1;
            }
            action.truncate(end);
        }
        action
    }
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
        restores: Option<Repair>,
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
        let unmarked = body.clone();
        let hash = applied_digest(&body);
        if let Some(meta) = body.get_mut("metadata").and_then(Value::as_object_mut) {
            let annotations = meta
                .entry("annotations")
                .or_insert_with(|| Value::Object(Default::default()));
            if let Some(annotations) = annotations.as_object_mut() {
                annotations.insert(labels::APPLIED_HASH.into(), Value::String(hash.clone()));
            }
        }
        let have = existing.map(|e| serde_json::to_value(e).unwrap_or_default());
        let pointer = format!("/metadata/annotations/{}", labels::APPLIED_HASH.replace('/', "~1"));
        let mark = have
            .as_ref()
            .and_then(|h| h.pointer(&pointer)?.as_str().map(str::to_string));
        if let Some(have) = &have
            && (is_subset(&body, have) || (mark.as_deref().is_some_and(earlier_mark) && is_subset(&unmarked, have)))
        {
            return;
        }
        self.push_apply::<K>(
            body,
            have.as_ref(),
            mark.as_deref() == Some(hash.as_str()),
            existing,
            ownership,
        );
    }

    /// [`Writes::ensure_json`] of a child that must carry no mark of the operator's (an InferenceService: KServe
    /// copies its annotations onto the predictor's pods, so a mark that changes would roll every replica): the
    /// mark of what was last applied is `applied`, kept by the caller (in the service's status). Returns the mark
    /// of `body`, to keep. It is written when something it sets is not so (a change, a hand edit) or when what
    /// is wanted changed since `applied` (a field no longer set is then removed by the apply).
    pub(crate) fn ensure_unmarked<K>(
        &mut self,
        body: Value,
        existing: Option<&K>,
        applied: Option<&str>,
        ownership: Ownership,
    ) -> String
    where
        K: Resource<DynamicType = ()> + Serialize,
    {
        let hash = applied_digest(&body);
        let have = existing.map(|e| serde_json::to_value(e).unwrap_or_default());
        let changed = applied.is_some_and(|a| a != hash);
        if let Some(have) = &have
            && !changed
            && is_subset(&body, have)
        {
            return hash;
        }
        self.push_apply::<K>(body, have.as_ref(), applied == Some(hash.as_str()), existing, ownership);
        hash
    }

    /// An apply of `body` over `have` (the index's copy as JSON); `same_wanted`: what is wanted has not changed
    /// since it was last applied, so a difference is someone else's change, put back (and said so).
    fn push_apply<K>(
        &mut self,
        body: Value,
        have: Option<&Value>,
        same_wanted: bool,
        existing: Option<&K>,
        ownership: Ownership,
    ) where
        K: Resource<DynamicType = ()>,
    {
        let restores = have
            .filter(|_| same_wanted)
            .and_then(|have| first_difference(&body, have, String::new()))
            .map(Repair::Changed);
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

    /// Marks the last write as putting back an object someone deleted, for the Event that says so.
    pub(crate) fn restoring_deleted(&mut self) {
        if let Some(Write::Apply { restores, .. }) = self.0.last_mut()
            && restores.is_none()
        {
            *restores = Some(Repair::Deleted);
        }
    }

    /// What the writes put back that someone else changed: (the object, the repair), for Events.
    pub(crate) fn restorations(&self) -> Vec<(String, Repair)> {
        self.0
            .iter()
            .filter_map(|w| match w {
                Write::Apply {
                    target,
                    restores: Some(repair),
                    ..
                } => Some((target.describe(), repair.clone())),
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
    fn the_applied_mark_is_sha256_of_the_json_so_it_outlives_the_toolchain() {
        // Pinned: a change of the function would rewrite every child once after an upgrade.
        assert_eq!(
            applied_digest(&serde_json::json!({ "b": [true, "x"], "a": 1 })),
            "sha256:63e8063d9dc6f0fd"
        );
    }

    #[test]
    fn a_child_marked_by_an_earlier_operator_is_not_rewritten_for_the_mark_alone() {
        let desired = config_map("v", None);
        let mut first = Writes::new();
        first.ensure(&desired, None, Ownership::Owned);
        let mut earlier = first.objects::<ConfigMap>().remove(0);
        earlier
            .metadata
            .annotations
            .as_mut()
            .unwrap()
            .insert(labels::APPLIED_HASH.into(), "0123456789abcdef".into());
        let mut writes = Writes::new();
        writes.ensure(&desired, Some(&earlier), Ownership::Owned);
        assert!(writes.is_empty(), "every wanted field is there");
        let mut changed = earlier.clone();
        changed.data = Some([("k".to_string(), "other".to_string())].into());
        writes.ensure(&desired, Some(&changed), Ownership::Owned);
        assert_eq!(
            writes.iter().count(),
            1,
            "a real difference is written, and the new mark with it"
        );
    }

    #[test]
    fn an_unmarked_child_is_written_on_a_spec_change_or_a_hand_edit_and_carries_no_mark() {
        let body = serde_json::to_value(config_map("v", None)).unwrap();
        let mut writes = Writes::new();
        let mark = writes.ensure_unmarked::<ConfigMap>(body.clone(), None, None, Ownership::Owned);
        let Some(Write::Apply {
            body: written,
            restores,
            ..
        }) = writes.iter().next()
        else {
            panic!("made")
        };
        assert!(written.pointer("/metadata/annotations").is_none(), "no mark: {written}");
        assert_eq!(restores, &None);
        let applied: ConfigMap = serde_json::from_value(written.clone()).unwrap();
        // As wanted, as applied: nothing to write.
        let mut again = Writes::new();
        assert_eq!(
            again.ensure_unmarked::<ConfigMap>(body.clone(), Some(&applied), Some(&mark), Ownership::Owned),
            mark
        );
        assert!(again.is_empty());
        // Wanted changed since it was applied (a field dropped): written, though the copy has every field.
        let mut fewer = body.clone();
        fewer["data"] = serde_json::json!({});
        let mut dropped = Writes::new();
        dropped.ensure_unmarked::<ConfigMap>(fewer, Some(&applied), Some(&mark), Ownership::Owned);
        assert_eq!(dropped.iter().count(), 1);
        assert!(dropped.restorations().is_empty(), "a spec change is no repair");
        // Someone edited it: put back, and said so with the field.
        let mut edited = applied.clone();
        edited.data = Some([("k".to_string(), "by hand".to_string())].into());
        let mut repair = Writes::new();
        repair.ensure_unmarked::<ConfigMap>(body, Some(&edited), Some(&mark), Ownership::Owned);
        assert_eq!(
            repair.restorations(),
            [("ConfigMap c".to_string(), Repair::Changed("data.k".into()))]
        );
    }

    #[test]
    fn each_repair_is_an_event_of_its_own() {
        let env = Repair::Changed("spec.predictor.containers[0].env".into());
        let replicas = Repair::Changed("spec.predictor.minReplicas".into());
        assert_ne!(
            env.action("InferenceService chat"),
            replicas.action("InferenceService chat")
        );
        assert_eq!(Repair::Deleted.action("HTTPRoute chat"), "Recreate HTTPRoute chat");
        assert!(Repair::Changed("x".repeat(300)).action("InferenceService chat").len() <= 128);
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
