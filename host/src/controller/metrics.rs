//! Reconcile counters per controller, rendered for Prometheus by `aim-operator run`.

use super::context::Context;
use super::error::Error;
use kube::runtime::controller::Action;
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Totals for one controller.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReconcileStats {
    /// Reconciles run.
    pub runs: u64,
    /// Reconciles that failed, by error label.
    pub errors: BTreeMap<&'static str, u64>,
    /// Time spent reconciling.
    pub duration: Duration,
}

/// Reconcile totals of every controller.
#[derive(Debug, Default)]
pub struct ReconcileMetrics {
    by_controller: Mutex<BTreeMap<&'static str, ReconcileStats>>,
}

impl ReconcileMetrics {
    /// Records one reconcile.
    pub fn record(&self, controller: &'static str, took: Duration, error: Option<&Error>) {
        let mut all = self.by_controller.lock().unwrap_or_else(|e| e.into_inner());
        let stats = all.entry(controller).or_default();
        stats.runs += 1;
        stats.duration += took;
        if let Some(e) = error {
            *stats.errors.entry(e.label()).or_default() += 1;
        }
    }

    /// A copy of the totals.
    pub fn snapshot(&self) -> BTreeMap<&'static str, ReconcileStats> {
        self.by_controller.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// Wraps a reconcile function so each run is counted and timed under `controller`.
pub fn metered<K, F, Fut>(
    controller: &'static str,
    mut reconcile: F,
) -> impl FnMut(Arc<K>, Arc<Context>) -> MeteredFuture<Fut>
where
    F: FnMut(Arc<K>, Arc<Context>) -> Fut,
    Fut: Future<Output = Result<Action, Error>>,
{
    move |obj, ctx| {
        let metrics = ctx.clone();
        MeteredFuture {
            inner: Box::pin(reconcile(obj, ctx)),
            ctx: metrics,
            controller,
            start: Instant::now(),
        }
    }
}

/// A reconcile future that records its outcome when it completes.
pub struct MeteredFuture<Fut> {
    inner: std::pin::Pin<Box<Fut>>,
    ctx: Arc<Context>,
    controller: &'static str,
    start: Instant,
}

impl<Fut: Future<Output = Result<Action, Error>>> Future for MeteredFuture<Fut> {
    type Output = Result<Action, Error>;

    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<Self::Output> {
        let poll = self.inner.as_mut().poll(cx);
        if let std::task::Poll::Ready(result) = &poll {
            self.ctx
                .metrics
                .record(self.controller, self.start.elapsed(), result.as_ref().err());
        }
        poll
    }
}
