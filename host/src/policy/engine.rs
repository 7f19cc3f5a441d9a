//! The policy engine: the current plugin of each policy, calls on blocking threads behind a concurrency limit,
//! and atomic swaps.
//!
//! Each policy starts with its built-in default. [`PolicyEngine::reload_dir`] compiles and smoke-tests the
//! files of a plugin directory off the decision path; a plugin that passes replaces the current one in a single
//! pointer swap (calls already running finish on the old one), one that fails is refused and the last good one
//! stays. Every outcome is logged, counted and broadcast as a [`ReloadEvent`].

use super::artifact_cache::{ArtifactCache, digest};
use super::bindings::{MatchRequest, MatchResult, MergeRequest, MergeResult, RoutingConfig, ServiceIdentity};
use super::builtin;
use super::call;
use super::error::{CallError, LoadError};
use super::kind::{PolicyKind, Provenance};
use super::limits::SandboxLimits;
use super::loader::{LoadedPlugin, Loader};
use super::sandbox::new_engine;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use tokio::sync::{Semaphore, broadcast};

/// How the engine runs plugins.
#[derive(Debug, Clone)]
pub struct PolicyEngineConfig {
    /// Per-call and per-load limits.
    pub limits: SandboxLimits,
    /// Where compiled components are cached.
    pub cache: ArtifactCache,
    /// Calls running at once; the rest wait.
    pub max_concurrent_calls: usize,
}

impl Default for PolicyEngineConfig {
    fn default() -> Self {
        PolicyEngineConfig {
            limits: SandboxLimits::default(),
            cache: ArtifactCache::disabled(),
            max_concurrent_calls: std::thread::available_parallelism().map_or(2, |n| n.get() * 2),
        }
    }
}

/// An answer and the plugin that gave it.
#[derive(Debug, Clone, PartialEq)]
pub struct Decided<T> {
    /// The answer.
    pub value: T,
    /// Which plugin (name and digest).
    pub provenance: Provenance,
}

/// What a reload did for one policy.
#[derive(Debug, Clone, PartialEq)]
pub enum ReloadEvent {
    /// A new plugin passed its checks and is now in use.
    Loaded {
        /// The policy.
        kind: PolicyKind,
        /// The plugin now in use.
        provenance: Provenance,
    },
    /// A file was refused; `keeping` stays in use.
    Refused {
        /// The policy.
        kind: PolicyKind,
        /// The refused file.
        file: String,
        /// Why, for the log and the Event.
        error: String,
        /// The plugin that stays.
        keeping: Provenance,
    },
    /// The policy's file disappeared; the built-in default is back.
    Reverted {
        /// The policy.
        kind: PolicyKind,
        /// The built-in plugin.
        provenance: Provenance,
    },
}

/// Counters for `/metrics`, per policy in [`PolicyKind::ALL`] order.
#[derive(Debug, Default)]
pub struct PolicyMetrics {
    /// Decisions asked for.
    pub calls: [AtomicU64; 3],
    /// Decisions that failed.
    pub failures: [AtomicU64; 3],
    /// Plugins loaded by a reload.
    pub reloads_loaded: [AtomicU64; 3],
    /// Plugin files refused by a reload.
    pub reloads_refused: [AtomicU64; 3],
    /// Total time spent in decisions, in microseconds.
    pub call_micros: [AtomicU64; 3],
}

fn slot(kind: PolicyKind) -> usize {
    kind as usize
}

/// The engine. Share it as `Arc<PolicyEngine>`.
pub struct PolicyEngine {
    loader: Loader,
    current: RwLock<[Arc<LoadedPlugin>; 3]>,
    /// Digest of the last refused file per policy, so a file that stays broken is reported once.
    refused: Mutex<[Option<String>; 3]>,
    permits: Semaphore,
    events: broadcast::Sender<ReloadEvent>,
    metrics: PolicyMetrics,
}

/// The engine could not start: the built-in plugins failed to load (a build defect, not an input problem).
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// wasmtime could not be set up.
    #[error("cannot set up wasmtime: {0}")]
    Wasmtime(String),
    /// A built-in plugin was refused.
    #[error("the built-in {kind} plugin was refused: {source}")]
    Builtin {
        /// The policy.
        kind: PolicyKind,
        /// Why.
        source: LoadError,
    },
}

impl PolicyEngine {
    /// An engine running the built-in default of every policy.
    pub fn new(config: PolicyEngineConfig) -> Result<Arc<Self>, StartError> {
        let engine = new_engine().map_err(|e| StartError::Wasmtime(format!("{e:#}")))?;
        let loader =
            Loader::new(engine, config.cache, config.limits).map_err(|e| StartError::Wasmtime(format!("{e:#}")))?;
        let load = |kind| {
            loader
                .load(builtin::component(kind), &builtin::name(kind), Some(kind))
                .map(Arc::new)
                .map_err(|source| StartError::Builtin { kind, source })
        };
        let current = [
            load(PolicyKind::Matcher)?,
            load(PolicyKind::Merger)?,
            load(PolicyKind::Router)?,
        ];
        Ok(Arc::new(PolicyEngine {
            loader,
            current: RwLock::new(current),
            refused: Mutex::new([None, None, None]),
            permits: Semaphore::new(config.max_concurrent_calls.max(1)),
            events: broadcast::channel(64).0,
            metrics: PolicyMetrics::default(),
        }))
    }

    /// The plugin currently deciding `kind`.
    pub fn current(&self, kind: PolicyKind) -> Arc<LoadedPlugin> {
        self.current.read().unwrap_or_else(|e| e.into_inner())[slot(kind)].clone()
    }

