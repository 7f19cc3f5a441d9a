//! A real, local Kubernetes cluster around the operator: etcd, kube-apiserver, kube-controller-manager and
//! kube-scheduler built from the pinned upstream sources; kwok as the kubelet and volume provisioner of fake
//! MI300X and MI325X GPU nodes ([`nodes`]); and the KServe controller manager in Standard mode ([`kserve`]). All
//! listen on loopback only, with a fresh PKI and an admin kubeconfig.
//!
//! Contract: [`ControlPlane::start`] returns once the API server answers `/readyz`, every CRD (ours from `crds/`,
//! KServe's and the Gateway API's from their Go modules) is established, the GPU nodes are Ready and KServe
//! answers its readiness probe. [`ControlPlane::stop`] stops the processes in reverse order (SIGTERM, then
//! SIGKILL after a grace period) and waits for them, so nothing is left running; dropping a `ControlPlane`
//! without `stop` still kills the processes.
//!
//! What no upstream component here does is played by [`crate::gateway::GatewayAcceptance`] (a gateway accepting
//! routes), which the control plane runs too; a container's output is written by kwok's stages
//! (`controlplane/kwok/pod-stages.yaml`).
//!
//! The API server keeps an audit log ([`ControlPlane::audit_log`]) of the requests made as the operator's
//! ServiceAccount (`system:serviceaccount:aim-system:aim-operator`) and nobody else, so tests and benchmarks
//! count exactly what the operator asked of it.

pub mod autoscaling;
pub mod binaries;
pub mod kserve;
pub mod nodes;
pub mod pki;
pub mod real_node;
pub mod traefik;
pub mod upstream_crds;
pub mod versions;

use binaries::Binaries;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::process::{Child, Command};

/// The audit log's file name in the state directory.
pub const AUDIT_LOG: &str = "audit.log";

/// The operator's identity when it runs with its ServiceAccount (`deploy/base`).
pub const OPERATOR_USER: &str = "system:serviceaccount:aim-system:aim-operator";

/// Audit only what the operator's ServiceAccount asks (at Metadata level, once per request when it completes;
/// watches once when they start); nothing else. With `AIM_AUDIT_BODIES=<group>/<resource>` (for example
/// `aim.silogen.ai/aimservices/status`) the operator's writes to that resource are logged with their bodies
/// (Request level), to see what each write changed.
fn audit_policy(bodies: Option<&str>) -> String {
    let bodies = bodies
        .and_then(|v| {
            let (group, resource) = v.split_once('/')?;
            Some(format!(
                "- level: Request\n  users: [\"{OPERATOR_USER}\"]\n  verbs: [create, update, patch]\n  \
                 resources: [{{group: \"{group}\", resources: [\"{resource}\"]}}]\n"
            ))
        })
        .unwrap_or_default();
    format!(
        "apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStages: [RequestReceived]\nrules:\n{bodies}- level: Metadata\n  \
         users: [\"{OPERATOR_USER}\"]\n- level: None\n"
    )
}

/// The variable naming a resource whose writes the audit log keeps with their bodies ([`audit_policy`]).
pub const AUDIT_BODIES: &str = "AIM_AUDIT_BODIES";

/// Directory of our generated CRDs.
pub const OUR_CRDS_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../crds");

/// How kwok plays the kubelet for pods and the storage provisioner (ours; node stages come from kwok's module).
pub const KWOK_STAGES: [&str; 2] = [
    concat!(env!("CARGO_MANIFEST_DIR"), "/controlplane/kwok/pod-stages.yaml"),
    concat!(env!("CARGO_MANIFEST_DIR"), "/controlplane/kwok/volume-stages.yaml"),
];

/// The storage provisioner kwok plays (`controlplane/kwok/volume-stages.yaml`).
pub const KWOK_PROVISIONER: &str = "kwok.x-k8s.io/volume";

/// The cluster's default StorageClass, provisioned by kwok.
pub const DEFAULT_STORAGE_CLASS: &str = "local-rwx";

