//! One watch of one kind, feeding the index: every event is stored in a reflector store (what the controllers
//! read) and, once stored, handed on as a [`Change`] (what wakes the controllers it affects).
//!
//! On a relist (the first list, or a restart of the watch after the API server or etcd came back, or after the
//! watch fell too far behind) the store is swapped atomically and the difference between the store before and
//! after is handed on, so a change made while the watch was down still reaches the objects it affects, and an
//! object deleted meanwhile is seen as deleted.

use super::health::WatchHealth;
use super::readable::{Readable, Unreadable};
use futures::{Stream, StreamExt};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Resource;
use kube::runtime::reflector::store::Writer;
use kube::runtime::reflector::{Lookup, ObjectRef};
use kube::runtime::watcher::{self, Event};
use std::collections::HashMap;
use std::fmt::Debug;
use std::hash::Hash;
use std::sync::Arc;

/// What the index held for one object before and after an event. `new: None` means deleted.
#[derive(Debug)]
pub struct Change<K> {
    /// Before (`None`: the object is new to the index).
    pub old: Option<Arc<K>>,
    /// After (`None`: the object is gone).
    pub new: Option<Arc<K>>,
}

impl<K> Change<K> {
    /// The object as it is now, or as it was when it was deleted.
    pub fn latest(&self) -> &Arc<K> {
        self.new
            .as_ref()
            .or(self.old.as_ref())
            .expect("a change has an object before or after it")
    }

    /// Both versions that exist (before and after), for routing that must wake what either touched.
    pub fn both(&self) -> impl Iterator<Item = &Arc<K>> {
        self.old.iter().chain(self.new.iter())
    }
}

impl<K: Resource + Clone + PartialEq> Change<K> {
    /// True when the index holds the same object before and after but for its resourceVersion: an update of
    /// fields the index does not keep (slimmed away: a node's heartbeat, a Deployment's condition timestamps)
    /// or a write that changed nothing. No decision read from the index can differ, so it wakes no one.
    pub fn unchanged(&self) -> bool {
        let (Some(old), Some(new)) = (&self.old, &self.new) else {
            return false;
        };
        if Arc::ptr_eq(old, new) {
            return true;
        }
        let mut old = old.as_ref().clone();
        old.meta_mut().resource_version = new.meta().resource_version.clone();
        old == **new
    }
}

/// True when `error` is a failure to reach the API server, not an answer from it.
fn unreachable(error: &watcher::Error) -> bool {
    match error {
        watcher::Error::InitialListFailed(e) | watcher::Error::WatchStartFailed(e) | watcher::Error::WatchFailed(e) => {
            !matches!(e, kube::Error::Api(_))
        }
        watcher::Error::WatchError(_) | watcher::Error::NoResourceVersion => false,
    }
}

/// `namespace/name` (or `name`), the key undecodable objects are tracked by.
fn key_of(meta: &ObjectMeta) -> String {
    match &meta.namespace {
        Some(ns) => format!("{ns}/{}", meta.name.as_deref().unwrap_or_default()),
        None => meta.name.clone().unwrap_or_default(),
    }
}

/// The reference the index would store an object with these metadata under.
fn ref_of<K: Lookup>(meta: &ObjectMeta, dyntype: &K::DynamicType) -> ObjectRef<K>
where
    K::DynamicType: Clone,
{
    let key = ObjectRef::new_with(meta.name.as_deref().unwrap_or_default(), dyntype.clone());
    match &meta.namespace {
        Some(ns) => key.within(ns),
        None => key,
    }
}

