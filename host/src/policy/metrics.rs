//! The policy engine's counters in the Prometheus registry `/metrics` serves: decisions asked for, failed and
//! answered from the memo, their duration, plugin reloads by result, and the plugin in use per policy.

use super::kind::{PolicyKind, Provenance};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::time::Duration;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PolicyLabel {
    policy: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    policy: String,
    result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PluginLabels {
    policy: String,
    plugin: String,
    digest: String,
}

/// The policy engine's counters.
#[derive(Debug)]
pub struct PolicyMetrics {
    calls: Family<PolicyLabel, Counter>,
    failures: Family<PolicyLabel, Counter>,
    memo: Family<ResultLabels, Counter>,
    duration: Family<PolicyLabel, Histogram>,
    reloads: Family<ResultLabels, Counter>,
    plugin: Family<PluginLabels, Gauge>,
    scans: Counter,
}

impl Default for PolicyMetrics {
    fn default() -> Self {
        let metrics = PolicyMetrics {
            calls: Family::default(),
            failures: Family::default(),
            memo: Family::default(),
            duration: Family::new_with_constructor(|| Histogram::new(exponential_buckets(0.00001, 2.0, 20))),
            reloads: Family::default(),
            plugin: Family::default(),
            scans: Counter::default(),
        };
        // Every series exists from the start (at zero), so dashboards and alerts see them before the first event.
        for kind in PolicyKind::ALL {
            let _ = metrics.calls.get_or_create(&policy(kind));
            let _ = metrics.failures.get_or_create(&policy(kind));
            for result in ["hit", "miss"] {
                let _ = metrics.memo.get_or_create(&with_result(kind, result));
            }
            for result in ["loaded", "refused", "reverted"] {
                let _ = metrics.reloads.get_or_create(&with_result(kind, result));
            }
        }
        metrics
    }
}

fn policy(kind: PolicyKind) -> PolicyLabel {
    PolicyLabel {
        policy: kind.to_string(),
    }
}

fn with_result(kind: PolicyKind, result: &str) -> ResultLabels {
    ResultLabels {
        policy: kind.to_string(),
        result: result.to_string(),
    }
}

impl PolicyMetrics {
    /// Adds the counters to `registry`.
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "aim_policy_calls",
            "Policy decisions run in a plugin (memo hits excluded)",
            self.calls.clone(),
        );
        registry.register(
            "aim_policy_failures",
            "Policy decisions that failed",
            self.failures.clone(),
        );
        registry.register(
            "aim_policy_memo",
            "Policy decisions by memo result: hit (answered without WebAssembly) or miss",
            self.memo.clone(),
        );
        registry.register(
            "aim_policy_call_duration_seconds",
            "Time spent running plugins",
            self.duration.clone(),
        );
        registry.register(
            "aim_policy_reloads",
            "Plugin reloads by result: loaded, refused, reverted",
            self.reloads.clone(),
        );
        registry.register(
            "aim_policy_directory_scans",
            "Scans of the plugin directory (on a change, and periodically)",
            self.scans.clone(),
        );
        registry.register(
            "aim_policy_plugin_info",
            "The plugin in use per policy (1 for the current one)",
            self.plugin.clone(),
        );
    }

    /// A decision ran in a plugin.
    pub fn called(&self, kind: PolicyKind, took: Duration, failed: bool) {
        self.calls.get_or_create(&policy(kind)).inc();
        self.duration.get_or_create(&policy(kind)).observe(took.as_secs_f64());
        if failed {
            self.failures.get_or_create(&policy(kind)).inc();
        }
    }

    /// A decision was looked up in the memo.
    pub fn memo(&self, kind: PolicyKind, hit: bool) {
        self.memo
            .get_or_create(&with_result(kind, if hit { "hit" } else { "miss" }))
            .inc();
    }

    /// The plugin directory was scanned.
    pub fn scanned(&self) {
        self.scans.inc();
    }

    /// Scans of the plugin directory so far.
    pub fn scans(&self) -> u64 {
        self.scans.get()
    }

    /// A reload of `kind` ended with `result`.
    pub fn reload(&self, kind: PolicyKind, result: &str) {
        self.reloads.get_or_create(&with_result(kind, result)).inc();
    }

    /// `now` replaced `before` as `kind`'s plugin.
    pub fn in_use(&self, kind: PolicyKind, before: Option<&Provenance>, now: &Provenance) {
        if let Some(before) = before {
            self.plugin
                .get_or_create(&PluginLabels {
                    policy: kind.to_string(),
                    plugin: before.plugin.clone(),
                    digest: before.digest.clone(),
                })
                .set(0);
        }
        self.plugin
            .get_or_create(&PluginLabels {
                policy: kind.to_string(),
                plugin: now.plugin.clone(),
                digest: now.digest.clone(),
            })
            .set(1);
    }

    /// Counts for tests and benchmarks: (memo hits, memo misses, plugin calls) of `kind`.
    pub fn counts(&self, kind: PolicyKind) -> (u64, u64, u64) {
        (
            self.memo.get_or_create(&with_result(kind, "hit")).get(),
            self.memo.get_or_create(&with_result(kind, "miss")).get(),
            self.calls.get_or_create(&policy(kind)).get(),
        )
    }

    /// Decisions of `kind` that failed in a plugin.
    pub fn failures(&self, kind: PolicyKind) -> u64 {
        self.failures.get_or_create(&policy(kind)).get()
    }

    /// Reloads of `kind` that ended with `result`.
    pub fn reloads(&self, kind: PolicyKind, result: &str) -> u64 {
        self.reloads.get_or_create(&with_result(kind, result)).get()
    }
}
