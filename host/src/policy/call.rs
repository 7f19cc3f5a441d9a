//! One plugin call: a fresh store, instantiate from the cached `InstancePre`, call, classify any failure,
//! check the answer. Synchronous; [`super::engine::PolicyEngine`] runs it on a blocking thread.

use super::bindings::GuestError;
use super::error::CallError;
use super::limits::SandboxLimits;
use super::plugin::LoadedPlugin;
use super::policies::{Failed, Policy};
use super::sandbox::new_store;
use wasmtime::{Engine, Trap};

/// Calls `plugin` as policy `P` and checks its answer.
pub fn call<P: Policy>(
    engine: &Engine,
    plugin: &LoadedPlugin,
    limits: &SandboxLimits,
    request: &P::Request,
) -> Result<P::Answer, CallError> {
    let mut store = new_store(engine, limits);
    let Some(outcome) = P::run(&plugin.pre, &mut store, request) else {
        return Err(invalid(
            plugin,
            format!("it is a {} plugin, called as a {}", plugin.kind, P::KIND),
        ));
    };
    log_output(plugin, &store.data().log());
    let answer = match outcome {
        Ok(answer) => answer,
        Err(Failed::Instantiate(e)) => return Err(instantiate_error(plugin, limits, e)),
        Err(Failed::Call(e)) => return Err(trap(plugin, limits, store.data().memory_denied(), e)),
    };
    let answer = guest_result(plugin, answer)?;
    P::check(request, &answer, limits).map_err(|problem| invalid(plugin, problem))?;
    Ok(answer)
}

fn guest_result<T>(plugin: &LoadedPlugin, answer: Result<T, GuestError>) -> Result<T, CallError> {
    answer.map_err(|e| CallError::Refused {
        kind: plugin.kind,
        plugin: plugin.provenance.clone(),
        message: match e {
            GuestError::InvalidInput(m) => format!("invalid input: {m}"),
            GuestError::Unsupported(m) => format!("unsupported: {m}"),
            GuestError::Internal(m) => format!("internal error: {m}"),
        },
    })
}

fn invalid(plugin: &LoadedPlugin, problem: String) -> CallError {
    CallError::InvalidOutput {
        kind: plugin.kind,
        plugin: plugin.provenance.clone(),
        problem,
    }
}

/// A failed instantiation. Instantiating runs the component's start code (for a Python plugin, CPython's), under
/// the same deadline as the call: stopped there, it ran past its deadline, and says so.
fn instantiate_error(plugin: &LoadedPlugin, limits: &SandboxLimits, e: wasmtime::Error) -> CallError {
    if matches!(e.downcast_ref::<Trap>(), Some(Trap::Interrupt)) {
        return CallError::Timeout {
            kind: plugin.kind,
            plugin: plugin.provenance.clone(),
            budget_ms: limits.deadline.as_millis(),
        };
    }
    CallError::Instantiate {
        kind: plugin.kind,
        plugin: plugin.provenance.clone(),
        detail: format!("{e:#}"),
    }
}

/// Turns a wasmtime error from a call into what happened, in words. `memory_denied` is the limiter's own record
/// that it refused a memory growth (the trap that follows is that refusal).
fn trap(plugin: &LoadedPlugin, limits: &SandboxLimits, memory_denied: bool, e: wasmtime::Error) -> CallError {
    let (kind, provenance) = (plugin.kind, plugin.provenance.clone());
    let text = format!("{e:#}");
    if memory_denied {
        return CallError::MemoryExhausted {
            kind,
            plugin: provenance,
            limit_mib: limits.memory_bytes >> 20,
        };
    }
    let detail = match e.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => {
            return CallError::Timeout {
                kind,
                plugin: provenance,
                budget_ms: limits.deadline.as_millis(),
            };
        }
        Some(Trap::StackOverflow) => "stack overflow (unbounded recursion?)".to_string(),
        Some(Trap::UnreachableCodeReached) => "it panicked or aborted (wasm `unreachable`)".to_string(),
        Some(other) => format!("wasm trap: {other}"),
        None => text,
    };
    CallError::Trap {
        kind,
        plugin: provenance,
        detail,
    }
}

/// What a plugin printed goes to the operator's log at debug level, attributed to the plugin.
fn log_output(plugin: &LoadedPlugin, output: &str) {
    if !output.is_empty() {
        tracing::debug!(policy = %plugin.kind, plugin = %plugin.provenance, output = %output.trim_end(), "plugin output");
    }
}