/// Runs until `events` ends (it does not: watchers retry with backoff), keeping `writer`'s store in step and
/// passing each change to `on_change` after the store holds it. `slim` drops what no controller reads before
/// an object is stored (managed fields, large annotations), which is most of an object's memory.
///
/// An object the operator's types cannot read (stored before a schema change, written by a newer operator, or
/// edited past what the schema checks) is skipped, not a failure of the whole kind: the index keeps the version
/// it last read (so nothing that depends on it is collected as unused), or does not hold it at all, and
/// `on_undecodable` is called once per version of it so that it can be reported.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn run<K, S>(
    kind: &'static str,
    events: S,
    mut writer: Writer<K>,
    dyntype: K::DynamicType,
    slim: impl Fn(&mut K),
    mut on_change: impl FnMut(Change<K>),
    mut on_undecodable: impl FnMut(&Unreadable),
    health: Arc<WatchHealth>,
) where
    K: Lookup + Clone + Debug + Send + Sync + 'static,
    K::DynamicType: Eq + Hash + Clone,
    S: Stream<Item = Result<Event<Readable<K>>, watcher::Error>>,
{
    let store = writer.as_reader();
    let mut before_relist: Option<HashMap<ObjectRef<K>, Arc<K>>> = None;
    let mut events = std::pin::pin!(events);
    let mut undecodable = |invalid: &Unreadable| {
        let meta = &invalid.metadata;
        let version = meta.resource_version.as_deref().unwrap_or_default();
        if health.undecodable(kind, key_of(meta), version) {
            on_undecodable(invalid);
        }
    };
    while let Some(event) = events.next().await {
        let event = match event {
            Ok(event) => {
                health.seen(kind);
                event
            }
            Err(error) => {
                health.failed(kind, &error, unreachable(&error));
                continue;
            }
        };
        match event {
            Event::Apply(Readable(Ok(mut obj))) => {
                slim(&mut obj);
                let key = obj.to_object_ref(dyntype.clone());
                readable(&health, kind, &obj);
                let old = store.get(&key);
                writer.apply_watcher_event(&Event::Apply(obj));
                on_change(Change {
                    old,
                    new: store.get(&key),
                });
            }
            // Kept as last read: no change to hand on.
            Event::Apply(Readable(Err(invalid))) => undecodable(&invalid),
            Event::Delete(Readable(decoded)) => {
                let (key, obj) = match decoded {
                    Ok(obj) => (obj.to_object_ref(dyntype.clone()), Some(obj)),
                    Err(invalid) => (ref_of(&invalid.metadata, &dyntype), None),
                };
                health.decodable(kind, key_of_ref(&key));
                let Some(old) = store.get(&key).or(obj.map(Arc::new)) else {
                    continue;
                };
                writer.apply_watcher_event(&Event::Delete(old.as_ref().clone()));
                on_change(Change {
                    old: Some(old),
                    new: None,
                });
            }
            Event::Init => {
                before_relist = Some(
                    store
                        .state()
                        .into_iter()
                        .map(|o| (o.to_object_ref(dyntype.clone()), o))
                        .collect(),
                );
                writer.apply_watcher_event(&Event::Init);
            }
            Event::InitApply(Readable(Ok(mut obj))) => {
                slim(&mut obj);
                readable(&health, kind, &obj);
                writer.apply_watcher_event(&Event::InitApply(obj));
            }
            Event::InitApply(Readable(Err(invalid))) => {
                undecodable(&invalid);
                let last_read = before_relist
                    .as_ref()
                    .and_then(|before| before.get(&ref_of(&invalid.metadata, &dyntype)));
                if let Some(last_read) = last_read {
                    writer.apply_watcher_event(&Event::InitApply(last_read.as_ref().clone()));
                }
            }
            Event::InitDone => {
                writer.apply_watcher_event(&Event::InitDone);
                let mut before = before_relist.take().unwrap_or_default();
                for new in store.state() {
                    let old = before.remove(&new.to_object_ref(dyntype.clone()));
                    if old.as_ref().and_then(|o| o.resource_version()) != new.resource_version() || old.is_none() {
                        on_change(Change { old, new: Some(new) });
                    }
                }
                for (_, old) in before {
                    on_change(Change {
                        old: Some(old),
                        new: None,
                    });
                }
                health.synced(kind);
            }
        }
    }
}

