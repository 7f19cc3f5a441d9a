//! Who refers to whom, as named queries: the relations between kinds that the controllers read forwards (a
//! service's template, a template cache's model caches) and that wake-ups and garbage collection read backwards
//! (the services on a template, the users of a shared object). Each relation is written once, here, and both
//! directions use it: an object is collected exactly when nothing the wake-ups would route to uses it.

use super::{Index, Template};
use crate::api::{
    AIMClusterConfig, AIMClusterServiceTemplate, AIMImage, AIMService, AIMServiceTemplate, AIMTemplateCache,
    ModelCache, ModelFiles, TemplateProfile, TemplateScope, TemplateStatus,
};
use crate::labels::Component;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Event as CoreEvent, Pod};
use kube::ResourceExt;
use std::sync::Arc;

fn in_namespace<K: kube::Resource>(obj: &K, namespace: &str) -> bool {
    obj.meta().namespace.as_deref() == Some(namespace)
}

/// The template a service resolved to, if it did: (name, scope, derived).
fn resolved(svc: &AIMService) -> Option<(&str, TemplateScope, bool)> {
    let r = svc.status.as_ref()?.resolved_template.as_ref()?;
    Some((r.name.as_str(), r.scope, r.derived))
}

impl Index {
    // --- the catalog ---

    /// Every AIMImage of `model`, by name.
    pub(crate) fn images_of_model(&self, model: &str) -> Vec<Arc<AIMImage>> {
        self.list(|i: &AIMImage| i.spec.model_id == model)
    }

    /// The AIMImage serving `model`: with several, the first by name (the others report `DuplicateModelId`).
    pub(crate) fn image_for_model(&self, model: &str) -> Option<Arc<AIMImage>> {
        self.images_of_model(model).into_iter().next()
    }

    /// AIMImages naming `template` as their default.
    pub(crate) fn images_defaulting_to(&self, template: &str) -> Vec<Arc<AIMImage>> {
        self.list(|i: &AIMImage| i.spec.default_service_template.as_deref() == Some(template))
    }

    // --- templates ---

    /// Every template of `model` a service in `namespace` could use: the namespace's first, then the
    /// cluster's, each by name.
    pub(crate) fn templates_of_model(&self, namespace: &str, model: &str) -> Vec<Template> {
        let local = self.list(|t: &AIMServiceTemplate| in_namespace(t, namespace) && t.spec.profile.model_id == model);
        let cluster = self.list(|t: &AIMClusterServiceTemplate| t.spec.profile.model_id == model);
        local
            .into_iter()
            .map(Template::Namespace)
            .chain(cluster.into_iter().map(Template::Cluster))
            .collect()
    }

    /// Every template of `model`, in every namespace and the cluster's.
    pub(crate) fn templates_of_model_anywhere(&self, model: &str) -> Vec<Template> {
        self.templates_where(|profile, _| profile.model_id == model)
    }

    /// Every template (namespace ones first) whose profile and status `keep` accepts.
    pub(crate) fn templates_where(
        &self,
        keep: impl Fn(&TemplateProfile, Option<&TemplateStatus>) -> bool,
    ) -> Vec<Template> {
        let local = self.list(|t: &AIMServiceTemplate| keep(&t.spec.profile, t.status.as_ref()));
        let cluster = self.list(|t: &AIMClusterServiceTemplate| keep(&t.spec.profile, t.status.as_ref()));
        local
            .into_iter()
            .map(Template::Namespace)
            .chain(cluster.into_iter().map(Template::Cluster))
            .collect()
    }

    // --- services ---

    pub(crate) fn services_where(&self, keep: impl Fn(&AIMService) -> bool) -> Vec<Arc<AIMService>> {
        self.list(keep)
    }

    /// Services of `model`, in every namespace.
    pub(crate) fn services_of_model(&self, model: &str) -> Vec<Arc<AIMService>> {
        self.list(|s: &AIMService| s.spec.aim_model_id == model)
    }

