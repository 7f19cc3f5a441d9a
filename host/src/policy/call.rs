//! One plugin call: a fresh store, instantiate from the cached `InstancePre`, call, classify any failure,
//! check the answer. Synchronous; [`super::engine::PolicyEngine`] runs it on a blocking thread.

use super::bindings::{
    GuestError, MatchRequest, MatchResult, MergeRequest, MergeResult, RoutingConfig, ServiceIdentity,
};
use super::error::CallError;
use super::kind::PolicyKind;
use super::limits::SandboxLimits;
use super::plugin::{LoadedPlugin, Pre};
use super::sandbox::new_store;
use super::validate;
use wasmtime::{Engine, Trap};

/// Calls a matcher plugin and checks its answer.
pub fn matcher(
    engine: &Engine,
    plugin: &LoadedPlugin,
    limits: &SandboxLimits,
    request: &MatchRequest,
) -> Result<MatchResult, CallError> {
    let Pre::Matcher(pre) = &plugin.pre else {
        return Err(wrong_kind(plugin, PolicyKind::Matcher));
    };
    let mut store = new_store(engine, limits);
    let answer = pre
        .instantiate(&mut store)
        .map_err(|e| instantiate_error(plugin, limits, e))
        .and_then(|i| {
            i.aim_policy_matcher()
                .call_match_template(&mut store, request)
                .map_err(|e| trap(plugin, limits, store.data().memory_denied(), e))
        });
    log_output(plugin, &store.data().log());
    let result = guest_result(plugin, answer?)?;
    let size = validate::match_result_size(&result);
    if size > limits.output_bytes {
        return Err(invalid(
            plugin,
            format!("an answer of {size} bytes; the limit is {}", limits.output_bytes),
        ));
    }
    validate::match_result(request, &result).map_err(|problem| invalid(plugin, problem))?;
    Ok(result)
}

/// Calls a merger plugin and checks its answer.
pub fn merger(
    engine: &Engine,
    plugin: &LoadedPlugin,
    limits: &SandboxLimits,
    request: &MergeRequest,
) -> Result<MergeResult, CallError> {
    let Pre::Merger(pre) = &plugin.pre else {
        return Err(wrong_kind(plugin, PolicyKind::Merger));
    };
    let mut store = new_store(engine, limits);
    let answer = pre
        .instantiate(&mut store)
        .map_err(|e| instantiate_error(plugin, limits, e))
        .and_then(|i| {
            i.aim_policy_merger()
                .call_merge(&mut store, request)
                .map_err(|e| trap(plugin, limits, store.data().memory_denied(), e))
        });
    log_output(plugin, &store.data().log());
    let result = guest_result(plugin, answer?)?;
    validate::merge_result(&result).map_err(|problem| invalid(plugin, problem))?;
    Ok(result)
}

/// Calls a router plugin and checks its answer.
pub fn router(
    engine: &Engine,
    plugin: &LoadedPlugin,
    limits: &SandboxLimits,
    service: &ServiceIdentity,
    config: &RoutingConfig,
) -> Result<String, CallError> {
    let Pre::Router(pre) = &plugin.pre else {
        return Err(wrong_kind(plugin, PolicyKind::Router));
    };
    let mut store = new_store(engine, limits);
    let answer = pre
        .instantiate(&mut store)
        .map_err(|e| instantiate_error(plugin, limits, e))
        .and_then(|i| {
            i.aim_policy_router()
                .call_route_path(&mut store, service, config)
                .map_err(|e| trap(plugin, limits, store.data().memory_denied(), e))
        });
    log_output(plugin, &store.data().log());
    let path = guest_result(plugin, answer?)?;
    validate::route_path(&path).map_err(|problem| invalid(plugin, problem))?;
    Ok(path)
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

fn wrong_kind(plugin: &LoadedPlugin, wanted: PolicyKind) -> CallError {
    invalid(plugin, format!("it is a {} plugin, called as a {wanted}", plugin.kind))
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
