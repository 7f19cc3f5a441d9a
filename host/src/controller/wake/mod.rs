//! Whom a change wakes. Every change the index stores passes through here and becomes wake-ups of exactly the
//! objects whose reconcile reads what changed: an AIMImage change reaches the templates and services of that
//! model, a ModelCache turning Ready reaches the template caches that hold its source, a template cache
//! turning Available reaches the services that wait for it. An object's own status change does not wake the
//! object itself (the operator wrote it), so the steady state is silent.
//!
//! Pure with respect to the cluster: it reads the index and pushes to in-memory queues.

use super::kit::conditions::{self, reasons, types};
use super::kit::runner::Queue;
use crate::api::{
    AIMClusterConfig, AIMClusterServiceTemplate, AIMImage, AIMService, AIMServiceTemplate, AIMTemplateCache,
    CLUSTER_CONFIG_NAME, ModelCache, TemplateScope,
};
use crate::index::{Change, Index, OnChange};
use crate::labels::Component;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Event as CoreEvent, PersistentVolumeClaim, Pod};
use k8s_openapi::api::storage::v1::StorageClass;
use kube::api::DynamicObject;
use kube::runtime::reflector::ObjectRef;
use kube::{Resource, ResourceExt};
use std::collections::BTreeSet;

/// The queue of every controller.
#[derive(Clone)]
pub struct Queues {
    /// AIMImage status.
    pub images: Queue<AIMImage>,
    /// AIMClusterConfig status.
    pub configs: Queue<AIMClusterConfig>,
    /// Cluster templates.
    pub cluster_templates: Queue<AIMClusterServiceTemplate>,
    /// Namespace templates.
    pub templates: Queue<AIMServiceTemplate>,
    /// Template caches.
    pub template_caches: Queue<AIMTemplateCache>,
    /// Model caches.
    pub model_caches: Queue<ModelCache>,
    /// Services.
    pub services: Queue<AIMService>,
}

/// True when a change concerns the object's own reconcile: it was created or deleted, or its spec, labels,
/// annotations or deletion changed. Status-only changes are the operator's own writes.
pub fn touches_self<K: Resource>(change: &Change<K>) -> bool {
    let (Some(old), Some(new)) = (&change.old, &change.new) else {
        return true;
    };
    let (o, n) = (old.meta(), new.meta());
    o.generation != n.generation
        || o.labels != n.labels
        || o.annotations != n.annotations
        || o.deletion_timestamp != n.deletion_timestamp
        || o.uid != n.uid
}

fn obj_ref<K: Resource<DynamicType = ()>>(obj: &K) -> ObjectRef<K> {
    ObjectRef::from_obj(obj)
}

fn ns_of<K: Resource>(obj: &K) -> String {
    obj.meta().namespace.clone().unwrap_or_default()
}

/// Whether `svc` may be affected by a template of `model` named `name` changing: it runs that template, or it
/// has not resolved one yet (the template may be what it waits for).
fn waits_on_template(svc: &AIMService, name: &str, scope: TemplateScope) -> bool {
    let status = svc.status.as_ref();
    match status.and_then(|s| s.resolved_template.as_ref()) {
        Some(resolved) => resolved.name == name && resolved.scope == scope,
        None => true,
    }
}

/// Services that have not resolved a template, or failed to.
fn unsettled(svc: &AIMService) -> bool {
    let conds = svc.status.as_ref().map(|s| s.conditions.as_slice()).unwrap_or_default();
    !conditions::is_true(conds, types::RESOLVED)
}

/// Services whose last decision failed or found nothing: not resolved, or a policy plugin failed for them. A
/// plugin swap decides these again at once.
pub fn needs_decision(svc: &AIMService) -> bool {
    let conds = svc.status.as_ref().map(|s| s.conditions.as_slice()).unwrap_or_default();
    unsettled(svc)
        || conditions::get(conds, types::FAILURE)
            .is_some_and(|c| c.status == "True" && c.reason == reasons::POLICY_FAILED)
}

impl Queues {
    fn services_of(&self, index: &Index, pick: impl Fn(&AIMService) -> bool) {
        for svc in index.services_where(pick) {
            self.services.wake(obj_ref(svc.as_ref()));
        }
    }

    /// Wakes the model caches holding the sources of the template `template_ref` resolves to from `namespace`.
    fn model_caches_of_template(&self, index: &Index, namespace: &str, template_ref: &str) {
        let Some(template) = index.template(namespace, template_ref) else {
            return;
        };
        for source in template.status().model_sources {
            for mc in index.model_caches_of_source(namespace, &source.source_uri) {
                self.model_caches.wake(obj_ref(mc.as_ref()));
            }
        }
    }

    /// Wakes every template waiting for a discovery slot (one just freed up).
    fn templates_waiting_for_a_slot(&self, index: &Index) {
        let waiting = |conds: &[k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition]| {
            conditions::get(conds, types::DISCOVERED).is_some_and(|c| c.reason == reasons::WAITING_FOR_DISCOVERY_SLOT)
        };
        for t in index
            .templates
            .state_filter(|t| t.status.as_ref().is_some_and(|s| waiting(&s.conditions)))
        {
            self.templates.wake(obj_ref(t.as_ref()));
        }
        for t in index
            .cluster_templates
            .state_filter(|t| t.status.as_ref().is_some_and(|s| waiting(&s.conditions)))
        {
            self.cluster_templates.wake(obj_ref(t.as_ref()));
        }
    }

