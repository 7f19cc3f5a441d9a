//! The words of a service's `RuntimeReady` condition when replicas wait for the scheduler: what the service asks
//! for, and whether freeing GPUs can ever help.

use crate::controller::kit::conditions;
use crate::controller::service::candidates::TemplateRecord;
use crate::upstream::gpu::GpuPool;

/// Why replicas wait unscheduled: when what the service asks for exceeds what the cluster has of that GPU model
/// at all (in total, or on any one node), it says so with the figures, since freeing GPUs cannot help; otherwise
/// that the replicas start when GPUs are freed, with the scheduler's words.
pub(super) fn unschedulable_message(
    isvc: &str,
    template: &TemplateRecord,
    replicas: i32,
    autoscaled: bool,
    pool: Option<&GpuPool>,
    scheduler: &str,
) -> String {
    let Some(gpu) = &template.profile.parameters.gpu_selector else {
        return conditions::with_detail(
            format!(
                "no node can run a replica of InferenceService {isvc}, and the scheduler found none free; it starts when resources are freed or nodes added"
            ),
            scheduler.trim(),
        );
    };
    let plural = |n: u32| if n == 1 { "" } else { "s" };
    let per_replica = gpu.count.max(0) as u32;
    let wanted = per_replica * replicas.max(0) as u32;
    let cannot = match pool {
        None => Some(format!("the cluster has no schedulable node with {} GPUs", gpu.model)),
        Some(p) if per_replica > p.max_per_node => Some(format!(
            "a replica needs {per_replica} {} GPUs on one node, and no node has more than {}",
            gpu.model, p.max_per_node
        )),
        Some(p) if wanted > p.allocatable => Some(format!(
            "{replicas} replica{} × {per_replica} = {wanted} {} GPUs, and the cluster has {} in total ({} node{})",
            plural(replicas.max(0) as u32),
            gpu.model,
            p.allocatable,
            p.nodes,
            plural(p.nodes)
        )),
        Some(_) => None,
    };
    match cannot {
        Some(why) => format!(
            "InferenceService {isvc} cannot fit: {why}; lower {} or the GPU count, or add nodes with {} GPUs",
            if autoscaled {
                "spec.maxReplicas"
            } else {
                "spec.replicas"
            },
            gpu.model
        ),
        None => conditions::with_detail(
            format!(
                "no node can run a replica of InferenceService {isvc}: it asks for {per_replica} × {} GPU{} per replica, and the scheduler found none free; it starts when GPUs are freed or nodes added",
                gpu.model,
                plural(per_replica)
            ),
            scheduler.trim(),
        ),
    }
}
