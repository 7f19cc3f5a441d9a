//! Writes the operator made that the index has not seen yet. The index lags the API server by one watch event:
//! a reconcile that runs between a write and its event would read the old object and write the same thing
//! again. Each write is remembered here until the index stores an event of that object (or, if that never
//! comes, for a short while), and a write of the same content on top of the same version is skipped meanwhile.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a write is assumed to be on its way to the index. Watch events arrive in milliseconds; after this,
/// a write the index never showed is written again rather than trusted.
const IN_FLIGHT: Duration = Duration::from_secs(30);

/// What was written to an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum What {
    /// The object itself (create or update).
    Object,
    Status,
    Delete,
}

/// A written object.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Key {
    pub(crate) kind: String,
    /// Its namespace (empty for cluster-scoped objects).
    pub(crate) namespace: String,
    pub(crate) name: String,
    pub(crate) what: What,
}

#[derive(Debug, Clone)]
struct Entry {
    /// The object's resourceVersion in the index when it was written (`None`: it did not exist).
    based_on: Option<String>,
    fingerprint: u64,
    at: Instant,
}

/// Writes made but not yet seen in the index.
#[derive(Debug, Default)]
pub(crate) struct PendingWrites {
    entries: Mutex<HashMap<Key, Entry>>,
}

impl PendingWrites {
    /// True when the same content was written on top of the version the index still shows and the index has
    /// not seen the object change since: the write is on its way, and writing it again would change nothing.
    pub(crate) fn in_flight(&self, key: &Key, current: Option<&str>, fingerprint: u64) -> bool {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        Self::matches(entries.get(key), current, fingerprint)
    }

    /// Remembers a write of `fingerprint` over version `based_on`.
    pub(crate) fn record(&self, key: Key, based_on: Option<String>, fingerprint: u64) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        Self::insert(&mut entries, key, based_on, fingerprint);
    }

    /// Claims a write about to be made: false when the same write is already on its way (made, or being made by
    /// another reconcile right now), else it is recorded as on its way, in one step. Reconciles of different
    /// objects that make the same shared object at once (the template cache of the services of one template)
    /// make it once, where checking before the request and recording after it let each of them through. A
    /// claimed write that fails is [`released`](Self::release).
    pub(crate) fn claim(&self, key: &Key, based_on: Option<&str>, fingerprint: u64) -> bool {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if Self::matches(entries.get(key), based_on, fingerprint) {
            return false;
        }
        Self::insert(&mut entries, key.clone(), based_on.map(str::to_string), fingerprint);
        true
    }

    /// A claimed write failed: it is not on its way.
    pub(crate) fn release(&self, key: &Key) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.remove(key);
    }

    fn matches(entry: Option<&Entry>, current: Option<&str>, fingerprint: u64) -> bool {
        entry.is_some_and(|e| {
            e.fingerprint == fingerprint && e.based_on.as_deref() == current && e.at.elapsed() < IN_FLIGHT
        })
    }

    fn insert(entries: &mut HashMap<Key, Entry>, key: Key, based_on: Option<String>, fingerprint: u64) {
        if entries.len() > 4096 {
            entries.retain(|_, e| e.at.elapsed() < IN_FLIGHT);
        }
        entries.insert(
            key,
            Entry {
                based_on,
                fingerprint,
                at: Instant::now(),
            },
        );
    }

    /// The index stored an event of this object: whatever was written to it is no longer on its way.
    pub(crate) fn seen(&self, kind: &str, namespace: &str, name: &str) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.is_empty() {
            return;
        }
        for what in [What::Object, What::Status, What::Delete] {
            entries.remove(&Key {
                kind: kind.to_string(),
                namespace: namespace.to_string(),
                name: name.to_string(),
                what,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> Key {
        Key {
            kind: "Job".into(),
            namespace: "ns".into(),
            name: "j".into(),
            what: What::Object,
        }
    }

    #[test]
    fn a_write_is_in_flight_until_the_index_sees_the_object_or_the_content_changes() {
        let pending = PendingWrites::default();
        assert!(!pending.in_flight(&key(), None, 7));
        pending.record(key(), None, 7);
        assert!(
            pending.in_flight(&key(), None, 7),
            "the index has not shown the created object yet"
        );
        assert!(
            !pending.in_flight(&key(), None, 8),
            "different content is a different write"
        );
        assert!(
            !pending.in_flight(&key(), Some("12"), 7),
            "the index shows another version: compare against it"
        );
        pending.seen("Job", "ns", "j");
        assert!(
            !pending.in_flight(&key(), None, 7),
            "once seen (even if deleted again since), the same write is a new write"
        );
    }

    #[test]
    fn of_two_claims_of_the_same_write_one_goes_and_a_failed_one_is_released() {
        let pending = PendingWrites::default();
        assert!(pending.claim(&key(), None, 7), "the first claim makes the write");
        assert!(
            !pending.claim(&key(), None, 7),
            "a second reconcile making the same object meanwhile does not"
        );
        assert!(pending.in_flight(&key(), None, 7));
        assert!(pending.claim(&key(), None, 8), "other content is another write");
        pending.release(&key());
        assert!(pending.claim(&key(), None, 8), "a failed write may be made again");
    }
}
