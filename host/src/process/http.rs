//! The operator's HTTP endpoints: `/healthz` (alive), `/readyz` (started: plugins loaded; while leading, every
//! watch of the index listed and connected) and `/metrics` (Prometheus text from one registry: reconciles,
//! writes, policy calls, memo hits, plugin reloads, leadership).

use crate::controller::Context;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::get;
use prometheus_client::registry::Registry;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

/// What the endpoints report on.
pub struct Health {
    /// Set once startup finished.
    pub ready: AtomicBool,
    /// Whether this replica holds the lease.
    pub leader: AtomicBool,
    /// The controllers' context, once they run.
    pub context: OnceLock<Arc<Context>>,
    /// Every metric.
    pub registry: Registry,
}

/// The router.
pub fn router(health: Arc<Health>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(health)
}

async fn readyz(State(health): State<Arc<Health>>) -> (StatusCode, String) {
    if !health.ready.load(Ordering::Relaxed) {
        return (StatusCode::SERVICE_UNAVAILABLE, "starting".into());
    }
    if health.leader.load(Ordering::Relaxed)
        && let Some(ctx) = health.context.get()
        && !ctx.index.health.is_ready()
    {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {}", ctx.index.health.problems().join("; ")),
        );
    }
    (StatusCode::OK, "ready".into())
}

async fn metrics(State(health): State<Arc<Health>>) -> impl IntoResponse {
    let mut body = String::new();
    let _ = prometheus_client::encoding::text::encode(&mut body, &health.registry);
    (
        [(
            CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        body,
    )
}
