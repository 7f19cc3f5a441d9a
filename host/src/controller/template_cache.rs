//! The `AIMTemplateCache` controller: resolves `spec.templateRef` (namespace template first, then the cluster
//! template of that name), ensures one `ModelCache` per model source, and reports `Resolved`, `CacheWarm`,
//! `Ready`, `Progressing`, `Failure` and `status.resolvedTemplateKind`.
//!
//! A `ModelCache` for a source is found by `spec.sourceUri` and shared: if one exists in the namespace it is
//! used (a user's own cache is used as it is, with its own credentials); otherwise one is created with this
//! cache's credentials. Every template cache that uses an operator-created `ModelCache` is one of its owners,
//! so the garbage collector removes it only when the last of them is gone.

use crate::api::{
    AIMClusterServiceTemplate, AIMServiceTemplate, AIMTemplateCache, AIMTemplateCacheStatus, ModelCache,
    ModelCacheSpec, ModelSource, ResourceState, TemplateKind, TemplateStatus,
};
use crate::controller::apply::owner_ref;
use crate::controller::conditions::{self, reasons, types};
use crate::controller::context::{Context, FIELD_MANAGER};
use crate::controller::error::{Error, kube_err};
use crate::controller::labels;
use crate::controller::names::{hashed_name, short_hash};
use crate::controller::sharing;
use crate::controller::status::{self, WithConditions};
use futures::StreamExt;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{Api, ListParams, ObjectMeta, Patch, PatchParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Resource, ResourceExt};
use std::sync::Arc;
use std::time::Duration;

impl WithConditions for AIMTemplateCacheStatus {
    fn conditions(&self) -> &[k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition] {
        &self.conditions
    }
}

/// The name the operator gives the `ModelCache` of a source: readable, unique per URI, a DNS label.
pub fn model_cache_name(source_uri: &str) -> String {
    hashed_name(source_uri, &short_hash(&[source_uri]), 63)
}

async fn resolve(ctx: &Context, namespace: &str, name: &str) -> Result<Option<(TemplateKind, TemplateStatus)>, Error> {
    let ns_api: Api<AIMServiceTemplate> = Api::namespaced(ctx.client.clone(), namespace);
    if let Some(t) = ns_api
        .get_opt(name)
        .await
        .map_err(kube_err(format!("read AIMServiceTemplate {name}")))?
    {
        return Ok(Some((TemplateKind::AIMServiceTemplate, t.status.unwrap_or_default())));
    }
    let cluster_api: Api<AIMClusterServiceTemplate> = Api::all(ctx.client.clone());
    Ok(cluster_api
        .get_opt(name)
        .await
        .map_err(kube_err(format!("read AIMClusterServiceTemplate {name}")))?
        .map(|t| (TemplateKind::AIMClusterServiceTemplate, t.status.unwrap_or_default())))
}

/// Finds or creates the `ModelCache` of `source`, and makes sure an operator-created one lists `owner`.
async fn ensure_model_cache(
    api: &Api<ModelCache>,
    existing: &[ModelCache],
    tc: &AIMTemplateCache,
    owner: &OwnerReference,
    source: &ModelSource,
) -> Result<ModelCache, Error> {
    let mut same_source: Vec<&ModelCache> = existing
        .iter()
        .filter(|m| m.spec.source_uri == source.source_uri)
        .collect();
    // With duplicates, the oldest is the real one (the others report themselves as duplicates).
    same_source.sort_by(|a, b| {
        (&a.metadata.creation_timestamp, &a.metadata.name).cmp(&(&b.metadata.creation_timestamp, &b.metadata.name))
    });
    if let Some(found) = same_source.first() {
        // A user's own cache is used as it is; one the operator made is shared by every cache that uses it.
        if labels::is_managed(found.labels()) {
            sharing::join(api, *found, owner).await?;
        }
        return Ok((*found).clone());
    }
    let desired = ModelCache {
        metadata: ObjectMeta {
            name: Some(model_cache_name(&source.source_uri)),
            namespace: tc.namespace(),
            labels: Some(labels::managed("model-cache")),
            owner_references: Some(vec![owner.clone()]),
            ..Default::default()
        },
        spec: ModelCacheSpec {
            source_uri: source.source_uri.clone(),
            storage_class_name: tc.spec.storage_class_name.clone(),
            size: source.size.clone(),
            credentials: tc.spec.credentials.clone(),
        },
        status: None,
    };
    api.patch(
        &desired.name_any(),
        &PatchParams::apply(FIELD_MANAGER),
        &Patch::Apply(&desired),
    )
    .await
    .map_err(kube_err(format!("create ModelCache {}", desired.name_any())))
}

