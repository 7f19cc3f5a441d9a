//! The cap on discovery Jobs running at once, cluster-wide. Running Jobs are counted from the index, plus
//! those this operator started that the index does not show yet (a Job created a moment ago is on its way);
//! counting and starting happen under one lock, so concurrent reconciles cannot pass the cap in between.

use crate::index::Index;
use crate::labels::Component;
use k8s_openapi::api::batch::v1::Job;
use kube::ResourceExt;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a started Job is counted before the index must show it.
const ON_ITS_WAY: Duration = Duration::from_secs(30);

/// Discovery Jobs started here, and the lock around count-and-start.
#[derive(Debug, Default)]
pub(crate) struct DiscoverySlots {
    started: Mutex<HashMap<String, Instant>>,
    lock: tokio::sync::Mutex<()>,
}

fn active(job: &Job) -> bool {
    let s = job.status.clone().unwrap_or_default();
    s.succeeded.unwrap_or(0) == 0
        && !s
            .conditions
            .iter()
            .flatten()
            .any(|c| (c.type_ == "Failed" || c.type_ == "Complete") && c.status == "True")
}

impl DiscoverySlots {
    /// Discovery Jobs running now.
    pub(crate) fn running(&self, index: &Index) -> usize {
        // A count against the cap, not a decision about one template: no wake-up follows from it.
        let jobs = crate::index::reads::unrecorded(|| index.jobs_of(Component::Discovery));
        let mut started = self.started.lock().unwrap_or_else(|e| e.into_inner());
        started.retain(|key, at| {
            at.elapsed() < ON_ITS_WAY
                && !jobs
                    .iter()
                    .any(|j| format!("{}/{}", j.namespace().unwrap_or_default(), j.name_any()) == *key)
        });
        jobs.iter().filter(|j| active(j)).count() + started.len()
    }

    /// Records a Job just started.
    pub(crate) fn started(&self, namespace: &str, name: &str) {
        self.started
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(format!("{namespace}/{name}"), Instant::now());
    }

    /// Held while counting and starting.
    pub(crate) async fn lock(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.lock.lock().await
    }
}
