//! Leader election with a `coordination.k8s.io/v1` Lease, so two replicas are safe: only the holder runs the
//! controllers. The holder renews every [`RENEW`]; another replica takes over once a lease has gone
//! [`LEASE_DURATION`] without renewal. Every write is conditional on the Lease's resourceVersion, so two
//! candidates cannot both win. While holding it, the replica's writes pass the [`Fence`] only as long as the
//! last renewal is surely still valid, so a paused leader that wakes up cannot write over its successor.

use super::fence::Fence;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, ObjectMeta, PostParams};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a lease is valid without renewal.
pub const LEASE_DURATION: Duration = Duration::from_secs(15);
/// How often the holder renews.
pub const RENEW: Duration = Duration::from_secs(5);

/// One candidate for leadership.
pub struct Candidate {
    api: Api<Lease>,
    name: String,
    identity: String,
    fence: Arc<Fence>,
}

impl Candidate {
    /// A candidate `identity` for Lease `name` in `namespace`, opening `fence` while it holds the lease.
    pub fn new(client: kube::Client, namespace: &str, name: &str, identity: &str, fence: Arc<Fence>) -> Self {
        Candidate {
            api: Api::namespaced(client, namespace),
            name: name.into(),
            identity: identity.into(),
            fence,
        }
    }

    /// Takes or renews the lease; true when this candidate holds it afterwards. A success opens the write fence
    /// for the lease's duration from when it was asked (less a margin); losing the lease closes it.
    pub async fn try_acquire(&self) -> Result<bool, kube::Error> {
        let sent = Instant::now();
        let held = self.try_acquire_unfenced().await;
        match held {
            Ok(true) => self.fence.renewed(sent, LEASE_DURATION),
            Ok(false) => self.fence.close(),
            Err(_) => {}
        }
        held
    }

    async fn try_acquire_unfenced(&self) -> Result<bool, kube::Error> {
        let now = MicroTime(Timestamp::now());
        let Some(mut lease) = self.api.get_opt(&self.name).await? else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.name.clone()),
                    ..Default::default()
                },
                spec: Some(LeaseSpec {
                    holder_identity: Some(self.identity.clone()),
                    lease_duration_seconds: Some(LEASE_DURATION.as_secs() as i32),
                    acquire_time: Some(now.clone()),
                    renew_time: Some(now),
                    lease_transitions: Some(0),
                    ..Default::default()
                }),
            };
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(_) => Ok(true),
                Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
                Err(e) => Err(e),
            };
        };
        let spec = lease.spec.get_or_insert_with(Default::default);
        let mine = spec.holder_identity.as_deref() == Some(self.identity.as_str());
        let expired = spec.holder_identity.is_none()
            || spec.renew_time.as_ref().is_none_or(|t| {
                let duration = spec.lease_duration_seconds.unwrap_or(LEASE_DURATION.as_secs() as i32) as i64;
                t.0.as_second() + duration < now.0.as_second()
            });
        if !mine && !expired {
            return Ok(false);
        }
        if !mine {
            spec.holder_identity = Some(self.identity.clone());
            spec.acquire_time = Some(now.clone());
            spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
        }
        spec.renew_time = Some(now);
        spec.lease_duration_seconds = Some(LEASE_DURATION.as_secs() as i32);
        // `replace` carries the resourceVersion we read: a concurrent change makes it fail with 409.
        match self.api.replace(&self.name, &PostParams::default(), &lease).await {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Gives the lease up (on a graceful shutdown), so a standby replica takes over at once instead of waiting
    /// for it to expire.
    pub async fn release(&self) {
        self.fence.close();
        let Ok(Some(mut lease)) = self.api.get_opt(&self.name).await else {
            return;
        };
        let spec = lease.spec.get_or_insert_with(Default::default);
        if spec.holder_identity.as_deref() != Some(self.identity.as_str()) {
            return;
        }
        spec.holder_identity = None;
        spec.renew_time = None;
        if let Err(e) = self.api.replace(&self.name, &PostParams::default(), &lease).await {
            tracing::warn!(error = %e, "could not release the leader lease; it expires by itself");
        }
    }

    /// Waits until this candidate holds the lease.
    pub async fn acquire(&self) {
        loop {
            match self.try_acquire().await {
                Ok(true) => return,
                Ok(false) => {}
                Err(e) => tracing::warn!(error = %e, "leader election failed; retrying"),
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    }

    /// Renews the lease until another replica is found holding it; returns then (leadership is lost).
    ///
    /// While the API server cannot be reached, renewals fail and the fence closes on its own once the last
    /// renewal may have lapsed, so nothing is written; the replica keeps trying, and when the API server is
    /// back it renews (nobody could take the lease meanwhile without reaching the API server) and writes again,
    /// without a restart. It returns only when it learns someone else holds the lease.
    pub async fn hold(&self) {
        let mut failures = 0u32;
        loop {
            tokio::time::sleep(RENEW).await;
            match self.try_acquire().await {
                Ok(true) => {
                    if failures > 0 {
                        tracing::info!(failures, "lease renewed again; writing resumes");
                    }
                    failures = 0;
                }
                Ok(false) => return,
                Err(e) => {
                    failures += 1;
                    tracing::warn!(error = %e, failures, fenced = !self.fence.is_open(), "lease renewal failed");
                }
            }
        }
    }
}
