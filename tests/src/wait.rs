//! Waiting for the operator: poll until a condition holds, or fail with what was last seen.

use std::future::Future;
use std::time::{Duration, Instant};

/// How long a test waits for the operator before failing.
pub const TIMEOUT: Duration = Duration::from_secs(60);

/// Polls `probe` until it returns `Some`, failing after [`TIMEOUT`] with `what` and the last `Err` it gave.
pub async fn until<T, F, Fut>(what: &str, probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    until_for(what, TIMEOUT, probe).await
}

/// [`until`] with its own timeout, for what takes longer than the operator's reaction (real containers
/// starting, a model loading).
pub async fn until_for<T, F, Fut>(what: &str, timeout: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let start = Instant::now();
    let mut last = String::new();
    while start.elapsed() < timeout {
        match probe().await {
            Ok(value) => return value,
            Err(seen) => last = seen,
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("timed out after {timeout:?} waiting for {what}; last seen: {last}");
}

/// Polls `exists` until it says the thing is gone (`Ok(false)`), failing after [`TIMEOUT`] with `what`.
pub async fn until_gone<F, Fut>(what: &str, mut exists: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<bool, String>>,
{
    until(what, || {
        let probe = exists();
        async move {
            match probe.await? {
                false => Ok(()),
                true => Err("still there".to_string()),
            }
        }
    })
    .await
}
