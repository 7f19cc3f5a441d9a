//! The rollout benchmark: how the operator copes with N services created in one request. Figures, not pass/fail.
//!
//! Each run gets a fresh local control plane (so runs do not disturb each other), the catalog of [`workload`],
//! and the operator as a release-built process running as its ServiceAccount with the RBAC `deploy/base` ships,
//! so the API server's audit log ([`audit`]) holds exactly the operator's requests. A run measures:
//! - how long `kubectl create` of the N services takes, with no operator running (in a namespace of its own)
//!   and with the operator running;
//! - the time from that create to all InferenceServices and to all HTTPRoutes existing (and, with caching,
//!   to the model cache turning Ready, and from then to the last InferenceService);
//! - the operator's CPU seconds and peak RSS, its requests by verb and its 409 conflicts during convergence,
//!   and its requests during a quiet period after it.
//!
//! The cluster is the real local one: the scheduler places every replica on a fake GPU node (kwok), KServe
//! reconciles every InferenceService, kwok binds the cache's volume and ends its download pod.

pub mod capped;
pub mod download;
pub mod heap;
pub mod index_bytes;
pub mod peers;
pub mod process;
pub mod running;
pub mod workload;

use aim_tests::audit::{self, Requests};
use aim_tests::controlplane::ControlPlane;
use aim_tests::identity::operator_kubeconfig;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, ListParams};
use process::OperatorProcess;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use workload::Workload;

/// What to run.
#[derive(Debug, Clone)]
pub struct BenchConfig {
    /// The operator binary (a release build).
    pub operator: PathBuf,
    /// Where control planes and logs go.
    pub work_dir: PathBuf,
    /// How long a run may take to converge before it is reported as not converged.
    pub timeout: Duration,
    /// The quiet period measured after convergence.
    pub quiet: Duration,
    /// Namespaces the services are spread over.
    pub namespaces: usize,
    /// The operator alone: KServe and the scheduler are stopped once the cluster is up, and a run ends when
    /// every InferenceService and route exists (the chain past them cannot run 10,000 services on two cores).
    pub operator_only: bool,
    /// After the quiet period, stop the operator and start this build (the same one, or another: an upgrade)
    /// on the converged cluster, and count its requests over another quiet period.
    pub restart_with: Option<PathBuf>,
}

/// The figures of one run.
#[derive(Debug, Clone, Default)]
pub struct Figures {
    /// The workload.
    pub workload: String,
    /// Services created.
    pub n: usize,
    /// `kubectl create` of N services with no operator running, seconds.
    pub create_alone: f64,
    /// The same with the operator running, seconds.
    pub create: f64,
    /// From the create to every InferenceService existing (`None`: not within the timeout), seconds.
    pub to_isvcs: Option<f64>,
    /// From the create to every HTTPRoute existing, seconds.
    pub to_routes: Option<f64>,
    /// With caching: from the create to the model cache turning Ready, seconds.
    pub cache_ready: Option<f64>,
    /// InferenceServices and HTTPRoutes that existed at the end.
    pub isvcs: usize,
    /// HTTPRoutes at the end.
    pub routes: usize,
    /// From the create to every service Running (KServe reports every InferenceService Ready), seconds.
    pub to_running: Option<f64>,
    /// Operator CPU seconds from the create to convergence (or the timeout).
    pub cpu: f64,
    /// Operator peak RSS, MiB.
    pub peak_rss_mib: f64,
    /// The operator's requests during convergence.
    pub converging: Requests,
    /// The operator's requests during the quiet period.
    pub quiet: Requests,
    /// Operator CPU seconds during the quiet period.
    pub quiet_cpu: f64,
    /// The operator alone: converged once every InferenceService and route exists.
    pub operator_only: bool,
    /// The index's bytes per object, by kind.
    pub index_bytes: Vec<index_bytes::KindBytes>,
    /// With [`BenchConfig::restart_with`]: the restarted operator's requests, from its start through a quiet
    /// period after it is ready (its first lists and its first reconcile of every service).
    pub restarted: Option<Requests>,
}

