//! Shared helpers for the plugin-host tests: the hostile components the build script compiled, and builders.

#![allow(dead_code)]

use aim_operator::policy::bindings::{
    Candidate, GpuSelector, MatchRequest, Metric, Precision, RoutingConfig, RuntimeParameters, Scope, ServiceIdentity,
    TemplateState,
};
use aim_operator::policy::{PolicyEngine, PolicyEngineConfig, SandboxLimits};
use std::sync::Arc;
use std::time::Duration;

/// A matcher whose request's model ID picks a misbehaviour (see its source).
pub const HOSTILE: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/aim_test_plugin_hostile.wasm"));
/// A router that answers the path its service's name spells.
pub const HOSTILE_ROUTER: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/aim_test_plugin_hostile_router.wasm"));
/// A matcher that imports `wasi:sockets`.
pub const NETWORKED: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/aim_test_plugin_networked.wasm"));
/// A matcher built against `aim:policy@0.2.0`.
pub const FUTURE_CONTRACT: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/aim_test_plugin_future_contract.wasm"));

/// Limits for tests: a short deadline so runaway plugins are stopped quickly.
pub fn test_limits() -> SandboxLimits {
    SandboxLimits {
        deadline: Duration::from_millis(100),
        memory_bytes: 32 << 20,
        ..SandboxLimits::default()
    }
}

/// An engine with the built-in plugins and test limits.
pub fn engine() -> Arc<PolicyEngine> {
    engine_with(test_limits())
}

/// An engine with the built-in plugins and `limits`.
pub fn engine_with(limits: SandboxLimits) -> Arc<PolicyEngine> {
    PolicyEngine::new(PolicyEngineConfig {
        limits,
        ..PolicyEngineConfig::default()
    })
    .expect("engine starts")
}

pub const MODEL: &str = "meta/llama-3.1-8b-instruct";

pub fn params(metric: Option<Metric>, precision: Option<Precision>, gpu: Option<(&str, u32)>) -> RuntimeParameters {
    RuntimeParameters {
        metric,
        precision,
        gpu: gpu.map(|(model, count)| GpuSelector {
            model: model.into(),
            count,
        }),
    }
}

pub fn candidate(name: &str, scope: Scope, precision: Precision, gpu: (&str, u32), size_gib: u64) -> Candidate {
    Candidate {
        name: name.into(),
        scope,
        parameters: params(Some(Metric::Latency), Some(precision), Some(gpu)),
        state: TemplateState::Available,
        model_source_sizes: vec![Some(size_gib << 30)],
    }
}

pub fn request(model_id: &str, wanted: RuntimeParameters, candidates: Vec<Candidate>) -> MatchRequest {
    MatchRequest {
        model_id: model_id.into(),
        wanted,
        candidates,
        inventory: None,
    }
}

pub fn service(name: &str) -> (ServiceIdentity, RoutingConfig) {
    (
        ServiceIdentity {
            namespace: "team-a".into(),
            name: name.into(),
            uid: "0b1c-42".into(),
            model_id: MODEL.into(),
        },
        RoutingConfig {
            gateway_namespace: "infra".into(),
            gateway_name: "gw".into(),
        },
    )
}