/// Errors while starting or using the control plane.
#[derive(Debug, thiserror::Error)]
pub enum ControlPlaneError {
    /// Building the binaries failed.
    #[error(transparent)]
    Build(#[from] binaries::BuildError),
    /// Generating certificates failed.
    #[error(transparent)]
    Pki(#[from] pki::PkiError),
    /// Fetching upstream CRDs failed.
    #[error(transparent)]
    UpstreamCrds(#[from] upstream_crds::UpstreamCrdError),
    /// File-system or process error.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A component did not become ready in time.
    #[error("{component} did not become ready within {seconds}s; last lines of its log:\n{log_tail}")]
    NotReady {
        /// Which process.
        component: String,
        /// How long we waited.
        seconds: u64,
        /// Its log's end.
        log_tail: String,
    },
    /// KServe's configuration could not be prepared.
    #[error(transparent)]
    KServe(#[from] kserve::KServeConfigError),
    /// The real node could not start (what it needs, or what failed).
    #[error("the real node: {0}")]
    RealNode(String),
    /// A kubectl command failed.
    #[error("kubectl {args} failed: {stderr}")]
    Kubectl {
        /// The arguments.
        args: String,
        /// Its stderr.
        stderr: String,
    },
}

/// Where builds and images are cached on this machine: `$AIM_CACHE_DIR`, by default `~/.cache/aim-operator`.
pub fn cache_dir() -> PathBuf {
    std::env::var_os("AIM_CACHE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache/aim-operator"))
}

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> ControlPlaneError {
    let context = context.into();
    move |source| ControlPlaneError::Io { context, source }
}

/// A running control plane.
pub struct ControlPlane {
    dir: PathBuf,
    binaries: Binaries,
    kubeconfig: PathBuf,
    /// Started processes, in start order.
    processes: Vec<(&'static str, Child)>,
    /// How each was started, so a test can stop one and start it again.
    commands: std::collections::HashMap<&'static str, Launch>,
    /// The helper that accepts routes, where no real gateway runs (clusters without a real node).
    gateway: Option<crate::gateway::GatewayAcceptance>,
    /// The real Gateway API implementation, on a cluster with a real node.
    traefik: Option<traefik::Traefik>,
    /// The real node, when the cluster has one.
    real_node: Option<real_node::RealNode>,
    /// The cluster's certificates.
    pki: pki::PkiFiles,
    /// The address pods reach the host at (a cluster with a real node).
    node_ip: Option<std::net::Ipv4Addr>,
}

/// How a component was started: its binary, arguments and environment.
#[derive(Debug, Clone)]
struct Launch {
    binary: PathBuf,
    args: Vec<String>,
    env: Vec<(String, String)>,
}

/// Starts `command` as component `name`, its output appended to `<dir>/<name>.log` (a component started again
/// keeps its earlier log), killed when its handle is dropped.
pub(crate) fn spawn_logged(dir: &Path, name: &str, mut command: Command) -> Result<Child, ControlPlaneError> {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(format!("{name}.log")))
        .map_err(io(format!("creating {name}.log")))?;
    let log_err = log.try_clone().map_err(io("cloning a log handle"))?;
    command
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err)
        .kill_on_drop(true)
        .spawn()
        .map_err(io(format!("starting {name}")))
}

/// Arguments as the `&str`s a process is spawned with.
fn as_strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

fn free_port() -> Result<u16, ControlPlaneError> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(io("finding a free loopback port"))?;
    Ok(listener.local_addr().map_err(io("reading a bound port"))?.port())
}

/// A StorageClass (ReadWriteMany-capable, bound at once) that kwok provisions volumes for; `default` makes it the
/// cluster's default class.
pub fn storage_class(name: &str, default: bool) -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {
            "name": name,
            "annotations": { "storageclass.kubernetes.io/is-default-class": default.to_string() },
        },
        "provisioner": KWOK_PROVISIONER,
        "reclaimPolicy": "Delete",
        "volumeBindingMode": "Immediate",
    })
}

/// True when `127.0.0.1:port/readyz` answers 200.
async fn probe_ok(port: u16) -> bool {
    http_ok(port, "/readyz").await
}

/// True when `GET 127.0.0.1:port<path>` answers 200.
async fn http_ok(port: u16, path: &str) -> bool {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Ok(mut stream) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await else {
        return false;
    };
    let request = format!("GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n");
    if stream.write_all(request.as_bytes()).await.is_err() {
        return false;
    }
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer).await;
    answer.starts_with("HTTP/1.0 200") || answer.starts_with("HTTP/1.1 200")
}

fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(25)..].join("\n")
}

