//! The controllers, one folder per kind, each reconciling as observe (a snapshot from the index) → plan (a pure
//! function) → apply (only differences) → status (only when changed); [`kit`] is the machinery they share and
//! [`wake`] decides which reconciles a change to the cluster calls for.
//!
//! [`Operator::run`] starts one watch per kind (the index), waits until every kind is listed, then runs every
//! controller from its queue until shutdown. At steady state the API server sees the watches and nothing else.

pub mod cluster_config;
pub mod fleet;
pub mod image;
pub mod kit;
pub mod model_cache;
pub mod service;
pub mod template;
pub mod template_cache;
pub mod wake;

pub use kit::context::CaBundle;
pub use kit::metrics::ReconcileMetrics;
pub use kit::{Context, OperatorConfig};

use crate::api::{AIMClusterServiceTemplate, AIMServiceTemplate, CLUSTER_CONFIG_NAME};
use crate::index::{Index, WatchHealth, Writers};
use crate::policy::{PolicyEngine, ReloadEvent};
use futures::FutureExt;
use kit::runner;
use kube::runtime::reflector::ObjectRef;
use std::future::Future;
use std::sync::Arc;
use template::TemplateKind;
use wake::{Queues, Receivers};

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
        let (queues, receivers) = Queues::new();
        Operator {
            ctx,
            writers,
            queues,
            receivers,
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
        let watches = index.start(&ctx.client, writers, Arc::new(queues.clone()));
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
        let fleet = tokio::spawn(scan_the_fleet(ctx.clone()));
        let (c, stop) = (ctx, shutdown);
        // Every controller, one line each: its name, its kind's store and queue, its reconcile.
        let controllers = vec![
            runner::run(
                "aimimage",
                index.store(),
                r.images,
                image::reconcile,
                c.clone(),
                stop.clone(),
            )
            .boxed(),
            runner::run(
                "aimclusterconfig",
                index.store(),
                r.configs,
                cluster_config::reconcile,
                c.clone(),
                stop.clone(),
            )
            .boxed(),
            runner::run(
                AIMClusterServiceTemplate::CONTROLLER,
                index.store(),
                r.cluster_templates,
                template::reconcile::<AIMClusterServiceTemplate>,
                c.clone(),
                stop.clone(),
            )
            .boxed(),
            runner::run(
                AIMServiceTemplate::CONTROLLER,
                index.store(),
                r.templates,
                template::reconcile::<AIMServiceTemplate>,
                c.clone(),
                stop.clone(),
            )
            .boxed(),
            runner::run(
                "aimtemplatecache",
                index.store(),
                r.template_caches,
                template_cache::reconcile,
                c.clone(),
                stop.clone(),
            )
            .boxed(),
            runner::run(
                "modelcache",
                index.store(),
                r.model_caches,
                model_cache::reconcile,
                c.clone(),
                stop.clone(),
            )
            .boxed(),
            runner::run(
                "aimservice",
                index.store(),
                r.services,
                service::reconcile,
                c.clone(),
                stop.clone(),
            )
            .boxed(),
        ];
        let metrics = c.metrics.clone();
        futures::future::join_all(controllers).await;
        watches.iter().for_each(|w| w.abort());
        replugged.abort();
        fleet.abort();
        metrics.fleet.forget();
    }
}

/// Recomputes the fleet's metrics from the index every [`fleet::SCAN_EVERY`] while the controllers run.
async fn scan_the_fleet(ctx: Arc<Context>) {
    let mut every = tokio::time::interval(fleet::SCAN_EVERY);
    loop {
        every.tick().await;
        ctx.metrics.fleet.scan(&ctx.index, k8s_openapi::jiff::Timestamp::now());
    }
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
