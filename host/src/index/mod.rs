//! The index: one watch per kind the operator reads, each feeding a store, behind one type with the queries
//! the controllers need. Controllers read the cluster only from here; the API server sees watches and the
//! operator's writes, never a GET or LIST per reconcile.
//!
//! - [`informer`]: one watch → one store, each change handed on once stored (relists included).
//! - [`health`]: whether every watch has listed its kind and none is failing (`/readyz`, controller start).
//! - [`readable`]: decoding an object without letting one that cannot be read fail its kind.
//! - [`slim`]: what is dropped before an object is stored.
//! - [`watches`]: the watch of every kind, started together, and the [`OnChange`] they report to.
//! - [`pending`]: writes made but not seen yet.
//! - [`resumed`]: the client layer that tells [`health`] a failed watch runs again.
//!
//! Every query is a read of in-memory stores (no I/O). A change to any stored object is passed to an
//! [`OnChange`] the controllers provide, which decides whom it wakes.

pub mod health;
pub mod informer;
pub mod pending;
pub mod readable;
pub mod resumed;
pub mod slim;
pub mod watches;

use crate::api::{
    AIMClusterConfig, AIMClusterServiceTemplate, AIMImage, AIMService, AIMServiceTemplate, AIMTemplateCache,
    CLUSTER_CONFIG_NAME, ModelCache, TemplateProfile, TemplateScope, TemplateStatus,
};
use crate::labels::Component;
use crate::upstream::{self, gpu};
pub use health::WatchHealth;
pub use informer::Change;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Event as CoreEvent, Node, PersistentVolumeClaim, Pod};
use k8s_openapi::api::storage::v1::StorageClass;
use kube::api::{ApiResource, DynamicObject};
use kube::runtime::reflector::store::Writer;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Resource, ResourceExt};
use std::fmt::Debug;
use std::sync::{Arc, RwLock};
pub use watches::{OnChange, start};

/// Every kind the index watches, by the name `/readyz` reports.
pub const KINDS: [&str; 16] = [
    "aimimages",
    "aimclusterservicetemplates",
    "aimservicetemplates",
    "aimtemplatecaches",
    "modelcaches",
    "aimclusterconfigs",
    "aimservices",
    "inferenceservices",
    "httproutes",
    "gateways",
    "jobs",
    "pods",
    "persistentvolumeclaims",
    "events",
    "storageclasses",
    "nodes",
];

/// The cluster as the operator knows it.
pub struct Index {
    /// Catalog entries.
    pub images: Store<AIMImage>,
    /// Cluster templates.
    pub cluster_templates: Store<AIMClusterServiceTemplate>,
    /// Namespace templates (derived ones included).
    pub templates: Store<AIMServiceTemplate>,
    /// Template caches.
    pub template_caches: Store<AIMTemplateCache>,
    /// Model caches.
    pub model_caches: Store<ModelCache>,
    /// Cluster configs (only `default` is used).
    pub configs: Store<AIMClusterConfig>,
    /// Services.
    pub services: Store<AIMService>,
    /// InferenceServices the operator made.
    pub inference_services: Store<DynamicObject>,
    /// HTTPRoutes the operator made.
    pub routes: Store<DynamicObject>,
    /// Gateways (a cluster config names one).
    pub gateways: Store<DynamicObject>,
    /// Discovery and download Jobs.
    pub jobs: Store<Job>,
    /// Their pods.
    pub pods: Store<Pod>,
    /// Cache volume claims.
    pub claims: Store<PersistentVolumeClaim>,
    /// Warning Events about volume claims (a provisioner says why a claim stays pending).
    pub claim_warnings: Store<CoreEvent>,
    /// Storage classes.
    pub storage_classes: Store<StorageClass>,
    /// Nodes (for the GPU inventory).
    pub nodes: Store<Node>,
    inventory: RwLock<Option<Vec<gpu::GpuPool>>>,
    /// Whether every watch is listed and healthy.
    pub health: Arc<WatchHealth>,
    /// Writes made but not seen yet.
    pub pending: Arc<pending::PendingWrites>,
}

