//! Wake-ups from what runs: a service reaches what it uses (its derived template, its service cache) when its
//! use of them changes; a runtime child or its pod reaches its service; a Job or its pod reaches its template or
//! model cache, and a finished discovery Job frees a slot for the templates waiting on one; the cluster config
//! reaches every service and model cache, a gateway the configs naming it, the GPU inventory the services still
//! looking for a template.

use super::{Queues, ns_of, obj_ref, owners_of, touches_self, unsettled, wake_all};
use crate::api::{AIMClusterConfig, AIMService, CLUSTER_CONFIG_NAME};
use crate::controller::kit::conditions::{self, reasons, types};
use crate::index::{Change, Index, Template};
use crate::labels::Component;
use crate::upstream::{Gateway, INFERENCE_SERVICE_LABEL, ReferenceGrant};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::runtime::reflector::ObjectRef;
use kube::{Resource, ResourceExt};

pub(super) fn config(q: &Queues, index: &Index, change: &Change<AIMClusterConfig>) {
    let config = change.latest();
    if touches_self(change) {
        q.configs.wake(obj_ref(config.as_ref()));
    }
    let specs_differ = change.old.as_ref().map(|o| &o.spec) != change.new.as_ref().map(|n| &n.spec);
    if config.name_any() == CLUSTER_CONFIG_NAME && specs_differ {
        wake_all(&q.services, index.services_where(|_| true));
        wake_all(&q.model_caches, index.model_caches_where(|_| true));
    }
}

pub(super) fn service(q: &Queues, index: &Index, change: &Change<AIMService>) {
    let svc = change.latest();
    let ns = ns_of(svc.as_ref());
    if touches_self(change) {
        q.services.wake(obj_ref(svc.as_ref()));
    }
    // What a service uses (its derived template, its service cache) learns when it stops being used.
    let uses = |s: &AIMService| {
        let resolved = s.status.as_ref().and_then(|st| st.resolved_template.clone());
        (resolved, s.spec.cache_model)
    };
    let before = change.old.as_deref().map(uses);
    let after = change.new.as_deref().map(uses);
    if before == after {
        return;
    }
    for (resolved, cache_model) in [before, after].into_iter().flatten() {
        let Some(resolved) = resolved else { continue };
        if resolved.derived {
            q.templates.wake(ObjectRef::new(&resolved.name).within(&ns));
        }
        if cache_model {
            wake_all(&q.template_caches, index.template_caches_of(&ns, &resolved.name));
        }
    }
}

pub(super) fn gateway(q: &Queues, index: &Index, change: &Change<Gateway>) {
    let gw = change.latest();
    wake_all(
        &q.configs,
        index.configs_naming_gateway(&ns_of(gw.as_ref()), &gw.name_any()),
    );
}

/// A namespace's ReferenceGrant to the HTTP add-on's interceptor (shared, so owned by none of its services):
/// the services of that namespace learn when it changed or went.
pub(super) fn reference_grant(q: &Queues, index: &Index, change: &Change<ReferenceGrant>) {
    let Some(ns) = change.latest().labels().get(crate::labels::GRANTS_NAMESPACE).cloned() else {
        return;
    };
    wake_all(&q.services, index.services_where(|s| ns_of(s) == ns));
}

/// The owner of a Job: its template (discovery) or model cache (download, size check).
fn owner_of_job(q: &Queues, job: &Job) {
    match Component::of(job.labels()) {
        Some(Component::Discovery) => {
            owners_of(&q.templates, job);
            owners_of(&q.cluster_templates, job);
        }
        Some(Component::Download | Component::SizeCheck) => owners_of(&q.model_caches, job),
        _ => {}
    }
}

pub(super) fn job(q: &Queues, index: &Index, change: &Change<Job>) {
    let job = change.latest();
    owner_of_job(q, job);
    let finished = |j: &Job| {
        let s = j.status.clone().unwrap_or_default();
        s.succeeded.unwrap_or(0) > 0 || s.failed.unwrap_or(0) > 0
    };
    let freed = change.new.is_none() || change.new.as_deref().is_some_and(finished);
    if Component::of(job.labels()) == Some(Component::Discovery) && freed {
        templates_waiting_for_a_slot(q, index);
    }
}

/// Wakes every template waiting for a discovery slot (one just freed up).
fn templates_waiting_for_a_slot(q: &Queues, index: &Index) {
    let waiting = index.templates_where(|_, status| {
        status.is_some_and(|s| {
            conditions::get(&s.head.conditions, types::DISCOVERED)
                .is_some_and(|c| c.reason == reasons::WAITING_FOR_DISCOVERY_SLOT)
        })
    });
    for template in waiting {
        match template {
            Template::Namespace(t) => q.templates.wake(obj_ref(t.as_ref())),
            Template::Cluster(t) => q.cluster_templates.wake(obj_ref(t.as_ref())),
        }
    }
}

/// A predictor's pod or Deployment (KServe labels both with their InferenceService): the service of that
/// InferenceService learns whether its replicas were scheduled, started and are ready. True when it was one.
pub(super) fn predictor<K: Resource>(q: &Queues, index: &Index, obj: &K) -> bool {
    let Some(isvc) = obj
        .meta()
        .labels
        .as_ref()
        .and_then(|l| l.get(INFERENCE_SERVICE_LABEL))
        .and_then(|name| index.inference_service(&ns_of(obj), name))
    else {
        return false;
    };
    owners_of(&q.services, isvc.as_ref());
    true
}

pub(super) fn pod(q: &Queues, index: &Index, change: &Change<Pod>) {
    let pod = change.latest();
    let ns = ns_of(pod.as_ref());
    if predictor(q, index, pod.as_ref()) {
        return;
    }
    if let Some(job) = pod
        .labels()
        .get("batch.kubernetes.io/job-name")
        .and_then(|j| index.job(&ns, j))
    {
        owner_of_job(q, &job);
    }
}

/// The GPU inventory changed (a node came, went, or changed its GPUs).
pub(super) fn inventory(q: &Queues, index: &Index) {
    wake_all(&q.services, index.services_where(unsettled));
}