/// One reconcile of a template cache.
#[tracing::instrument(skip_all, fields(name = %tc.name_any(), namespace = tc.namespace().unwrap_or_default()))]
pub async fn reconcile(tc: Arc<AIMTemplateCache>, ctx: Arc<Context>) -> Result<Action, Error> {
    let namespace = tc
        .namespace()
        .ok_or_else(|| Error::Invariant("AIMTemplateCache without namespace".into()))?;
    let generation = tc.meta().generation;
    let current = tc.status.clone().unwrap_or_default();
    let mut next = AIMTemplateCacheStatus {
        observed_generation: generation,
        ..current.clone()
    };
    let conds = &mut next.conditions;
    let template_ref = &tc.spec.template_ref;

    let Some((kind, template_status)) = resolve(&ctx, &namespace, template_ref).await? else {
        let message = format!(
            "no AIMServiceTemplate '{template_ref}' in namespace {namespace} and no AIMClusterServiceTemplate '{template_ref}'"
        );
        next.resolved_template_kind = None;
        conditions::set(
            conds,
            types::RESOLVED,
            false,
            reasons::TEMPLATE_NOT_FOUND,
            message.clone(),
            generation,
        );
        conditions::set(
            conds,
            types::CACHE_WARM,
            false,
            reasons::TEMPLATE_NOT_FOUND,
            "nothing to warm until the template exists",
            generation,
        );
        conditions::set(
            conds,
            types::FAILURE,
            true,
            reasons::TEMPLATE_NOT_FOUND,
            message.clone(),
            generation,
        );
        conditions::set(
            conds,
            types::READY,
            false,
            reasons::TEMPLATE_NOT_FOUND,
            message,
            generation,
        );
        conditions::set(conds, types::PROGRESSING, false, reasons::IDLE, "", generation);
        next.status = Some(ResourceState::Failed);
        status::write(
            &ctx,
            &Api::namespaced(ctx.client.clone(), &namespace),
            tc.as_ref(),
            next,
        )
        .await?;
        return Ok(Action::requeue(Duration::from_secs(60)));
    };
    next.resolved_template_kind = Some(kind);
    let kind_word = match kind {
        TemplateKind::AIMServiceTemplate => "namespace template",
        TemplateKind::AIMClusterServiceTemplate => "cluster template",
    };
    conditions::set(
        conds,
        types::RESOLVED,
        true,
        reasons::RESOLVED,
        format!("{kind_word} {template_ref}"),
        generation,
    );

    let (warm, failed, reason, message) = if template_status.model_sources.is_empty() {
        (
            false,
            false,
            reasons::AWAITING_DISCOVERY,
            format!("waiting for the {kind_word}'s model sources to be discovered"),
        )
    } else {
        let api: Api<ModelCache> = Api::namespaced(ctx.client.clone(), &namespace);
        let existing = api
            .list(&ListParams::default())
            .await
            .map_err(kube_err("list ModelCaches"))?
            .items;
        let owner = owner_ref(tc.as_ref(), false)?;
        let mut caches = Vec::new();
        for source in &template_status.model_sources {
            caches.push(ensure_model_cache(&api, &existing, &tc, &owner, source).await?);
        }
        summarize(&caches)
    };
    conditions::set(conds, types::CACHE_WARM, warm, reason, message.clone(), generation);
    if failed {
        conditions::set(
            conds,
            types::FAILURE,
            true,
            reasons::WARM_FAILED,
            message.clone(),
            generation,
        );
    } else {
        conditions::set(conds, types::FAILURE, false, reasons::NO_FAILURE, "", generation);
    }
    conditions::set(
        conds,
        types::READY,
        warm,
        if warm { reasons::READY } else { reason },
        message.clone(),
        generation,
    );
    conditions::set(
        conds,
        types::PROGRESSING,
        !warm && !failed,
        if warm || failed { reasons::IDLE } else { reason },
        if warm || failed { String::new() } else { message },
        generation,
    );
    next.status = Some(if warm {
        ResourceState::Available
    } else if failed {
        ResourceState::Failed
    } else {
        ResourceState::Progressing
    });
    status::write(
        &ctx,
        &Api::namespaced(ctx.client.clone(), &namespace),
        tc.as_ref(),
        next,
    )
    .await?;
    Ok(Action::await_change())
}

