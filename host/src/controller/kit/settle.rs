//! Holding back the status of a normal start until it has lasted. When all goes well, a service's steps while it
//! starts (its template discovered, its cache warm, its InferenceService made) follow each other within seconds,
//! and a status write per step is a write per service that nobody reads. For a kind that settles, a status that
//! is a step of a normal start (a first step such as `Starting`, no failure) is written only once the object's
//! status has differed from what is written for the settle window; whatever is planned then is written. So a
//! step that lasts less than the window is never written, and a start that keeps changing (a download's
//! progress) is written at most once per window. Everything else (`Running`, a failure, `Degraded`) is written
//! at once, and ends the wait.
//!
//! The times are kept in memory: a restarted operator waits one window again, which costs nothing but the wait.

use crate::index::pending::Key;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Above this many waits, those older than a few windows (objects deleted while they waited) are dropped.
const PRUNE_ABOVE: usize = 4096;

/// Since when each object's planned status has differed from its written one, while it is a step of a start.
#[derive(Debug, Default)]
pub(crate) struct Settling {
    since: Mutex<HashMap<Key, Instant>>,
}

impl Settling {
    /// How much longer `key`'s start step waits before it is written, `None` when it is to be written now. The
    /// first call for a wait starts it.
    pub(crate) fn left(&self, key: &Key, window: Duration, now: Instant) -> Option<Duration> {
        if window.is_zero() {
            return None;
        }
        let mut since = self.since.lock().unwrap_or_else(|e| e.into_inner());
        if since.len() > PRUNE_ABOVE {
            since.retain(|_, at| now.saturating_duration_since(*at) < window * 4);
        }
        let began = *since.entry(key.clone()).or_insert(now);
        window
            .checked_sub(now.saturating_duration_since(began))
            .filter(|left| !left.is_zero())
    }

    /// `key`'s status was written, or is what the plan says again: no wait is running.
    pub(crate) fn done(&self, key: &Key) {
        self.since.lock().unwrap_or_else(|e| e.into_inner()).remove(key);
    }

    /// True when some object's start step is waiting (else there is no wait to end, and no key to build).
    pub(crate) fn waiting(&self) -> bool {
        !self.since.lock().unwrap_or_else(|e| e.into_inner()).is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::pending::What;

    fn key(name: &str) -> Key {
        Key {
            kind: "AIMService".into(),
            namespace: "ns".into(),
            name: name.into(),
            what: What::Status,
        }
    }

    #[test]
    fn a_step_waits_out_the_window_from_the_first_change_not_from_the_latest() {
        let settling = Settling::default();
        let (window, t0) = (Duration::from_secs(5), Instant::now());
        assert_eq!(settling.left(&key("a"), window, t0), Some(window));
        assert_eq!(
            settling.left(&key("a"), window, t0 + Duration::from_secs(3)),
            Some(Duration::from_secs(2)),
            "a later step (or progress) does not start the wait again"
        );
        assert_eq!(
            settling.left(&key("a"), window, t0 + window),
            None,
            "written once the window is over"
        );
        assert_eq!(
            settling.left(&key("b"), window, t0 + Duration::from_secs(4)),
            Some(window),
            "each object waits on its own"
        );
    }

    #[test]
    fn a_written_status_ends_the_wait_and_the_next_change_waits_anew() {
        let settling = Settling::default();
        let (window, t0) = (Duration::from_secs(5), Instant::now());
        assert!(!settling.waiting());
        settling.left(&key("a"), window, t0);
        assert!(settling.waiting());
        settling.done(&key("a"));
        assert!(!settling.waiting(), "no wait left to end");
        let later = t0 + Duration::from_secs(60);
        assert_eq!(settling.left(&key("a"), window, later), Some(window));
    }

    #[test]
    fn a_zero_window_writes_at_once() {
        let settling = Settling::default();
        assert_eq!(settling.left(&key("a"), Duration::ZERO, Instant::now()), None);
    }
}
