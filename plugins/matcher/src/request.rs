//! The matching policy's input and output as plain Rust types (what the component glue converts the WIT records
//! to and from): a request of candidate templates and the GPU inventory, and an outcome of a decision and one
//! verdict per candidate.

/// What a profile optimises for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// Low latency.
    Latency,
    /// High throughput.
    Throughput,
}

/// Weight precision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum Precision {
    Auto,
    Fp4,
    Fp8,
    Fp16,
    Fp32,
    Bf16,
    Int4,
    Int8,
}

/// GPUs per replica.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gpu {
    /// GPU model.
    pub model: String,
    /// GPUs per replica.
    pub count: u32,
}

/// Runtime parameters; `None` is "not specified".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params {
    /// Metric.
    pub metric: Option<Metric>,
    /// Precision.
    pub precision: Option<Precision>,
    /// GPUs.
    pub gpu: Option<Gpu>,
}

impl Params {
    /// True when nothing is specified.
    pub fn is_empty(&self) -> bool {
        self.metric.is_none() && self.precision.is_none() && self.gpu.is_none()
    }
}

/// Template scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scope {
    /// A namespace template (preferred).
    Namespace,
    /// A cluster template.
    Cluster,
}

/// Template state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum State {
    Pending,
    Progressing,
    Available,
    Degraded,
    Failed,
}

/// A candidate template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// Name.
    pub name: String,
    /// Scope.
    pub scope: Scope,
    /// Its parameters.
    pub params: Params,
    /// Its state.
    pub state: State,
    /// Sizes of its model sources (None where unknown).
    pub source_sizes: Vec<Option<u64>>,
}

/// GPUs of one model in the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GpuPool {
    /// GPU model.
    pub model: String,
    /// Nodes with it.
    pub nodes: u32,
    /// Allocatable GPUs in total.
    pub allocatable: u32,
    /// Most allocatable on one node.
    pub max_per_node: u32,
}

/// What the matcher is asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Requested model.
    pub model_id: String,
    /// The service's overrides.
    pub wanted: Params,
    /// Candidate templates.
    pub candidates: Vec<Candidate>,
    /// GPU inventory, when known.
    pub inventory: Option<Vec<GpuPool>>,
}

/// Judgement of one candidate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// Index into the candidates.
    pub candidate: u32,
    /// Accepted or rejected.
    pub accepted: bool,
    /// Score (accepted only).
    pub score: i32,
    /// Why.
    pub reason: String,
}

/// The decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Use this candidate.
    Use(u32),
    /// Derive a template with these parameters.
    Derive(Params),
    /// Nothing fits.
    None,
}

/// The matcher's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The decision.
    pub decision: Decision,
    /// The decision in one sentence.
    pub reason: String,
    /// One verdict per candidate.
    pub verdicts: Vec<Verdict>,
}