    fn owner_of_job(&self, job: &Job) {
        let ns = ns_of(job);
        for owner in job.owner_references() {
            match (Component::of(job.labels()), owner.kind.as_str()) {
                (Some(Component::Discovery), "AIMServiceTemplate") => {
                    self.templates.wake(ObjectRef::new(&owner.name).within(&ns))
                }
                (Some(Component::Discovery), "AIMClusterServiceTemplate") => {
                    self.cluster_templates.wake(ObjectRef::new(&owner.name))
                }
                (Some(Component::Download | Component::SizeCheck), "ModelCache") => {
                    self.model_caches.wake(ObjectRef::new(&owner.name).within(&ns))
                }
                _ => {}
            }
        }
    }
}

impl OnChange for Queues {
    fn image(&self, index: &Index, change: &Change<AIMImage>) {
        let models: BTreeSet<String> = change.both().map(|i| i.spec.model_id.clone()).collect();
        for model in &models {
            for image in index.images_of_model(model) {
                self.images.wake(obj_ref(image.as_ref()));
            }
            for t in index.templates.state_filter(|t| &t.spec.profile.model_id == model) {
                self.templates.wake(obj_ref(t.as_ref()));
            }
            for t in index
                .cluster_templates
                .state_filter(|t| &t.spec.profile.model_id == model)
            {
                self.cluster_templates.wake(obj_ref(t.as_ref()));
            }
            self.services_of(index, |s| &s.spec.aim_model_id == model);
        }
        if touches_self(change) {
            self.images.wake(obj_ref(change.latest().as_ref()));
        }
    }

    fn cluster_template(&self, index: &Index, change: &Change<AIMClusterServiceTemplate>) {
        let t = change.latest();
        let name = t.name_any();
        if touches_self(change) {
            self.cluster_templates.wake(obj_ref(t.as_ref()));
        }
        for image in index
            .images
            .state_filter(|i| i.spec.default_service_template.as_deref() == Some(name.as_str()))
        {
            self.images.wake(obj_ref(image.as_ref()));
        }
        for tc in index.template_caches.state_filter(|tc| tc.spec.template_ref == name) {
            self.template_caches.wake(obj_ref(tc.as_ref()));
        }
        let models: BTreeSet<String> = change.both().map(|t| t.spec.profile.model_id.clone()).collect();
        self.services_of(index, |s| {
            models.contains(&s.spec.aim_model_id) && waits_on_template(s, &name, TemplateScope::Cluster)
        });
    }

    fn template(&self, index: &Index, change: &Change<AIMServiceTemplate>) {
        let t = change.latest();
        let (ns, name) = (ns_of(t.as_ref()), t.name_any());
        if touches_self(change) {
            self.templates.wake(obj_ref(t.as_ref()));
        }
        for tc in index.template_caches_of(&ns, &name) {
            self.template_caches.wake(obj_ref(tc.as_ref()));
        }
        let models: BTreeSet<String> = change.both().map(|t| t.spec.profile.model_id.clone()).collect();
        self.services_of(index, |s| {
            s.metadata.namespace.as_deref() == Some(ns.as_str())
                && models.contains(&s.spec.aim_model_id)
                && waits_on_template(s, &name, TemplateScope::Namespace)
        });
    }

    fn template_cache(&self, index: &Index, change: &Change<AIMTemplateCache>) {
        let tc = change.latest();
        let ns = ns_of(tc.as_ref());
        if touches_self(change) {
            self.template_caches.wake(obj_ref(tc.as_ref()));
        }
        for owner in tc.owner_references().iter().filter(|o| o.kind == "AIMServiceTemplate") {
            self.templates.wake(ObjectRef::new(&owner.name).within(&ns));
        }
        let refs: BTreeSet<String> = change.both().map(|tc| tc.spec.template_ref.clone()).collect();
        self.services_of(index, |s| {
            s.metadata.namespace.as_deref() == Some(ns.as_str())
                && s.spec.cache_model
                && s.status
                    .as_ref()
                    .and_then(|st| st.resolved_template.as_ref())
                    .is_some_and(|r| refs.contains(&r.name))
        });
        // A cache going away (or changing template) may leave model caches without users.
        if change.new.is_none() || change.old.as_ref().map(|o| &o.spec) != change.new.as_ref().map(|n| &n.spec) {
            for template_ref in &refs {
                self.model_caches_of_template(index, &ns, template_ref);
            }
        }
    }

