//! `aim-operator run`: the operator process. It loads the policy plugins (and watches the plugin directory),
//! serves `/healthz`, `/readyz` and `/metrics`, takes the leader Lease, runs every controller while it holds
//! it, and shuts down gracefully on SIGTERM or Ctrl-C (or exits when it loses the lease, so a restarted pod
//! competes again from a clean state).

pub mod fence;
pub mod http;
pub mod leader;

use crate::controller::{Operator, OperatorConfig, ReconcileMetrics};
use crate::index::WatchHealth;
use crate::index::resumed::ResumedLayer;
use crate::policy::artifact_cache::ArtifactCache;
use crate::policy::watch::watch;
use crate::policy::{PolicyEngine, PolicyEngineConfig};
use anyhow::Context as _;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// Settings of `aim-operator run`.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// Controller settings.
    pub operator: OperatorConfig,
    /// Directory of replacement plugins (`matcher.wasm`, `merger.wasm`, `router.wasm`), watched.
    pub plugin_dir: Option<PathBuf>,
    /// Where compiled plugins are cached.
    pub plugin_cache_dir: Option<PathBuf>,
    /// Where `/metrics`, `/healthz` and `/readyz` listen.
    pub http_addr: SocketAddr,
    /// Run only while holding the leader Lease.
    pub leader_elect: bool,
    /// This replica's identity in the Lease.
    pub identity: String,
    /// The operator's own pod (in its namespace), whose image the download Jobs run when no image was given.
    pub image_from_pod: Option<String>,
    /// The policy plugins' sandbox limits.
    pub plugin_limits: crate::policy::SandboxLimits,
}

/// Runs the operator until a shutdown signal, or until leadership is lost (an error).
pub async fn run(config: RunConfig) -> anyhow::Result<()> {
    let fence = if config.leader_elect {
        fence::Fence::closed()
    } else {
        fence::Fence::always_open()
    };
    let kube_config = kube::Config::infer()
        .await
        .context("find the Kubernetes API (kubeconfig or in-cluster)")?;
    let watch_health = WatchHealth::of_index();
    let client = kube::client::ClientBuilder::try_from(kube_config)
        .context("connect to the Kubernetes API")?
        .with_layer(&fence::FenceLayer::new(fence.clone(), &config.identity))
        .with_layer(&ResumedLayer::new(watch_health.clone()))
        .build();
    let cache = config
        .plugin_cache_dir
        .clone()
        .map_or_else(ArtifactCache::disabled, ArtifactCache::in_dir);
    let policy = PolicyEngine::new(PolicyEngineConfig {
        cache,
        limits: config.plugin_limits,
        ..PolicyEngineConfig::default()
    })
    .context("load the built-in policy plugins")?;
    let reconcile_metrics = Arc::new(ReconcileMetrics::default());
    let leader_gauge = Gauge::<i64, std::sync::atomic::AtomicI64>::default();
    let mut registry = Registry::default();
    registry.register(
        "aim_leader",
        "Whether this replica holds the leader lease",
        leader_gauge.clone(),
    );
    reconcile_metrics.register(&mut registry);
    watch_health.register(&mut registry);
    policy.metrics().register(&mut registry);
    let health = Arc::new(http::Health {
        ready: Default::default(),
        leader: Default::default(),
        context: Default::default(),
        registry,
    });
    let listener = tokio::net::TcpListener::bind(config.http_addr)
        .await
        .with_context(|| format!("listen on {}", config.http_addr))?;
    tracing::info!(addr = %config.http_addr, "serving /healthz, /readyz and /metrics");
    let server = axum::serve(listener, http::router(health.clone()));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut http_stop = stop_rx.clone();
    let http = tokio::spawn(async move {
        let _ = server
            .with_graceful_shutdown(async move {
                let _ = http_stop.wait_for(|s| *s).await;
            })
            .await;
    });

    client
        .apiserver_version()
        .await
        .context("reach the Kubernetes API server")?;
    check_namespace(&client, &config.operator.namespace, config.leader_elect).await;
    let mut config = config;
    if let Some(pod) = &config.image_from_pod {
        match own_image(&client, &config.operator.namespace, pod).await {
            Some(image) => config.operator.download.image = image,
            None => tracing::warn!(pod, "cannot read this pod's image; download Jobs run the default image"),
        }
    }
    tracing::info!(image = %config.operator.download.image, "download and size-check Jobs run this image");
    let _watcher = match &config.plugin_dir {
        Some(dir) => Some(
            watch(policy.clone(), dir.clone(), Duration::from_secs(60))
                .await
                .with_context(|| format!("watch plugin directory {}", dir.display()))?,
        ),
        None => None,
    };
    health.ready.store(true, Ordering::Relaxed);

    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    let candidate = leader::Candidate::new(
        client.clone(),
        &config.operator.namespace,
        "aim-operator",
        &config.identity,
        fence.clone(),
    );
    if config.leader_elect {
        tracing::info!(identity = %config.identity, "waiting for the leader lease");
        tokio::select! {
            _ = candidate.acquire() => {}
            _ = &mut shutdown => { let _ = stop_tx.send(true); let _ = http.await; return Ok(()); }
        }
        tracing::info!(identity = %config.identity, "leading");
    }
    health.leader.store(true, Ordering::Relaxed);
    leader_gauge.set(1);
    let operator = Operator::new(client, watch_health, config.operator.clone(), policy, reconcile_metrics);
    let _ = health.context.set(operator.context());
    let mut controllers_stop = stop_rx.clone();
    let controllers = tokio::spawn(operator.run(async move {
        let _ = controllers_stop.wait_for(|s| *s).await;
    }));
    let lost = async {
        if config.leader_elect {
            candidate.hold().await
        } else {
            std::future::pending().await
        }
    };
    let result = tokio::select! {
        _ = &mut shutdown => { tracing::info!("shutting down"); Ok(()) }
        _ = lost => Err(anyhow::anyhow!("lost the leader lease; exiting so a fresh start competes for it again")),
    };
    health.leader.store(false, Ordering::Relaxed);
    leader_gauge.set(0);
    let _ = stop_tx.send(true);
    let _ = tokio::time::timeout(Duration::from_secs(20), controllers).await;
    if config.leader_elect && result.is_ok() {
        candidate.release().await;
    }
    let _ = http.await;
    result
}

