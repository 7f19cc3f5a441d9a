//! One watch of one kind, feeding the index: every event is stored in a reflector store (what the controllers
//! read) and, once stored, handed on as a [`Change`] (what wakes the controllers it affects).
//!
//! On a relist (the first list, or a restart of the watch after the API server or etcd came back, or after the
//! watch fell too far behind) the store is swapped atomically and the difference between the store before and
//! after is handed on, so a change made while the watch was down still reaches the objects it affects, and an
//! object deleted meanwhile is seen as deleted.

use super::health::WatchHealth;
use futures::{Stream, StreamExt};
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

/// True when `error` is a failure to reach the API server, not an answer from it.
fn unreachable(error: &watcher::Error) -> bool {
    match error {
        watcher::Error::InitialListFailed(e) | watcher::Error::WatchStartFailed(e) | watcher::Error::WatchFailed(e) => {
            !matches!(e, kube::Error::Api(_))
        }
        watcher::Error::WatchError(_) | watcher::Error::NoResourceVersion => false,
    }
}

/// Runs until `events` ends (it does not: watchers retry with backoff), keeping `writer`'s store in step and
/// passing each change to `on_change` after the store holds it. `slim` drops what no controller reads before
/// an object is stored (managed fields, large annotations), which is most of an object's memory.
pub async fn run<K, S>(
    kind: &'static str,
    events: S,
    mut writer: Writer<K>,
    dyntype: K::DynamicType,
    slim: impl Fn(&mut K),
    mut on_change: impl FnMut(Change<K>),
    health: Arc<WatchHealth>,
) where
    K: Lookup + Clone + Debug + Send + Sync + 'static,
    K::DynamicType: Eq + Hash + Clone,
    S: Stream<Item = Result<Event<K>, watcher::Error>>,
{
    let store = writer.as_reader();
    let mut before_relist: Option<HashMap<ObjectRef<K>, Arc<K>>> = None;
    let mut events = std::pin::pin!(events);
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
            Event::Apply(mut obj) => {
                slim(&mut obj);
                let key = obj.to_object_ref(dyntype.clone());
                let old = store.get(&key);
                writer.apply_watcher_event(&Event::Apply(obj));
                on_change(Change {
                    old,
                    new: store.get(&key),
                });
            }
            Event::Delete(obj) => {
                let key = obj.to_object_ref(dyntype.clone());
                let old = store.get(&key).unwrap_or_else(|| Arc::new(obj.clone()));
                writer.apply_watcher_event(&Event::Delete(obj));
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
            Event::InitApply(mut obj) => {
                slim(&mut obj);
                writer.apply_watcher_event(&Event::InitApply(obj));
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
