//! The controllers, one folder per kind, each reconciling as observe (a snapshot from the index) → plan (a pure
//! function) → apply (only differences) → status (only when changed); [`kit`] is the machinery they share and
//! [`wake`] decides which reconciles a change to the cluster calls for.
//!
//! [`Operator::run`] starts one watch per kind (the index), waits until every kind is listed, then runs every
//! controller from its queue until shutdown. At steady state the API server sees the watches and nothing else.

pub mod cluster_config;
pub mod image;
pub mod kit;
pub mod model_cache;
pub mod service;
pub mod template;
pub mod template_cache;
pub mod wake;

pub use kit::metrics::ReconcileMetrics;
pub use kit::{Context, Error, OperatorConfig};

use crate::api::{
    AIMClusterConfig, AIMClusterServiceTemplate, AIMImage, AIMService, AIMServiceTemplate, AIMTemplateCache,
    CLUSTER_CONFIG_NAME, ModelCache,
};
use crate::index::{Index, WatchHealth, Writers};
use crate::policy::{PolicyEngine, ReloadEvent};
use futures::FutureExt;
use kit::runner::{self, Queue};
use kube::runtime::reflector::ObjectRef;
use std::future::Future;
use std::sync::Arc;
use template::slots::DiscoverySlots;
use tokio::sync::mpsc::UnboundedReceiver;
use wake::Queues;

struct Receivers {
    images: UnboundedReceiver<ObjectRef<AIMImage>>,
    configs: UnboundedReceiver<ObjectRef<AIMClusterConfig>>,
    cluster_templates: UnboundedReceiver<ObjectRef<AIMClusterServiceTemplate>>,
    templates: UnboundedReceiver<ObjectRef<AIMServiceTemplate>>,
    template_caches: UnboundedReceiver<ObjectRef<AIMTemplateCache>>,
    model_caches: UnboundedReceiver<ObjectRef<ModelCache>>,
    services: UnboundedReceiver<ObjectRef<AIMService>>,
}

/// The operator's controllers and the index they read, ready to run.
pub struct Operator {
    ctx: Arc<Context>,
    writers: Writers,
    queues: Queues,
    receivers: Receivers,
}

impl Operator {
    /// Controllers with an empty index, writing through `client`; the index's watches report to `health` (the
    /// client should carry its [`crate::index::resumed::ResumedLayer`]).
    pub fn new(
        client: kube::Client,
        health: Arc<WatchHealth>,
        config: OperatorConfig,
        policy: Arc<PolicyEngine>,
        metrics: Arc<ReconcileMetrics>,
    ) -> Self {
        let (index, writers) = Index::with_health(health);
        let ctx = Context::new(client, index, config, policy, metrics);
        let (images, images_rx) = Queue::new();
        let (configs, configs_rx) = Queue::new();
        let (cluster_templates, cluster_templates_rx) = Queue::new();
        let (templates, templates_rx) = Queue::new();
        let (template_caches, template_caches_rx) = Queue::new();
        let (model_caches, model_caches_rx) = Queue::new();
        let (services, services_rx) = Queue::new();
        Operator {
            ctx,
            writers,
            queues: Queues {
                images,
                configs,
                cluster_templates,
                templates,
                template_caches,
                model_caches,
                services,
            },
            receivers: Receivers {
                images: images_rx,
                configs: configs_rx,
                cluster_templates: cluster_templates_rx,
                templates: templates_rx,
                template_caches: template_caches_rx,
                model_caches: model_caches_rx,
                services: services_rx,
            },
        }
    }

    /// The context the controllers share (its index, metrics and settings).
    pub fn context(&self) -> Arc<Context> {
        self.ctx.clone()
    }

    /// Runs the watches and every controller until `shutdown` resolves; running reconciles finish first.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) {
        let Operator {
            ctx,
            writers,
            queues,
            receivers: r,
        } = self;
        let index = ctx.index.clone();
        let watches = crate::index::start(&ctx.client, &index, writers, Arc::new(queues.clone()));
        let replugged = tokio::spawn(redecide_on_swap(ctx.policy.clone(), index.clone(), queues));
        let shutdown = shutdown.shared();
        tokio::select! {
            _ = index.health.wait_synced() => {}
            _ = shutdown.clone() => {
                watches.iter().for_each(|w| w.abort());
                replugged.abort();
                return;
            }
        }
        tracing::info!("index listed every kind; controllers start");
        let slots = Arc::new(DiscoverySlots::default());
        let (s1, s2) = (slots.clone(), slots);
        tokio::join!(
            runner::run(
                "aimimage",
                index.images.clone(),
                r.images,
                image::reconcile,
                ctx.clone(),
                shutdown.clone()
            ),
            runner::run(
                "aimclusterconfig",
                index.configs.clone(),
                r.configs,
                cluster_config::reconcile,
                ctx.clone(),
                shutdown.clone()
            ),
            runner::run(
                AIMClusterServiceTemplate::CONTROLLER_NAME,
                index.cluster_templates.clone(),
                r.cluster_templates,
                move |obj, ctx| template::reconcile::<AIMClusterServiceTemplate>(obj, ctx, s1.clone()),
                ctx.clone(),
                shutdown.clone()
            ),
            runner::run(
                AIMServiceTemplate::CONTROLLER_NAME,
                index.templates.clone(),
                r.templates,
                move |obj, ctx| template::reconcile::<AIMServiceTemplate>(obj, ctx, s2.clone()),
                ctx.clone(),
                shutdown.clone()
            ),
            runner::run(
                "aimtemplatecache",
                index.template_caches.clone(),
                r.template_caches,
                template_cache::reconcile,
                ctx.clone(),
                shutdown.clone()
            ),
            runner::run(
                "modelcache",
                index.model_caches.clone(),
                r.model_caches,
                model_cache::reconcile,
                ctx.clone(),
                shutdown.clone()
            ),
            runner::run(
                "aimservice",
                index.services.clone(),
                r.services,
                service::reconcile,
                ctx.clone(),
                shutdown.clone()
            ),
        );
        watches.iter().for_each(|w| w.abort());
        replugged.abort();
    }
}

/// The controller name of a template kind.
trait ControllerName {
    const CONTROLLER_NAME: &'static str;
}

impl<T: template::TemplateKind> ControllerName for T {
    const CONTROLLER_NAME: &'static str = T::CONTROLLER;
}

/// When a plugin is swapped in (or the built-in one is back), the services whose decision failed or found
/// nothing are decided again at once; successful decisions stay as they are. Every reload outcome, refusals
/// included, updates the plugin list of the config in use.
async fn redecide_on_swap(policy: Arc<PolicyEngine>, index: Arc<Index>, queues: Queues) {
    let mut events = policy.subscribe();
    loop {
        match events.recv().await {
            Ok(ReloadEvent::Loaded { .. } | ReloadEvent::Reverted { .. }) => {
                for svc in index.services_where(wake::needs_decision) {
                    queues.services.wake(ObjectRef::from_obj(svc.as_ref()));
                }
                queues.configs.wake(ObjectRef::new(CLUSTER_CONFIG_NAME));
            }
            // The config in use lists the refusal and records its Event.
            Ok(ReloadEvent::Refused { .. }) => queues.configs.wake(ObjectRef::new(CLUSTER_CONFIG_NAME)),
            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
            Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
        }
    }
}
