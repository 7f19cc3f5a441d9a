//! Swapping plugins: [`PolicyEngine::reload_dir`] loads the plugin files of a directory where they changed,
//! reverts a policy whose file is gone to its built-in default, refuses (once per file) what fails its checks,
//! and reports each outcome as a [`ReloadEvent`] (to the log, the metrics, the ledger and subscribers).

use super::artifact_cache::digest;
use super::builtin;
use super::engine::{PolicyEngine, slot};
use super::error::LoadError;
use super::kind::{PolicyKind, ReloadEvent};
use std::path::Path;

impl PolicyEngine {
    /// Loads `<dir>/matcher.wasm`, `merger.wasm` and `router.wasm` where they changed, reverts a policy whose
    /// file is gone to its built-in default, and returns what happened. Blocking: compiles components.
    pub fn reload_dir(&self, dir: &Path) -> Vec<ReloadEvent> {
        self.metrics.scanned();
        let mut events = Vec::new();
        for kind in PolicyKind::ALL {
            if let Some(event) = self.reload_one(dir, kind) {
                match &event {
                    ReloadEvent::Loaded { provenance, .. } => {
                        self.metrics.reload(kind, "loaded");
                        tracing::info!(policy = %kind, plugin = %provenance, "policy plugin loaded");
                    }
                    ReloadEvent::Refused {
                        file, error, keeping, ..
                    } => {
                        self.metrics.reload(kind, "refused");
                        self.ledger.refused(kind, file, error);
                        tracing::warn!(policy = %kind, file, error, keeping = %keeping, "policy plugin refused; keeping the last good one");
                    }
                    ReloadEvent::Reverted { provenance, .. } => {
                        self.metrics.reload(kind, "reverted");
                        tracing::info!(policy = %kind, plugin = %provenance, "policy plugin file removed; using the built-in default");
                    }
                }
                let _ = self.events.send(event.clone());
                events.push(event);
            }
        }
        events
    }

    fn reload_one(&self, dir: &Path, kind: PolicyKind) -> Option<ReloadEvent> {
        let path = dir.join(kind.file_name());
        let current = self.current(kind);
        let refused = |error: LoadError| ReloadEvent::Refused {
            kind,
            file: path.display().to_string(),
            error: error.to_string(),
            keeping: current.provenance.clone(),
        };
        let bytes = match read_plugin_file(&path, self.limits().component_bytes) {
            Ok(Some(bytes)) => bytes,
            Ok(None) => {
                self.remember_refusal(kind, None);
                if current.provenance.plugin == builtin::name(kind) {
                    return None;
                }
                let builtin = self
                    .loader
                    .load(builtin::component(kind), &builtin::name(kind), Some(kind))
                    .ok()?;
                let provenance = builtin.provenance.clone();
                self.install(builtin);
                return Some(ReloadEvent::Reverted { kind, provenance });
            }
            Err(error) => return Some(refused(error)),
        };
        let digest = digest(&bytes);
        let already_refused =
            self.refused.lock().unwrap_or_else(|e| e.into_inner())[slot(kind)].as_deref() == Some(digest.as_str());
        if current.provenance.digest == digest || already_refused {
            return None;
        }
        match self.loader.load(&bytes, &kind.file_name(), Some(kind)) {
            Ok(plugin) => {
                let provenance = plugin.provenance.clone();
                self.install(plugin);
                self.remember_refusal(kind, None);
                Some(ReloadEvent::Loaded { kind, provenance })
            }
            Err(error) => {
                self.remember_refusal(kind, Some(digest));
                Some(refused(error))
            }
        }
    }

    /// Remembers the digest of a refused file (so it is reported once), or forgets it.
    fn remember_refusal(&self, kind: PolicyKind, digest: Option<String>) {
        self.refused.lock().unwrap_or_else(|e| e.into_inner())[slot(kind)] = digest;
    }
}

/// The file's bytes, `None` when there is no file. Follows symlinks (a mounted ConfigMap is a chain of them).
fn read_plugin_file(path: &Path, limit: usize) -> Result<Option<Vec<u8>>, LoadError> {
    let read_err = |source| LoadError::Read {
        path: path.display().to_string(),
        source,
    };
    match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(read_err(e)),
        Ok(meta) if meta.len() as usize > limit => {
            return Err(LoadError::TooLarge {
                bytes: meta.len() as usize,
                limit,
            });
        }
        Ok(_) => {}
    }
    std::fs::read(path).map(Some).map_err(read_err)
}
