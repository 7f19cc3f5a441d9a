//! Download progress, and how the operator sees it.
//!
//! The mechanism: the downloader patches one annotation, `aim.silogen.ai/download-progress`, on **its own Job**
//! (`{"done":…,"total":…,"bytesPerSecond":…}`), every few seconds. The operator already watches its Jobs, so the
//! progress reaches the `ModelCache` status through the index, with no extra reads. The pod may do exactly that
//! and nothing more: the operator gives each cache's download Job its own ServiceAccount, bound to a Role that
//! allows `get` and `patch` on that one Job by name (`resourceNames`), and removes them with the cache.
//!
//! Why not the alternatives: a pod annotation needs the pod's name in the Role, which the Job controller picks
//! after the Role must exist; tailing the pod's log means one API read per running download every few seconds,
//! outside the index (and it goes through the kubelet); binding a ClusterRole to the namespace's `default`
//! ServiceAccount, as the upstream downloader expects, would let every pod in a user's namespace patch objects.
//!
//! Every report is also printed as a line on stdout (`kubectl logs` shows it). Reporting is best effort: without
//! a Job to patch (a downloader run by hand) or without the permission, the download goes on.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The annotation the downloader writes on its Job.
pub const ANNOTATION: &str = "aim.silogen.ai/download-progress";

/// Bytes done of a total, shared by the file tasks, and the bytes that crossed the network this run (the rate
/// is theirs: bytes found on disk, complete or resumed, are done but were not transferred now).
#[derive(Debug, Default)]
pub struct Progress {
    done: AtomicU64,
    total: AtomicU64,
    transferred: AtomicU64,
}

/// One report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// Bytes in the cache so far.
    pub done: u64,
    /// Bytes of the whole source.
    pub total: u64,
    /// Recent rate.
    pub bytes_per_second: u64,
}

impl Report {
    /// Percent done, 0-100.
    pub fn percent(&self) -> i32 {
        if self.total == 0 {
            return 100;
        }
        ((self.done.min(self.total) as f64 / self.total as f64) * 100.0).floor() as i32
    }
}

impl Progress {
    /// Sets the total.
    pub fn set_total(&self, total: u64) {
        self.total.store(total, Ordering::Relaxed);
    }
    /// Counts `n` bytes received now.
    pub fn add(&self, n: u64) {
        self.done.fetch_add(n, Ordering::Relaxed);
        self.transferred.fetch_add(n, Ordering::Relaxed);
    }
    /// Counts `n` bytes found on disk (a complete file, or the part a resumed file continues).
    pub fn add_existing(&self, n: u64) {
        self.done.fetch_add(n, Ordering::Relaxed);
    }
    /// Bytes received this run.
    pub fn transferred(&self) -> u64 {
        self.transferred.load(Ordering::Relaxed)
    }
    /// Takes back `n` bytes (a file that starts over).
    pub fn sub(&self, n: u64) {
        let _ = self
            .done
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |d| Some(d.saturating_sub(n)));
    }
    /// Bytes done and total.
    pub fn get(&self) -> (u64, u64) {
        (self.done.load(Ordering::Relaxed), self.total.load(Ordering::Relaxed))
    }
}

/// Where reports go besides stdout: the Job to annotate.
#[derive(Clone)]
pub struct JobTarget {
    /// A client with the pod's identity.
    pub client: kube::Client,
    /// The Job's namespace.
    pub namespace: String,
    /// The Job's name.
    pub name: String,
}

/// Reports `progress` every `every` until dropped (abort the returned task).
pub fn report(
    progress: std::sync::Arc<Progress>,
    every: Duration,
    target: Option<JobTarget>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut last = (Instant::now(), progress.transferred());
        let mut target = target;
        loop {
            tokio::time::sleep(every).await;
            let (done, total) = progress.get();
            let transferred = progress.transferred();
            let elapsed = last.0.elapsed().as_secs_f64().max(0.001);
            let report = Report {
                done,
                total,
                bytes_per_second: (transferred.saturating_sub(last.1) as f64 / elapsed) as u64,
            };
            last = (Instant::now(), transferred);
            println!("{}", serde_json::json!({ "progress": report }));
            if let Some(job) = &target
                && let Err(e) = annotate(job, &report).await
            {
                eprintln!(
                    "cannot report progress on Job {}/{} ({e}); the download goes on without it",
                    job.namespace, job.name
                );
                target = None;
            }
        }
    })
}

/// Writes `report` on the Job (and nothing else).
pub async fn annotate(job: &JobTarget, report: &Report) -> Result<(), kube::Error> {
    let jobs: kube::Api<k8s_openapi::api::batch::v1::Job> = kube::Api::namespaced(job.client.clone(), &job.namespace);
    let patch = serde_json::json!({ "metadata": { "annotations": {
        ANNOTATION: serde_json::to_string(report).unwrap_or_default()
    } } });
    jobs.patch(
        &job.name,
        &kube::api::PatchParams::default(),
        &kube::api::Patch::Merge(&patch),
    )
    .await
    .map(|_| ())
}

/// Reads the annotation's value.
pub fn parse(value: &str) -> Option<Report> {
    serde_json::from_str(value).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_annotation_round_trips_and_gives_a_percent() {
        let r = Report {
            done: 512,
            total: 2048,
            bytes_per_second: 100,
        };
        let parsed = parse(&serde_json::to_string(&r).unwrap()).unwrap();
        assert_eq!(parsed, r);
        assert_eq!(parsed.percent(), 25);
        assert_eq!(parse("512/2048"), None);
        let p = Progress::default();
        p.add(10);
        p.sub(20);
        assert_eq!(p.get().0, 0);
        p.add_existing(1000);
        p.add(5);
        assert_eq!(
            (p.get().0, p.transferred()),
            (1005, 15),
            "bytes on disk are done, not transferred"
        );
    }
}
