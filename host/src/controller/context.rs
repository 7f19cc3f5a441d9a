//! What every reconciler shares: the client, the operator's settings and the Event recorder.

use crate::policy::PolicyEngine;
use kube::Client;
use kube::runtime::events::{Recorder, Reporter};
use std::sync::Arc;
use std::time::Duration;

/// The one field manager for everything the operator applies, so ownership of fields is unambiguous.
pub const FIELD_MANAGER: &str = "aim-operator";

/// Settings of the discovery Jobs.
#[derive(Debug, Clone)]
pub struct DiscoveryConfig {
    /// Discovery Jobs running at once, cluster-wide; more wait.
    pub max_concurrent_jobs: usize,
    /// Wait after the first failure; doubles per failure.
    pub backoff_base: Duration,
    /// Longest wait between attempts.
    pub backoff_max: Duration,
}

/// Settings of the model download Jobs.
#[derive(Debug, Clone)]
pub struct DownloadConfig {
    /// The downloader image: it gets the source URI as its argument and the volume at `/cache`.
    pub image: String,
    /// Wait after the first failed attempt; doubles per failure.
    pub backoff_base: Duration,
    /// Longest wait between attempts.
    pub backoff_max: Duration,
    /// Extra room on cache volumes beyond the model's size, in percent.
    pub headroom_percent: u64,
}

/// The operator's settings.
#[derive(Debug, Clone)]
pub struct OperatorConfig {
    /// The operator's own namespace: discovery Jobs of cluster templates run here.
    pub namespace: String,
    /// Discovery.
    pub discovery: DiscoveryConfig,
    /// Downloads.
    pub download: DownloadConfig,
}

impl Default for OperatorConfig {
    fn default() -> Self {
        OperatorConfig {
            namespace: "aim-system".into(),
            discovery: DiscoveryConfig {
                max_concurrent_jobs: 10,
                backoff_base: Duration::from_secs(30),
                backoff_max: Duration::from_secs(30 * 60),
            },
            download: DownloadConfig {
                image: "ghcr.io/silogen/aim-artifact-downloader:0.2.0".into(),
                backoff_base: Duration::from_secs(30),
                backoff_max: Duration::from_secs(30 * 60),
                headroom_percent: 10,
            },
        }
    }
}

/// Shared by every reconcile.
pub struct Context {
    /// The API client.
    pub client: Client,
    /// Settings.
    pub config: OperatorConfig,
    /// Publishes Kubernetes Events.
    pub recorder: Recorder,
    /// The policy plugins (matching, merging, routing).
    pub policy: Arc<PolicyEngine>,
    /// Reconcile counters.
    pub metrics: super::metrics::ReconcileMetrics,
    /// Held while counting running discovery Jobs and starting one, so concurrent reconciles cannot exceed
    /// the cap between the count and the create.
    pub discovery_slots: tokio::sync::Mutex<()>,
}

impl Context {
    /// A context reporting Events as `aim-operator`.
    pub fn new(client: Client, config: OperatorConfig, policy: Arc<PolicyEngine>) -> Arc<Self> {
        let reporter = Reporter {
            controller: FIELD_MANAGER.into(),
            instance: std::env::var("POD_NAME").ok(),
        };
        Arc::new(Context {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            config,
            policy,
            discovery_slots: tokio::sync::Mutex::new(()),
            metrics: Default::default(),
        })
    }
}

/// `base · 2^(attempts-1)`, at most `max`.
pub fn backoff(base: Duration, max: Duration, attempts: u32) -> Duration {
    let factor = 1u32.checked_shl(attempts.saturating_sub(1).min(20)).unwrap_or(u32::MAX);
    base.saturating_mul(factor).min(max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_bounded() {
        let (base, max) = (Duration::from_secs(30), Duration::from_secs(600));
        assert_eq!(backoff(base, max, 1), Duration::from_secs(30));
        assert_eq!(backoff(base, max, 3), Duration::from_secs(120));
        assert_eq!(backoff(base, max, 30), max);
    }
}
