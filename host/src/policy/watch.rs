//! Hot reload: watches a plugin directory and reloads the engine when anything in it changes.
//!
//! The directory is watched, not the files, and every event (create, write, remove, rename) just triggers a
//! full rescan, so the kubelet's ConfigMap update (a new `..data` symlink swapped in atomically, the old target
//! deleted) is handled like any other change. Events are debounced; a periodic rescan catches anything a lost
//! inotify watch missed. Reloads compile on a blocking thread, off the decision path.

use super::engine::PolicyEngine;
use notify::RecursiveMode;
use notify_debouncer_full::{DebounceEventResult, new_debouncer};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Quiet period before a burst of file events triggers a rescan.
pub const DEBOUNCE: Duration = Duration::from_millis(200);

/// A running watcher; dropping it stops watching.
pub struct PluginWatcher {
    _debouncer: notify_debouncer_full::Debouncer<notify::RecommendedWatcher, notify_debouncer_full::RecommendedCache>,
    task: JoinHandle<()>,
}

impl Drop for PluginWatcher {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Loads what `dir` holds now, then reloads on every change and every `resync`.
pub async fn watch(engine: Arc<PolicyEngine>, dir: PathBuf, resync: Duration) -> Result<PluginWatcher, notify::Error> {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut debouncer = new_debouncer(DEBOUNCE, None, move |result: DebounceEventResult| {
        if let Err(errors) = &result {
            tracing::warn!(?errors, "plugin directory watch error");
        }
        let _ = tx.send(());
    })?;
    debouncer.watch(&dir, RecursiveMode::NonRecursive)?;
    rescan(&engine, &dir).await;
    let task = tokio::spawn(async move {
        loop {
            tokio::select! {
                got = rx.recv() => if got.is_none() { return },
                _ = tokio::time::sleep(resync) => {}
            }
            // Coalesce whatever else arrived while we waited.
            while rx.try_recv().is_ok() {}
            rescan(&engine, &dir).await;
        }
    });
    Ok(PluginWatcher {
        _debouncer: debouncer,
        task,
    })
}

async fn rescan(engine: &Arc<PolicyEngine>, dir: &std::path::Path) {
    let (engine, dir) = (engine.clone(), dir.to_path_buf());
    if let Err(e) = tokio::task::spawn_blocking(move || engine.reload_dir(&dir)).await {
        tracing::error!(error = %e, "plugin reload task failed");
    }
}
