//! The `AIMService` controller: turns a service into an endpoint.
//!
//! Pipeline per reconcile: resolve the template ([`resolve`]; the matcher and merger plugins decide where the
//! product says so) → cache ([`cache`], with `cacheModel`) → KServe InferenceService ([`build`], gated on a
//! ready template and, with caching, a warm cache) → HTTPRoute (when `AIMClusterConfig` names a gateway; the
//! router plugin picks the path) → status: `Resolved`, `CacheReady`, `RuntimeReady`, `RoutingReady`, `Ready`,
//! `Progressing`, `Failure`, and Pending / Starting / Running / Failed / Degraded.

pub mod build;
pub mod cache;
pub mod candidates;
pub mod derived;
pub mod resolve;
pub mod runtime;

use crate::api::{
    AIMClusterConfig, AIMClusterServiceTemplate, AIMImage, AIMService, AIMServiceStatus, AIMServiceTemplate,
    AIMTemplateCache, CLUSTER_CONFIG_NAME, ResolvedTemplate, ResourceState, ServiceState, TemplateScope,
};
use crate::controller::apply::owner_ref;
use crate::controller::conditions::{self, reasons, types};
use crate::controller::context::Context;
use crate::controller::error::{Error, kube_err};
use crate::controller::status::{self, WithConditions};
use crate::policy::bindings::{RoutingConfig, ServiceIdentity};
use cache::CacheState;
use candidates::TemplateRecord;
use futures::StreamExt;
use kube::api::Api;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use kube::{Resource, ResourceExt};
use resolve::Resolution;
use std::sync::Arc;
use std::time::Duration;

impl WithConditions for AIMServiceStatus {
    fn conditions(&self) -> &[k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition] {
        &self.conditions
    }
}

