//! Wake-ups from the catalog: an AIMImage reaches the images, templates and services of its model; a template
//! reaches the images naming it as default, the template caches warming it and the services that run it or
//! still look for one.

use super::{Queues, obj_ref, touches_self, wake_all};
use crate::api::{AIMClusterServiceTemplate, AIMImage, AIMServiceTemplate, TemplateScope, TemplateStatus};
use crate::index::{Change, Index, Template};
use kube::ResourceExt;
use std::collections::BTreeSet;

pub(super) fn image(q: &Queues, index: &Index, change: &Change<AIMImage>) {
    let models: BTreeSet<String> = change.both().map(|i| i.spec.model_id.clone()).collect();
    for model in &models {
        wake_all(&q.images, index.images_of_model(model));
        for template in index.templates_of_model_anywhere(model) {
            match template {
                Template::Namespace(t) => q.templates.wake(obj_ref(t.as_ref())),
                Template::Cluster(t) => q.cluster_templates.wake(obj_ref(t.as_ref())),
            }
        }
        wake_all(&q.services, index.services_of_model(model));
    }
    if touches_self(change) {
        q.images.wake(obj_ref(change.latest().as_ref()));
    }
}

pub(super) fn cluster_template(q: &Queues, index: &Index, change: &Change<AIMClusterServiceTemplate>) {
    let t = change.latest();
    let name = t.name_any();
    if touches_self(change) {
        q.cluster_templates.wake(obj_ref(t.as_ref()));
    }
    wake_all(&q.images, index.images_defaulting_to(&name));
    let caches = index.template_caches_referring(&name);
    // Its sources decide which model caches the template caches of it need (and so keep).
    for tc in &caches {
        model_caches_of_sources(
            q,
            index,
            &tc.namespace().unwrap_or_default(),
            change.both().map(|t| &t.status),
        );
    }
    wake_all(&q.template_caches, caches);
    let models: BTreeSet<String> = change.both().map(|t| t.spec.profile.model_id.clone()).collect();
    let models: Vec<&str> = models.iter().map(String::as_str).collect();
    wake_all(
        &q.services,
        index.services_on_template(&models, &name, TemplateScope::Cluster, None),
    );
}

pub(super) fn template(q: &Queues, index: &Index, change: &Change<AIMServiceTemplate>) {
    let t = change.latest();
    let (ns, name) = (t.namespace().unwrap_or_default(), t.name_any());
    if touches_self(change) {
        q.templates.wake(obj_ref(t.as_ref()));
    }
    wake_all(&q.template_caches, index.template_caches_of(&ns, &name));
    model_caches_of_sources(q, index, &ns, change.both().map(|t| &t.status));
    let models: BTreeSet<String> = change.both().map(|t| t.spec.profile.model_id.clone()).collect();
    let models: Vec<&str> = models.iter().map(String::as_str).collect();
    wake_all(
        &q.services,
        index.services_on_template(&models, &name, TemplateScope::Namespace, Some(&ns)),
    );
}

/// Wakes the model caches in `namespace` of the sources any of `statuses` lists: a template whose sources change
/// changes which model caches its template caches need.
fn model_caches_of_sources<'a>(
    q: &Queues,
    index: &Index,
    namespace: &str,
    statuses: impl Iterator<Item = &'a Option<TemplateStatus>>,
) {
    let sources: BTreeSet<&str> = statuses
        .flatten()
        .flat_map(|s| s.model_sources.iter().map(|m| m.source_uri.as_str()))
        .collect();
    for source in sources {
        wake_all(&q.model_caches, index.model_caches_of_source(namespace, source));
    }
}
