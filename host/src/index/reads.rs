//! What a reconcile read from the index, recorded so that a test can check the controllers' wake-ups: a change
//! of every object a reconcile read must wake that reconcile (`controller::wake`'s coverage test).
//!
//! Recording happens only inside [`recording`], and only in builds for tests (`cfg(test)` or the `testing`
//! feature); elsewhere [`record`] compiles to nothing.

use super::kinds::AnyObject;

#[cfg(any(test, feature = "testing"))]
tokio::task_local! {
    static READS: std::cell::RefCell<Vec<AnyObject>>;
}

/// Runs `work`, recording every object it reads from the index; returns its output and what it read.
#[cfg(any(test, feature = "testing"))]
pub async fn recording<F: std::future::Future>(work: F) -> (F::Output, Vec<AnyObject>) {
    let reads = std::cell::RefCell::new(Vec::new());
    READS
        .scope(reads, async {
            let out = work.await;
            (out, READS.with(|r| r.take()))
        })
        .await
}

/// Notes that `obj` was read (when a recording is running).
#[inline]
pub(super) fn record(obj: impl FnOnce() -> AnyObject) {
    #[cfg(any(test, feature = "testing"))]
    let _ = READS.try_with(|reads| reads.borrow_mut().push(obj()));
    #[cfg(not(any(test, feature = "testing")))]
    let _ = obj;
}

/// One reconcile and what it read.
#[cfg(any(test, feature = "testing"))]
#[derive(Debug, Clone)]
pub struct Reconciled {
    /// The controller.
    pub controller: &'static str,
    /// The object reconciled, as the runner handed it over.
    pub object: AnyObject,
    /// Everything it read from the index.
    pub reads: Vec<AnyObject>,
}

/// The reconciles recorded while recording is on (off by default: nothing is kept).
#[cfg(any(test, feature = "testing"))]
#[derive(Debug, Default)]
pub struct ReadLog {
    on: std::sync::atomic::AtomicBool,
    entries: std::sync::Mutex<Vec<Reconciled>>,
}

#[cfg(any(test, feature = "testing"))]
impl ReadLog {
    /// Starts recording every reconcile's reads.
    pub fn start(&self) {
        self.on.store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// Whether recording is on.
    pub fn is_on(&self) -> bool {
        self.on.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Stops recording and returns what was recorded.
    pub fn take(&self) -> Vec<Reconciled> {
        self.on.store(false, std::sync::atomic::Ordering::SeqCst);
        std::mem::take(&mut self.entries.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Keeps one reconcile's reads.
    pub fn push(&self, entry: Reconciled) {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).push(entry);
    }
}

/// Runs `read` without recording it: reads that are not decisions about the object reconciled (a count of
/// discovery Jobs against the cap) do not call for wake-ups.
pub fn unrecorded<T>(read: impl FnOnce() -> T) -> T {
    #[cfg(any(test, feature = "testing"))]
    {
        let kept = READS.try_with(|r| r.take());
        let out = read();
        // What was read meanwhile is dropped; what was read before is kept.
        if let Ok(kept) = kept {
            let _ = READS.try_with(|r| *r.borrow_mut() = kept);
        }
        out
    }
    #[cfg(not(any(test, feature = "testing")))]
    read()
}