/// The write ends of the index's stores, one per watch; [`start`] consumes them (tests of what reads the index
/// fill them directly).
pub struct Writers {
    /// Fills [`Index::images`].
    pub images: Writer<AIMImage>,
    /// Fills [`Index::cluster_templates`].
    pub cluster_templates: Writer<AIMClusterServiceTemplate>,
    /// Fills [`Index::templates`].
    pub templates: Writer<AIMServiceTemplate>,
    /// Fills [`Index::template_caches`].
    pub template_caches: Writer<AIMTemplateCache>,
    /// Fills [`Index::model_caches`].
    pub model_caches: Writer<ModelCache>,
    /// Fills [`Index::configs`].
    pub configs: Writer<AIMClusterConfig>,
    /// Fills [`Index::services`].
    pub services: Writer<AIMService>,
    /// Fills [`Index::inference_services`].
    pub inference_services: Writer<DynamicObject>,
    /// Fills [`Index::routes`].
    pub routes: Writer<DynamicObject>,
    /// Fills [`Index::gateways`].
    pub gateways: Writer<DynamicObject>,
    /// Fills [`Index::jobs`].
    pub jobs: Writer<Job>,
    /// Fills [`Index::pods`].
    pub pods: Writer<Pod>,
    /// Fills [`Index::claims`].
    pub claims: Writer<PersistentVolumeClaim>,
    /// Fills [`Index::claim_warnings`].
    pub claim_warnings: Writer<CoreEvent>,
    /// Fills [`Index::storage_classes`].
    pub storage_classes: Writer<StorageClass>,
    /// Fills [`Index::nodes`].
    pub nodes: Writer<Node>,
}

/// A namespace or a cluster template, as the controllers see either.
#[derive(Debug, Clone)]
pub enum Template {
    /// An `AIMServiceTemplate`.
    Namespace(Arc<AIMServiceTemplate>),
    /// An `AIMClusterServiceTemplate`.
    Cluster(Arc<AIMClusterServiceTemplate>),
}

impl Template {
    /// Its name.
    pub fn name(&self) -> String {
        match self {
            Template::Namespace(t) => t.name_any(),
            Template::Cluster(t) => t.name_any(),
        }
    }

    /// Namespace or cluster.
    pub fn scope(&self) -> TemplateScope {
        match self {
            Template::Namespace(_) => TemplateScope::Namespace,
            Template::Cluster(_) => TemplateScope::Cluster,
        }
    }

    /// Its profile.
    pub fn profile(&self) -> &TemplateProfile {
        match self {
            Template::Namespace(t) => &t.spec.profile,
            Template::Cluster(t) => &t.spec.profile,
        }
    }

    /// Its status (default when it has none yet).
    pub fn status(&self) -> TemplateStatus {
        match self {
            Template::Namespace(t) => t.status.clone(),
            Template::Cluster(t) => t.status.clone(),
        }
        .unwrap_or_default()
    }

    /// True for a template the operator derived from another with a service's overrides.
    pub fn derived(&self) -> bool {
        match self {
            Template::Namespace(t) => Component::of(t.labels()) == Some(Component::DerivedTemplate),
            Template::Cluster(_) => false,
        }
    }
}

fn pair<K>(dyntype: K::DynamicType) -> (Store<K>, Writer<K>)
where
    K: Resource + Clone + 'static,
    K::DynamicType: Eq + std::hash::Hash + Clone,
{
    let writer = Writer::new(dyntype);
    (writer.as_reader(), writer)
}

fn get<K>(store: &Store<K>, namespace: Option<&str>, name: &str) -> Option<Arc<K>>
where
    K: Resource<DynamicType = ()> + Clone + 'static,
{
    let key = ObjectRef::new(name);
    store.get(&match namespace {
        Some(ns) => key.within(ns),
        None => key,
    })
}

fn get_dynamic(
    store: &Store<DynamicObject>,
    resource: ApiResource,
    namespace: &str,
    name: &str,
) -> Option<Arc<DynamicObject>> {
    store.get(&ObjectRef::new_with(name, resource).within(namespace))
}

/// Sorts by name, so every query answers in a stable order.
fn by_name<K: Resource>(mut items: Vec<Arc<K>>) -> Vec<Arc<K>> {
    items.sort_by(|a, b| a.meta().name.cmp(&b.meta().name));
    items
}

impl Index {
    /// An empty index and the writers that fill it.
    pub fn new() -> (Arc<Index>, Writers) {
        Index::with_health(WatchHealth::of_index())
    }

