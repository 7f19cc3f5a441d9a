//! The policy engine: the current plugin of each policy, the memo of its decisions, calls on blocking threads
//! behind a concurrency limit, and atomic swaps.
//!
//! A decision is looked up in the policy's [`Memo`] first (plugins are pure: same plugin, same request, same
//! answer); only a miss runs WebAssembly. The instance pool is sized from the call limit, so the calls allowed to
//! run at once always find a free instance. Each policy starts with its built-in default. [`PolicyEngine::reload_dir`] compiles and smoke-tests the
//! files of a plugin directory off the decision path; a plugin that passes replaces the current one in a single
//! pointer swap (calls already running finish on the old one), one that fails is refused and the last good one
//! stays. Every outcome is logged, counted and broadcast as a [`ReloadEvent`].

use super::artifact_cache::ArtifactCache;
use super::builtin;
use super::call;
use super::error::{CallError, LoadError};
use super::kind::{PolicyKind, Provenance, ReloadEvent};
use super::ledger::{Ledger, PluginState};
use super::limits::SandboxLimits;
use super::loader::Loader;
use super::memo;
use super::metrics::PolicyMetrics;
use super::plugin::LoadedPlugin;
use super::policies::{Memos, Policy};
use super::sandbox::new_engine;
use std::sync::{Arc, Mutex, RwLock};
use tokio::sync::{Semaphore, broadcast};

/// Pool slots beyond the call limit: plugin loads (reloads, `plugin check`) instantiate for their smoke test
/// outside the call semaphore.
pub const LOAD_SLOTS: usize = 4;

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

pub(super) fn slot(kind: PolicyKind) -> usize {
    kind as usize
}

/// The engine. Share it as `Arc<PolicyEngine>`.
pub struct PolicyEngine {
    pub(super) loader: Loader,
    current: RwLock<[Arc<LoadedPlugin>; 3]>,
    /// Digest of the last refused file per policy, so a file that stays broken is reported once.
    pub(super) refused: Mutex<[Option<String>; 3]>,
    /// Since when each plugin is in use, and each policy's last refusal.
    pub(super) ledger: Ledger,
    permits: Semaphore,
    pub(super) events: broadcast::Sender<ReloadEvent>,
    pub(super) metrics: PolicyMetrics,
    memos: Memos,
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
        let calls = config.max_concurrent_calls.max(1);
        let slots = u32::try_from(calls + LOAD_SLOTS).unwrap_or(u32::MAX);
        let engine = new_engine(slots, &config.limits).map_err(|e| StartError::Wasmtime(format!("{e:#}")))?;
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
        let metrics = PolicyMetrics::default();
        for plugin in &current {
            metrics.in_use(plugin.kind, None, &plugin.provenance);
        }
        Ok(Arc::new(PolicyEngine {
            loader,
            current: RwLock::new(current),
            refused: Mutex::new([None, None, None]),
            ledger: Ledger::default(),
            permits: Semaphore::new(calls),
            events: broadcast::channel(64).0,
            metrics,
            memos: Memos::default(),
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

    /// Makes `plugin` the current one of its policy, atomically, and forgets that policy's remembered decisions.
    pub fn install(&self, plugin: LoadedPlugin) {
        let kind = plugin.kind;
        let now = plugin.provenance.clone();
        let before = std::mem::replace(
            &mut self.current.write().unwrap_or_else(|e| e.into_inner())[slot(kind)],
            Arc::new(plugin),
        );
        self.memos.clear(kind);
        self.metrics.in_use(kind, Some(&before.provenance), &now);
        self.ledger.installed(kind);
    }

    /// Each policy's plugin in use, since when, and its last refusal.
    pub fn plugin_states(&self) -> Vec<PluginState> {
        self.ledger.snapshot(|kind| self.current(kind).provenance.clone())
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

    /// Decisions remembered per policy: (matcher, merger, router).
    pub fn memo_sizes(&self) -> (usize, usize, usize) {
        self.memos.sizes()
    }

    /// Policy `P`'s decision on `request`: from the memo, or by running the current plugin on a blocking thread
    /// (at most `max_concurrent_calls` at once), then remembered.
    pub async fn decide<P: Policy>(self: &Arc<Self>, request: P::Request) -> Result<Decided<P::Answer>, CallError> {
        let plugin = self.current(P::KIND);
        let key = memo::key(&plugin.provenance.digest, &request);
        if let Some(outcome) = P::memo(&self.memos).get(&key) {
            self.metrics.memo(P::KIND, true);
            return outcome.map(|value| Decided {
                value,
                provenance: plugin.provenance.clone(),
            });
        }
        self.metrics.memo(P::KIND, false);
        let _permit = self.permits.acquire().await.expect("the semaphore is never closed");
        let engine = self.clone();
        let for_call = plugin.clone();
        let outcome = match tokio::task::spawn_blocking(move || engine.run::<P>(&for_call, &request)).await {
            Ok(result) => result,
            // Only a bug in the host itself panics here; report it as that policy's failure rather than unwind.
            Err(join) => Err(CallError::Host {
                kind: P::KIND,
                plugin: plugin.provenance.clone(),
                detail: join.to_string(),
            }),
        };
        P::memo(&self.memos).put(key, &outcome);
        outcome.map(|value| Decided {
            value,
            provenance: plugin.provenance.clone(),
        })
    }

    /// [`Self::decide`] on the calling thread, without the memo (the CLI, benchmarks).
    pub fn decide_blocking<P: Policy>(&self, request: &P::Request) -> Result<Decided<P::Answer>, CallError> {
        let plugin = self.current(P::KIND);
        self.run::<P>(&plugin, request).map(|value| Decided {
            value,
            provenance: plugin.provenance.clone(),
        })
    }

    /// One call of `plugin`, counted.
    fn run<P: Policy>(&self, plugin: &LoadedPlugin, request: &P::Request) -> Result<P::Answer, CallError> {
        let start = std::time::Instant::now();
        let result = call::call::<P>(self.loader.engine(), plugin, self.limits(), request);
        self.count(P::KIND, &result, start);
        result
    }

    fn count<T>(&self, kind: PolicyKind, result: &Result<T, CallError>, start: std::time::Instant) {
        self.metrics.called(kind, start.elapsed(), result.is_err());
        if let Err(e) = result {
            tracing::warn!(policy = %kind, error = %e, "policy decision failed");
        }
    }
}