impl Figures {
    /// Every InferenceService and route exists and, with the chain, every service is Running.
    pub fn converged(&self) -> bool {
        self.to_isvcs.is_some() && self.to_routes.is_some() && (self.operator_only || self.to_running.is_some())
    }
}

fn resource(group: &str, version: &str, kind: &str) -> ApiResource {
    ApiResource::from_gvk(&GroupVersionKind::gvk(group, version, kind))
}

/// Objects of `resource` in the measured namespaces (`bench`, `bench-<i>`).
async fn count(client: &kube::Client, resource: &ApiResource) -> usize {
    let api: Api<DynamicObject> = Api::all_with(client.clone(), resource);
    api.list_metadata(&ListParams::default()).await.map_or(0, |l| {
        l.items
            .iter()
            .filter(|o| o.metadata.namespace.as_deref().is_some_and(measured))
            .count()
    })
}

fn measured(namespace: &str) -> bool {
    namespace == "bench"
        || namespace
            .strip_prefix("bench-")
            .is_some_and(|i| i.parse::<usize>().is_ok())
}

async fn failed(client: &kube::Client, namespace: &str) -> usize {
    let api: Api<aim_operator::api::AIMService> = Api::namespaced(client.clone(), namespace);
    api.list(&ListParams::default()).await.map_or(0, |l| {
        l.items
            .iter()
            .filter(|s| s.status.as_ref().and_then(|s| s.head.status) == Some(aim_operator::api::ServiceState::Failed))
            .count()
    })
}

async fn cache_ready(client: &kube::Client, namespace: &str) -> bool {
    let api: Api<aim_operator::api::ModelCache> = Api::namespaced(client.clone(), namespace);
    api.list(&ListParams::default()).await.is_ok_and(|l| {
        !l.items.is_empty()
            && l.items.iter().all(|m| {
                m.status.as_ref().and_then(|s| s.head.status) == Some(aim_operator::api::ResourceState::Available)
            })
    })
}

async fn kubectl_create(cp: &ControlPlane, yaml: &str) -> anyhow::Result<f64> {
    let file = cp.dir().join("services.yaml");
    std::fs::write(&file, yaml)?;
    let start = Instant::now();
    cp.kubectl(&["create", "-f", &file.display().to_string()]).await?;
    Ok(start.elapsed().as_secs_f64())
}

/// The series the operator's `/metrics` holds now, and how many of them are the fleet's metrics.
async fn metric_series(port: u16) -> (usize, usize) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Ok(mut stream) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await else {
        return (0, 0);
    };
    let _ = stream
        .write_all(b"GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n")
        .await;
    let mut text = String::new();
    let _ = stream.read_to_string(&mut text).await;
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    let series: Vec<&str> = body
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .collect();
    let fleet = [
        "aim_services",
        "aim_model_caches",
        "aim_download",
        "aim_service_start_phase",
        "aim_index_watches_failing",
    ];
    let ours = series.iter().filter(|l| fleet.iter().any(|f| l.starts_with(f))).count();
    (series.len(), ours)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(18080)
}

/// Runs `workload` with `n` services on a fresh control plane.
pub async fn run(config: &BenchConfig, workload: Workload, n: usize) -> anyhow::Result<Figures> {
    let dir = config
        .work_dir
        .join(format!("{}-{n}", workload.name().replace('+', "-")));
    let _ = std::fs::remove_dir_all(&dir);
    // Room for every replica: up to two MI300X GPUs per service, eight per node. The operator alone places
    // nothing: one node of each kind (2,500 fake nodes for 10,000 services would only load the API server).
    let nodes = aim_tests::controlplane::nodes::GpuNodes {
        mi300x: if config.operator_only { 1 } else { n.div_ceil(4) + 2 },
        mi325x: 1,
        ..aim_tests::controlplane::nodes::GpuNodes::none()
    };
    let mut cp = ControlPlane::start_with(&dir, nodes).await?;
    if config.operator_only {
        cp.stop_component("kserve").await;
        cp.stop_component("kube-scheduler").await;
    }
    let result = measure(config, &cp, workload, n).await;
    cp.stop().await;
    result
}

