//! What every reconcile shares: the client, the index it reads from (with the writes it has not seen yet), the
//! operator's settings, the policy engine, the tracker of unused shared objects, the Event recorder and the metrics.

use super::metrics::ReconcileMetrics;
use super::settle::Settling;
use super::sharing::UnusedSince;
use super::slots::DiscoverySlots;
use crate::index::Index;
use crate::policy::PolicyEngine;
use kube::Client;
use kube::runtime::events::Recorder;
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
    /// How long a template waits quietly for its model's AIMImage before reporting `ModelNotFound`: a catalog
    /// pack applies images and templates together, and the image may land a moment after its templates.
    pub image_grace: Duration,
}

/// The operator's own image, which runs `aim-operator download` in download and size-check Jobs.
pub const DEFAULT_DOWNLOAD_IMAGE: &str = concat!("ghcr.io/silogen/aim-operator:", env!("CARGO_PKG_VERSION"));

/// Settings of the model download Jobs.
#[derive(Debug, Clone)]
pub struct DownloadConfig {
    /// The image of the download and size-check Jobs; it runs `aim-operator download <sourceUri>` with the volume
    /// at `/cache`.
    pub image: String,
    /// Wait after the first failed attempt; doubles per failure.
    pub backoff_base: Duration,
    /// Longest wait between attempts.
    pub backoff_max: Duration,
    /// Extra room on cache volumes beyond the model's size, in percent.
    pub headroom_percent: u64,
    /// Certificates the download and size-check Jobs trust besides the image's (a private CA of a hub mirror
    /// or S3 store): a ConfigMap of that name in the cache's namespace, mounted into every such Job.
    pub ca_bundle: Option<CaBundle>,
}

/// A ConfigMap holding PEM certificates, the way cluster admins distribute a private CA to every namespace (for
/// example with trust-manager's `Bundle`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaBundle {
    /// The ConfigMap's name (the same in every namespace).
    pub config_map: String,
    /// The key holding the certificates.
    pub key: String,
}

impl CaBundle {
    /// `NAME` or `NAME:KEY` (the key defaults to `ca.crt`).
    pub fn parse(text: &str) -> Option<CaBundle> {
        let (name, key) = text.split_once(':').unwrap_or((text, "ca.crt"));
        (!name.is_empty() && !key.is_empty()).then(|| CaBundle {
            config_map: name.to_string(),
            key: key.to_string(),
        })
    }
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
    /// How long a shared object (derived template, template cache, model cache the operator made) stays after
    /// the index last showed a user, so a service created just as the last user goes away still finds it.
    pub unused_grace: Duration,
    /// Reconciles of one controller running at once.
    pub concurrency: u16,
    /// How long a step of a service's normal start (waiting for its template, its cache, KServe) must last before
    /// its status is written ([`super::settle`]): steps that pass sooner are never written. At most a quarter of
    /// [`Self::unused_grace`] takes effect ([`Self::settle_window`]).
    pub status_settle: Duration,
}

impl OperatorConfig {
    /// The settle window in effect: [`Self::status_settle`], at most a quarter of [`Self::unused_grace`]. A
    /// shared object the operator makes for a service (a derived template, a template cache) counts the services
    /// whose status names it as its users, and that status waits out the window; a window near the grace would
    /// let the object be collected before its first user's status is written.
    pub fn settle_window(&self) -> Duration {
        self.status_settle.min(self.unused_grace / 4)
    }
}

impl Default for OperatorConfig {
    fn default() -> Self {
        OperatorConfig {
            namespace: "aim-system".into(),
            discovery: DiscoveryConfig {
                max_concurrent_jobs: 10,
                backoff_base: Duration::from_secs(30),
                backoff_max: Duration::from_secs(30 * 60),
                image_grace: Duration::from_secs(30),
            },
            download: DownloadConfig {
                image: DEFAULT_DOWNLOAD_IMAGE.into(),
                backoff_base: Duration::from_secs(30),
                backoff_max: Duration::from_secs(30 * 60),
                headroom_percent: 10,
                ca_bundle: None,
            },
            unused_grace: Duration::from_secs(60),
            concurrency: 16,
            status_settle: Duration::from_secs(5),
        }
    }
}

/// Shared by every reconcile.
pub struct Context {
    /// The API client (writes only: reads come from [`Context::index`]).
    pub client: Client,
    /// The cluster as the watches show it.
    pub index: Arc<Index>,
    /// Settings.
    pub config: OperatorConfig,
    /// Publishes Kubernetes Events.
    pub recorder: Recorder,
    /// The policy plugins (matching, merging, routing).
    pub policy: Arc<PolicyEngine>,
    /// When each shared object was first seen without users.
    pub(crate) unused: UnusedSince,
    /// Reconcile and write counters.
    pub metrics: Arc<ReconcileMetrics>,
    /// Since when each starting service's status has waited to be written.
    pub(crate) settling: Settling,
    /// The discovery Jobs running at once, cluster-wide, and the lock that keeps them under the cap.
    pub(crate) discovery_slots: DiscoverySlots,
    /// What each reconcile read, while a test records it.
    #[cfg(any(test, feature = "testing"))]
    pub reads: crate::index::reads::ReadLog,
}

impl Context {
    /// A context reporting Events as `aim-operator`.
    pub fn new(
        client: Client,
        index: Arc<Index>,
        config: OperatorConfig,
        policy: Arc<PolicyEngine>,
        metrics: Arc<ReconcileMetrics>,
    ) -> Arc<Self> {
        Arc::new(Context {
            recorder: crate::events::recorder(client.clone()),
            client,
            index,
            config,
            policy,
            unused: UnusedSince::default(),
            metrics,
            settling: Settling::default(),
            discovery_slots: DiscoverySlots::default(),
            #[cfg(any(test, feature = "testing"))]
            reads: Default::default(),
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
