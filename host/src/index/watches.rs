//! The watch of every kind the index holds, started together: each one's events are stored and then passed to
//! the [`OnChange`] the controllers provide, which decides whom a change wakes. Our own children are watched by
//! the `managed-by` label, Warning Events only for volume claims; everything else whole.

use super::informer::{self, Change};
use super::{Index, Writers, slim};
use crate::api::{
    AIMClusterConfig, AIMClusterServiceTemplate, AIMImage, AIMService, AIMServiceTemplate, AIMTemplateCache, ModelCache,
};
use crate::labels;
use crate::upstream;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Event as CoreEvent, Node, PersistentVolumeClaim, Pod};
use k8s_openapi::api::storage::v1::StorageClass;
use kube::Resource;
use kube::api::{Api, ApiResource, DynamicObject};
use kube::runtime::WatchStreamExt;
use kube::runtime::reflector::store::Writer;
use kube::runtime::watcher;
use serde::de::DeserializeOwned;
use std::fmt::Debug;
use std::sync::Arc;

/// Whom a change wakes: the controllers implement it. Each method is called after the index holds the change.
pub trait OnChange: Send + Sync + 'static {
    /// An AIMImage changed.
    fn image(&self, index: &Index, change: &Change<AIMImage>);
    /// A cluster template changed.
    fn cluster_template(&self, index: &Index, change: &Change<AIMClusterServiceTemplate>);
    /// A namespace template changed.
    fn template(&self, index: &Index, change: &Change<AIMServiceTemplate>);
    /// A template cache changed.
    fn template_cache(&self, index: &Index, change: &Change<AIMTemplateCache>);
    /// A model cache changed.
    fn model_cache(&self, index: &Index, change: &Change<ModelCache>);
    /// A cluster config changed.
    fn config(&self, index: &Index, change: &Change<AIMClusterConfig>);
    /// A service changed.
    fn service(&self, index: &Index, change: &Change<AIMService>);
    /// An InferenceService or HTTPRoute the operator made changed.
    fn runtime_child(&self, index: &Index, change: &Change<DynamicObject>);
    /// A Gateway changed.
    fn gateway(&self, index: &Index, change: &Change<DynamicObject>);
    /// A Job the operator made changed.
    fn job(&self, index: &Index, change: &Change<Job>);
    /// A pod of such a Job changed.
    fn pod(&self, index: &Index, change: &Change<Pod>);
    /// A cache volume claim changed.
    fn claim(&self, index: &Index, change: &Change<PersistentVolumeClaim>);
    /// A Warning Event about a volume claim arrived.
    fn claim_warning(&self, index: &Index, change: &Change<CoreEvent>);
    /// A storage class changed.
    fn storage_class(&self, index: &Index, change: &Change<StorageClass>);
    /// The GPU inventory changed (a node came, went, or changed its GPUs).
    fn inventory(&self, index: &Index);
}

/// One watch: the kind's name (for `/readyz`), its API and selectors, its dynamic type, and what is dropped before
/// storing.
struct Watch<K: Resource> {
    kind: &'static str,
    api: Api<K>,
    config: watcher::Config,
    dyntype: K::DynamicType,
    slim: fn(&mut K),
}

fn spawn<K>(
    index: &Arc<Index>,
    watch: Watch<K>,
    writer: Writer<K>,
    route: impl Fn(&Index, &Change<K>) + Send + 'static,
) -> tokio::task::JoinHandle<()>
where
    K: Resource + Clone + Debug + DeserializeOwned + Send + Sync + 'static,
    K::DynamicType: Eq + std::hash::Hash + Clone + Send + Sync,
{
    let events = watcher::watcher(watch.api, watch.config).default_backoff();
    let index_for_change = index.clone();
    let health = index.health.clone();
    let kind_name = K::kind(&watch.dyntype).into_owned();
    tokio::spawn(informer::run(
        watch.kind,
        events,
        writer,
        watch.dyntype,
        watch.slim,
        move |change| {
            let obj = change.latest();
            let meta = obj.meta();
            index_for_change.pending.seen(
                &kind_name,
                meta.namespace.as_deref().unwrap_or_default(),
                meta.name.as_deref().unwrap_or_default(),
            );
            route(&index_for_change, &change)
        },
        health,
    ))
}