/// The image of the operator's container in its own pod: the download Jobs run the same binary, so an overlay
/// or `kubectl set image` that changes the operator changes them too.
async fn own_image(client: &kube::Client, namespace: &str, pod: &str) -> Option<String> {
    let pods: kube::Api<k8s_openapi::api::core::v1::Pod> = kube::Api::namespaced(client.clone(), namespace);
    image_of(&pods.get(pod).await.ok()?)
}

/// The `operator` container's image, else the first container's.
pub fn image_of(pod: &k8s_openapi::api::core::v1::Pod) -> Option<String> {
    let containers = &pod.spec.as_ref()?.containers;
    containers
        .iter()
        .find(|c| c.name == "operator")
        .or(containers.first())?
        .image
        .clone()
}

/// Says at start-up, once, when the operator's own namespace is missing: discovery of cluster templates (and
/// the leader Lease) need it, and otherwise the admin would only find raw API errors later.
async fn check_namespace(client: &kube::Client, namespace: &str, leader_elect: bool) {
    let namespaces: kube::Api<k8s_openapi::api::core::v1::Namespace> = kube::Api::all(client.clone());
    match namespaces.get_opt(namespace).await {
        Ok(Some(_)) => {}
        Ok(None) => {
            let lease = if leader_elect {
                "; the leader Lease lives there too, so this operator cannot lead until it exists"
            } else {
                ""
            };
            tracing::error!(
                "the operator's namespace '{namespace}' does not exist: discovery Jobs of cluster templates run \
                 there and will fail (each template says so in its conditions){lease}. Create it (kubectl \
                 create namespace {namespace}) or start the operator with --namespace naming one that exists"
            );
        }
        Err(e) => tracing::warn!(%e, "could not check that the operator's namespace '{namespace}' exists"),
    }
}

async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
