//! Objects many users share (derived templates, template caches made for services, model caches made for
//! template caches) record no users on themselves: each user writing itself into one shared object makes N
//! users collide. Who uses a shared object is read from the index (the services and caches that reference it).
//!
//! An object the index shows unused is deleted only after it has stayed unused for a grace period, so a service
//! created just as the last user goes away still finds its cache. The clock lives in memory: after a restart
//! the grace period starts again, which only ever delays a deletion.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// What to do with a shared object, given its users.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Usage {
    InUse,
    /// Unused, but not for long enough yet: look again after this.
    Unused(Duration),
    /// Unused for the whole grace period: delete it.
    Collect,
}

/// When each shared object (by uid) was first seen without users.
#[derive(Debug, Default)]
pub(crate) struct UnusedSince {
    since: Mutex<HashMap<String, Instant>>,
}

impl UnusedSince {
    /// Judges the object `uid` with `users` users now.
    pub(crate) fn judge(&self, uid: &str, users: usize, grace: Duration) -> Usage {
        let mut since = self.since.lock().unwrap_or_else(|e| e.into_inner());
        if users > 0 {
            since.remove(uid);
            return Usage::InUse;
        }
        let first = *since.entry(uid.to_string()).or_insert_with(Instant::now);
        match grace.checked_sub(first.elapsed()) {
            Some(left) if !left.is_zero() => Usage::Unused(left),
            _ => Usage::Collect,
        }
    }

    /// Forgets an object that is gone.
    pub(crate) fn forget(&self, uid: &str) {
        self.since.lock().unwrap_or_else(|e| e.into_inner()).remove(uid);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unused_object_is_collected_only_after_the_grace_period_and_a_new_user_resets_it() {
        let unused = UnusedSince::default();
        let grace = Duration::from_millis(50);
        assert!(matches!(unused.judge("u", 0, grace), Usage::Unused(_)));
        std::thread::sleep(Duration::from_millis(30));
        assert_eq!(unused.judge("u", 1, grace), Usage::InUse, "a user came back");
        assert!(
            matches!(unused.judge("u", 0, grace), Usage::Unused(_)),
            "the clock starts again"
        );
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(unused.judge("u", 0, grace), Usage::Collect);
    }
}
