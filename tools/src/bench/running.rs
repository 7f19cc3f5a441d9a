//! How many of the measured services are `Running`, kept by one watch: listing every service four times a
//! second for the minutes a 1,000-service rollout takes cost the harness (a debug build) more CPU than the
//! operator it measures, on the same two cores.

use aim_operator::api::{AIMService, ServiceState};
use futures::StreamExt;
use kube::api::Api;
use kube::runtime::watcher::{self, Event};
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The count, kept up to date until dropped.
pub struct RunningServices {
    count: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl RunningServices {
    /// Starts watching the services in every namespace `measured` accepts.
    pub fn watch(client: &kube::Client, measured: fn(&str) -> bool) -> Self {
        let count = Arc::new(AtomicUsize::new(0));
        let api: Api<AIMService> = Api::all(client.clone());
        let shared = count.clone();
        let task = tokio::spawn(async move {
            let mut running: HashSet<(String, String)> = HashSet::new();
            let mut relisted: HashSet<(String, String)> = HashSet::new();
            let mut events = std::pin::pin!(watcher::watcher(api, watcher::Config::default()));
            let key = |s: &AIMService| {
                (
                    s.metadata.namespace.clone().unwrap_or_default(),
                    s.metadata.name.clone().unwrap_or_default(),
                )
            };
            let is_running = |s: &AIMService| {
                s.metadata.namespace.as_deref().is_some_and(measured)
                    && s.status.as_ref().and_then(|st| st.head.status) == Some(ServiceState::Running)
            };
            while let Some(event) = events.next().await {
                let Ok(event) = event else { continue };
                match event {
                    Event::Apply(s) if is_running(&s) => {
                        running.insert(key(&s));
                    }
                    Event::Apply(s) | Event::Delete(s) => {
                        running.remove(&key(&s));
                    }
                    Event::Init => relisted.clear(),
                    Event::InitApply(s) => {
                        if is_running(&s) {
                            relisted.insert(key(&s));
                        }
                    }
                    Event::InitDone => running = std::mem::take(&mut relisted),
                }
                shared.store(running.len(), Ordering::Relaxed);
            }
        });
        RunningServices { count, task }
    }

    /// The measured services `Running` now.
    pub fn count(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }
}

impl Drop for RunningServices {
    fn drop(&mut self) {
        self.task.abort();
    }
}
