//! The component glue: WIT records in, [`crate::policy`] types through, WIT records out.

wit_bindgen::generate!({ path: "../../wit", world: "matcher-policy" });

use crate::policy;
use aim::policy::types::{GpuSelector, Metric, PolicyError, Precision, RuntimeParameters};
use exports::aim::policy::matcher::{
    Candidate, Decision, Guest, MatchRequest, MatchResult, Scope, TemplateState, Verdict,
};

struct Matcher;

impl Guest for Matcher {
    fn match_template(request: MatchRequest) -> Result<MatchResult, PolicyError> {
        let outcome = policy::match_template(&into_request(request));
        Ok(MatchResult {
            decision: match outcome.decision {
                policy::Decision::Use(i) => Decision::UseCandidate(i),
                policy::Decision::Derive(p) => Decision::Derive(from_params(p)),
                policy::Decision::None => Decision::None,
            },
            reason: outcome.reason,
            verdicts: outcome
                .verdicts
                .into_iter()
                .map(|v| Verdict {
                    candidate: v.candidate,
                    accepted: v.accepted,
                    score: v.score,
                    reason: v.reason,
                })
                .collect(),
        })
    }
}

fn into_request(r: MatchRequest) -> policy::Request {
    policy::Request {
        model_id: r.model_id,
        wanted: into_params(r.wanted),
        candidates: r.candidates.into_iter().map(into_candidate).collect(),
        inventory: r.inventory.map(|pools| {
            pools
                .into_iter()
                .map(|p| policy::GpuPool {
                    model: p.model,
                    nodes: p.nodes,
                    allocatable: p.allocatable,
                    max_per_node: p.max_per_node,
                })
                .collect()
        }),
    }
}

fn into_candidate(c: Candidate) -> policy::Candidate {
    policy::Candidate {
        name: c.name,
        scope: match c.scope {
            Scope::Namespace => policy::Scope::Namespace,
            Scope::Cluster => policy::Scope::Cluster,
        },
        params: into_params(c.parameters),
        state: match c.state {
            TemplateState::Pending => policy::State::Pending,
            TemplateState::Progressing => policy::State::Progressing,
            TemplateState::Available => policy::State::Available,
            TemplateState::Degraded => policy::State::Degraded,
            TemplateState::Failed => policy::State::Failed,
        },
        source_sizes: c.model_source_sizes,
    }
}

fn into_params(p: RuntimeParameters) -> policy::Params {
    policy::Params {
        metric: p.metric.map(|m| match m {
            Metric::Latency => policy::Metric::Latency,
            Metric::Throughput => policy::Metric::Throughput,
        }),
        precision: p.precision.map(|p| match p {
            Precision::Auto => policy::Precision::Auto,
            Precision::Fp4 => policy::Precision::Fp4,
            Precision::Fp8 => policy::Precision::Fp8,
            Precision::Fp16 => policy::Precision::Fp16,
            Precision::Fp32 => policy::Precision::Fp32,
            Precision::Bf16 => policy::Precision::Bf16,
            Precision::Int4 => policy::Precision::Int4,
            Precision::Int8 => policy::Precision::Int8,
        }),
        gpu: p.gpu.map(|g| policy::Gpu {
            model: g.model,
            count: g.count,
        }),
    }
}

fn from_params(p: policy::Params) -> RuntimeParameters {
    RuntimeParameters {
        metric: p.metric.map(|m| match m {
            policy::Metric::Latency => Metric::Latency,
            policy::Metric::Throughput => Metric::Throughput,
        }),
        precision: p.precision.map(|p| match p {
            policy::Precision::Auto => Precision::Auto,
            policy::Precision::Fp4 => Precision::Fp4,
            policy::Precision::Fp8 => Precision::Fp8,
            policy::Precision::Fp16 => Precision::Fp16,
            policy::Precision::Fp32 => Precision::Fp32,
            policy::Precision::Bf16 => Precision::Bf16,
            policy::Precision::Int4 => Precision::Int4,
            policy::Precision::Int8 => Precision::Int8,
        }),
        gpu: p.gpu.map(|g| GpuSelector {
            model: g.model,
            count: g.count,
        }),
    }
}

export!(Matcher);