impl ControlPlane {
    /// Builds (once) and starts a cluster with the default GPU nodes whose state lives in `dir`.
    pub async fn start(dir: &Path) -> Result<Self, ControlPlaneError> {
        Self::start_with(dir, nodes::GpuNodes::default()).await
    }

    /// Builds (once) and starts a cluster with `gpu_nodes` whose state lives in `dir`.
    pub async fn start_with(dir: &Path, gpu_nodes: nodes::GpuNodes) -> Result<Self, ControlPlaneError> {
        Self::start_layout(dir, gpu_nodes, false).await
    }

    /// [`Self::start_with`], plus a real node ([`real_node`]: the kubelet, kube-proxy, containerd) where pods
    /// run as containers. Its API server listens on the host's address too, so that pods reach it through the
    /// `kubernetes` Service, and the ServiceAccount admission plugin mounts their tokens.
    pub async fn start_with_real_node(dir: &Path, gpu_nodes: nodes::GpuNodes) -> Result<Self, ControlPlaneError> {
        Self::start_layout(dir, gpu_nodes, true).await
    }

    async fn start_layout(
        dir: &Path,
        gpu_nodes: nodes::GpuNodes,
        with_real_node: bool,
    ) -> Result<Self, ControlPlaneError> {
        let binaries = tokio::task::spawn_blocking(Binaries::ensure)
            .await
            .expect("build task panicked")?;
        let node_bin = if with_real_node {
            let node = tokio::task::spawn_blocking(binaries::node)
                .await
                .expect("build task panicked")?;
            let coredns = tokio::task::spawn_blocking(binaries::coredns)
                .await
                .expect("build task panicked")?;
            Some((node, coredns))
        } else {
            None
        };
        let node_ip = if with_real_node {
            Some(real_node::host_ip()?)
        } else {
            None
        };
        std::fs::create_dir_all(dir).map_err(io(format!("creating {}", dir.display())))?;
        let dir = dir.canonicalize().map_err(io("resolving the state directory"))?;
        let pki = pki::write_pki(&dir, node_ip)?;
        let (etcd_port, etcd_peer_port, api_port) = (free_port()?, free_port()?, free_port()?);
        let server = format!("https://127.0.0.1:{api_port}");
        let kubeconfig = dir.join("kubeconfig");
        std::fs::write(&kubeconfig, kubeconfig_yaml(&server, &pki)).map_err(io("writing the kubeconfig"))?;
        let audit_policy = dir.join("audit-policy.yaml");
        std::fs::write(
            &audit_policy,
            self::audit_policy(std::env::var(AUDIT_BODIES).ok().as_deref()),
        )
        .map_err(io("writing the audit policy"))?;

        let mut cp = ControlPlane {
            dir: dir.clone(),
            binaries: binaries.clone(),
            kubeconfig,
            processes: Vec::new(),
            commands: Default::default(),
            real_node: None,
            gateway: None,
            traefik: None,
            pki: pki.clone(),
            node_ip,
        };
        let etcd_url = format!("http://127.0.0.1:{etcd_port}");
        cp.spawn(
            "etcd",
            &binaries.etcd,
            &[
                &format!("--data-dir={}", dir.join("etcd").display()),
                &format!("--listen-client-urls={etcd_url}"),
                &format!("--advertise-client-urls={etcd_url}"),
                &format!("--listen-peer-urls=http://127.0.0.1:{etcd_peer_port}"),
                &format!("--initial-advertise-peer-urls=http://127.0.0.1:{etcd_peer_port}"),
                &format!("--initial-cluster=default=http://127.0.0.1:{etcd_peer_port}"),
                // Test data is disposable: skipping fsync makes every write much cheaper.
                "--unsafe-no-fsync",
                "--log-level=warn",
            ],
        )?;
        // Without a real node nothing in-cluster reaches the API server, which stays on loopback (the
        // `kubernetes` Service's endpoints may not point there). With one, pods reach it through that Service at
        // the host's address, and need their ServiceAccount tokens mounted.
        let network: Vec<String> = match node_ip {
            None => vec![
                "--bind-address=127.0.0.1".into(),
                "--advertise-address=127.0.0.1".into(),
                "--endpoint-reconciler-type=none".into(),
                // No kubelet runs pods here, so pods never need mounted service-account tokens; without this
                // plugin, Job pods are admitted before the controller-manager has created a namespace's
                // default ServiceAccount.
                "--disable-admission-plugins=ServiceAccount".into(),
            ],
            Some(ip) => vec![
                "--bind-address=0.0.0.0".into(),
                format!("--advertise-address={ip}"),
                "--kubelet-preferred-address-types=InternalIP".into(),
            ],
        };
        let mut apiserver_args: Vec<String> = network;
        apiserver_args.extend(
            [
                &format!("--etcd-servers={etcd_url}"),
                &format!("--secure-port={api_port}"),
                &format!("--tls-cert-file={}", pki.server_cert.display()),
                &format!("--tls-private-key-file={}", pki.server_key.display()),
                &format!("--client-ca-file={}", pki.ca_cert.display()),
                "--authorization-mode=RBAC",
                &format!(
                    "--service-account-key-file={}",
                    pki.service_account_public_key.display()
                ),
                &format!(
                    "--service-account-signing-key-file={}",
                    pki.service_account_key.display()
                ),
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                "--service-cluster-ip-range=10.96.0.0/16",
                "--allow-privileged=true",
                "--enable-priority-and-fairness=false",
                // The aggregation layer, for the metrics APIs an autoscaler reads (metrics-server's, KEDA's): the
                // API server proxies to them as the front-proxy client, straight to their endpoints.
                &format!("--requestheader-client-ca-file={}", pki.front_proxy_ca.display()),
                &format!("--requestheader-allowed-names={}", pki::FRONT_PROXY_CLIENT),
                "--requestheader-username-headers=X-Remote-User",
                "--requestheader-group-headers=X-Remote-Group",
                "--requestheader-extra-headers-prefix=X-Remote-Extra-",
                &format!("--proxy-client-cert-file={}", pki.front_proxy_client_cert.display()),
                &format!("--proxy-client-key-file={}", pki.front_proxy_client_key.display()),
                "--enable-aggregator-routing=true",
                &format!("--audit-policy-file={}", audit_policy.display()),
                &format!("--audit-log-path={}", dir.join(AUDIT_LOG).display()),
                "--audit-log-format=json",
                "--audit-log-maxsize=0",
                "--v=0",
            ]
            .map(String::from),
        );
        let apiserver_args = as_strs(&apiserver_args);
        cp.spawn("kube-apiserver", &binaries.kube_apiserver, &apiserver_args)?;
        cp.wait_ready(Duration::from_secs(90)).await?;
        // Both talk to the API server as its admin, serve their own health port, and run alone (no election).
        let client_args = |kubeconfig: &Path| -> Result<Vec<String>, ControlPlaneError> {
            Ok(vec![
                format!("--kubeconfig={}", kubeconfig.display()),
                format!("--authentication-kubeconfig={}", kubeconfig.display()),
                format!("--authorization-kubeconfig={}", kubeconfig.display()),
                "--bind-address=127.0.0.1".into(),
                format!("--secure-port={}", free_port()?),
                "--leader-elect=false".into(),
                "--v=0".into(),
            ])
        };
        let mut kcm_args = client_args(&cp.kubeconfig)?;
        kcm_args.extend([
            "--use-service-account-credentials=false".to_string(),
            format!(
                "--service-account-private-key-file={}",
                pki.service_account_key.display()
            ),
            format!("--root-ca-file={}", pki.ca_cert.display()),
            format!("--cluster-signing-cert-file={}", pki.ca_cert.display()),
            format!("--cluster-signing-key-file={}", pki.ca_key.display()),
            // A loaded two-core machine can delay kwok's lease renewals; a node is not lost that quickly.
            "--node-monitor-grace-period=2m".into(),
            // A HorizontalPodAutoscaler waits this long of lower demand before it removes a replica (Kubernetes'
            // default is 5 minutes; a cluster admin sets it here): the tests see a scale-down within a minute.
            "--horizontal-pod-autoscaler-downscale-stabilization=30s".into(),
        ]);
        cp.spawn(
            "kube-controller-manager",
            &binaries.kube_controller_manager,
            &as_strs(&kcm_args),
        )?;
        let scheduler_args = client_args(&cp.kubeconfig)?;
        cp.spawn("kube-scheduler", &binaries.kube_scheduler, &as_strs(&scheduler_args))?;
        cp.install_crds().await?;
        cp.start_kwok(gpu_nodes).await?;
        cp.start_kserve(&pki).await?;
        match (node_ip, node_bin) {
            (Some(ip), Some((bin, coredns))) => {
                let node =
                    real_node::RealNode::start(&cp.dir, &cp.binaries.kubectl, &cp.kubeconfig, ip, &bin, &coredns)
                        .await?;
                cp.real_node = Some(node);
                cp.start_traefik(&server, &pki.ca_cert).await?;
            }
            _ => cp.gateway = Some(crate::gateway::GatewayAcceptance::start(cp.client().await?)),
        }
        Ok(cp)
    }