    /// An empty index reporting its watches' state to `health` (made with [`WatchHealth::of_index`], and shared
    /// with the client's [`resumed::ResumedLayer`]), and the writers that fill it.
    pub fn with_health(health: Arc<WatchHealth>) -> (Arc<Index>, Writers) {
        let (images, images_w) = pair(());
        let (cluster_templates, cluster_templates_w) = pair(());
        let (templates, templates_w) = pair(());
        let (template_caches, template_caches_w) = pair(());
        let (model_caches, model_caches_w) = pair(());
        let (configs, configs_w) = pair(());
        let (services, services_w) = pair(());
        let (inference_services, inference_services_w) = pair(upstream::inference_service());
        let (routes, routes_w) = pair(upstream::http_route());
        let (gateways, gateways_w) = pair(upstream::gateway());
        let (jobs, jobs_w) = pair(());
        let (pods, pods_w) = pair(());
        let (claims, claims_w) = pair(());
        let (claim_warnings, claim_warnings_w) = pair(());
        let (storage_classes, storage_classes_w) = pair(());
        let (nodes, nodes_w) = pair(());
        let index = Index {
            images,
            cluster_templates,
            templates,
            template_caches,
            model_caches,
            configs,
            services,
            inference_services,
            routes,
            gateways,
            jobs,
            pods,
            claims,
            claim_warnings,
            storage_classes,
            nodes,
            inventory: RwLock::new(None),
            health,
            pending: Default::default(),
        };
        let writers = Writers {
            images: images_w,
            cluster_templates: cluster_templates_w,
            templates: templates_w,
            template_caches: template_caches_w,
            model_caches: model_caches_w,
            configs: configs_w,
            services: services_w,
            inference_services: inference_services_w,
            routes: routes_w,
            gateways: gateways_w,
            jobs: jobs_w,
            pods: pods_w,
            claims: claims_w,
            claim_warnings: claim_warnings_w,
            storage_classes: storage_classes_w,
            nodes: nodes_w,
        };
        (Arc::new(index), writers)
    }

    /// Every AIMImage of `model`, by name.
    pub fn images_of_model(&self, model: &str) -> Vec<Arc<AIMImage>> {
        by_name(self.images.state_filter(|i| i.spec.model_id == model))
    }

    /// The AIMImage serving `model`: with several, the first by name (the others report `DuplicateModelId`).
    pub fn image_for_model(&self, model: &str) -> Option<Arc<AIMImage>> {
        self.images_of_model(model).into_iter().next()
    }

    /// The namespace template `name` in `namespace`.
    pub fn namespace_template(&self, namespace: &str, name: &str) -> Option<Arc<AIMServiceTemplate>> {
        get(&self.templates, Some(namespace), name)
    }

    /// The cluster template `name`.
    pub fn cluster_template(&self, name: &str) -> Option<Arc<AIMClusterServiceTemplate>> {
        get(&self.cluster_templates, None, name)
    }

    /// The template `name` as a reference from `namespace` resolves it: the namespace template first, then
    /// the cluster template.
    pub fn template(&self, namespace: &str, name: &str) -> Option<Template> {
        self.namespace_template(namespace, name)
            .map(Template::Namespace)
            .or_else(|| self.cluster_template(name).map(Template::Cluster))
    }

    /// Every template of `model` a service in `namespace` could use: the namespace's first, then the
    /// cluster's, each by name.
    pub fn templates_of_model(&self, namespace: &str, model: &str) -> Vec<Template> {
        let local =
            by_name(self.templates.state_filter(|t| {
                t.metadata.namespace.as_deref() == Some(namespace) && t.spec.profile.model_id == model
            }));
        let cluster = by_name(
            self.cluster_templates
                .state_filter(|t| t.spec.profile.model_id == model),
        );
        local
            .into_iter()
            .map(Template::Namespace)
            .chain(cluster.into_iter().map(Template::Cluster))
            .collect()
    }

    /// The template cache `name` in `namespace`.
    pub fn template_cache(&self, namespace: &str, name: &str) -> Option<Arc<AIMTemplateCache>> {
        get(&self.template_caches, Some(namespace), name)
    }

    /// Template caches in `namespace` that warm the template named `template`, by name.
    pub fn template_caches_of(&self, namespace: &str, template: &str) -> Vec<Arc<AIMTemplateCache>> {
        by_name(
            self.template_caches.state_filter(|tc| {
                tc.metadata.namespace.as_deref() == Some(namespace) && tc.spec.template_ref == template
            }),
        )
    }

    /// Template caches in `namespace`, by name.
    pub fn template_caches_in(&self, namespace: &str) -> Vec<Arc<AIMTemplateCache>> {
        by_name(
            self.template_caches
                .state_filter(|tc| tc.metadata.namespace.as_deref() == Some(namespace)),
        )
    }

    /// The model cache `name` in `namespace`.
    pub fn model_cache(&self, namespace: &str, name: &str) -> Option<Arc<ModelCache>> {
        get(&self.model_caches, Some(namespace), name)
    }

    /// Model caches of `source_uri` in `namespace`, oldest first (with duplicates, the oldest is the real
    /// one), then by name.
    pub fn model_caches_of_source(&self, namespace: &str, source_uri: &str) -> Vec<Arc<ModelCache>> {
        let mut caches = self
            .model_caches
            .state_filter(|m| m.metadata.namespace.as_deref() == Some(namespace) && m.spec.source_uri == source_uri);
        caches.sort_by(|a, b| {
            (&a.metadata.creation_timestamp, &a.metadata.name).cmp(&(&b.metadata.creation_timestamp, &b.metadata.name))
        });
        caches
    }

