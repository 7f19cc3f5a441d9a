//! The words of a service's `RuntimeReady` condition when replicas wait for the scheduler: what the service asks
//! for, and what would let it run. When what it asks for exceeds what the cluster has of that GPU model at all
//! (in total, or on any one node), freeing GPUs cannot help, and the message says so with the figures and the
//! field to change (which the API server accepts: `minReplicas` with `maxReplicas`, never `maxReplicas` below
//! `minReplicas`). Otherwise the scheduler's own words come first, followed by what they point at: GPUs in use,
//! a placement no node matches, or a taint not tolerated.

use crate::controller::kit::conditions;
use crate::controller::service::candidates::TemplateRecord;
use crate::controller::service::scaling::Replicas;
use crate::upstream::gpu::GpuPool;

/// Why replicas wait unscheduled: `wanted` replicas of `replicas` (fixed or between bounds) of `template`, the
/// cluster's `pool` of its GPU model, and the scheduler's message.
pub(super) fn unschedulable_message(
    isvc: &str,
    template: &TemplateRecord,
    wanted: i32,
    replicas: &Replicas,
    pool: Option<&GpuPool>,
    scheduler: &str,
) -> String {
    let scheduler = scheduler.trim();
    let Some(gpu) = &template.profile.parameters.gpu_selector else {
        return conditions::with_detail(
            format!("the scheduler placed no replica of InferenceService {isvc}"),
            &format!("{scheduler}{}", hint(scheduler, "resources")),
        );
    };
    let plural = |n: u32| if n == 1 { "" } else { "s" };
    let per_replica = gpu.count.max(0) as u32;
    let total = per_replica * wanted.max(0) as u32;
    let cannot = match pool {
        None => Some(format!("the cluster has no schedulable node with {} GPUs", gpu.model)),
        Some(p) if per_replica > p.max_per_node => Some(format!(
            "a replica needs {per_replica} {} GPUs on one node, and no node has more than {}",
            gpu.model, p.max_per_node
        )),
        Some(p) if total > p.allocatable => Some(format!(
            "{wanted} replica{} × {per_replica} = {total} {} GPUs, and the cluster has {} in total ({} node{})",
            plural(wanted.max(0) as u32),
            gpu.model,
            p.allocatable,
            p.nodes,
            plural(p.nodes)
        )),
        Some(_) => None,
    };
    let asks = format!(
        "it asks for {per_replica} × {} GPU{} per replica",
        gpu.model,
        plural(per_replica)
    );
    match cannot {
        Some(why) => format!(
            "InferenceService {isvc} cannot fit: {why}; {}, or add nodes with {} GPUs",
            lower(replicas, wanted, per_replica),
            gpu.model
        ),
        None => format!(
            "the scheduler placed no replica of InferenceService {isvc}: {scheduler}; {asks}{}",
            hint(scheduler, &format!("{} GPUs", gpu.model))
        ),
    }
}

/// What to lower so that the replicas fit: the count the API server takes.
fn lower(replicas: &Replicas, wanted: i32, per_replica: u32) -> String {
    let gpus = if per_replica > 1 { " or the GPU count" } else { "" };
    match replicas {
        Replicas::Fixed(_) => format!("lower spec.replicas{gpus}"),
        // The autoscaler asks for no fewer than the minimum, which the API server keeps at or below the maximum.
        Replicas::Auto { min, .. } if wanted <= *min => {
            format!("lower spec.minReplicas (spec.maxReplicas may not be below it){gpus}")
        }
        Replicas::Auto { .. } => format!("lower spec.maxReplicas{gpus}"),
    }
}

/// What the scheduler's words point at, as a clause to append.
fn hint(scheduler: &str, what: &str) -> String {
    let insufficient = scheduler.contains("Insufficient");
    if insufficient {
        return format!("; it starts when {what} are freed or nodes added");
    }
    if scheduler.contains("didn't match Pod's node affinity/selector") {
        return "; no node matches where its replicas may run (its GPU model's nodes, narrowed by spec.nodeSelector): \
                check spec.nodeSelector"
            .into();
    }
    if scheduler.contains("untolerated taint") {
        return "; the nodes with room have taints its replicas do not tolerate: add spec.tolerations".into();
    }
    String::new()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{GpuSelector, TemplateScope, TemplateStatus};

    fn template(count: i32) -> TemplateRecord {
        let mut t = crate::fixtures::template_record("t", TemplateScope::Cluster, TemplateStatus::default());
        t.profile.parameters.gpu_selector = Some(GpuSelector::new("MI300X", count));
        t
    }

    fn pool(nodes: u32) -> GpuPool {
        GpuPool {
            model: "MI300X".into(),
            resource: crate::upstream::gpu::RESOURCE.into(),
            nodes,
            allocatable: nodes * 8,
            max_per_node: 8,
        }
    }

    #[test]
    fn a_selector_no_node_matches_leads_with_the_scheduler_and_says_so() {
        let scheduler = "0/8 nodes are available: 8 node(s) didn't match Pod's node affinity/selector.";
        let m = unschedulable_message("chat", &template(1), 1, &Replicas::Fixed(1), Some(&pool(4)), scheduler);
        assert!(
            m.starts_with(&format!(
                "the scheduler placed no replica of InferenceService chat: {scheduler}"
            )),
            "{m}"
        );
        assert!(m.contains("check spec.nodeSelector") && !m.contains("freed"), "{m}");
    }

    #[test]
    fn gpus_in_use_wait_for_gpus() {
        let scheduler = "0/4 nodes are available: 4 Insufficient amd.com/gpu.";
        let m = unschedulable_message("chat", &template(8), 1, &Replicas::Fixed(1), Some(&pool(4)), scheduler);
        assert!(
            m.contains("asks for 8 × MI300X GPUs per replica; it starts when MI300X GPUs are freed"),
            "{m}"
        );
    }

    #[test]
    fn bounds_that_cannot_fit_name_a_field_the_api_server_takes() {
        let auto = |min, max| Replicas::Auto {
            min,
            max,
            metric: serde_json::from_value(serde_json::json!({ "metric": "cpu", "target": 70 })).unwrap(),
            prometheus: None,
            wake: None,
        };
        let m = unschedulable_message("chat", &template(8), 5, &auto(5, 5), Some(&pool(4)), "x");
        assert!(
            m.contains("lower spec.minReplicas (spec.maxReplicas may not be below it)"),
            "{m}"
        );
        let m = unschedulable_message("chat", &template(8), 5, &auto(1, 5), Some(&pool(4)), "x");
        assert!(m.contains("lower spec.maxReplicas or the GPU count"), "{m}");
        let m = unschedulable_message("chat", &template(8), 5, &Replicas::Fixed(5), Some(&pool(4)), "x");
        assert!(
            m.contains("cannot fit: 5 replicas × 8 = 40 MI300X GPUs") && m.contains("lower spec.replicas"),
            "{m}"
        );
    }
}
