//! The write fence: no write leaves this replica unless it is sure it still holds the leader Lease.
//!
//! Leadership is a lease another replica may take once it has gone [`LEASE_DURATION`] without renewal. A leader
//! that is paused (SIGSTOP, a long GC-like stall, a frozen VM) does not know time passed: on waking, its queued
//! reconciles would write before its next renewal tells it the lease is gone, racing the new leader. So every
//! successful renewal opens the fence until `renewal start + LEASE_DURATION - SKEW_MARGIN`, measured on the
//! monotonic clock (which keeps running while a process is stopped), and a request that would write
//! (anything but GET) is refused inside the process once that moment has passed. Writes to the Lease itself pass:
//! they are how leadership is renewed or given up.
//!
//! It is a tower layer on the kube client, so it covers every write of every controller. It also names the
//! replica in the `User-Agent` of every request (`aim-operator/<version> (<identity>)`), so an audit log tells
//! the replicas apart.
//!
//! [`LEASE_DURATION`]: super::leader::LEASE_DURATION

use futures::future::Either;
use http::{Method, Request, Response};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// How much earlier than the lease's expiry the fence closes: room for clock skew between replicas and for a
/// request already in flight.
pub const SKEW_MARGIN: Duration = Duration::from_secs(5);

/// Whether writes may leave the process, shared by the leader loop and the client.
#[derive(Debug)]
pub struct Fence {
    started: Instant,
    /// Milliseconds after `started` until which writes pass; `u64::MAX` for always.
    open_until_ms: AtomicU64,
}

impl Fence {
    /// A closed fence.
    pub fn closed() -> Arc<Fence> {
        Arc::new(Fence {
            started: Instant::now(),
            open_until_ms: AtomicU64::new(0),
        })
    }

    /// A fence that never closes (no leader election: this is the only replica).
    pub fn always_open() -> Arc<Fence> {
        let fence = Fence::closed();
        fence.open_until_ms.store(u64::MAX, Ordering::Relaxed);
        fence
    }

    /// The lease was taken or renewed by a request sent at `sent`, for `lease`.
    pub fn renewed(&self, sent: Instant, lease: Duration) {
        let deadline = sent + lease.saturating_sub(SKEW_MARGIN);
        // A deadline before this fence existed leaves it closed (0).
        let until = deadline.saturating_duration_since(self.started).as_millis();
        self.open_until_ms
            .store(until.min(u64::MAX as u128 - 1) as u64, Ordering::Relaxed);
    }

    /// Closes it now (the lease is lost or given up).
    pub fn close(&self) {
        self.open_until_ms.store(0, Ordering::Relaxed);
    }

    /// True while writes may pass.
    pub fn is_open(&self) -> bool {
        let until = self.open_until_ms.load(Ordering::Relaxed);
        until == u64::MAX || (self.started.elapsed().as_millis() as u64) < until
    }
}

/// The error a fenced write fails with.
#[derive(Debug, thiserror::Error)]
#[error("write refused: this replica is not sure it still holds the leader lease (it may have been paused)")]
pub struct Fenced;

/// The tower layer: fences writes and names the replica in the `User-Agent`.
#[derive(Clone)]
pub struct FenceLayer {
    fence: Arc<Fence>,
    user_agent: http::HeaderValue,
}

impl FenceLayer {
    /// Fences with `fence`, naming `identity`.
    pub fn new(fence: Arc<Fence>, identity: &str) -> FenceLayer {
        let agent = format!("aim-operator/{} ({identity})", env!("CARGO_PKG_VERSION"));
        FenceLayer {
            fence,
            user_agent: http::HeaderValue::from_str(&agent)
                .unwrap_or_else(|_| http::HeaderValue::from_static("aim-operator")),
        }
    }
}

impl<S> tower::Layer<S> for FenceLayer {
    type Service = FenceService<S>;
    fn layer(&self, inner: S) -> FenceService<S> {
        FenceService {
            inner,
            layer: self.clone(),
        }
    }
}

/// The fenced service.
#[derive(Clone)]
pub struct FenceService<S> {
    inner: S,
    layer: FenceLayer,
}

/// True for requests the fence lets through whatever the lease: reads, and the Lease itself.
fn always_passes<B>(request: &Request<B>) -> bool {
    request.method() == Method::GET
        || request.method() == Method::HEAD
        || request.uri().path().starts_with("/apis/coordination.k8s.io/")
}

impl<S, B, R> tower::Service<Request<B>> for FenceService<S>
where
    S: tower::Service<Request<B>, Response = Response<R>, Error = tower::BoxError>,
{
    type Response = Response<R>;
    type Error = tower::BoxError;
    type Future = Either<std::future::Ready<Result<Response<R>, tower::BoxError>>, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        if !always_passes(&request) && !self.layer.fence.is_open() {
            return Either::Left(std::future::ready(Err(Box::new(Fenced))));
        }
        request
            .headers_mut()
            .insert(http::header::USER_AGENT, self.layer.user_agent.clone());
        Either::Right(self.inner.call(request))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_renewal_opens_the_fence_until_the_lease_minus_the_margin() {
        let fence = Fence::closed();
        assert!(!fence.is_open());
        fence.renewed(Instant::now(), Duration::from_secs(15));
        assert!(fence.is_open());
        // A renewal sent long ago (the process was paused since) does not open it, even one sent before the fence
        // was made.
        fence.renewed(Instant::now() - Duration::from_secs(11), Duration::from_secs(15));
        assert!(!fence.is_open());
        fence.renewed(Instant::now() - Duration::from_secs(60), Duration::from_secs(15));
        assert!(!fence.is_open());
        fence.renewed(Instant::now(), Duration::from_secs(15));
        fence.close();
        assert!(!fence.is_open());
        assert!(Fence::always_open().is_open());
    }

    #[test]
    fn reads_and_the_lease_pass_a_closed_fence_and_writes_do_not() {
        let get = Request::get("/api/v1/namespaces/a/pods").body(()).unwrap();
        let patch = Request::patch("/apis/aim.silogen.ai/v1alpha1/namespaces/a/aimservices/s/status")
            .body(())
            .unwrap();
        let lease = Request::put("/apis/coordination.k8s.io/v1/namespaces/aim-system/leases/aim-operator")
            .body(())
            .unwrap();
        assert!(always_passes(&get));
        assert!(!always_passes(&patch));
        assert!(always_passes(&lease));
    }
}
