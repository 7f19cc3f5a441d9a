//! Whom a change wakes. Every change the index stores passes through [`Queues::changed`] and becomes wake-ups of
//! exactly the objects whose reconcile reads what changed: an AIMImage change reaches the templates and services
//! of that model, a ModelCache turning Ready reaches the template caches that hold its source, a template cache
//! turning Available reaches the services that wait for it. An object's own status change does not wake the
//! object itself (the operator wrote it), so the steady state is silent.
//!
//! The routing of each kind is a function in [`catalog`] (images, templates), [`caches`] (template and model
//! caches and their storage) or [`workloads`] (services, their runtime and routes, Jobs and pods, configs). Who
//! refers to whom is asked of the index's relations, the same queries garbage collection counts users with.
//! Pure with respect to the cluster: it reads the index and pushes to in-memory queues.

mod caches;
mod catalog;
mod workloads;

use super::kit::conditions::{self, reasons, types};
use super::kit::runner::Queue;
use crate::api::{
    AIMClusterConfig, AIMClusterServiceTemplate, AIMImage, AIMService, AIMServiceTemplate, AIMTemplateCache, ModelCache,
};
use crate::index::{Change, Changed, Index, OnChange};
use kube::Resource;
use kube::runtime::reflector::ObjectRef;
use std::sync::Arc;
use tokio::sync::mpsc::UnboundedReceiver;

/// The queue of every controller.
#[derive(Clone)]
pub struct Queues {
    pub(crate) images: Queue<AIMImage>,
    pub(crate) configs: Queue<AIMClusterConfig>,
    pub(crate) cluster_templates: Queue<AIMClusterServiceTemplate>,
    pub(crate) templates: Queue<AIMServiceTemplate>,
    pub(crate) template_caches: Queue<AIMTemplateCache>,
    pub(crate) model_caches: Queue<ModelCache>,
    pub(crate) services: Queue<AIMService>,
}

/// The receiving ends of [`Queues`], one per controller.
#[allow(missing_docs)]
pub struct Receivers {
    pub images: UnboundedReceiver<ObjectRef<AIMImage>>,
    pub configs: UnboundedReceiver<ObjectRef<AIMClusterConfig>>,
    pub cluster_templates: UnboundedReceiver<ObjectRef<AIMClusterServiceTemplate>>,
    pub templates: UnboundedReceiver<ObjectRef<AIMServiceTemplate>>,
    pub template_caches: UnboundedReceiver<ObjectRef<AIMTemplateCache>>,
    pub model_caches: UnboundedReceiver<ObjectRef<ModelCache>>,
    pub services: UnboundedReceiver<ObjectRef<AIMService>>,
}

impl Queues {
    /// The queues and their receiving ends.
    pub fn new() -> (Queues, Receivers) {
        let (images, images_rx) = Queue::new();
        let (configs, configs_rx) = Queue::new();
        let (cluster_templates, cluster_templates_rx) = Queue::new();
        let (templates, templates_rx) = Queue::new();
        let (template_caches, template_caches_rx) = Queue::new();
        let (model_caches, model_caches_rx) = Queue::new();
        let (services, services_rx) = Queue::new();
        let queues = Queues {
            images,
            configs,
            cluster_templates,
            templates,
            template_caches,
            model_caches,
            services,
        };
        let receivers = Receivers {
            images: images_rx,
            configs: configs_rx,
            cluster_templates: cluster_templates_rx,
            templates: templates_rx,
            template_caches: template_caches_rx,
            model_caches: model_caches_rx,
            services: services_rx,
        };
        (queues, receivers)
    }
}

impl OnChange for Queues {
    fn changed(&self, index: &Index, change: Changed<'_>) {
        match change {
            Changed::Images(c) => catalog::image(self, index, c),
            Changed::ClusterTemplates(c) => catalog::cluster_template(self, index, c),
            Changed::Templates(c) => catalog::template(self, index, c),
            Changed::TemplateCaches(c) => caches::template_cache(self, index, c),
            Changed::ModelCaches(c) => caches::model_cache(self, index, c),
            Changed::Claims(c) => owners_of(&self.model_caches, c.latest().as_ref()),
            Changed::ClaimWarnings(c) => caches::claim_warning(self, index, c),
            Changed::StorageClasses(c) => caches::storage_class(self, index, c),
            Changed::Configs(c) => workloads::config(self, index, c),
            Changed::Services(c) => workloads::service(self, index, c),
            Changed::InferenceServices(c) => owners_of(&self.services, c.latest().as_ref()),
            Changed::Routes(c) => owners_of(&self.services, c.latest().as_ref()),
            Changed::ScaledObjects(c) => owners_of(&self.services, c.latest().as_ref()),
            Changed::InterceptorRoutes(c) => owners_of(&self.services, c.latest().as_ref()),
            Changed::ReferenceGrants(c) => workloads::reference_grant(self, index, c),
            Changed::Gateways(c) => workloads::gateway(self, index, c),
            Changed::Jobs(c) => workloads::job(self, index, c),
            Changed::Pods(c) => workloads::pod(self, index, c),
            Changed::Deployments(c) => {
                workloads::predictor(self, index, c.latest().as_ref());
            }
            Changed::Nodes(_) => workloads::inventory(self, index),
        }
    }
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

/// Wakes each of `objects` in `queue`.
fn wake_all<K: Resource<DynamicType = ()>>(queue: &Queue<K>, objects: impl IntoIterator<Item = Arc<K>>) {
    for obj in objects {
        queue.wake(obj_ref(obj.as_ref()));
    }
}

/// Wakes the owners of `child` that are of `queue`'s kind (in the child's namespace, for a namespaced kind).
fn owners_of<K: Resource<DynamicType = ()>, C: Resource>(queue: &Queue<K>, child: &C)
where
    K::Scope: 'static,
{
    let kind = K::kind(&());
    let cluster_scoped =
        std::any::TypeId::of::<K::Scope>() == std::any::TypeId::of::<k8s_openapi::ClusterResourceScope>();
    let ns = ns_of(child);
    for owner in child
        .meta()
        .owner_references
        .iter()
        .flatten()
        .filter(|o| o.kind == kind)
    {
        let key = ObjectRef::new(&owner.name);
        queue.wake(if cluster_scoped { key } else { key.within(&ns) });
    }
}

/// Services that have not resolved a template, or failed to.
fn unsettled(svc: &AIMService) -> bool {
    let conds = svc
        .status
        .as_ref()
        .map(|s| s.head.conditions.as_slice())
        .unwrap_or_default();
    !conditions::is_true(conds, types::RESOLVED)
}

/// Services whose last decision failed or found nothing: not resolved, or a policy plugin failed for them. A
/// plugin swap decides these again at once.
pub fn needs_decision(svc: &AIMService) -> bool {
    let conds = svc
        .status
        .as_ref()
        .map(|s| s.head.conditions.as_slice())
        .unwrap_or_default();
    unsettled(svc)
        || conditions::get(conds, types::FAILURE)
            .is_some_and(|c| c.status == "True" && c.reason == reasons::POLICY_FAILED)
}

#[cfg(test)]
mod tests;