async fn measure(config: &BenchConfig, cp: &ControlPlane, workload: Workload, n: usize) -> anyhow::Result<Figures> {
    let client = kube::Client::try_from(
        kube::Config::from_custom_kubeconfig(
            kube::config::Kubeconfig::read_from(cp.kubeconfig())?,
            &Default::default(),
        )
        .await?,
    )?;
    let identity = operator_kubeconfig(
        cp.kubectl_path(),
        cp.kubeconfig(),
        &cp.dir().join("operator.kubeconfig"),
    )
    .await?;
    aim_tests::storage::ensure_class(&client, workload::STORAGE_CLASS, true).await;
    let catalog = cp.dir().join("catalog.yaml");
    std::fs::write(&catalog, workload::catalog())?;
    cp.kubectl(&["apply", "--server-side", "-f", &catalog.display().to_string()])
        .await?;

    // The create alone, in a namespace the operator never sees (it is not running yet).
    cp.kubectl(&["create", "namespace", "bench-alone"]).await?;
    let create_alone = kubectl_create(cp, &workload::services(workload, n, "bench-alone")).await?;
    cp.kubectl(&["delete", "namespace", "bench-alone", "--wait=true", "--timeout=300s"])
        .await?;

    let namespaces: Vec<String> = match config.namespaces {
        0 | 1 => vec!["bench".to_string()],
        k => (0..k).map(|i| format!("bench-{i}")).collect(),
    };
    let ns = namespaces[0].as_str();
    for namespace in &namespaces {
        cp.kubectl(&["create", "namespace", namespace]).await?;
    }
    let port = free_port();
    let mut operator = OperatorProcess::start(&config.operator, &identity, port, &cp.dir().join("operator.log"))?;
    wait_ready(port, Duration::from_secs(60)).await;
    if workload == Workload::TemplateRefNoisy {
        // The neighbours fail first, and keep failing (and retrying) through the measured window.
        let noisy = "bench-noisy";
        cp.kubectl(&["create", "namespace", noisy]).await?;
        kubectl_create(cp, &workload::failing_services(5 * n, noisy)).await?;
        let start = Instant::now();
        while failed(&client, noisy).await < 5 * n && start.elapsed() < config.timeout {
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        eprintln!(
            "{} noisy neighbours failed in {:.1?}",
            failed(&client, noisy).await,
            start.elapsed()
        );
    }
    // Let the start-up (the watches' first lists) settle before the window opens.
    tokio::time::sleep(Duration::from_secs(3)).await;

    let log = cp.audit_log();
    let from = audit::offset(&log);
    let cpu_before = operator.cpu_seconds();
    let start = Instant::now();
    let create = kubectl_create(cp, &workload::services_in(workload, n, &namespaces)).await?;
    let (isvc, route) = (
        resource("serving.kserve.io", "v1beta1", "InferenceService"),
        resource("gateway.networking.k8s.io", "v1", "HTTPRoute"),
    );
    let label = match (config.operator_only, namespaces.len()) {
        (false, 1) => workload.name().to_string(),
        (only, k) => format!(
            "{}{}, {k} namespace{}",
            workload.name(),
            if only { " (operator only)" } else { "" },
            if k == 1 { "" } else { "s" }
        ),
    };
    // Listing 10,000 objects four times a second would load the API server the run measures.
    let running = running::RunningServices::watch(&client, measured);
    let poll = Duration::from_millis(250).max(Duration::from_millis(n as u64 / 10));
    let mut figures = Figures {
        workload: label,
        operator_only: config.operator_only,
        n,
        create_alone,
        create,
        ..Default::default()
    };
    while start.elapsed() < config.timeout && operator.alive() {
        let elapsed = start.elapsed().as_secs_f64();
        if figures.isvcs < n {
            figures.isvcs = count(&client, &isvc).await;
            if figures.isvcs >= n {
                figures.to_isvcs = Some(elapsed);
            }
        }
        if figures.routes < n {
            figures.routes = count(&client, &route).await;
            if figures.routes >= n {
                figures.to_routes = Some(elapsed);
            }
        }
        if workload == Workload::TemplateRefCached && figures.cache_ready.is_none() && cache_ready(&client, ns).await {
            figures.cache_ready = Some(elapsed);
        }
        if !config.operator_only && figures.to_isvcs.is_some() && figures.to_running.is_none() && running.count() >= n {
            figures.to_running = Some(elapsed);
        }
        if figures.converged() {
            break;
        }
        tokio::time::sleep(poll).await;
    }
    figures.cpu = operator.cpu_seconds() - cpu_before;
    // Writes of the last reconciles (status, Events) land just after the children; let them finish.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let converged_at = audit::offset(&log);
    figures.converging = audit::count(&log, from, converged_at);

    let quiet_cpu_before = operator.cpu_seconds();
    tokio::time::sleep(config.quiet).await;
    figures.quiet = audit::count(&log, converged_at, audit::offset(&log));
    figures.quiet_cpu = operator.cpu_seconds() - quiet_cpu_before;
    figures.peak_rss_mib = operator.peak_rss_mib();
    figures.index_bytes = index_bytes::measure(&client, 200).await;
    let (series, fleet) = metric_series(port).await;
    eprintln!(
        "{}: /metrics holds {series} series, {fleet} of them the fleet's (aim_services…, aim_model_caches…, aim_download…, aim_service_start_phase…)",
        figures.workload
    );
    if let Some(build) = &config.restart_with {
        drop(operator);
        let from = audit::offset(&log);
        let _restarted = OperatorProcess::start(build, &identity, port, &cp.dir().join("operator-restarted.log"))?;
        wait_ready(port, Duration::from_secs(60)).await;
        tokio::time::sleep(config.quiet).await;
        figures.restarted = Some(audit::count(&log, from, audit::offset(&log)));
    }
    Ok(figures)
}

async fn wait_ready(port: u16, timeout: Duration) {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if let Ok(mut stream) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let _ = stream
                .write_all(b"GET /readyz HTTP/1.0\r\nHost: localhost\r\n\r\n")
                .await;
            let mut answer = String::new();
            let _ = stream.read_to_string(&mut answer).await;
            if answer.starts_with("HTTP/1.0 200") || answer.starts_with("HTTP/1.1 200") {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A table row: `| workload | N | create alone | create | to ISVCs | to routes | cache | CPU | RSS | reads/svc |
/// writes/svc | 409s | quiet reads | quiet writes |`.
pub fn row(f: &Figures) -> String {
    let secs = |v: Option<f64>| v.map_or("—".to_string(), |s| format!("{s:.1} s"));
    let per = |v: u64| format!("{:.2}", v as f64 / f.n.max(1) as f64);
    let not = if !f.converged() {
        format!(" (not converged: {} ISVCs, {} routes)", f.isvcs, f.routes)
    } else {
        String::new()
    };
    format!(
        "| {}{not} | {} | {:.1} s | {:.1} s ({:.2}×) | {} | {} | {} | {} | {:.1} s | {:.0} MiB | {} ({}) | {} ({}) | {} | {} / {} |",
        f.workload,
        f.n,
        f.create_alone,
        f.create,
        f.create / f.create_alone.max(0.001),
        secs(f.to_isvcs),
        secs(f.to_routes),
        secs(f.cache_ready),
        secs(f.to_running),
        f.cpu,
        f.peak_rss_mib,
        per(f.converging.reads()),
        f.converging.reads(),
        per(f.converging.writes()),
        f.converging.writes(),
        f.converging.conflicts,
        f.quiet.reads(),
        f.quiet.writes(),
    )
}

/// The table header matching [`row`].
pub const HEADER: &str = "| workload | N | create, no operator | create, operator running | to all ISVCs | to all routes | cache Ready | to all Running | operator CPU | peak RSS | reads/svc (total) | writes/svc (total) | 409s | quiet: reads / writes |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|";