fn key_of_ref<K: Lookup>(key: &ObjectRef<K>) -> String {
    match &key.namespace {
        Some(ns) => format!("{ns}/{}", key.name),
        None => key.name.clone(),
    }
}

/// An object read: if it could not be read before, say that it can now.
fn readable<K: Lookup>(health: &WatchHealth, kind: &'static str, obj: &K) {
    let key = match obj.namespace() {
        Some(ns) => format!("{ns}/{}", obj.name().unwrap_or_default()),
        None => obj.name().unwrap_or_default().into_owned(),
    };
    if health.decodable(kind, key.clone()) {
        tracing::info!(kind, object = key, "the object can be read again");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ConfigMap;

    fn good(name: &str, version: &str, data: &str) -> Readable<ConfigMap> {
        let mut cm = ConfigMap::default();
        cm.metadata.name = Some(name.into());
        cm.metadata.namespace = Some("ns".into());
        cm.metadata.resource_version = Some(version.into());
        cm.data = Some([("k".to_string(), data.to_string())].into());
        Readable(Ok(cm))
    }

    fn bad(name: &str, version: &str) -> Readable<ConfigMap> {
        Readable(Err(Unreadable {
            error: "invalid type: string \"two\", expected i32".into(),
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some("ns".into()),
                resource_version: Some(version.into()),
                ..Default::default()
            },
        }))
    }

    fn data(store: &kube::runtime::reflector::Store<ConfigMap>, name: &str) -> Option<String> {
        let cm = store.get(&ObjectRef::new(name).within("ns"))?;
        cm.data.as_ref()?.get("k").cloned()
    }

    /// One object the operator's types cannot read neither fails the list nor hides the others; it keeps the
    /// version last read, through a relist too, and is reported once per version.
    #[tokio::test]
    async fn an_undecodable_object_is_reported_once_per_version_and_keeps_what_was_last_read() {
        let health = Arc::new(WatchHealth::new(&["configmaps"]));
        let writer = Writer::<ConfigMap>::new(());
        let store = writer.as_reader();
        let events = futures::stream::iter(
            [
                Event::Init,
                Event::InitApply(good("a", "1", "first")),
                Event::InitApply(bad("b", "2")),
                Event::InitDone,
                // `a` turns unreadable: kept as last read, reported once though seen twice at that version.
                Event::Apply(bad("a", "3")),
                Event::Apply(bad("a", "3")),
                // A relist while `a` is still unreadable keeps it as well.
                Event::Init,
                Event::InitApply(bad("a", "3")),
                Event::InitApply(bad("b", "2")),
                Event::InitDone,
                // `b` is fixed; an unreadable delete of `a` still removes it.
                Event::Apply(good("b", "4", "fixed")),
                Event::Delete(bad("a", "5")),
            ]
            .map(Ok),
        );
        let mut reported = Vec::new();
        let mut changes = Vec::new();
        run(
            "configmaps",
            events,
            writer,
            (),
            |_| {},
            |c: Change<ConfigMap>| changes.push((c.old.is_some(), c.new.is_some())),
            |invalid: &Unreadable| {
                reported.push(format!(
                    "{}@{}",
                    invalid.metadata.name.as_deref().unwrap_or_default(),
                    invalid.metadata.resource_version.as_deref().unwrap_or_default()
                ))
            },
            health.clone(),
        )
        .await;
        assert_eq!(reported, ["b@2", "a@3"], "once per object version");
        assert!(health.is_ready(), "the kind is listed: {:?}", health.problems());
        assert_eq!(data(&store, "a"), None, "deleted");
        assert_eq!(data(&store, "b").as_deref(), Some("fixed"));
        assert_eq!(health.undecodable_count("configmaps"), 0, "b was fixed and a is gone");
        // a created at the first list, b created when fixed, a deleted; nothing for the unreadable versions.
        assert_eq!(changes, [(false, true), (false, true), (true, false)]);
    }
}