    fn model_cache(&self, index: &Index, change: &Change<ModelCache>) {
        let mc = change.latest();
        let ns = ns_of(mc.as_ref());
        if touches_self(change) {
            self.model_caches.wake(obj_ref(mc.as_ref()));
        }
        // Another cache of the same source may be a duplicate waiting for this one to go.
        for other in index.model_caches_of_source(&ns, &mc.spec.source_uri) {
            if other.uid() != mc.uid() {
                self.model_caches.wake(obj_ref(other.as_ref()));
            }
        }
        for tc in index.template_caches_in(&ns) {
            let uses = index.template(&ns, &tc.spec.template_ref).is_some_and(|t| {
                t.status()
                    .model_sources
                    .iter()
                    .any(|s| s.source_uri == mc.spec.source_uri)
            });
            if uses {
                self.template_caches.wake(obj_ref(tc.as_ref()));
            }
        }
    }

    fn config(&self, index: &Index, change: &Change<AIMClusterConfig>) {
        let config = change.latest();
        if touches_self(change) {
            self.configs.wake(obj_ref(config.as_ref()));
        }
        let specs_differ = change.old.as_ref().map(|o| &o.spec) != change.new.as_ref().map(|n| &n.spec);
        if config.name_any() == CLUSTER_CONFIG_NAME && specs_differ {
            self.services_of(index, |_| true);
            for mc in index.model_caches.state() {
                self.model_caches.wake(obj_ref(mc.as_ref()));
            }
        }
    }

    fn service(&self, index: &Index, change: &Change<AIMService>) {
        let svc = change.latest();
        let ns = ns_of(svc.as_ref());
        if touches_self(change) {
            self.services.wake(obj_ref(svc.as_ref()));
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
                self.templates.wake(ObjectRef::new(&resolved.name).within(&ns));
            }
            if cache_model {
                for tc in index.template_caches_of(&ns, &resolved.name) {
                    self.template_caches.wake(obj_ref(tc.as_ref()));
                }
            }
        }
    }

    fn runtime_child(&self, _index: &Index, change: &Change<DynamicObject>) {
        let child = change.latest();
        let ns = ns_of(child.as_ref());
        for owner in child.owner_references().iter().filter(|o| o.kind == "AIMService") {
            self.services.wake(ObjectRef::new(&owner.name).within(&ns));
        }
    }

    fn gateway(&self, index: &Index, change: &Change<DynamicObject>) {
        let gw = change.latest();
        let (ns, name) = (ns_of(gw.as_ref()), gw.name_any());
        for config in index.configs.state_filter(|c| {
            c.spec
                .routing
                .as_ref()
                .and_then(|r| r.gateway.as_ref())
                .is_some_and(|g| g.name == name && g.namespace == ns)
        }) {
            self.configs.wake(obj_ref(config.as_ref()));
        }
    }

    fn job(&self, index: &Index, change: &Change<Job>) {
        let job = change.latest();
        self.owner_of_job(job);
        let finished = |j: &Job| {
            let s = j.status.clone().unwrap_or_default();
            s.succeeded.unwrap_or(0) > 0 || s.failed.unwrap_or(0) > 0
        };
        let freed = change.new.is_none() || change.new.as_deref().is_some_and(finished);
        if Component::of(job.labels()) == Some(Component::Discovery) && freed {
            self.templates_waiting_for_a_slot(index);
        }
    }

    fn pod(&self, index: &Index, change: &Change<Pod>) {
        let pod = change.latest();
        let ns = ns_of(pod.as_ref());
        // A predictor pod: its InferenceService's service learns whether it was scheduled.
        if let Some(isvc) = pod
            .labels()
            .get(crate::upstream::INFERENCE_SERVICE_LABEL)
            .and_then(|name| index.inference_service(&ns, name))
        {
            self.runtime_child(
                index,
                &Change {
                    old: None,
                    new: Some(isvc),
                },
            );
            return;
        }
        if let Some(job) = pod
            .labels()
            .get("batch.kubernetes.io/job-name")
            .and_then(|j| index.job(&ns, j))
        {
            self.owner_of_job(&job);
        }
    }

    fn claim(&self, _index: &Index, change: &Change<PersistentVolumeClaim>) {
        let claim = change.latest();
        let ns = ns_of(claim.as_ref());
        for owner in claim.owner_references().iter().filter(|o| o.kind == "ModelCache") {
            self.model_caches.wake(ObjectRef::new(&owner.name).within(&ns));
        }
    }

    fn claim_warning(&self, index: &Index, change: &Change<CoreEvent>) {
        let event = change.latest();
        let (Some(ns), Some(name)) = (&event.involved_object.namespace, &event.involved_object.name) else {
            return;
        };
        if let Some(claim) = index.claim(ns, name) {
            self.claim(
                index,
                &Change {
                    old: None,
                    new: Some(claim),
                },
            );
        }
    }

    fn storage_class(&self, index: &Index, _change: &Change<StorageClass>) {
        for mc in index.model_caches.state_filter(|m| {
            let conds = m.status.as_ref().map(|s| s.conditions.as_slice()).unwrap_or_default();
            !conditions::is_true(conds, types::READY)
        }) {
            self.model_caches.wake(obj_ref(mc.as_ref()));
        }
    }

    fn inventory(&self, index: &Index) {
        self.services_of(index, unsettled);
    }
}

#[cfg(test)]
mod tests;
