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
use super::bindings::{MatchRequest, MatchResult, MergeRequest, MergeResult, RoutingConfig, ServiceIdentity};
use super::builtin;
use super::call;
use super::error::{CallError, LoadError};
use super::kind::{PolicyKind, Provenance, ReloadEvent};
use super::ledger::{Ledger, PluginState};
use super::limits::SandboxLimits;
use super::loader::Loader;
use super::memo::{self, Memo};
use super::metrics::PolicyMetrics;
use super::plugin::LoadedPlugin;
use super::sandbox::new_engine;
use std::fmt::Debug;
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
    matches: Memo<MatchResult>,
    merges: Memo<MergeResult>,
    routes: Memo<String>,
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
            matches: Memo::default(),
            merges: Memo::default(),
            routes: Memo::default(),
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
        match kind {
            PolicyKind::Matcher => self.matches.clear(),
            PolicyKind::Merger => self.merges.clear(),
            PolicyKind::Router => self.routes.clear(),
        }
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

    /// Chooses a template.
    pub async fn match_template(self: &Arc<Self>, request: MatchRequest) -> Result<Decided<MatchResult>, CallError> {
        self.decide(
            PolicyKind::Matcher,
            request,
            |e| &e.matches,
            |engine, plugin, request| call::matcher(engine.loader.engine(), plugin, engine.limits(), request),
        )
        .await
    }

    /// Merges overrides into a template.
    pub async fn merge(self: &Arc<Self>, request: MergeRequest) -> Result<Decided<MergeResult>, CallError> {
        self.decide(
            PolicyKind::Merger,
            request,
            |e| &e.merges,
            |engine, plugin, request| call::merger(engine.loader.engine(), plugin, engine.limits(), request),
        )
        .await
    }

    /// Chooses a service's path.
    pub async fn route_path(
        self: &Arc<Self>,
        service: ServiceIdentity,
        config: RoutingConfig,
    ) -> Result<Decided<String>, CallError> {
        self.decide(
            PolicyKind::Router,
            (service, config),
            |e| &e.routes,
            |engine, plugin, (service, config)| {
                call::router(engine.loader.engine(), plugin, engine.limits(), service, config)
            },
        )
        .await
    }

    /// [`Self::match_template`] on the calling thread, without the memo.
    pub fn match_template_blocking(&self, request: &MatchRequest) -> Result<Decided<MatchResult>, CallError> {
        self.run_blocking(PolicyKind::Matcher, request, |engine, plugin, request| {
            call::matcher(engine.loader.engine(), plugin, engine.limits(), request)
        })
    }

    /// [`Self::merge`] on the calling thread, without the memo.
    pub fn merge_blocking(&self, request: &MergeRequest) -> Result<Decided<MergeResult>, CallError> {
        self.run_blocking(PolicyKind::Merger, request, |engine, plugin, request| {
            call::merger(engine.loader.engine(), plugin, engine.limits(), request)
        })
    }

    /// [`Self::route_path`] on the calling thread, without the memo.
    pub fn route_path_blocking(
        &self,
        service: &ServiceIdentity,
        config: &RoutingConfig,
    ) -> Result<Decided<String>, CallError> {
        self.run_blocking(
            PolicyKind::Router,
            &(service.clone(), config.clone()),
            |engine, plugin, (s, c)| call::router(engine.loader.engine(), plugin, engine.limits(), s, c),
        )
    }

    /// Decisions remembered per policy: (matcher, merger, router).
    pub fn memo_sizes(&self) -> (usize, usize, usize) {
        (self.matches.len(), self.merges.len(), self.routes.len())
    }

    /// Answers from the memo, or runs the plugin on a blocking thread (at most `max_concurrent_calls` at once)
    /// and remembers the outcome.
    async fn decide<R, T>(
        self: &Arc<Self>,
        kind: PolicyKind,
        request: R,
        memo: fn(&PolicyEngine) -> &Memo<T>,
        run: fn(&PolicyEngine, &LoadedPlugin, &R) -> Result<T, CallError>,
    ) -> Result<Decided<T>, CallError>
    where
        R: Debug + Send + Sync + 'static,
        T: Clone + Send + 'static,
    {
        let plugin = self.current(kind);
        let key = memo::key(&plugin.provenance.digest, &request);
        if let Some(outcome) = memo(self).get(&key) {
            self.metrics.memo(kind, true);
            return outcome.map(|value| Decided {
                value,
                provenance: plugin.provenance.clone(),
            });
        }
        self.metrics.memo(kind, false);
        let _permit = self.permits.acquire().await.expect("the semaphore is never closed");
        let engine = self.clone();
        let for_call = plugin.clone();
        let outcome = match tokio::task::spawn_blocking(move || {
            let start = std::time::Instant::now();
            let result = run(&engine, &for_call, &request);
            engine.count(kind, &result, start);
            result
        })
        .await
        {
            Ok(result) => result,
            // Only a bug in the host itself panics here; report it as that policy's failure rather than unwind.
            Err(join) => Err(CallError::Host {
                kind,
                plugin: plugin.provenance.clone(),
                detail: join.to_string(),
            }),
        };
        memo(self).put(key, &outcome);
        outcome.map(|value| Decided {
            value,
            provenance: plugin.provenance.clone(),
        })
    }

    fn run_blocking<R, T>(
        &self,
        kind: PolicyKind,
        request: &R,
        run: fn(&PolicyEngine, &LoadedPlugin, &R) -> Result<T, CallError>,
    ) -> Result<Decided<T>, CallError> {
        let plugin = self.current(kind);
        let start = std::time::Instant::now();
        let result = run(self, &plugin, request);
        self.count(kind, &result, start);
        result.map(|value| Decided {
            value,
            provenance: plugin.provenance.clone(),
        })
    }

    fn count<T>(&self, kind: PolicyKind, result: &Result<T, CallError>, start: std::time::Instant) {
        self.metrics.called(kind, start.elapsed(), result.is_err());
        if let Err(e) = result {
            tracing::warn!(policy = %kind, error = %e, "policy decision failed");
        }
    }
}