    /// Services of one of `models` a change of template `name` (of `scope`; a namespace template in
    /// `namespace`) may concern: those that run it, and those that have not resolved a template yet (it may be
    /// what they wait for).
    pub(crate) fn services_on_template(
        &self,
        models: &[&str],
        name: &str,
        scope: TemplateScope,
        namespace: Option<&str>,
    ) -> Vec<Arc<AIMService>> {
        self.list(|s: &AIMService| {
            namespace.is_none_or(|ns| in_namespace(s, ns))
                && models.contains(&s.spec.aim_model_id.as_str())
                && resolved(s).is_none_or(|(n, sc, _)| n == name && sc == scope)
        })
    }

    /// Services in `namespace` running the derived template `name`: its users (it is collected without any).
    pub(crate) fn services_on_derived(&self, namespace: &str, name: &str) -> Vec<Arc<AIMService>> {
        self.list(|s: &AIMService| {
            in_namespace(s, namespace) && resolved(s).is_some_and(|(n, _, derived)| derived && n == name)
        })
    }

    /// Services in `namespace` with `cacheModel` that run template `name`: the users of the template cache
    /// made for them (it is collected without any).
    pub(crate) fn services_caching(&self, namespace: &str, template: &str) -> Vec<Arc<AIMService>> {
        self.list(|s: &AIMService| {
            in_namespace(s, namespace) && s.spec.cache_model && resolved(s).is_some_and(|(n, _, _)| n == template)
        })
    }

    // --- caches ---

    /// Template caches in `namespace` that warm the template named `template`, by name.
    pub(crate) fn template_caches_of(&self, namespace: &str, template: &str) -> Vec<Arc<AIMTemplateCache>> {
        self.list(|tc: &AIMTemplateCache| in_namespace(tc, namespace) && tc.spec.template_ref == template)
    }

    /// Template caches, in any namespace, naming `template` (a cluster template: any namespace may refer to it).
    pub(crate) fn template_caches_referring(&self, template: &str) -> Vec<Arc<AIMTemplateCache>> {
        self.list(|tc: &AIMTemplateCache| tc.spec.template_ref == template)
    }

    /// The file patterns in effect for template cache `tc`: its own, else its template's, else the default.
    pub(crate) fn files_of_template_cache(&self, tc: &AIMTemplateCache) -> ModelFiles {
        let namespace = tc.namespace().unwrap_or_default();
        let template = self.template(&namespace, &tc.spec.template_ref);
        let from_template = template.as_ref().and_then(|t| t.profile().model_files.clone());
        ModelFiles::effective(tc.spec.model_files.as_ref().or(from_template.as_ref()))
    }

    /// Template caches in `namespace` (not being deleted) whose template needs `source_uri`, asking for `files`
    /// of it (`None`: whatever files): the users of the model caches of that source (one the operator made is
    /// collected without any).
    pub(crate) fn template_caches_needing(
        &self,
        namespace: &str,
        source_uri: &str,
        files: Option<&ModelFiles>,
    ) -> Vec<Arc<AIMTemplateCache>> {
        let needs = |tc: &AIMTemplateCache| {
            super::reads::unrecorded(|| {
                let sources = self
                    .template(namespace, &tc.spec.template_ref)
                    .is_some_and(|t| t.status().model_sources.iter().any(|s| s.source_uri == source_uri));
                sources && files.is_none_or(|f| ModelFiles::effective(Some(f)) == self.files_of_template_cache(tc))
            })
        };
        let caches = self.list(|tc: &AIMTemplateCache| {
            in_namespace(tc, namespace) && tc.metadata.deletion_timestamp.is_none() && needs(tc)
        });
        // What the answer depends on: these caches, and their templates (whose sources may change).
        for tc in &caches {
            self.template(namespace, &tc.spec.template_ref);
        }
        caches
    }

    /// Services in `namespace` caching a template that needs `source_uri` (they show its download's progress).
    pub(crate) fn services_caching_source(&self, namespace: &str, source_uri: &str) -> Vec<Arc<AIMService>> {
        let templates: Vec<String> = self
            .template_caches_needing(namespace, source_uri, None)
            .iter()
            .map(|tc| tc.spec.template_ref.clone())
            .collect();
        self.list(|s: &AIMService| {
            in_namespace(s, namespace)
                && s.spec.cache_model
                && resolved(s).is_some_and(|(n, _, _)| templates.iter().any(|t| t == n))
        })
    }

