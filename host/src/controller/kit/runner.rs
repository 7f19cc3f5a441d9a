//! Runs one controller: reconciles of the objects its [`Queue`] names, at most `concurrency` at once and never
//! two of one object at once (kube's applier), each requeued as its reconcile asks. The queue is fed by the
//! index's change routing, so a controller wakes exactly for the objects a change affects; there is no
//! periodic resync.

use super::context::Context;
use super::error::Error;
use crate::index::Stored;
use futures::{FutureExt, StreamExt};
use kube::Resource;
use kube::runtime::controller::{Action, Config, applier};
use kube::runtime::reflector::{ObjectRef, Store};
use std::convert::Infallible;
use std::fmt::Debug;
use std::future::Future;
use std::hash::Hash;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// The wake-ups of one controller.
pub(crate) struct Queue<K: Resource>(mpsc::UnboundedSender<ObjectRef<K>>);

impl<K: Resource> Clone for Queue<K> {
    fn clone(&self) -> Self {
        Queue(self.0.clone())
    }
}

impl<K> Queue<K>
where
    K: Resource,
    K::DynamicType: Eq + Hash + Clone,
{
    /// A queue and its receiving end.
    pub(crate) fn new() -> (Self, mpsc::UnboundedReceiver<ObjectRef<K>>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Queue(tx), rx)
    }

    /// Asks for a reconcile of `obj` (duplicates are merged by the applier).
    pub(crate) fn wake(&self, obj: ObjectRef<K>) {
        let _ = self.0.send(obj);
    }
}

/// How long the applier waits for more wake-ups of an object before reconciling it: the watch events that
/// follow one write (the child's and the status's) arrive within milliseconds and are merged into one reconcile.
const DEBOUNCE: Duration = Duration::from_millis(50);

/// Runs `reconcile` for every object `queue` names until `shutdown`, then lets running reconciles finish.
pub(crate) async fn run<K, F, Fut>(
    controller: &'static str,
    store: Store<K>,
    queue: mpsc::UnboundedReceiver<ObjectRef<K>>,
    reconcile: F,
    ctx: Arc<Context>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) where
    K: Stored + Debug,
    F: Fn(Arc<K>, Arc<Context>) -> Fut + Send + 'static,
    Fut: Future<Output = Result<Action, Error>> + Send + 'static,
{
    let requests = tokio_stream::wrappers::UnboundedReceiverStream::new(queue)
        .map(Ok::<_, Infallible>)
        .take_until(shutdown);
    let config = Config::default().concurrency(ctx.config.concurrency).debounce(DEBOUNCE);
    let metered = move |obj: Arc<K>, ctx: Arc<Context>| {
        let start = Instant::now();
        let metrics = ctx.metrics.clone();
        #[cfg(any(test, feature = "testing"))]
        if ctx.reads.is_on() {
            let work = reconcile(obj.clone(), ctx.clone());
            return async move {
                let (result, reads) = crate::index::reads::recording(work).await;
                ctx.reads.push(crate::index::reads::Reconciled {
                    controller,
                    object: K::any(obj),
                    reads,
                });
                metrics.reconciled(controller, start.elapsed(), result.as_ref().err());
                result
            }
            .boxed();
        }
        reconcile(obj, ctx)
            .map(move |result| {
                metrics.reconciled(controller, start.elapsed(), result.as_ref().err());
                result
            })
            .boxed()
    };
    applier(metered, error_policy::<K>, ctx, store, requests, config)
        .for_each(|result| async move {
            if let Err(e) = result {
                tracing::debug!(controller, error = %e, "reconcile not run");
            }
        })
        .await;
}

/// Retries a failed reconcile: soon after a conflict, later when the namespace is going away (nothing can be
/// created there any more, and everything in it goes with it).
fn error_policy<K>(_obj: Arc<K>, error: &Error, _ctx: Arc<Context>) -> Action {
    if error.namespace_terminating() {
        tracing::debug!(%error, "the namespace is being deleted");
        return Action::requeue(Duration::from_secs(60));
    }
    if error.code() == Some(409) {
        return Action::requeue(Duration::from_secs(1));
    }
    tracing::warn!(%error, "reconcile failed; retrying");
    Action::requeue(Duration::from_secs(5))
}
