//! The operator's HTTP endpoints: `/healthz` (alive), `/readyz` (started: plugins loaded, API reachable) and
//! `/metrics` (Prometheus text: reconciles per controller, policy calls, plugin reloads, leadership).

use crate::controller::Context;
use crate::policy::{PolicyEngine, PolicyKind};
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

/// What the endpoints report on.
#[derive(Default)]
pub struct Health {
    /// Set once startup finished.
    pub ready: AtomicBool,
    /// Whether this replica holds the lease.
    pub leader: AtomicBool,
    /// The controllers' context, once they run.
    pub context: OnceLock<Arc<Context>>,
    /// The policy engine.
    pub policy: OnceLock<Arc<PolicyEngine>>,
}

/// The router.
pub fn router(health: Arc<Health>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(health)
}

async fn readyz(State(health): State<Arc<Health>>) -> (StatusCode, &'static str) {
    if health.ready.load(Ordering::Relaxed) {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "starting")
    }
}

async fn metrics(State(health): State<Arc<Health>>) -> String {
    render(&health)
}

/// Prometheus text exposition of every counter.
pub fn render(health: &Health) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# HELP aim_leader Whether this replica holds the leader lease.\n# TYPE aim_leader gauge"
    );
    let _ = writeln!(out, "aim_leader {}", u8::from(health.leader.load(Ordering::Relaxed)));
    if let Some(ctx) = health.context.get() {
        let stats = ctx.metrics.snapshot();
        let _ = writeln!(
            out,
            "# HELP aim_reconcile_total Reconciles run.\n# TYPE aim_reconcile_total counter"
        );
        for (c, s) in &stats {
            let _ = writeln!(out, "aim_reconcile_total{{controller=\"{c}\"}} {}", s.runs);
        }
        let _ = writeln!(
            out,
            "# HELP aim_reconcile_errors_total Reconciles that failed.\n# TYPE aim_reconcile_errors_total counter"
        );
        for (c, s) in &stats {
            for (e, n) in &s.errors {
                let _ = writeln!(
                    out,
                    "aim_reconcile_errors_total{{controller=\"{c}\",error=\"{e}\"}} {n}"
                );
            }
        }
        let _ = writeln!(
            out,
            "# HELP aim_reconcile_duration_seconds Time spent reconciling.\n# TYPE aim_reconcile_duration_seconds summary"
        );
        for (c, s) in &stats {
            let _ = writeln!(
                out,
                "aim_reconcile_duration_seconds_sum{{controller=\"{c}\"}} {:.6}",
                s.duration.as_secs_f64()
            );
            let _ = writeln!(
                out,
                "aim_reconcile_duration_seconds_count{{controller=\"{c}\"}} {}",
                s.runs
            );
        }
    }
    if let Some(policy) = health.policy.get() {
        let m = policy.metrics();
        let load = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
        let series: [(&str, &str, &str); 5] = [
            ("aim_policy_calls_total", "counter", "Policy decisions asked for."),
            ("aim_policy_failures_total", "counter", "Policy decisions that failed."),
            (
                "aim_policy_call_duration_seconds_sum",
                "counter",
                "Time spent in policy decisions.",
            ),
            ("aim_policy_reloads_total", "counter", "Plugin reloads by result."),
            ("aim_policy_plugin_info", "gauge", "The plugin in use per policy."),
        ];
        for (name, kind, help) in series {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for (i, k) in PolicyKind::ALL.into_iter().enumerate() {
                match name {
                    "aim_policy_calls_total" => {
                        let _ = writeln!(out, "{name}{{policy=\"{k}\"}} {}", load(&m.calls[i]));
                    }
                    "aim_policy_failures_total" => {
                        let _ = writeln!(out, "{name}{{policy=\"{k}\"}} {}", load(&m.failures[i]));
                    }
                    "aim_policy_call_duration_seconds_sum" => {
                        let _ = writeln!(
                            out,
                            "{name}{{policy=\"{k}\"}} {:.6}",
                            load(&m.call_micros[i]) as f64 / 1e6
                        );
                    }
                    "aim_policy_reloads_total" => {
                        let _ = writeln!(
                            out,
                            "{name}{{policy=\"{k}\",result=\"loaded\"}} {}",
                            load(&m.reloads_loaded[i])
                        );
                        let _ = writeln!(
                            out,
                            "{name}{{policy=\"{k}\",result=\"refused\"}} {}",
                            load(&m.reloads_refused[i])
                        );
                    }
                    _ => {
                        let p = policy.current(k).provenance.clone();
                        let _ = writeln!(
                            out,
                            "{name}{{policy=\"{k}\",plugin=\"{}\",digest=\"{}\"}} 1",
                            p.plugin, p.digest
                        );
                    }
                }
            }
        }
    }
    out
}
