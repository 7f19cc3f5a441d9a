//! Wake-ups from caching: a template cache reaches the template that owns it (and the namespace template it names,
//! which shows it), the services caching its template
//! and (when it goes or changes template) the model caches it used; a model cache reaches a duplicate waiting for
//! it and the template caches that need its source; a claim, a provisioner's Warning about it, or a storage class
//! reaches the model caches they concern.

use super::{Queues, ns_of, obj_ref, owners_of, touches_self, wake_all};
use crate::api::{AIMTemplateCache, ModelCache};
use crate::controller::kit::conditions::{self, types};
use crate::index::{Change, Index};
use k8s_openapi::api::core::v1::Event as CoreEvent;
use k8s_openapi::api::storage::v1::StorageClass;
use kube::ResourceExt;
use kube::runtime::reflector::ObjectRef;
use std::collections::BTreeSet;

pub(super) fn template_cache(q: &Queues, index: &Index, change: &Change<AIMTemplateCache>) {
    let tc = change.latest();
    let ns = ns_of(tc.as_ref());
    if touches_self(change) {
        q.template_caches.wake(obj_ref(tc.as_ref()));
    }
    for owner in tc.owner_references().iter().filter(|o| o.kind == "AIMServiceTemplate") {
        q.templates.wake(ObjectRef::new(&owner.name).within(&ns));
    }
    let refs: BTreeSet<String> = change.both().map(|tc| tc.spec.template_ref.clone()).collect();
    // The namespace template it names shows where it stands, whoever made it: woken when that changes.
    let state =
        |tc: Option<&std::sync::Arc<AIMTemplateCache>>| tc.map(|t| t.status.as_ref().and_then(|s| s.head.status));
    let moved = state(change.old.as_ref()) != state(change.new.as_ref());
    for template in &refs {
        wake_all(&q.services, index.services_caching(&ns, template));
        if moved && index.namespace_template(&ns, template).is_some() {
            q.templates.wake(ObjectRef::new(template).within(&ns));
        }
    }
    // A cache going away (or changing template) may leave model caches without users.
    if change.new.is_none() || change.old.as_ref().map(|o| &o.spec) != change.new.as_ref().map(|n| &n.spec) {
        for template_ref in &refs {
            wake_all(&q.model_caches, index.model_caches_of_template(&ns, template_ref));
        }
    }
}

pub(super) fn model_cache(q: &Queues, index: &Index, change: &Change<ModelCache>) {
    let mc = change.latest();
    let ns = ns_of(mc.as_ref());
    if touches_self(change) {
        q.model_caches.wake(obj_ref(mc.as_ref()));
    }
    // Another cache of the same source may be a duplicate waiting for this one to go.
    wake_all(
        &q.model_caches,
        index
            .model_caches_of_source(&ns, &mc.spec.source_uri)
            .into_iter()
            .filter(|other| other.uid() != mc.uid()),
    );
    wake_all(
        &q.template_caches,
        index.template_caches_needing(&ns, &mc.spec.source_uri, None),
    );
    // The services waiting for it show its progress.
    wake_all(&q.services, index.services_caching_source(&ns, &mc.spec.source_uri));
}

pub(super) fn claim_warning(q: &Queues, index: &Index, change: &Change<CoreEvent>) {
    let event = change.latest();
    let (Some(ns), Some(name)) = (&event.involved_object.namespace, &event.involved_object.name) else {
        return;
    };
    if let Some(claim) = index.claim(ns, name) {
        owners_of(&q.model_caches, claim.as_ref());
    }
}

/// A storage class came, went or changed: the caches of that class, and those not Ready yet (they may have
/// waited for it).
pub(super) fn storage_class(q: &Queues, index: &Index, change: &Change<StorageClass>) {
    let name = change.latest().name_any();
    wake_all(
        &q.model_caches,
        index.model_caches_where(|m| {
            let status = m.status.as_ref();
            let conds = status.map(|s| s.head.conditions.as_slice()).unwrap_or_default();
            !conditions::is_true(conds, types::READY)
                || status.and_then(|s| s.storage_class_name.as_deref()) == Some(name.as_str())
        }),
    );
}