    /// The cluster config in use (`default`), if there is one.
    pub fn cluster_config(&self) -> Option<Arc<AIMClusterConfig>> {
        get(&self.configs, None, CLUSTER_CONFIG_NAME)
    }

    /// The service `name` in `namespace`.
    pub fn service(&self, namespace: &str, name: &str) -> Option<Arc<AIMService>> {
        get(&self.services, Some(namespace), name)
    }

    /// Services matching `predicate`.
    pub fn services_where(&self, predicate: impl Fn(&AIMService) -> bool) -> Vec<Arc<AIMService>> {
        self.services.state_filter(|s| predicate(s))
    }

    /// The InferenceService `name` in `namespace` (only those the operator made are watched).
    pub fn inference_service(&self, namespace: &str, name: &str) -> Option<Arc<DynamicObject>> {
        get_dynamic(&self.inference_services, upstream::inference_service(), namespace, name)
    }

    /// The HTTPRoute `name` in `namespace` (only those the operator made are watched).
    pub fn route(&self, namespace: &str, name: &str) -> Option<Arc<DynamicObject>> {
        get_dynamic(&self.routes, upstream::http_route(), namespace, name)
    }

    /// The Gateway `name` in `namespace`.
    pub fn gateway(&self, namespace: &str, name: &str) -> Option<Arc<DynamicObject>> {
        get_dynamic(&self.gateways, upstream::gateway(), namespace, name)
    }

    /// The Job `name` in `namespace` (only those the operator made are watched).
    pub fn job(&self, namespace: &str, name: &str) -> Option<Arc<Job>> {
        get(&self.jobs, Some(namespace), name)
    }

    /// Jobs the operator made for `component`.
    pub fn jobs_of(&self, component: Component) -> Vec<Arc<Job>> {
        self.jobs.state_filter(|j| Component::of(j.labels()) == Some(component))
    }

    /// The pods of InferenceService `isvc` in `namespace` (KServe labels them), by name.
    pub fn pods_of_inference_service(&self, namespace: &str, isvc: &str) -> Vec<Arc<Pod>> {
        by_name(self.pods.state_filter(|p| {
            p.metadata.namespace.as_deref() == Some(namespace)
                && p.labels().get(upstream::INFERENCE_SERVICE_LABEL).map(String::as_str) == Some(isvc)
        }))
    }

    /// The pods of Job `job` in `namespace`, newest first.
    pub fn pods_of_job(&self, namespace: &str, job: &str) -> Vec<Arc<Pod>> {
        let mut pods = self.pods.state_filter(|p| {
            p.metadata.namespace.as_deref() == Some(namespace)
                && p.labels().get("batch.kubernetes.io/job-name").map(String::as_str) == Some(job)
        });
        pods.sort_by(|a, b| b.metadata.creation_timestamp.cmp(&a.metadata.creation_timestamp));
        pods
    }

    /// The volume claim `name` in `namespace` (only those the operator made are watched).
    pub fn claim(&self, namespace: &str, name: &str) -> Option<Arc<PersistentVolumeClaim>> {
        get(&self.claims, Some(namespace), name)
    }

    /// Warning Events about claim `name` in `namespace`, latest first.
    pub fn claim_warnings(&self, namespace: &str, name: &str) -> Vec<Arc<CoreEvent>> {
        let mut events = self.claim_warnings.state_filter(|e| {
            e.involved_object.namespace.as_deref() == Some(namespace)
                && e.involved_object.name.as_deref() == Some(name)
                && e.involved_object.kind.as_deref() == Some("PersistentVolumeClaim")
        });
        events.sort_by(|a, b| {
            let at = |e: &CoreEvent| {
                e.last_timestamp
                    .clone()
                    .map(|t| t.0)
                    .or(e.event_time.clone().map(|t| t.0))
            };
            at(b).cmp(&at(a))
        });
        events
    }

    /// Whether StorageClass `name` exists.
    pub fn storage_class_exists(&self, name: &str) -> bool {
        get(&self.storage_classes, None, name).is_some()
    }

    /// The cluster's AMD GPUs by model, or `None` when the cluster has no nodes (then it is not checked).
    pub fn inventory(&self) -> Option<Vec<gpu::GpuPool>> {
        self.inventory.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Recomputes the GPU inventory from the stored nodes; true when it changed.
    pub(crate) fn refresh_inventory(&self) -> bool {
        let nodes = self.nodes.state();
        let fresh = (!nodes.is_empty()).then(|| gpu::inventory(nodes.iter().map(Arc::as_ref)));
        let mut current = self.inventory.write().unwrap_or_else(|e| e.into_inner());
        if *current == fresh {
            return false;
        }
        *current = fresh;
        true
    }
}