/// A condition's (status, reason, message).
type Cond = (bool, &'static str, String);

/// One reconcile of a service.
#[tracing::instrument(skip_all, fields(name = %svc.name_any(), namespace = svc.namespace().unwrap_or_default()))]
pub async fn reconcile(svc: Arc<AIMService>, ctx: Arc<Context>) -> Result<Action, Error> {
    let namespace = svc
        .namespace()
        .ok_or_else(|| Error::Invariant("AIMService without namespace".into()))?;
    let generation = svc.meta().generation;
    let current = svc.status.clone().unwrap_or_default();
    let mut next = AIMServiceStatus {
        observed_generation: generation,
        ..current.clone()
    };
    let api: Api<AIMService> = Api::namespaced(ctx.client.clone(), &namespace);

    let (template, image) = match resolve::resolve(&ctx, &svc).await? {
        Resolution::Failed {
            reason,
            message,
            decision,
        } => {
            next.resolved_template = None;
            next.decision = decision;
            let unresolved = (
                false,
                reasons::NOT_RESOLVED,
                "waiting for the template to be resolved".to_string(),
            );
            finish(
                &mut next,
                generation,
                (false, reason, message.clone()),
                unresolved.clone(),
                unresolved.clone(),
                unresolved,
                Some((reason, message)),
                &current,
            );
            status::write(&ctx, &api, svc.as_ref(), next).await?;
            return Ok(Action::requeue(Duration::from_secs(60)));
        }
        Resolution::Resolved {
            template,
            image,
            decision,
        } => {
            next.decision = decision;
            (template, image)
        }
    };
    if template.derived {
        let templates: Api<AIMServiceTemplate> = Api::namespaced(ctx.client.clone(), &namespace);
        if let Some(t) = templates
            .get_opt(&template.name)
            .await
            .map_err(kube_err("read the derived template"))?
        {
            crate::controller::sharing::join(&templates, &t, &owner_ref(svc.as_ref(), false)?).await?;
        }
    }
    derived::release_others(&ctx, &svc, template.derived.then_some(template.name.as_str())).await?;
    next.resolved_template = Some(ResolvedTemplate {
        name: template.name.clone(),
        scope: template.scope,
        derived: template.derived,
    });
    let resolved = (true, reasons::RESOLVED, describe(&template));

    let mut failure = None;
    let (cache_cond, mounts, cache_blocks) = if svc.spec.cache_model {
        match cache::ensure(&ctx, &svc, &template).await? {
            CacheState::Warm(mounts) => (
                (
                    true,
                    reasons::CACHE_READY,
                    format!("{} model caches are warm", mounts.len()),
                ),
                mounts,
                false,
            ),
            CacheState::Warming(m) => ((false, reasons::CACHE_WARMING, m), vec![], true),
            CacheState::Failed(m) => {
                failure = Some((reasons::CACHE_FAILED, m.clone()));
                ((false, reasons::CACHE_FAILED, m), vec![], true)
            }
        }
    } else {
        cache::release_others(&ctx, &svc, None).await?;
        (
            (
                true,
                reasons::NOT_REQUESTED,
                "caching not requested (spec.cacheModel is false)".to_string(),
            ),
            vec![],
            false,
        )
    };
    if svc.spec.cache_model {
        cache::release_others(&ctx, &svc, Some(&template.name)).await?;
    }

    let runtime = runtime_step(&ctx, &svc, &namespace, &template, &image, &mounts, cache_blocks).await?;
    next.inference_service = runtime.1.clone();
    let (routing, path) = routing_step(&ctx, &svc, &namespace).await?;
    next.route_path = path;
    // A rejected route or a failed router plugin is a failure; waiting for the gateway is not.
    if routing.1 == reasons::ROUTE_FAILED || routing.1 == resolve::reason::POLICY_FAILED {
        failure = failure.or(Some((routing.1, routing.2.clone())));
    }
    finish(
        &mut next, generation, resolved, cache_cond, runtime.0, routing, failure, &current,
    );
    status::write(&ctx, &api, svc.as_ref(), next).await?;
    Ok(Action::requeue(Duration::from_secs(300)))
}

fn describe(t: &TemplateRecord) -> String {
    let scope = match t.scope {
        TemplateScope::Namespace => "namespace",
        TemplateScope::Cluster => "cluster",
    };
    format!(
        "{scope} template {}{}",
        t.name,
        if t.derived { " (derived)" } else { "" }
    )
}

/// The InferenceService: created once the template is ready (and, with caching, the cache warm), then kept
/// as wanted. Returns its condition and its name.
async fn runtime_step(
    ctx: &Context,
    svc: &AIMService,
    namespace: &str,
    template: &TemplateRecord,
    image: &str,
    mounts: &[build::CacheMount],
    cache_blocks: bool,
) -> Result<(Cond, Option<String>), Error> {
    let api = runtime::api(&ctx.client, namespace, &build::isvc_resource());
    let name = build::isvc_name(svc);
    let existing = runtime::get(&api, &name).await?;
    if template.status.status != Some(ResourceState::Available) && existing.is_none() {
        let why = conditions::get(&template.status.conditions, types::READY)
            .map(|c| c.message.clone())
            .unwrap_or_default();
        return Ok((
            (
                false,
                reasons::WAITING_FOR_TEMPLATE,
                format!("waiting for template {} to be ready: {why}", template.name),
            ),
            None,
        ));
    }
    if cache_blocks && existing.is_none() {
        return Ok((
            (
                false,
                reasons::WAITING_FOR_CACHE,
                "the InferenceService starts once the model cache is warm".into(),
            ),
            None,
        ));
    }
    let inputs = build::RuntimeInputs {
        service: svc,
        owner: owner_ref(svc, true)?,
        image,
        template: &template.name,
        profile: &template.profile,
        mounts,
    };
    let isvc = if cache_blocks {
        existing.unwrap_or_default()
    } else {
        runtime::ensure(&api, &name, &build::inference_service(&inputs)).await?
    };
    let cond = match build::isvc_condition(&isvc, "Ready") {
        Some((s, _, _)) if s == "True" => (
            true,
            reasons::RUNTIME_READY,
            format!("InferenceService {name} is ready"),
        ),
        Some((_, reason, message)) => (
            false,
            reasons::RUNTIME_NOT_READY,
            format!("InferenceService {name} is not ready: {reason} {message}")
                .trim()
                .to_string(),
        ),
        None => (
            false,
            reasons::CREATING_RUNTIME,
            format!("waiting for KServe to report on InferenceService {name}"),
        ),
    };
    Ok((cond, Some(name)))
}

/// The HTTPRoute, when the cluster config names a gateway and routing is on.
async fn routing_step(ctx: &Context, svc: &AIMService, namespace: &str) -> Result<(Cond, Option<String>), Error> {
    let configs: Api<AIMClusterConfig> = Api::all(ctx.client.clone());
    let config = configs
        .get_opt(CLUSTER_CONFIG_NAME)
        .await
        .map_err(kube_err("read AIMClusterConfig default"))?;
    let routing = config.and_then(|c| c.spec.routing).filter(|r| r.auto_create_route);
    let api = runtime::api(&ctx.client, namespace, &build::route_resource());
    let name = build::isvc_name(svc);
    let Some(gateway) = routing.and_then(|r| r.gateway) else {
        runtime::remove_managed(&api, &name).await?;
        return Ok((
            (
                true,
                reasons::ROUTING_DISABLED,
                "no gateway is configured in AIMClusterConfig default".into(),
            ),
            None,
        ));
    };
    let identity = ServiceIdentity {
        namespace: namespace.to_string(),
        name: svc.name_any(),
        uid: svc.metadata.uid.clone().unwrap_or_default(),
        model_id: svc.spec.aim_model_id.clone(),
    };
    let config = RoutingConfig {
        gateway_namespace: gateway.namespace.clone(),
        gateway_name: gateway.name.clone(),
    };
    let (path, decided_by) = match ctx.policy.route_path(identity, config).await {
        Ok(decided) => (decided.value, decided.provenance.to_string()),
        Err(e) => return Ok(((false, resolve::reason::POLICY_FAILED, e.to_string()), None)),
    };
    let route = runtime::ensure(
        &api,
        &name,
        &build::http_route(svc, owner_ref(svc, true)?, &gateway, &path, &decided_by),
    )
    .await?;
    let cond = match build::route_accepted(&route, &gateway) {
        Some((s, _, _)) if s == "True" => (
            true,
            reasons::ROUTE_READY,
            format!("served at {path} on gateway {}/{}", gateway.namespace, gateway.name),
        ),
        Some((_, reason, message)) => (
            false,
            reasons::ROUTE_FAILED,
            format!(
                "gateway {}/{} did not accept route {name}: {reason}: {message}",
                gateway.namespace, gateway.name
            ),
        ),
        None => (
            false,
            reasons::CONFIGURING_ROUTE,
            format!(
                "waiting for gateway {}/{} to accept route {name}",
                gateway.namespace, gateway.name
            ),
        ),
    };
    Ok((cond, Some(path)))
}

/// Sets every condition and the overall state.
#[allow(clippy::too_many_arguments)]
fn finish(
    next: &mut AIMServiceStatus,
    generation: Option<i64>,
    resolved: Cond,
    cache: Cond,
    runtime: Cond,
    routing: Cond,
    failure: Option<(&'static str, String)>,
    current: &AIMServiceStatus,
) {
    let c = &mut next.conditions;
    for (type_, (ok, reason, message)) in [
        (types::RESOLVED, &resolved),
        (types::CACHE_READY, &cache),
        (types::RUNTIME_READY, &runtime),
        (types::ROUTING_READY, &routing),
    ] {
        conditions::set(c, type_, *ok, reason, message.clone(), generation);
    }
    let ready = resolved.0 && cache.0 && runtime.0 && routing.0;
    let blocker = [&resolved, &cache, &runtime, &routing]
        .into_iter()
        .find(|(ok, ..)| !ok)
        .cloned();
    match (&blocker, ready) {
        (_, true) => conditions::set(c, types::READY, true, reasons::READY, "serving", generation),
        (Some((_, reason, message)), _) => conditions::set(c, types::READY, false, reason, message.clone(), generation),
        (None, false) => {}
    }
    match &failure {
        Some((reason, message)) => conditions::set(c, types::FAILURE, true, reason, message.clone(), generation),
        None => conditions::set(c, types::FAILURE, false, reasons::NO_FAILURE, "", generation),
    }
    let progressing = !ready && failure.is_none();
    match (&blocker, progressing) {
        (Some((_, reason, message)), true) => {
            conditions::set(c, types::PROGRESSING, true, reason, message.clone(), generation)
        }
        _ => conditions::set(c, types::PROGRESSING, false, reasons::IDLE, "", generation),
    }
    let was_running = matches!(
        current.status,
        Some(ServiceState::Running) | Some(ServiceState::Degraded)
    );
    next.status = Some(if ready {
        ServiceState::Running
    } else if failure.is_some() && !resolved.0 {
        ServiceState::Failed
    } else if was_running && resolved.0 {
        ServiceState::Degraded
    } else if failure.is_some() {
        ServiceState::Failed
    } else if resolved.0 {
        ServiceState::Starting
    } else {
        ServiceState::Pending
    });
}

fn error_policy(_svc: Arc<AIMService>, error: &Error, _ctx: Arc<Context>) -> Action {
    tracing::warn!(%error, "service reconcile failed; retrying");
    Action::requeue(Duration::from_secs(5))
}

fn all(store: &Store<AIMService>) -> Vec<ObjectRef<AIMService>> {
    store
        .state()
        .into_iter()
        .map(|s| ObjectRef::from_obj(s.as_ref()))
        .collect()
}

/// Runs the controller until `shutdown`.
pub async fn run(ctx: Arc<Context>, shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static) {
    let client = ctx.client.clone();
    let controller = Controller::new(Api::<AIMService>::all(client.clone()), watcher::Config::default());
    let store = controller.store();
    let (s1, s2, s3, s4, s5) = (store.clone(), store.clone(), store.clone(), store.clone(), store);
    let labelled =
        |c: &str| watcher::Config::default().labels(&format!("{}={c}", crate::controller::labels::COMPONENT));
    controller
        .owns_with(
            Api::<kube::api::DynamicObject>::all_with(client.clone(), &build::isvc_resource()),
            build::isvc_resource(),
            labelled("runtime"),
        )
        .owns_with(
            Api::<kube::api::DynamicObject>::all_with(client.clone(), &build::route_resource()),
            build::route_resource(),
            labelled("routing"),
        )
        .watches(
            Api::<AIMServiceTemplate>::all(client.clone()),
            watcher::Config::default(),
            move |t| {
                let (ns, model) = (t.namespace(), t.spec.profile.model_id.clone());
                s1.state()
                    .into_iter()
                    .filter(|s| s.namespace() == ns && s.spec.aim_model_id == model)
                    .map(|s| ObjectRef::from_obj(s.as_ref()))
                    .collect::<Vec<_>>()
            },
        )
        .watches(
            Api::<AIMClusterServiceTemplate>::all(client.clone()),
            watcher::Config::default(),
            move |t| {
                let model = t.spec.profile.model_id.clone();
                s2.state()
                    .into_iter()
                    .filter(|s| s.spec.aim_model_id == model)
                    .map(|s| ObjectRef::from_obj(s.as_ref()))
                    .collect::<Vec<_>>()
            },
        )
        .watches(
            Api::<AIMTemplateCache>::all(client.clone()),
            watcher::Config::default(),
            move |tc| {
                let ns = tc.namespace();
                s3.state()
                    .into_iter()
                    .filter(|s| s.namespace() == ns && s.spec.cache_model)
                    .map(|s| ObjectRef::from_obj(s.as_ref()))
                    .collect::<Vec<_>>()
            },
        )
        .watches(
            Api::<AIMImage>::all(client.clone()),
            watcher::Config::default(),
            move |image| {
                let model = image.spec.model_id.clone();
                s4.state()
                    .into_iter()
                    .filter(|s| s.spec.aim_model_id == model)
                    .map(|s| ObjectRef::from_obj(s.as_ref()))
                    .collect::<Vec<_>>()
            },
        )
        .watches(
            Api::<AIMClusterConfig>::all(client),
            watcher::Config::default(),
            move |_| all(&s5),
        )
        .graceful_shutdown_on(shutdown)
        .run(
            crate::controller::metrics::metered("aimservice", reconcile),
            error_policy,
            ctx,
        )
        .for_each(|_| async {})
        .await;
}