/// Warm when every cache is Available; failed when one failed; otherwise warming, naming what is pending.
fn summarize(caches: &[ModelCache]) -> (bool, bool, &'static str, String) {
    let state = |m: &ModelCache| m.status.as_ref().and_then(|s| s.status).unwrap_or_default();
    let ready = caches.iter().filter(|m| state(m) == ResourceState::Available).count();
    if let Some(failed) = caches.iter().find(|m| state(m) == ResourceState::Failed) {
        let why = failed
            .status
            .as_ref()
            .and_then(|s| {
                conditions::get(&s.conditions, types::FAILURE).map(|c| format!("{}: {}", c.reason, c.message))
            })
            .unwrap_or_default();
        return (
            false,
            true,
            reasons::WARM_FAILED,
            format!("ModelCache {} failed ({why})", failed.name_any()),
        );
    }
    if ready == caches.len() {
        return (
            true,
            false,
            reasons::WARM,
            format!("all {ready} model caches are ready"),
        );
    }
    let pending: Vec<String> = caches
        .iter()
        .filter(|m| state(m) != ResourceState::Available)
        .map(|m| {
            let percent = m.status.as_ref().and_then(|s| s.download.as_ref()?.percent);
            match percent {
                Some(p) => format!("{} ({p}%)", m.name_any()),
                None => m.name_any(),
            }
        })
        .collect();
    (
        false,
        false,
        reasons::WARMING,
        format!(
            "{ready}/{} model caches ready; waiting for {}",
            caches.len(),
            pending.join(", ")
        ),
    )
}

fn error_policy(_tc: Arc<AIMTemplateCache>, error: &Error, _ctx: Arc<Context>) -> Action {
    tracing::warn!(%error, "template cache reconcile failed; retrying");
    Action::requeue(Duration::from_secs(5))
}

/// Runs the controller until `shutdown`.
pub async fn run(ctx: Arc<Context>, shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static) {
    let client = ctx.client.clone();
    let controller = Controller::new(Api::<AIMTemplateCache>::all(client.clone()), watcher::Config::default());
    let store = controller.store();
    let (by_ns, by_name, by_cluster_name) = (store.clone(), store.clone(), store);
    controller
        // Every cache of the namespace may depend on a ModelCache, owned or not (a user's own).
        .watches(
            Api::<ModelCache>::all(client.clone()),
            watcher::Config::default(),
            move |mc| {
                let ns = mc.namespace();
                by_ns
                    .state()
                    .into_iter()
                    .filter(move |tc| tc.namespace() == ns)
                    .map(|tc| ObjectRef::from_obj(tc.as_ref()))
                    .collect::<Vec<_>>()
            },
        )
        .watches(
            Api::<AIMServiceTemplate>::all(client.clone()),
            watcher::Config::default(),
            move |t| {
                let (ns, name) = (t.namespace(), t.name_any());
                by_name
                    .state()
                    .into_iter()
                    .filter(move |tc| tc.namespace() == ns && tc.spec.template_ref == name)
                    .map(|tc| ObjectRef::from_obj(tc.as_ref()))
                    .collect::<Vec<_>>()
            },
        )
        .watches(
            Api::<AIMClusterServiceTemplate>::all(client),
            watcher::Config::default(),
            move |t| {
                let name = t.name_any();
                by_cluster_name
                    .state()
                    .into_iter()
                    .filter(move |tc| tc.spec.template_ref == name)
                    .map(|tc| ObjectRef::from_obj(tc.as_ref()))
                    .collect::<Vec<_>>()
            },
        )
        .graceful_shutdown_on(shutdown)
        .run(
            crate::controller::metrics::metered("aimtemplatecache", reconcile),
            error_policy,
            ctx,
        )
        .for_each(|_| async {})
        .await;
}
