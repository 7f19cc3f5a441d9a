//! What an admin is shown of each policy's plugin: which one is in use and since when, and the last file that
//! was refused, with why and when. The engine records into it on every install and refusal; the cluster config
//! controller reads a snapshot into `AIMClusterConfig` status.

use super::kind::{PolicyKind, Provenance};
use std::sync::Mutex;
use std::time::SystemTime;

/// A refused plugin file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The file.
    pub file: String,
    /// Why it was refused.
    pub error: String,
    /// When.
    pub at: SystemTime,
}

/// One policy's plugin, as an admin sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginState {
    /// The policy.
    pub kind: PolicyKind,
    /// The plugin in use.
    pub provenance: Provenance,
    /// When it was installed (for a built-in: when the operator started).
    pub since: SystemTime,
    /// The last refused file, if any was.
    pub last_refusal: Option<Refusal>,
}

/// Per policy: when its current plugin was installed, and its last refusal.
#[derive(Debug)]
pub struct Ledger {
    entries: Mutex<[(SystemTime, Option<Refusal>); 3]>,
}

impl Default for Ledger {
    fn default() -> Self {
        let now = SystemTime::now();
        Ledger {
            entries: Mutex::new([(now, None), (now, None), (now, None)]),
        }
    }
}

impl Ledger {
    /// A plugin of `kind` was installed now.
    pub fn installed(&self, kind: PolicyKind) {
        self.lock()[kind as usize].0 = SystemTime::now();
    }

    /// A file for `kind` was refused now.
    pub fn refused(&self, kind: PolicyKind, file: &str, error: &str) {
        self.lock()[kind as usize].1 = Some(Refusal {
            file: file.to_string(),
            error: error.to_string(),
            at: SystemTime::now(),
        });
    }

    /// Every policy's state, given the plugin in use for each.
    pub fn snapshot(&self, current: impl Fn(PolicyKind) -> Provenance) -> Vec<PluginState> {
        let entries = self.lock().clone();
        PolicyKind::ALL
            .into_iter()
            .map(|kind| {
                let (since, last_refusal) = entries[kind as usize].clone();
                PluginState {
                    kind,
                    provenance: current(kind),
                    since,
                    last_refusal,
                }
            })
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, [(SystemTime, Option<Refusal>); 3]> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn builtin(kind: PolicyKind) -> Provenance {
        Provenance {
            plugin: format!("builtin:{}", kind.name()),
            digest: "sha256:0".into(),
        }
    }

    #[test]
    fn a_refusal_is_kept_for_its_policy_and_an_install_moves_since() {
        let ledger = Ledger::default();
        let start = ledger.snapshot(builtin)[1].since;
        ledger.refused(PolicyKind::Merger, "/plugins/merger.wasm", "too big");
        std::thread::sleep(std::time::Duration::from_millis(5));
        ledger.installed(PolicyKind::Merger);
        let states = ledger.snapshot(builtin);
        assert_eq!(states.len(), 3);
        assert!(states[0].last_refusal.is_none());
        let merger = &states[1];
        assert_eq!(merger.kind, PolicyKind::Merger);
        assert_eq!(merger.last_refusal.as_ref().unwrap().error, "too big");
        assert!(merger.since > start, "installing moves since");
        assert_eq!(states[2].since, start);
    }
}