/// Starts every watch; changes go to `on_change` once stored. Returns the watch tasks (they run until
/// aborted).
pub fn start(
    client: &kube::Client,
    index: &Arc<Index>,
    writers: Writers,
    on_change: Arc<dyn OnChange>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let all = watcher::Config::default;
    let ours = || watcher::Config::default().labels(&labels::managed_selector());
    let c = client.clone();
    let o = on_change;
    macro_rules! route {
        ($method:ident) => {{
            let o = o.clone();
            move |index: &Index, change: &Change<_>| o.$method(index, change)
        }};
    }
    fn typed<K: Resource<DynamicType = ()>>(kind: &'static str, api: Api<K>, config: watcher::Config) -> Watch<K> {
        Watch {
            kind,
            api,
            config,
            dyntype: (),
            slim: slim::common::<K>,
        }
    }
    let dynamic = |kind: &'static str, resource: ApiResource, config: watcher::Config| Watch {
        kind,
        api: Api::all_with(c.clone(), &resource),
        config,
        dyntype: resource,
        slim: slim::common::<DynamicObject>,
    };
    let nodes_on_change = o.clone();
    let w = writers;
    vec![
        spawn(
            index,
            typed("aimimages", Api::all(c.clone()), all()),
            w.images,
            route!(image),
        ),
        spawn(
            index,
            typed("aimclusterservicetemplates", Api::all(c.clone()), all()),
            w.cluster_templates,
            route!(cluster_template),
        ),
        spawn(
            index,
            typed("aimservicetemplates", Api::all(c.clone()), all()),
            w.templates,
            route!(template),
        ),
        spawn(
            index,
            typed("aimtemplatecaches", Api::all(c.clone()), all()),
            w.template_caches,
            route!(template_cache),
        ),
        spawn(
            index,
            typed("modelcaches", Api::all(c.clone()), all()),
            w.model_caches,
            route!(model_cache),
        ),
        spawn(
            index,
            typed("aimclusterconfigs", Api::all(c.clone()), all()),
            w.configs,
            route!(config),
        ),
        spawn(
            index,
            typed("aimservices", Api::all(c.clone()), all()),
            w.services,
            route!(service),
        ),
        spawn(
            index,
            dynamic("inferenceservices", upstream::inference_service(), ours()),
            w.inference_services,
            route!(runtime_child),
        ),
        spawn(
            index,
            dynamic("httproutes", upstream::http_route(), ours()),
            w.routes,
            route!(runtime_child),
        ),
        spawn(
            index,
            dynamic("gateways", upstream::gateway(), all()),
            w.gateways,
            route!(gateway),
        ),
        spawn(index, typed("jobs", Api::all(c.clone()), ours()), w.jobs, route!(job)),
        spawn(index, typed("pods", Api::all(c.clone()), ours()), w.pods, route!(pod)),
        spawn(
            index,
            typed("persistentvolumeclaims", Api::all(c.clone()), ours()),
            w.claims,
            route!(claim),
        ),
        spawn(
            index,
            typed(
                "events",
                Api::all(c.clone()),
                watcher::Config::default().fields("involvedObject.kind=PersistentVolumeClaim,type=Warning"),
            ),
            w.claim_warnings,
            route!(claim_warning),
        ),
        spawn(
            index,
            typed("storageclasses", Api::all(c.clone()), all()),
            w.storage_classes,
            route!(storage_class),
        ),
        spawn(
            index,
            Watch {
                slim: slim::node,
                ..typed("nodes", Api::all(c.clone()), all())
            },
            w.nodes,
            move |index: &Index, _change: &Change<Node>| {
                if index.refresh_inventory() {
                    nodes_on_change.inventory(index);
                }
            },
        ),
    ]
}
