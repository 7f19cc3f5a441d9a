//! What the matcher is shown: the templates of a model (namespace first, then cluster, each by name) and the
//! cluster's AMD GPUs, converted to the WIT records. Pure conversions.

use crate::api::{Metric, Precision, ResourceState, RuntimeParameters, TemplateProfile, TemplateScope, TemplateStatus};
use crate::controller::kit::quantity::bytes;
use crate::index::Template;
use crate::policy::bindings as wit;
use crate::upstream::gpu::GpuPool;

/// A template as resolution sees it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TemplateRecord {
    pub(crate) name: String,
    pub(crate) scope: TemplateScope,
    pub(crate) profile: TemplateProfile,
    pub(crate) status: TemplateStatus,
    /// Whether the operator derived it.
    pub(crate) derived: bool,
}

impl From<&Template> for TemplateRecord {
    fn from(t: &Template) -> Self {
        TemplateRecord {
            name: t.name(),
            scope: t.scope(),
            profile: t.profile().clone(),
            status: t.status(),
            derived: t.derived(),
        }
    }
}

/// The WIT form of the GPU inventory, as `resource` counts it (the WIT's pools have no resource names).
pub(crate) fn inventory_to_wit(pools: &[GpuPool], resource: &str) -> Vec<wit::GpuPool> {
    crate::upstream::gpu::pools_of(pools, resource)
        .map(|p| wit::GpuPool {
            model: p.model.clone(),
            nodes: p.nodes,
            allocatable: p.allocatable,
            max_per_node: p.max_per_node,
        })
        .collect()
}

/// The WIT form of runtime parameters.
pub(crate) fn to_wit(p: &RuntimeParameters) -> wit::RuntimeParameters {
    wit::RuntimeParameters {
        metric: p.metric.map(|m| match m {
            Metric::Latency => wit::Metric::Latency,
            Metric::Throughput => wit::Metric::Throughput,
        }),
        precision: p.precision.map(|p| match p {
            Precision::Auto => wit::Precision::Auto,
            Precision::Fp4 => wit::Precision::Fp4,
            Precision::Fp8 => wit::Precision::Fp8,
            Precision::Fp16 => wit::Precision::Fp16,
            Precision::Fp32 => wit::Precision::Fp32,
            Precision::Bf16 => wit::Precision::Bf16,
            Precision::Int4 => wit::Precision::Int4,
            Precision::Int8 => wit::Precision::Int8,
        }),
        gpu: p.gpu_selector.as_ref().map(|g| wit::GpuSelector {
            model: g.model.clone(),
            count: g.count.max(0) as u32,
        }),
    }
}

/// Runtime parameters from their WIT form (the WIT has no resource names: a GPU is requested as `amd.com/gpu`
/// unless the caller carries a template's over).
pub(crate) fn from_wit(p: &wit::RuntimeParameters) -> RuntimeParameters {
    RuntimeParameters {
        metric: p.metric.map(|m| match m {
            wit::Metric::Latency => Metric::Latency,
            wit::Metric::Throughput => Metric::Throughput,
        }),
        precision: p.precision.map(|p| match p {
            wit::Precision::Auto => Precision::Auto,
            wit::Precision::Fp4 => Precision::Fp4,
            wit::Precision::Fp8 => Precision::Fp8,
            wit::Precision::Fp16 => Precision::Fp16,
            wit::Precision::Fp32 => Precision::Fp32,
            wit::Precision::Bf16 => Precision::Bf16,
            wit::Precision::Int4 => Precision::Int4,
            wit::Precision::Int8 => Precision::Int8,
        }),
        gpu_selector: p
            .gpu
            .as_ref()
            .map(|g| crate::api::GpuSelector::new(g.model.clone(), g.count.min(i32::MAX as u32) as i32)),
    }
}

/// The WIT form of a candidate.
pub(crate) fn to_candidate(t: &TemplateRecord) -> wit::Candidate {
    wit::Candidate {
        name: t.name.clone(),
        scope: match t.scope {
            TemplateScope::Namespace => wit::Scope::Namespace,
            TemplateScope::Cluster => wit::Scope::Cluster,
        },
        parameters: to_wit(&t.profile.parameters),
        state: match t.status.head.status.unwrap_or_default() {
            ResourceState::Pending => wit::TemplateState::Pending,
            ResourceState::Progressing => wit::TemplateState::Progressing,
            ResourceState::Available => wit::TemplateState::Available,
            ResourceState::Degraded => wit::TemplateState::Degraded,
            ResourceState::Failed => wit::TemplateState::Failed,
        },
        model_source_sizes: t
            .status
            .model_sources
            .iter()
            .map(|s| s.size.as_ref().and_then(bytes))
            .collect(),
    }
}
