//! Every kind the index watches, declared once in the table at the bottom: its field, its type, the name its
//! watch goes by (`/readyz`, metrics), what it watches ([`Select`]) and what is dropped before storing ([`slim`]).
//!
//! From that one row come the kind's store and writer, its entry in [`KINDS`], its variant of [`Changed`] (what
//! the controllers' routing matches on, so a new kind fails to compile until it is routed), its [`Stored`]
//! impl (how the index finds its store by type) and its watch. Adding a kind is one row here plus its arm in
//! `controller::wake`.
//!
//! A row ending in `optional` is a kind of an add-on the cluster may not have (KEDA, its HTTP add-on): while
//! the API server does not serve it, its watch counts as listed and empty, so the operator runs without it, and
//! [`super::Index::serves`] says so; its watch starts once its CustomResourceDefinition is established
//! ([`super::served`]).

use super::informer::Change;
use super::slim;
use super::watch::{self, Select};
use super::{Index, OnChange};
use crate::api::{
    AIMClusterConfig, AIMClusterServiceTemplate, AIMImage, AIMService, AIMServiceTemplate, AIMTemplateCache, ModelCache,
};
use crate::upstream::{Gateway, HttpRoute, InferenceService, InterceptorRoute, ReferenceGrant, ScaledObject};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Event as CoreEvent, Node, PersistentVolumeClaim, Pod};
use k8s_openapi::api::storage::v1::StorageClass;
use kube::Resource;
use kube::runtime::reflector::Store;
use kube::runtime::reflector::store::Writer;
use std::sync::Arc;

/// A watched kind: how the index finds its store, and how it names it.
pub trait Stored: Resource<DynamicType = ()> + Clone + PartialEq + Send + Sync + Sized + 'static {
    /// The watch's name (`/readyz`, metrics): the kind's plural.
    const KIND_NAME: &'static str;
    /// Its store.
    fn store(stores: &Stores) -> &Store<Self>;
    /// The object as one of any kind.
    fn any(obj: Arc<Self>) -> AnyObject;
}