    /// Model caches of `source_uri` in `namespace` holding `files` of it, oldest first (with duplicates, the
    /// oldest is the real one), then by name.
    pub(crate) fn model_caches_holding(
        &self,
        namespace: &str,
        source_uri: &str,
        files: &ModelFiles,
    ) -> Vec<Arc<ModelCache>> {
        let files = ModelFiles::effective(Some(files));
        let mut caches = self.model_caches_of_source(namespace, source_uri);
        caches.retain(|m| ModelFiles::effective(m.spec.model_files.as_ref()) == files);
        caches
    }

    /// Model caches of `source_uri` in `namespace`, whatever files they hold, oldest first, then by name.
    pub(crate) fn model_caches_of_source(&self, namespace: &str, source_uri: &str) -> Vec<Arc<ModelCache>> {
        let mut caches = self.list(|m: &ModelCache| in_namespace(m, namespace) && m.spec.source_uri == source_uri);
        caches.sort_by(|a, b| {
            (&a.metadata.creation_timestamp, &a.metadata.name).cmp(&(&b.metadata.creation_timestamp, &b.metadata.name))
        });
        caches
    }

    /// The model caches holding the sources of the template `template_ref` resolves to from `namespace`.
    pub(crate) fn model_caches_of_template(&self, namespace: &str, template_ref: &str) -> Vec<Arc<ModelCache>> {
        let Some(template) = self.template(namespace, template_ref) else {
            return vec![];
        };
        template
            .status()
            .model_sources
            .iter()
            .flat_map(|s| self.model_caches_of_source(namespace, &s.source_uri))
            .collect()
    }

    /// Model caches matching `keep`.
    pub(crate) fn model_caches_where(&self, keep: impl Fn(&ModelCache) -> bool) -> Vec<Arc<ModelCache>> {
        self.list(keep)
    }

    // --- configuration ---

    /// Cluster configs whose routing names Gateway `name` in `namespace`.
    pub(crate) fn configs_naming_gateway(&self, namespace: &str, name: &str) -> Vec<Arc<AIMClusterConfig>> {
        self.list(|c: &AIMClusterConfig| {
            c.spec
                .routing
                .as_ref()
                .and_then(|r| r.gateway.as_ref())
                .is_some_and(|g| g.name == name && g.namespace == namespace)
        })
    }

    // --- workloads ---

    /// Jobs the operator made for `component`.
    pub(crate) fn jobs_of(&self, component: Component) -> Vec<Arc<Job>> {
        self.list(|j: &Job| Component::of(j.labels()) == Some(component))
    }

    /// The pods of InferenceService `isvc` in `namespace` (KServe labels them), by name.
    pub(crate) fn pods_of_inference_service(&self, namespace: &str, isvc: &str) -> Vec<Arc<Pod>> {
        // By the secondary key: a starting service asks on every reconcile.
        self.pods_by_isvc
            .names(namespace, isvc)
            .iter()
            .filter_map(|name| self.get::<Pod>(Some(namespace), name))
            .collect()
    }

    /// The pods of Job `job` in `namespace`, newest first.
    pub(crate) fn pods_of_job(&self, namespace: &str, job: &str) -> Vec<Arc<Pod>> {
        let mut pods = self.list(|p: &Pod| {
            in_namespace(p, namespace)
                && p.labels().get("batch.kubernetes.io/job-name").map(String::as_str) == Some(job)
        });
        pods.sort_by(|a, b| b.metadata.creation_timestamp.cmp(&a.metadata.creation_timestamp));
        pods
    }

    /// Warning Events about claim `name` in `namespace`, latest first.
    pub(crate) fn claim_warnings(&self, namespace: &str, name: &str) -> Vec<Arc<CoreEvent>> {
        let mut events = self.list(|e: &CoreEvent| {
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
}
