//! Objects by name: one lookup per kind the controllers ask for by name. A reference from a namespace
//! resolves a template as the product says: the namespace template first, then the cluster template.

use super::{Index, Template};
use crate::api::{
    AIMClusterConfig, AIMClusterServiceTemplate, AIMServiceTemplate, AIMTemplateCache, CLUSTER_CONFIG_NAME,
};
use crate::upstream::{Gateway, HttpRoute, InferenceService};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::PersistentVolumeClaim;
use k8s_openapi::api::storage::v1::StorageClass;
use std::sync::Arc;

impl Index {
    /// The namespace template `name` in `namespace`.
    pub(crate) fn namespace_template(&self, namespace: &str, name: &str) -> Option<Arc<AIMServiceTemplate>> {
        self.get(Some(namespace), name)
    }

    /// The cluster template `name`.
    pub(crate) fn cluster_template(&self, name: &str) -> Option<Arc<AIMClusterServiceTemplate>> {
        self.get(None, name)
    }

    /// The template `name` as a reference from `namespace` resolves it: the namespace template first, then
    /// the cluster template.
    pub(crate) fn template(&self, namespace: &str, name: &str) -> Option<Template> {
        self.namespace_template(namespace, name)
            .map(Template::Namespace)
            .or_else(|| self.cluster_template(name).map(Template::Cluster))
    }

    /// The template cache `name` in `namespace`.
    pub(crate) fn template_cache(&self, namespace: &str, name: &str) -> Option<Arc<AIMTemplateCache>> {
        self.get(Some(namespace), name)
    }

    /// The cluster config in use (`default`), if there is one.
    pub(crate) fn cluster_config(&self) -> Option<Arc<AIMClusterConfig>> {
        self.get(None, CLUSTER_CONFIG_NAME)
    }

    /// The InferenceService `name` in `namespace` (only those the operator made are watched).
    pub(crate) fn inference_service(&self, namespace: &str, name: &str) -> Option<Arc<InferenceService>> {
        self.get(Some(namespace), name)
    }

    /// The Deployment KServe made for InferenceService `isvc` in `namespace` (`<isvc>-predictor`).
    pub(crate) fn predictor_deployment(&self, namespace: &str, isvc: &str) -> Option<Arc<Deployment>> {
        self.get(Some(namespace), &format!("{isvc}-predictor"))
    }

    /// The HTTPRoute `name` in `namespace` (only those the operator made are watched).
    pub(crate) fn route(&self, namespace: &str, name: &str) -> Option<Arc<HttpRoute>> {
        self.get(Some(namespace), name)
    }

    /// The Gateway `name` in `namespace`.
    pub(crate) fn gateway(&self, namespace: &str, name: &str) -> Option<Arc<Gateway>> {
        self.get(Some(namespace), name)
    }

    /// The Job `name` in `namespace` (only those the operator made are watched).
    pub(crate) fn job(&self, namespace: &str, name: &str) -> Option<Arc<Job>> {
        self.get(Some(namespace), name)
    }

    /// The volume claim `name` in `namespace` (only those the operator made are watched).
    pub(crate) fn claim(&self, namespace: &str, name: &str) -> Option<Arc<PersistentVolumeClaim>> {
        self.get(Some(namespace), name)
    }

    /// Whether StorageClass `name` exists.
    pub(crate) fn storage_class_exists(&self, name: &str) -> bool {
        self.get::<StorageClass>(None, name).is_some()
    }
}