macro_rules! watched_kinds {
    ($(
        $(#[doc = $doc:literal])*
        $field:ident: $ty:ty => $variant:ident, $name:literal, $select:expr, $slim:path $(, $optional:ident)?;
    )*) => {
        /// The stores, one per watched kind; private to the index (read them through its queries).
        pub struct Stores {
            $( $field: Store<$ty>, )*
        }

        /// The write ends of the stores, one per watch: [`Index::start`] consumes them, and tests of what reads
        /// the index fill them directly.
        #[allow(missing_docs)]
        pub struct Writers {
            $( pub $field: Writer<$ty>, )*
        }

        /// Every watched kind, by its watch's name.
        pub const KINDS: &[&str] = &[$($name),*];

        /// The kinds of add-ons the cluster may not have (rows marked `optional`).
        pub const OPTIONAL_KINDS: &[&str] = &[$($( { let _ = stringify!($optional); $name }, )?)*];

        /// The CustomResourceDefinitions (`<plural>.<group>`) of the optional kinds: what the operator's
        /// ClusterRole must let it watch.
        #[cfg(test)]
        pub(super) fn optional_definitions() -> Vec<String> {
            use kube::Resource;
            vec![$($( {
                let _ = stringify!($optional);
                format!("{}.{}", <$ty>::plural(&()), <$ty>::group(&()))
            }, )?)*]
        }

        /// A change of an object of one watched kind, once the index holds it.
        pub enum Changed<'a> {
            $( $(#[doc = $doc])* $variant(&'a Change<$ty>), )*
        }

        /// An object of any watched kind.
        #[derive(Clone, Debug)]
        #[allow(missing_docs)]
        pub enum AnyObject {
            $( $variant(Arc<$ty>), )*
        }

        /// A change of an object of any watched kind, owned (for a test that makes one up).
        #[allow(missing_docs)]
        pub enum AnyChange {
            $( $variant(Change<$ty>), )*
        }

        impl AnyChange {
            /// As the index hands it on.
            pub fn changed(&self) -> Changed<'_> {
                match self {
                    $( AnyChange::$variant(c) => Changed::$variant(c), )*
                }
            }
        }

        impl AnyObject {
            /// The change that creates this object (nothing before it).
            pub fn created(&self) -> AnyChange {
                match self {
                    $( AnyObject::$variant(o) => AnyChange::$variant(Change { old: None, new: Some(o.clone()) }), )*
                }
            }

            /// The change that deletes it.
            pub fn deleted(&self) -> AnyChange {
                match self {
                    $( AnyObject::$variant(o) => AnyChange::$variant(Change { old: Some(o.clone()), new: None }), )*
                }
            }

            /// Its kind's watch name, namespace and name.
            pub fn key(&self) -> (&'static str, String, String) {
                match self {
                    $( AnyObject::$variant(o) => (
                        $name,
                        o.meta().namespace.clone().unwrap_or_default(),
                        o.meta().name.clone().unwrap_or_default(),
                    ), )*
                }
            }
        }

        $(
            impl Stored for $ty {
                const KIND_NAME: &'static str = $name;
                fn store(stores: &Stores) -> &Store<$ty> {
                    &stores.$field
                }
                fn any(obj: Arc<Self>) -> AnyObject {
                    AnyObject::$variant(obj)
                }
            }
        )*

        /// Empty stores and the writers that fill them.
        pub(super) fn stores() -> (Stores, Writers) {
            $( let $field = Writer::<$ty>::new(()); )*
            (
                Stores { $( $field: $field.as_reader(), )* },
                Writers { $( $field, )* },
            )
        }

        /// Starts the watch of every kind; each change goes to `on_change` once stored.
        pub(super) fn watch_all(
            client: &kube::Client,
            index: &Arc<Index>,
            writers: Writers,
            on_change: Arc<dyn OnChange>,
        ) -> Vec<tokio::task::JoinHandle<()>> {
            let recorder = crate::events::recorder(client.clone());
            vec![
                $(
                    watch::spawn::<$ty>(
                        client, index, &recorder, $name, $select, $slim,
                        false $( || { let _ = stringify!($optional); true } )?,
                        writers.$field, {
                        let on_change = on_change.clone();
                        move |index: &Index, change: &Change<$ty>| index.hand_on(Changed::$variant(change), &*on_change)
                    }),
                )*
            ]
        }
    };
}

watched_kinds! {
    /// An AIMImage (a catalog entry).
    images: AIMImage => Images, "aimimages", Select::All, slim::common;
    /// An AIMClusterServiceTemplate.
    cluster_templates: AIMClusterServiceTemplate => ClusterTemplates, "aimclusterservicetemplates", Select::All, slim::common;
    /// A namespace template (derived ones included).
    templates: AIMServiceTemplate => Templates, "aimservicetemplates", Select::All, slim::common;
    /// An AIMTemplateCache.
    template_caches: AIMTemplateCache => TemplateCaches, "aimtemplatecaches", Select::All, slim::common;
    /// A ModelCache.
    model_caches: ModelCache => ModelCaches, "modelcaches", Select::All, slim::common;
    /// A cluster config (only `default` is used).
    configs: AIMClusterConfig => Configs, "aimclusterconfigs", Select::All, slim::common;
    /// An AIMService.
    services: AIMService => Services, "aimservices", Select::All, slim::common;
    /// An InferenceService the operator made.
    inference_services: InferenceService => InferenceServices, "inferenceservices", Select::Ours, slim::inference_service;
    /// The Deployment KServe made of an InferenceService of the operator's (it carries the InferenceService's
    /// labels): how many replicas are wanted and ready.
    deployments: Deployment => Deployments, "deployments", Select::Ours, slim::deployment;
    /// An HTTPRoute the operator made.
    routes: HttpRoute => Routes, "httproutes", Select::Ours, slim::common;
    /// A ScaledObject the operator made (a service that wakes from zero through KEDA's HTTP add-on).
    scaled_objects: ScaledObject => ScaledObjects, "scaledobjects", Select::Ours, slim::common, optional;
    /// An InterceptorRoute the operator made (the same services: how the add-on's interceptor finds them).
    interceptor_routes: InterceptorRoute => InterceptorRoutes, "interceptorroutes", Select::Ours, slim::common, optional;
    /// A ReferenceGrant the operator made (it lets a namespace's routes send requests to the interceptor).
    reference_grants: ReferenceGrant => ReferenceGrants, "referencegrants", Select::Ours, slim::common, optional;
    /// A Gateway (a cluster config names one).
    gateways: Gateway => Gateways, "gateways", Select::All, slim::common;
    /// A discovery or download Job the operator made.
    jobs: Job => Jobs, "jobs", Select::Ours, slim::job;
    /// A pod of such a Job, or of an InferenceService the operator made.
    pods: Pod => Pods, "pods", Select::Ours, slim::pod;
    /// A cache volume claim the operator made.
    claims: PersistentVolumeClaim => Claims, "persistentvolumeclaims", Select::Ours, slim::common;
    /// A Warning Event about a volume claim (a provisioner says why a claim stays pending).
    claim_warnings: CoreEvent => ClaimWarnings, "events",
        Select::Fields("involvedObject.kind=PersistentVolumeClaim,type=Warning"), slim::common;
    /// A StorageClass (a model cache's volume needs one).
    storage_classes: StorageClass => StorageClasses, "storageclasses", Select::All, slim::common;
    /// A node: handed on only when the GPU inventory changed.
    nodes: Node => Nodes, "nodes", Select::All, slim::node;
}
