//! What the matcher is shown: the templates of a model (namespace first, then cluster, each by name) and the
//! cluster's AMD GPUs, converted to the WIT records.

use crate::api::{
    AIMClusterServiceTemplate, AIMServiceTemplate, Metric, Precision, ResourceState, RuntimeParameters,
    TemplateProfile, TemplateScope, TemplateStatus,
};
use crate::controller::error::{Error, kube_err};
use crate::controller::gpu;
use crate::controller::model_cache::build::bytes;
use crate::policy::bindings as wit;
use k8s_openapi::api::core::v1::Node;
use kube::ResourceExt;
use kube::api::{Api, ListParams};

/// A template as resolution sees it.
#[derive(Debug, Clone)]
pub struct TemplateRecord {
    /// Name.
    pub name: String,
    /// Namespace or cluster.
    pub scope: TemplateScope,
    /// Its profile.
    pub profile: TemplateProfile,
    /// Its status.
    pub status: TemplateStatus,
    /// Whether the operator derived it (and services own it).
    pub derived: bool,
}

fn is_derived(labels: &std::collections::BTreeMap<String, String>) -> bool {
    labels
        .get(crate::controller::labels::COMPONENT)
        .is_some_and(|c| c == super::derived::COMPONENT)
}

/// The namespace template `name`, else the cluster template `name`.
pub async fn lookup(client: &kube::Client, namespace: &str, name: &str) -> Result<Option<TemplateRecord>, Error> {
    let ns: Api<AIMServiceTemplate> = Api::namespaced(client.clone(), namespace);
    if let Some(t) = ns
        .get_opt(name)
        .await
        .map_err(kube_err(format!("read AIMServiceTemplate {name}")))?
    {
        return Ok(Some(TemplateRecord {
            name: name.into(),
            scope: TemplateScope::Namespace,
            derived: is_derived(t.labels()),
            profile: t.spec.profile,
            status: t.status.unwrap_or_default(),
        }));
    }
    let cluster: Api<AIMClusterServiceTemplate> = Api::all(client.clone());
    Ok(cluster
        .get_opt(name)
        .await
        .map_err(kube_err(format!("read AIMClusterServiceTemplate {name}")))?
        .map(|t| TemplateRecord {
            name: name.into(),
            scope: TemplateScope::Cluster,
            derived: false,
            profile: t.spec.profile,
            status: t.status.unwrap_or_default(),
        }))
}

/// Every template of `model`: the namespace's first, then the cluster's, each sorted by name.
pub async fn of_model(client: &kube::Client, namespace: &str, model: &str) -> Result<Vec<TemplateRecord>, Error> {
    let ns: Api<AIMServiceTemplate> = Api::namespaced(client.clone(), namespace);
    let mut local: Vec<TemplateRecord> = ns
        .list(&ListParams::default())
        .await
        .map_err(kube_err("list AIMServiceTemplates"))?
        .items
        .into_iter()
        .filter(|t| t.spec.profile.model_id == model)
        .map(|t| TemplateRecord {
            name: t.name_any(),
            scope: TemplateScope::Namespace,
            derived: is_derived(t.labels()),
            profile: t.spec.profile,
            status: t.status.unwrap_or_default(),
        })
        .collect();
    let cluster: Api<AIMClusterServiceTemplate> = Api::all(client.clone());
    let mut global: Vec<TemplateRecord> = cluster
        .list(&ListParams::default())
        .await
        .map_err(kube_err("list AIMClusterServiceTemplates"))?
        .items
        .into_iter()
        .filter(|t| t.spec.profile.model_id == model)
        .map(|t| TemplateRecord {
            name: t.name_any(),
            scope: TemplateScope::Cluster,
            derived: false,
            profile: t.spec.profile,
            status: t.status.unwrap_or_default(),
        })
        .collect();
    local.sort_by(|a, b| a.name.cmp(&b.name));
    global.sort_by(|a, b| a.name.cmp(&b.name));
    local.extend(global);
    Ok(local)
}

/// The cluster's AMD GPUs, or `None` when the cluster has no nodes to look at (then it is not checked).
pub async fn inventory(client: &kube::Client) -> Result<Option<Vec<wit::GpuPool>>, Error> {
    let nodes: Api<Node> = Api::all(client.clone());
    let list = nodes
        .list(&ListParams::default())
        .await
        .map_err(kube_err("list Nodes"))?
        .items;
    if list.is_empty() {
        return Ok(None);
    }
    Ok(Some(
        gpu::inventory(&list)
            .into_iter()
            .map(|(model, (nodes, allocatable, max_per_node))| wit::GpuPool {
                model,
                nodes,
                allocatable,
                max_per_node,
            })
            .collect(),
    ))
}

/// The WIT form of runtime parameters.
pub fn to_wit(p: &RuntimeParameters) -> wit::RuntimeParameters {
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

/// Runtime parameters from their WIT form.
pub fn from_wit(p: &wit::RuntimeParameters) -> RuntimeParameters {
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
        gpu_selector: p.gpu.as_ref().map(|g| crate::api::GpuSelector {
            model: g.model.clone(),
            count: g.count.min(i32::MAX as u32) as i32,
        }),
    }
}

/// The WIT form of a candidate.
pub fn to_candidate(t: &TemplateRecord) -> wit::Candidate {
    wit::Candidate {
        name: t.name.clone(),
        scope: match t.scope {
            TemplateScope::Namespace => wit::Scope::Namespace,
            TemplateScope::Cluster => wit::Scope::Cluster,
        },
        parameters: to_wit(&t.profile.parameters),
        state: match t.status.status.unwrap_or_default() {
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