    /// Traefik as the Gateway API implementation ([`traefik`]): its ServiceAccount and GatewayClass, a token,
    /// the process; returns once it answers its ping.
    async fn start_traefik(&mut self, server: &str, ca: &Path) -> Result<(), ControlPlaneError> {
        let bin = tokio::task::spawn_blocking(binaries::traefik)
            .await
            .expect("build task panicked")?;
        let manifest = self.dir.join("traefik.json");
        std::fs::write(&manifest, traefik::install_manifest().to_string()).map_err(io("writing Traefik's RBAC"))?;
        self.kubectl(&["apply", "--server-side", "-f", &manifest.display().to_string()])
            .await?;
        let token = self
            .kubectl(&[
                "create",
                "token",
                "traefik",
                "-n",
                traefik::NAMESPACE,
                "--duration=720h",
            ])
            .await?;
        let token_file = self.dir.join("traefik-token");
        std::fs::write(&token_file, token.trim()).map_err(io("writing Traefik's token"))?;
        let t = traefik::Traefik {
            port: free_port()?,
            ping_port: free_port()?,
        };
        let args = t.args(server, &token_file.display().to_string(), &ca.display().to_string());
        self.spawn("traefik", &bin, &as_strs(&args))?;
        let start = Instant::now();
        while !http_ok(t.ping_port, "/ping").await {
            if let Some((name, status)) = self.exited_process() {
                return Err(self.not_ready(name, start, &format!("exited with {status}")));
            }
            if start.elapsed() > Duration::from_secs(60) {
                return Err(self.not_ready("traefik", start, "did not answer /ping"));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        self.traefik = Some(t);
        Ok(())
    }

    /// The real Gateway API implementation, on a cluster with a real node.
    pub fn traefik(&self) -> Option<traefik::Traefik> {
        self.traefik
    }

    /// The real node, when the cluster has one.
    pub fn real_node(&self) -> Option<&real_node::RealNode> {
        self.real_node.as_ref()
    }

    /// A process of the cluster that has exited, with its status and the end of its log.
    pub fn exited(&mut self) -> Option<String> {
        let (name, status) = self.exited_process()?;
        Some(format!(
            "{name} exited with {status}; the end of its log:\n{}",
            log_tail(&self.dir.join(format!("{name}.log")))
        ))
    }

    /// The first of its processes that has exited, and how.
    fn exited_process(&mut self) -> Option<(&'static str, std::process::ExitStatus)> {
        self.processes
            .iter_mut()
            .find_map(|(name, child)| child.try_wait().ok().flatten().map(|status| (*name, status)))
    }

    /// A client with the admin kubeconfig.
    pub async fn client(&self) -> Result<kube::Client, ControlPlaneError> {
        let fail = |e: &dyn std::fmt::Display| ControlPlaneError::Kubectl {
            args: "client".into(),
            stderr: e.to_string(),
        };
        let kubeconfig = kube::config::Kubeconfig::read_from(&self.kubeconfig).map_err(|e| fail(&e))?;
        let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
            .await
            .map_err(|e| fail(&e))?;
        kube::Client::try_from(config).map_err(|e| fail(&e))
    }

    /// kwok with its stages, its storage class and the fake GPU nodes; returns once the nodes are Ready.
    async fn start_kwok(&mut self, gpu_nodes: nodes::GpuNodes) -> Result<(), ControlPlaneError> {
        let versions = versions::Versions::pinned();
        let stages = tokio::task::spawn_blocking(move || upstream_crds::kwok_stage_files(&versions))
            .await
            .expect("download task panicked")?;
        let class = self.dir.join("default-storage-class.json");
        std::fs::write(&class, storage_class(DEFAULT_STORAGE_CLASS, true).to_string())
            .map_err(io("writing the default storage class"))?;
        self.kubectl(&[
            "apply",
            "--server-side",
            "--force-conflicts",
            "-f",
            &class.display().to_string(),
        ])
        .await?;
        let mut args = vec![
            format!("--kubeconfig={}", self.kubeconfig.display()),
            "--manage-all-nodes=false".into(),
            format!(
                "--manage-nodes-with-annotation-selector={}=fake",
                nodes::KWOK_ANNOTATION
            ),
            format!("--server-address=127.0.0.1:{}", free_port()?),
            // Node health through Leases (renewed every few seconds), as real kubelets do: the controller-manager
            // would otherwise mark a node NotReady, and its pods unready, whenever kwok is slow to heartbeat.
            "--node-lease-duration-seconds=40".into(),
        ];
        args.extend(KWOK_STAGES.iter().map(|s| format!("--config={s}")));
        args.extend(stages.iter().map(|s| format!("--config={}", s.display())));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let kwok = self.binaries.kwok.clone();
        self.spawn("kwok", &kwok, &args)?;
        if gpu_nodes == nodes::GpuNodes::none() {
            return Ok(());
        }
        let list = self.dir.join("gpu-nodes.json");
        std::fs::write(&list, nodes::list(gpu_nodes).to_string()).map_err(io("writing the GPU nodes"))?;
        self.kubectl(&[
            "apply",
            "--server-side",
            "--force-conflicts",
            "-f",
            &list.display().to_string(),
        ])
        .await?;
        self.kubectl(&["wait", "--for=condition=Ready", "--timeout=90s", "node", "--all"])
            .await?;
        Ok(())
    }

    /// The KServe controller manager, configured for Standard mode; returns once it answers its readiness probe.
    async fn start_kserve(&mut self, pki: &pki::PkiFiles) -> Result<(), ControlPlaneError> {
        let versions = versions::Versions::pinned();
        let upstream = tokio::task::spawn_blocking(move || upstream_crds::kserve_config(&versions))
            .await
            .expect("download task panicked")?;
        let config = kserve::config(&upstream)?;
        let file = self.dir.join("kserve-config.json");
        std::fs::write(&file, config.to_string()).map_err(io("writing KServe's config"))?;
        let _ = self.kubectl(&["create", "namespace", kserve::NAMESPACE]).await;
        self.kubectl(&[
            "apply",
            "--server-side",
            "--force-conflicts",
            "-f",
            &file.display().to_string(),
        ])
        .await?;
        let tmp = kserve::webhook_certs(&self.dir, &pki.server_cert, &pki.server_key)?;
        // A free port can be taken by another process before KServe binds it: then it exits saying so, and is
        // started again on other ports.
        for attempt in 1.. {
            let probe = free_port()?;
            let args = [
                "--metrics-addr=0".to_string(),
                format!("--health-probe-addr=127.0.0.1:{probe}"),
                format!("--webhook-port={}", free_port()?),
                "--leader-elect=false".into(),
            ];
            let mut command = Command::new(&self.binaries.kserve_manager);
            command
                .args(args)
                .env("KUBECONFIG", &self.kubeconfig)
                .env("POD_NAMESPACE", kserve::NAMESPACE)
                .env("TMPDIR", &tmp);
            let child = spawn_logged(&self.dir, "kserve", command)?;
            self.processes.push(("kserve", child));
            let start = Instant::now();
            loop {
                if probe_ok(probe).await {
                    return Ok(());
                }
                if let Some((name, status)) = self.exited_process() {
                    let taken = log_tail(&self.dir.join("kserve.log")).contains("address already in use");
                    if name == "kserve" && taken && attempt < 3 {
                        self.processes.retain(|(n, _)| *n != "kserve");
                        break;
                    }
                    return Err(self.not_ready(name, start, &format!("exited with {status}")));
                }
                if start.elapsed() > Duration::from_secs(120) {
                    return Err(self.not_ready("kserve", start, "timed out"));
                }
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        }
        unreachable!("the loop returns")
    }

    fn spawn(&mut self, name: &'static str, binary: &Path, args: &[&str]) -> Result<(), ControlPlaneError> {
        self.spawn_with_env(name, binary, args, &[])
    }

    /// [`Self::spawn`] with variables `env` set (the add-ons read their settings from the environment).
    fn spawn_with_env(
        &mut self,
        name: &'static str,
        binary: &Path,
        args: &[&str],
        env: &[(&str, String)],
    ) -> Result<(), ControlPlaneError> {
        let launch = Launch {
            binary: binary.to_path_buf(),
            args: args.iter().map(|a| a.to_string()).collect(),
            env: env.iter().map(|(k, v)| (k.to_string(), v.clone())).collect(),
        };
        let child = self.launch(name, &launch)?;
        self.commands.insert(name, launch);
        self.processes.push((name, child));
        Ok(())
    }

    fn launch(&self, name: &str, launch: &Launch) -> Result<Child, ControlPlaneError> {
        let mut command = Command::new(&launch.binary);
        command.args(&launch.args).envs(launch.env.iter().cloned());
        spawn_logged(&self.dir, name, command)
    }

    /// Stops component `name` (`etcd`, `kube-apiserver`, …) with SIGTERM, as an outage would; it stays down
    /// until [`Self::start_component`].
    pub async fn stop_component(&mut self, name: &str) {
        if let Some((_, child)) = self.processes.iter_mut().find(|(n, _)| *n == name) {
            if let Some(pid) = child.id() {
                let _ = kill(Pid::from_raw(pid as i32), Signal::SIGTERM);
            }
            if tokio::time::timeout(Duration::from_secs(10), child.wait())
                .await
                .is_err()
            {
                let _ = child.kill().await;
            }
        }
    }

    /// Starts component `name` again with the arguments it first had (the same data directory, ports and
    /// certificates), and waits for the API server to be ready.
    pub async fn start_component(&mut self, name: &str) -> Result<(), ControlPlaneError> {
        let launch = self
            .commands
            .get(name)
            .cloned()
            .expect("a component this control plane started");
        let child = self.launch(name, &launch)?;
        if let Some(slot) = self.processes.iter_mut().find(|(n, _)| *n == name) {
            slot.1 = child;
        }
        self.wait_ready(Duration::from_secs(90)).await
    }

    /// Polls `kubectl get --raw /readyz` until the API server is ready.
    async fn wait_ready(&mut self, timeout: Duration) -> Result<(), ControlPlaneError> {
        let start = Instant::now();
        loop {
            if self
                .kubectl(&["get", "--raw", "/readyz"])
                .await
                .is_ok_and(|out| out.trim() == "ok")
            {
                return Ok(());
            }
            if let Some((name, status)) = self.exited_process() {
                return Err(self.not_ready(name, start, &format!("exited with {status}")));
            }
            if start.elapsed() > timeout {
                return Err(self.not_ready("kube-apiserver", start, "timed out"));
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    fn not_ready(&self, component: &str, start: Instant, why: &str) -> ControlPlaneError {
        ControlPlaneError::NotReady {
            component: format!("{component} ({why})"),
            seconds: start.elapsed().as_secs(),
            log_tail: log_tail(&self.dir.join(format!("{component}.log"))),
        }
    }

    /// Applies our CRDs and the pinned upstream ones, and waits until all are established.
    async fn install_crds(&self) -> Result<(), ControlPlaneError> {
        let versions = versions::Versions::pinned();
        let upstream = tokio::task::spawn_blocking(move || upstream_crds::upstream_crd_files(&versions))
            .await
            .expect("download task panicked")?;
        let mut args = vec!["apply".to_string(), "--server-side".into(), "--force-conflicts".into()];
        for file in upstream {
            args.extend(["-f".into(), file.display().to_string()]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.kubectl(&args).await?;
        // crds/ is a Kustomization (deploy/base builds on it).
        self.kubectl(&["apply", "--server-side", "--force-conflicts", "-k", OUR_CRDS_DIR])
            .await?;
        // A CRD created a moment ago may have no conditions yet, which `kubectl wait` reports as an error rather
        // than waiting; retry until every CRD is established.
        let start = Instant::now();
        loop {
            match self
                .kubectl(&["wait", "--for=condition=Established", "--timeout=30s", "crd", "--all"])
                .await
            {
                Ok(_) => return Ok(()),
                Err(e) if start.elapsed() > Duration::from_secs(90) => return Err(e),
                Err(_) => tokio::time::sleep(Duration::from_millis(300)).await,
            }
        }
    }

    /// Runs kubectl against this control plane and returns its stdout.
    pub async fn kubectl(&self, args: &[&str]) -> Result<String, ControlPlaneError> {
        run_kubectl(&self.binaries.kubectl, &self.kubeconfig, args).await
    }

    /// The admin kubeconfig.
    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    /// The kubectl binary.
    pub fn kubectl_path(&self) -> &Path {
        &self.binaries.kubectl
    }

    /// The state directory (PKI, etcd data, logs).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The API server's audit log of the operator's requests (JSON lines).
    pub fn audit_log(&self) -> PathBuf {
        self.dir.join(AUDIT_LOG)
    }

    /// Stops every process, newest first: SIGTERM, then SIGKILL for any still running after 10 seconds.
    pub async fn stop(mut self) {
        self.gateway = None;
        if let Some(node) = self.real_node.take() {
            node.stop().await;
        }
        while let Some((name, mut child)) = self.processes.pop() {
            if let Some(pid) = child.id() {
                let _ = kill(Pid::from_raw(pid as i32), Signal::SIGTERM);
            }
            if tokio::time::timeout(Duration::from_secs(10), child.wait())
                .await
                .is_err()
            {
                tracing::warn!(process = name, "did not stop within 10s of SIGTERM; killing it");
                let _ = child.kill().await;
            }
        }
    }
}

/// Runs `kubectl --kubeconfig <kubeconfig> <args>` and returns stdout, or the stderr as an error.
pub async fn run_kubectl(kubectl: &Path, kubeconfig: &Path, args: &[&str]) -> Result<String, ControlPlaneError> {
    let out = Command::new(kubectl)
        .arg(format!("--kubeconfig={}", kubeconfig.display()))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(io(format!("running {}", kubectl.display())))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(ControlPlaneError::Kubectl {
            args: args.join(" "),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }
}

fn kubeconfig_yaml(server: &str, pki: &pki::PkiFiles) -> String {
    let credentials = format!(
        "client-certificate: {}\n    client-key: {}",
        pki.admin_cert.display(),
        pki.admin_key.display()
    );
    kubeconfig(
        server,
        &pki.ca_cert.display().to_string(),
        "aim-admin",
        &credentials,
        None,
    )
}

/// A kubeconfig for the local cluster at `server` (CA file `ca`) as `user`, whose `credentials` are the YAML
/// lines under `user:` (a client certificate, a token), its context in `namespace` when given.
pub(crate) fn kubeconfig(server: &str, ca: &str, user: &str, credentials: &str, namespace: Option<&str>) -> String {
    let namespace = namespace.map(|ns| format!("\n    namespace: {ns}")).unwrap_or_default();
    format!(
        "apiVersion: v1
kind: Config
clusters:
- name: aim-local
  cluster:
    server: {server}
    certificate-authority: {ca}
users:
- name: {user}
  user:
    {credentials}
contexts:
- name: {user}
  context:
    cluster: aim-local
    user: {user}{namespace}
current-context: {user}
"
    )
}

#[cfg(test)]
mod audit_policy_tests {
    use super::*;

    #[test]
    fn the_audit_policy_logs_the_operator_only_and_bodies_only_of_the_resource_named() {
        let rules = |policy: &str| -> Vec<serde_json::Value> {
            let policy: serde_json::Value = serde_saphyr::from_str(policy).unwrap();
            policy["rules"].as_array().unwrap().clone()
        };
        let plain = rules(&audit_policy(None));
        assert_eq!(plain.len(), 2);
        assert_eq!(plain[0]["level"], "Metadata");
        assert_eq!(plain[0]["users"][0], OPERATOR_USER);
        assert_eq!(plain[1]["level"], "None");
        let bodies = rules(&audit_policy(Some("aim.silogen.ai/aimservices/status")));
        assert_eq!(bodies.len(), 3);
        assert_eq!(bodies[0]["level"], "Request");
        assert_eq!(bodies[0]["users"][0], OPERATOR_USER);
        assert_eq!(
            bodies[0]["resources"][0],
            serde_json::json!({ "group": "aim.silogen.ai", "resources": ["aimservices/status"] })
        );
        assert_eq!(bodies[1], plain[0], "every other request as before");
    }
}
