//! Whether the index can be trusted: every watch has listed its kind once, and none is failing right now. The
//! operator reports not-ready (`/readyz`) while a watch cannot reach the API server, and controllers start only
//! once every kind has been listed (deciding from a half-filled index would recreate or collect objects that
//! are merely not listed yet). Its metrics say, per kind, how many objects cannot be read and how many changes
//! each watch delivered, split by whether they changed what the index keeps (`aim_index_changes_total`): an
//! admin asking why the operator is busy sees which kind's churn it is.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::watch;

/// The state of every watch of the index.
#[derive(Debug)]
pub struct WatchHealth {
    kinds: Mutex<BTreeMap<&'static str, KindState>>,
    synced_tx: watch::Sender<usize>,
    /// Objects the operator's types could not read, by kind and `namespace/name`, with the resourceVersion
    /// last reported.
    undecodable: Mutex<HashMap<(&'static str, String), String>>,
    undecodable_gauge: Family<KindLabel, Gauge>,
    /// Changes each watch delivered, by whether they changed what the index keeps.
    changes: Family<ChangeLabels, Counter>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ChangeLabels {
    kind: &'static str,
    /// `routed` (it changed what the index keeps, and woke whom it concerns) or `unchanged`.
    effect: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabel {
    kind: String,
}

#[derive(Debug, Default, Clone)]
struct KindState {
    synced: bool,
    failing_since: Option<Instant>,
    last_error: Option<String>,
    /// The last error was a failure to reach the API server (not an answer from it, such as 403).
    unreachable: bool,
    /// An optional kind the API server does not serve (its add-on is not installed): listed, and empty.
    absent: bool,
}

impl WatchHealth {
    /// Health for the given kinds, none listed yet.
    pub fn new(kinds: &[&'static str]) -> Self {
        WatchHealth {
            kinds: Mutex::new(kinds.iter().map(|k| (*k, KindState::default())).collect()),
            synced_tx: watch::channel(0).0,
            undecodable: Mutex::default(),
            undecodable_gauge: Family::default(),
            changes: Family::default(),
        }
    }

    /// Adds the watches' metrics to `registry`.
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "aim_index_undecodable_objects",
            "Objects the operator cannot read (skipped until fixed), by kind",
            self.undecodable_gauge.clone(),
        );
        registry.register(
            "aim_index_changes",
            "Changes the watches delivered, by kind: routed (what the index keeps changed) or unchanged (only \
             fields the index does not keep changed; no one is woken)",
            self.changes.clone(),
        );
    }

    /// The watch of `kind` delivered a change, `unchanged` when it left what the index keeps as it was.
    pub fn delivered(&self, kind: &'static str, unchanged: bool) {
        let effect = if unchanged { "unchanged" } else { "routed" };
        self.changes.get_or_create(&ChangeLabels { kind, effect }).inc();
    }

    /// The watch of `kind` delivered an object the operator's types cannot read, at `resource_version`. Returns
    /// true when this is news (not reported before at this version): then the caller says so, once.
    pub fn undecodable(&self, kind: &'static str, key: String, resource_version: &str) -> bool {
        let mut objects = self.undecodable.lock().unwrap_or_else(|e| e.into_inner());
        let previous = objects.insert((kind, key), resource_version.to_string());
        self.count_undecodable(&objects, kind);
        previous.as_deref() != Some(resource_version)
    }

    /// The object `key` of `kind` was read, or deleted: it is no longer undecodable. True when it was.
    pub fn decodable(&self, kind: &'static str, key: String) -> bool {
        let mut objects = self.undecodable.lock().unwrap_or_else(|e| e.into_inner());
        if objects.is_empty() {
            return false;
        }
        let was = objects.remove(&(kind, key)).is_some();
        if was {
            self.count_undecodable(&objects, kind);
        }
        was
    }

    /// How many objects of `kind` cannot be read now.
    pub fn undecodable_count(&self, kind: &str) -> usize {
        let objects = self.undecodable.lock().unwrap_or_else(|e| e.into_inner());
        objects.keys().filter(|(k, _)| *k == kind).count()
    }

    fn count_undecodable(&self, objects: &HashMap<(&'static str, String), String>, kind: &'static str) {
        let n = objects.keys().filter(|(k, _)| *k == kind).count();
        self.undecodable_gauge
            .get_or_create(&KindLabel { kind: kind.to_string() })
            .set(n as i64);
    }

    /// Health for every kind the index watches.
    pub fn of_index() -> Arc<Self> {
        Arc::new(WatchHealth::new(super::KINDS))
    }

    fn update(&self, kind: &'static str, f: impl FnOnce(&mut KindState)) {
        let mut kinds = self.kinds.lock().unwrap_or_else(|e| e.into_inner());
        f(kinds.entry(kind).or_default());
        let synced = kinds.values().filter(|k| k.synced).count();
        self.synced_tx
            .send_if_modified(|n| std::mem::replace(n, synced) != synced);
    }

    /// The watch delivered an event: it is connected, so the API server can be reached again. Kinds that failed
    /// only because it could not be reached count as recovered too: a quiet kind (no changes, so no events) would
    /// otherwise look failing long after its watch resumed, and a watch still down records its next error within
    /// its backoff. A kind the API server refused (403, 404) stays failing until its own watch delivers or is
    /// answered again ([`Self::resumed`]).
    pub fn seen(&self, kind: &'static str) {
        let mut kinds = self.kinds.lock().unwrap_or_else(|e| e.into_inner());
        if kinds.get(kind).is_none_or(|k| k.failing_since.is_none()) && kinds.values().all(|k| !k.unreachable) {
            return;
        }
        for (name, k) in kinds.iter_mut() {
            if (*name == kind || k.unreachable) && k.failing_since.take().is_some() {
                tracing::info!(kind = name, "watch recovered");
            }
            if *name == kind || k.failing_since.is_none() {
                k.unreachable = false;
            }
        }
    }

    /// The API server answered a watch request of `kind` with success (see [`super::resumed`]): that watch runs
    /// again, whatever error broke it, so it is no longer failing.
    pub fn resumed(&self, kind: &str) {
        let mut kinds = self.kinds.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((name, k)) = kinds.iter_mut().find(|(name, _)| **name == kind)
            && k.failing_since.take().is_some()
        {
            k.unreachable = false;
            tracing::info!(kind = name, "watch resumed");
        }
    }

    /// The watch finished a full list.
    pub fn synced(&self, kind: &'static str) {
        self.update(kind, |k| {
            if k.absent {
                tracing::info!(kind, "the kind is served now: its add-on was installed");
            }
            k.synced = true;
            k.failing_since = None;
            k.absent = false;
        });
    }

    /// The API server does not serve `kind`, an optional one (its add-on is not installed): it counts as
    /// listed and empty, not failing; its watch keeps retrying and lists it once it is installed.
    pub fn absent(&self, kind: &'static str) {
        self.update(kind, |k| {
            if !k.absent {
                tracing::info!(
                    kind,
                    "the API server does not serve this kind (its add-on is not installed); going on without it"
                );
            }
            k.synced = true;
            k.failing_since = None;
            k.absent = true;
        });
    }

    /// False while `kind` is an optional kind the API server does not serve.
    pub fn serves(&self, kind: &str) -> bool {
        let kinds = self.kinds.lock().unwrap_or_else(|e| e.into_inner());
        kinds.get(kind).is_none_or(|k| !k.absent)
    }

    /// The watch failed; it retries with backoff. Logged once per outage, not once per retry. `unreachable`: the
    /// API server could not be reached (rather than answering with an error).
    pub fn failed(&self, kind: &'static str, error: &dyn std::fmt::Display, unreachable: bool) {
        self.update(kind, |k| {
            if k.failing_since.is_none() {
                tracing::warn!(kind, %error, "watch failed; retrying with backoff");
                k.failing_since = Some(Instant::now());
            }
            k.last_error = Some(error.to_string());
            k.unreachable = unreachable;
        });
    }

    /// How many watches are failing now.
    pub fn failing(&self) -> usize {
        let kinds = self.kinds.lock().unwrap_or_else(|e| e.into_inner());
        kinds.values().filter(|k| k.failing_since.is_some()).count()
    }

    /// True when every kind has been listed and no watch is failing.
    pub fn is_ready(&self) -> bool {
        let kinds = self.kinds.lock().unwrap_or_else(|e| e.into_inner());
        kinds.values().all(|k| k.synced && k.failing_since.is_none())
    }

    /// Why the index is not ready, in words (empty when it is).
    pub fn problems(&self) -> Vec<String> {
        let kinds = self.kinds.lock().unwrap_or_else(|e| e.into_inner());
        kinds
            .iter()
            .filter_map(|(kind, k)| match (&k.failing_since, k.synced) {
                (Some(since), _) => Some(format!(
                    "watch of {kind} failing for {}s: {}",
                    since.elapsed().as_secs(),
                    k.last_error.clone().unwrap_or_default()
                )),
                (None, false) => Some(format!("{kind} not listed yet")),
                _ => None,
            })
            .collect()
    }

    /// Waits until every kind has been listed once.
    pub async fn wait_synced(&self) {
        let total = self.kinds.lock().unwrap_or_else(|e| e.into_inner()).len();
        let mut rx = self.synced_tx.subscribe();
        let _ = rx.wait_for(|n| *n >= total).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listed(kinds: &[&'static str]) -> WatchHealth {
        let health = WatchHealth::new(kinds);
        for k in kinds {
            health.synced(k);
        }
        health
    }

    #[test]
    fn after_an_outage_one_delivering_watch_clears_the_quiet_ones_but_not_a_refused_one() {
        let health = listed(&["pods", "events", "secrets"]);
        health.failed("pods", &"client error (Connect)", true);
        health.failed("events", &"client error (Connect)", true);
        health.failed("secrets", &"403 forbidden", false);
        assert!(!health.is_ready());
        assert_eq!(health.problems().len(), 3);

        // The API server answers again: pods deliver; events (quiet) count as recovered, secrets (refused) not.
        health.seen("pods");
        let problems = health.problems();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].starts_with("watch of secrets failing"), "{problems:?}");
        health.seen("secrets");
        assert!(health.is_ready());
    }

    #[test]
    fn an_optional_kind_not_served_counts_as_listed_until_it_is_served() {
        let health = WatchHealth::new(&["pods", "scaledobjects"]);
        health.synced("pods");
        health.absent("scaledobjects");
        assert!(health.is_ready(), "{:?}", health.problems());
        assert!(!health.serves("scaledobjects"));
        assert!(health.serves("pods"));
        health.synced("scaledobjects");
        assert!(health.serves("scaledobjects"));
    }

    #[test]
    fn a_watch_still_failing_after_recovery_is_failing_again() {
        let health = listed(&["pods", "events"]);
        health.failed("events", &"client error (Connect)", true);
        health.seen("pods");
        assert!(health.is_ready());
        health.failed("events", &"client error (Connect)", true);
        assert!(!health.is_ready());
    }
}