    /// Checks and compiles `bytes` without installing it (for `plugin check` and reloads).
    pub fn load(&self, bytes: &[u8], name: &str, kind: Option<PolicyKind>) -> Result<LoadedPlugin, LoadError> {
        self.loader.load(bytes, name, kind)
    }

    /// Makes `plugin` the current one of its policy, atomically.
    pub fn install(&self, plugin: LoadedPlugin) {
        let kind = plugin.kind;
        self.current.write().unwrap_or_else(|e| e.into_inner())[slot(kind)] = Arc::new(plugin);
    }

    /// Reload outcomes as they happen.
    pub fn subscribe(&self) -> broadcast::Receiver<ReloadEvent> {
        self.events.subscribe()
    }

    /// Counters.
    pub fn metrics(&self) -> &PolicyMetrics {
        &self.metrics
    }

    /// The limits calls run under.
    pub fn limits(&self) -> &SandboxLimits {
        self.loader.limits()
    }

    /// Chooses a template.
    pub async fn match_template(self: &Arc<Self>, request: MatchRequest) -> Result<Decided<MatchResult>, CallError> {
        self.run(PolicyKind::Matcher, move |engine| {
            engine.match_template_blocking(&request)
        })
        .await
    }

    /// Merges overrides into a template.
    pub async fn merge(self: &Arc<Self>, request: MergeRequest) -> Result<Decided<MergeResult>, CallError> {
        self.run(PolicyKind::Merger, move |engine| engine.merge_blocking(&request))
            .await
    }

    /// Chooses a service's path.
    pub async fn route_path(
        self: &Arc<Self>,
        service: ServiceIdentity,
        config: RoutingConfig,
    ) -> Result<Decided<String>, CallError> {
        self.run(PolicyKind::Router, move |engine| {
            engine.route_path_blocking(&service, &config)
        })
        .await
    }

    /// [`Self::match_template`] on the calling thread.
    pub fn match_template_blocking(&self, request: &MatchRequest) -> Result<Decided<MatchResult>, CallError> {
        let plugin = self.current(PolicyKind::Matcher);
        let start = std::time::Instant::now();
        let result = call::matcher(self.loader.engine(), &plugin, self.limits(), request);
        self.count(PolicyKind::Matcher, result, &plugin, start)
    }

    /// [`Self::merge`] on the calling thread.
    pub fn merge_blocking(&self, request: &MergeRequest) -> Result<Decided<MergeResult>, CallError> {
        let plugin = self.current(PolicyKind::Merger);
        let start = std::time::Instant::now();
        let result = call::merger(self.loader.engine(), &plugin, self.limits(), request);
        self.count(PolicyKind::Merger, result, &plugin, start)
    }

    /// [`Self::route_path`] on the calling thread.
    pub fn route_path_blocking(
        &self,
        service: &ServiceIdentity,
        config: &RoutingConfig,
    ) -> Result<Decided<String>, CallError> {
        let plugin = self.current(PolicyKind::Router);
        let start = std::time::Instant::now();
        let result = call::router(self.loader.engine(), &plugin, self.limits(), service, config);
        self.count(PolicyKind::Router, result, &plugin, start)
    }

    fn count<T>(
        &self,
        kind: PolicyKind,
        result: Result<T, CallError>,
        plugin: &LoadedPlugin,
        start: std::time::Instant,
    ) -> Result<Decided<T>, CallError> {
        self.metrics.calls[slot(kind)].fetch_add(1, Ordering::Relaxed);
        self.metrics.call_micros[slot(kind)].fetch_add(start.elapsed().as_micros() as u64, Ordering::Relaxed);
        if let Err(e) = &result {
            self.metrics.failures[slot(kind)].fetch_add(1, Ordering::Relaxed);
            tracing::warn!(policy = %kind, error = %e, "policy decision failed");
        }
        result.map(|value| Decided {
            value,
            provenance: plugin.provenance.clone(),
        })
    }

    /// Runs a blocking call on tokio's blocking pool, at most `max_concurrent_calls` at once.
    async fn run<T: Send + 'static>(
        self: &Arc<Self>,
        kind: PolicyKind,
        f: impl FnOnce(&PolicyEngine) -> Result<T, CallError> + Send + 'static,
    ) -> Result<T, CallError> {
        let _permit = self.permits.acquire().await.expect("the semaphore is never closed");
        let engine = self.clone();
        match tokio::task::spawn_blocking(move || f(&engine)).await {
            Ok(result) => result,
            // Only a bug in the host itself panics here; report it as that policy's failure rather than unwind.
            Err(join) => Err(CallError::Trap {
                kind,
                plugin: self.current(kind).provenance.clone(),
                detail: format!("the host failed while running it: {join}"),
            }),
        }
    }

    /// Loads `<dir>/matcher.wasm`, `merger.wasm` and `router.wasm` where they changed, reverts a policy whose
    /// file is gone to its built-in default, and returns what happened. Blocking: compiles components.
    pub fn reload_dir(&self, dir: &Path) -> Vec<ReloadEvent> {
        let mut events = Vec::new();
        for kind in PolicyKind::ALL {
            if let Some(event) = self.reload_one(dir, kind) {
                match &event {
                    ReloadEvent::Loaded { provenance, .. } => {
                        self.metrics.reloads_loaded[slot(kind)].fetch_add(1, Ordering::Relaxed);
                        tracing::info!(policy = %kind, plugin = %provenance, "policy plugin loaded");
                    }
                    ReloadEvent::Refused {
                        file, error, keeping, ..
                    } => {
                        self.metrics.reloads_refused[slot(kind)].fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(policy = %kind, file, error, keeping = %keeping, "policy plugin refused; keeping the last good one");
                    }
                    ReloadEvent::Reverted { provenance, .. } => {
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
