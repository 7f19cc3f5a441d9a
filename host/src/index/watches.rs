//! The watch of every kind the index holds, started together: each one's events are stored and then passed to
//! the [`OnChange`] the controllers provide, which decides whom a change wakes. Our own children are watched by
//! the `managed-by` label, Warning Events only for volume claims; everything else whole.

use super::informer::{self, Change};
use super::readable::{Readable, Unreadable};
use super::{Index, Writers, slim};
use crate::api::{
    AIMClusterConfig, AIMClusterServiceTemplate, AIMImage, AIMService, AIMServiceTemplate, AIMTemplateCache, ModelCache,
};
use crate::labels;
use crate::upstream;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::core::v1::{Event as CoreEvent, Node, PersistentVolumeClaim, Pod};
use k8s_openapi::api::storage::v1::StorageClass;
use kube::Resource;
use kube::api::{Api, ApiResource, DynamicObject};
use kube::runtime::WatchStreamExt;
use kube::runtime::events::{Event, EventType, Recorder};
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
/// storing. Objects are decoded behind a [`Readable`], so one the operator's types cannot read is
/// reported and skipped instead of failing the kind's whole list.
struct Watch<K: Resource> {
    kind: &'static str,
    api: Api<Readable<K>>,
    config: watcher::Config,
    dyntype: K::DynamicType,
    slim: fn(&mut K),
}

/// The reason of the Warning Event on an object the operator cannot read.
pub const UNDECODABLE: &str = "CannotRead";

fn spawn<K>(
    index: &Arc<Index>,
    recorder: &Recorder,
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
    let report = undecodable_reporter::<K>(watch.kind, &watch.dyntype, recorder.clone());
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
        report,
        health,
    ))
}

/// Says, once per version, that an object cannot be read: a log line, and a Warning Event on the object (the
/// metric is the index health's). The Event is sent off the watch's path: a slow API server must not hold up
/// the index.
fn undecodable_reporter<K>(
    kind: &'static str,
    dyntype: &K::DynamicType,
    recorder: Recorder,
) -> impl FnMut(&Unreadable) + Send + 'static
where
    K: Resource,
{
    let (api_version, type_name) = (K::api_version(dyntype).into_owned(), K::kind(dyntype).into_owned());
    move |invalid: &Unreadable| {
        let meta = &invalid.metadata;
        let name = meta.name.clone().unwrap_or_default();
        tracing::warn!(
            kind,
            namespace = meta.namespace.as_deref().unwrap_or_default(),
            name,
            error = %invalid.error,
            "an object the operator cannot read is skipped until it is fixed"
        );
        let reference = ObjectReference {
            api_version: Some(api_version.clone()),
            kind: Some(type_name.clone()),
            name: Some(name),
            namespace: meta.namespace.clone(),
            uid: meta.uid.clone(),
            resource_version: meta.resource_version.clone(),
            field_path: None,
        };
        let event = Event {
            type_: EventType::Warning,
            reason: UNDECODABLE.into(),
            note: Some(crate::events::note(&format!(
                "the operator cannot read this {type_name}: {}. It is skipped (as it was last read, if it ever \
                 was) until it is fixed; the other objects of its kind are reconciled as usual",
                invalid.error
            ))),
            action: "Read".into(),
            secondary: None,
        };
        let recorder = recorder.clone();
        tokio::spawn(async move {
            if let Err(e) = recorder.publish(&event, &reference).await {
                tracing::debug!(error = %e, "could not record the Event on an unreadable object");
            }
        });
    }
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
    fn typed<K: Resource<DynamicType = ()>>(
        kind: &'static str,
        api: Api<Readable<K>>,
        config: watcher::Config,
    ) -> Watch<K> {
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
    let recorder = crate::events::recorder(client.clone());
    let w = writers;
    vec![
        spawn(
            index,
            &recorder,
            typed("aimimages", Api::all(c.clone()), all()),
            w.images,
            route!(image),
        ),
        spawn(
            index,
            &recorder,
            typed("aimclusterservicetemplates", Api::all(c.clone()), all()),
            w.cluster_templates,
            route!(cluster_template),
        ),
        spawn(
            index,
            &recorder,
            typed("aimservicetemplates", Api::all(c.clone()), all()),
            w.templates,
            route!(template),
        ),
        spawn(
            index,
            &recorder,
            typed("aimtemplatecaches", Api::all(c.clone()), all()),
            w.template_caches,
            route!(template_cache),
        ),
        spawn(
            index,
            &recorder,
            typed("modelcaches", Api::all(c.clone()), all()),
            w.model_caches,
            route!(model_cache),
        ),
        spawn(
            index,
            &recorder,
            typed("aimclusterconfigs", Api::all(c.clone()), all()),
            w.configs,
            route!(config),
        ),
        spawn(
            index,
            &recorder,
            typed("aimservices", Api::all(c.clone()), all()),
            w.services,
            route!(service),
        ),
        spawn(
            index,
            &recorder,
            dynamic("inferenceservices", upstream::inference_service(), ours()),
            w.inference_services,
            route!(runtime_child),
        ),
        spawn(
            index,
            &recorder,
            dynamic("httproutes", upstream::http_route(), ours()),
            w.routes,
            route!(runtime_child),
        ),
        spawn(
            index,
            &recorder,
            dynamic("gateways", upstream::gateway(), all()),
            w.gateways,
            route!(gateway),
        ),
        spawn(
            index,
            &recorder,
            typed("jobs", Api::all(c.clone()), ours()),
            w.jobs,
            route!(job),
        ),
        spawn(
            index,
            &recorder,
            typed("pods", Api::all(c.clone()), ours()),
            w.pods,
            route!(pod),
        ),
        spawn(
            index,
            &recorder,
            typed("persistentvolumeclaims", Api::all(c.clone()), ours()),
            w.claims,
            route!(claim),
        ),
        spawn(
            index,
            &recorder,
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
            &recorder,
            typed("storageclasses", Api::all(c.clone()), all()),
            w.storage_classes,
            route!(storage_class),
        ),
        spawn(
            index,
            &recorder,
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
