//! The golden requests: what a plugin of each policy must answer, within the usual checks, to be installed
//! (the loader's smoke test, through [`super::Policy::golden`]).

use super::bindings::{
    Candidate, GpuSelector, MatchRequest, MergeRequest, Metric, Precision, RoutingConfig, RuntimeParameters, Scope,
    ServiceIdentity, TemplateState,
};

/// The smoke test's matcher input: one MI300X cluster template and one MI325X namespace template, both ready.
pub fn golden_match_request() -> MatchRequest {
    let template = |name: &str, scope, gpu: &str| Candidate {
        name: name.into(),
        scope,
        parameters: RuntimeParameters {
            metric: Some(Metric::Latency),
            precision: Some(Precision::Fp8),
            gpu: Some(GpuSelector {
                model: gpu.into(),
                count: 1,
            }),
        },
        state: TemplateState::Available,
        model_source_sizes: vec![Some(16 << 30)],
    };
    MatchRequest {
        model_id: "meta/llama-3.1-8b-instruct".into(),
        wanted: RuntimeParameters {
            metric: None,
            precision: None,
            gpu: None,
        },
        candidates: vec![
            template("llama-8b-mi300x", Scope::Cluster, "MI300X"),
            template("llama-8b-mi325x", Scope::Namespace, "MI325X"),
        ],
        inventory: None,
    }
}

/// The smoke test's merger input.
pub fn golden_merge_request() -> MergeRequest {
    MergeRequest {
        base_name: "llama-8b-mi300x".into(),
        model_id: "meta/llama-3.1-8b-instruct".into(),
        base: RuntimeParameters {
            metric: Some(Metric::Latency),
            precision: Some(Precision::Fp8),
            gpu: Some(GpuSelector {
                model: "MI300X".into(),
                count: 1,
            }),
        },
        overrides: RuntimeParameters {
            metric: None,
            precision: Some(Precision::Bf16),
            gpu: None,
        },
    }
}

/// The smoke test's router input.
pub fn golden_route_request() -> (ServiceIdentity, RoutingConfig) {
    (
        ServiceIdentity {
            namespace: "team-a".into(),
            name: "llama3-svc".into(),
            uid: "3f2b8a4e-1c9d-4e7a-b5f6-0a1b2c3d4e5f".into(),
            model_id: "meta/llama-3.1-8b-instruct".into(),
        },
        RoutingConfig {
            gateway_namespace: "infra-gw".into(),
            gateway_name: "public-gw".into(),
        },
    )
}
