//! Decisions remembered per policy. Plugins are pure (no clock, no randomness, no I/O), so a decision is a
//! function of the plugin and the request: it is kept, keyed by the plugin's digest and the request, and
//! answered again without any WebAssembly work. Answers and deterministic refusals are kept; timeouts,
//! instantiation failures and memory exhaustion (which depend on load, not on the request) never are. The memo
//! is bounded (the oldest entries go first) and emptied when the policy's plugin is swapped.

use super::error::CallError;
use sha2::{Digest, Sha256};
use std::collections::{HashMap, VecDeque};
use std::fmt::Debug;
use std::sync::Mutex;

/// Entries kept per policy.
pub const CAPACITY: usize = 4096;

/// A request's key: SHA-256 over the plugin digest and the request's debug form (generated WIT records print
/// every field, in declaration order), cut to 128 bits.
pub type Key = [u8; 16];

/// The key of `request` for the plugin with `digest`.
pub fn key(digest: &str, request: &impl Debug) -> Key {
    let mut hasher = Sha256::new();
    hasher.update(digest.as_bytes());
    hasher.update([0]);
    hasher.update(format!("{request:?}").as_bytes());
    let full = hasher.finalize();
    let mut key = [0; 16];
    key.copy_from_slice(&full[..16]);
    key
}

/// True for failures that are a function of the request (and so are worth remembering).
pub fn deterministic(error: &CallError) -> bool {
    matches!(
        error,
        CallError::Refused { .. } | CallError::InvalidOutput { .. } | CallError::Trap { .. }
    )
}

/// Remembered decisions of one policy.
#[derive(Debug)]
pub struct Memo<T> {
    inner: Mutex<Entries<T>>,
}

#[derive(Debug)]
struct Entries<T> {
    map: HashMap<Key, Result<T, CallError>>,
    order: VecDeque<Key>,
}

impl<T> Default for Memo<T> {
    fn default() -> Self {
        Memo {
            inner: Mutex::new(Entries {
                map: HashMap::new(),
                order: VecDeque::new(),
            }),
        }
    }
}

impl<T: Clone> Memo<T> {
    /// The remembered outcome of `key`.
    pub fn get(&self, key: &Key) -> Option<Result<T, CallError>> {
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .map
            .get(key)
            .cloned()
    }

    /// Remembers `outcome` unless it is a failure that depends on load rather than on the request.
    pub fn put(&self, key: Key, outcome: &Result<T, CallError>) {
        if outcome.as_ref().is_err_and(|e| !deterministic(e)) {
            return;
        }
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if inner.map.insert(key, outcome.clone()).is_none() {
            inner.order.push_back(key);
        }
        while inner.order.len() > CAPACITY {
            if let Some(oldest) = inner.order.pop_front() {
                inner.map.remove(&oldest);
            }
        }
    }

    /// Forgets everything (the plugin was swapped).
    pub fn clear(&self) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.map.clear();
        inner.order.clear();
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).map.len()
    }

    /// True when nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::kind::{PolicyKind, Provenance};

    fn provenance() -> Provenance {
        Provenance {
            plugin: "p".into(),
            digest: "sha256:1".into(),
        }
    }

    #[test]
    fn answers_and_refusals_are_kept_but_not_timeouts_and_the_memo_is_bounded() {
        let memo: Memo<u32> = Memo::default();
        memo.put(key("d", &1), &Ok(7));
        assert_eq!(memo.get(&key("d", &1)).unwrap().unwrap(), 7);
        assert!(
            memo.get(&key("other-digest", &1)).is_none(),
            "another plugin's answer is another key"
        );
        let refused = CallError::Refused {
            kind: PolicyKind::Matcher,
            plugin: provenance(),
            message: "no".into(),
        };
        memo.put(key("d", &2), &Err(refused));
        assert!(memo.get(&key("d", &2)).unwrap().is_err());
        let timeout = CallError::Timeout {
            kind: PolicyKind::Matcher,
            plugin: provenance(),
            budget_ms: 100,
        };
        memo.put(key("d", &3), &Err(timeout));
        assert!(
            memo.get(&key("d", &3)).is_none(),
            "a timeout depends on load, not on the request"
        );
        for i in 0..(CAPACITY as u32 + 10) {
            memo.put(key("d", &(i + 100)), &Ok(i));
        }
        assert_eq!(memo.len(), CAPACITY);
        assert!(memo.get(&key("d", &1)).is_none(), "the oldest went first");
        memo.clear();
        assert!(memo.is_empty());
    }
}
