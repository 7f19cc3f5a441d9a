//! The controllers: each reconciles one kind as a pipeline of small steps and reports progress in status
//! conditions and Events. Everything they create is named deterministically, labelled, owned, and applied
//! with server-side apply only when it differs, so a quiet cluster sees no writes.

pub mod apply;
pub mod catalog;
pub mod conditions;
pub mod context;
pub mod error;
pub mod gpu;
pub mod labels;
pub mod metrics;
pub mod model_cache;
pub mod names;
pub mod pod_security;
pub mod service;
pub mod sharing;
pub mod status;
pub mod template;
pub mod template_cache;

pub use context::{Context, OperatorConfig};
pub use error::Error;

use std::sync::Arc;

/// Runs every controller until `shutdown` resolves.
pub async fn run(ctx: Arc<Context>, shutdown: impl std::future::Future<Output = ()> + Send + 'static) {
    let (tx, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = tx.send(true);
    });
    let signal = move || {
        let mut rx = rx.clone();
        async move {
            let _ = rx.wait_for(|stop| *stop).await;
        }
    };
    tokio::join!(
        template::run_namespaced(ctx.clone(), signal()),
        template::run_cluster(ctx.clone(), signal()),
        template_cache::run(ctx.clone(), signal()),
        model_cache::run(ctx.clone(), signal()),
        service::run(ctx.clone(), signal()),
        catalog::run(ctx.clone(), signal(), signal()),
    );
}
