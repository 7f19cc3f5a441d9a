//! The operator under test, running in the test process: every controller, on a runtime of its own (each
//! `#[tokio::test]` has a short-lived runtime; the operator must outlive them), started once per test binary.

use aim_operator::controller::{Context, Operator, OperatorConfig, ReconcileMetrics};
use aim_operator::index::WatchHealth;
use aim_operator::index::resumed::ResumedLayer;
use aim_operator::policy::watch::watch;
use aim_operator::policy::{PolicyEngine, PolicyEngineConfig, PolicyKind};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::OnceLock;
use std::time::Duration;

static STARTED: OnceLock<Running> = OnceLock::new();

/// The operator running in this test process.
pub struct Running {
    /// Its policy engine (tests inspect which plugin is current).
    pub policy: Arc<PolicyEngine>,
    /// The plugin directory it watches.
    pub plugin_dir: PathBuf,
    /// Its controllers' context (index, metrics).
    pub context: Arc<Context>,
    stop: tokio::sync::watch::Sender<bool>,
    stopped: std::sync::Mutex<std::sync::mpsc::Receiver<()>>,
}

impl Running {
    /// Installs `component` as `policy`'s plugin, as a ConfigMap update does (written aside, then renamed in),
    /// and waits until the operator decides with it.
    pub async fn swap_plugin(&self, policy: PolicyKind, component: &[u8]) {
        let file = policy.file_name();
        let tmp = self.plugin_dir.join(format!(".{file}.tmp"));
        std::fs::write(&tmp, component).expect("write the plugin");
        std::fs::rename(&tmp, self.plugin_dir.join(&file)).expect("install the plugin");
        self.uses_plugin(policy, &file).await;
    }

    /// Waits until the operator decides `policy` with the plugin named `plugin` (`builtin:<policy>` for the
    /// default).
    pub async fn uses_plugin(&self, policy: PolicyKind, plugin: &str) {
        crate::wait::until(&format!("the operator to use {plugin}"), || async {
            let current = self.policy.current(policy).provenance.plugin.clone();
            if current == plugin { Ok(()) } else { Err(current) }
        })
        .await;
    }

    /// Stops the operator (running reconciles finish, watches end) and waits up to 20 seconds for it: before
    /// the control plane goes, so it does not outlive it.
    pub fn stop(&self) {
        let _ = self.stop.send(true);
        let stopped = self.stopped.lock().unwrap_or_else(|e| e.into_inner());
        let _ = stopped.recv_timeout(Duration::from_secs(20));
    }
}

/// Settings for tests: short backoffs so retry paths finish in seconds.
pub fn test_config() -> OperatorConfig {
    let mut config = OperatorConfig::default();
    config.discovery.backoff_base = Duration::from_secs(1);
    config.discovery.backoff_max = Duration::from_secs(2);
    config.discovery.image_grace = Duration::from_secs(2);
    config.download.backoff_base = Duration::from_secs(1);
    config.download.backoff_max = Duration::from_secs(2);
    config.download.image = "registry.test/aim-downloader:1".into();
    // A quarter of the grace is the settle window in effect: 1 s, so the tests see a service's start steps held
    // back as in production (5 s there), and its shared objects outlive the wait for its first status.
    config.unused_grace = Duration::from_secs(4);
    config.status_settle = Duration::from_secs(1);
    config
}

/// Stops the operator of this process if one was started (see [`Running::stop`]); blocking.
pub fn stop_if_started() {
    if let Some(running) = STARTED.get() {
        running.stop();
    }
}

/// Starts the operator against the API server of `kubeconfig` with `config` (the first call's config wins), as
/// the `aim-operator` ServiceAccount of `deploy/base` (namespace, ServiceAccount and RBAC applied here), and
/// watches a fresh plugin directory.
pub fn start(kubeconfig: PathBuf, kubectl: PathBuf, config: OperatorConfig) -> &'static Running {
    STARTED.get_or_init(|| {
        let plugin_dir = std::env::temp_dir().join(format!("aim-test-plugins-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&plugin_dir);
        std::fs::create_dir_all(&plugin_dir).expect("plugin directory");
        let policy = PolicyEngine::new(PolicyEngineConfig::default()).expect("policy engine");
        let (engine, dir) = (policy.clone(), plugin_dir.clone());
        if config.namespace != "aim-system" {
            let _ = std::process::Command::new(&kubectl)
                .arg(format!("--kubeconfig={}", kubeconfig.display()))
                .args(["create", "namespace", &config.namespace])
                .output();
        }
        let (context_tx, context_rx) = std::sync::mpsc::channel();
        let (stop, mut stop_rx) = tokio::sync::watch::channel(false);
        let (stopped_tx, stopped) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("aim-operator".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .expect("runtime");
                runtime.block_on(async move {
                    // The operator runs as its ServiceAccount with the RBAC deploy/base ships, so a permission it
                    // lacks fails a test with a 403.
                    let identity = crate::identity::operator_kubeconfig(
                        &kubectl,
                        &kubeconfig,
                        &std::env::temp_dir().join(format!("aim-test-operator-{}.kubeconfig", std::process::id())),
                    )
                    .await
                    .expect("the operator's identity");
                    let kubeconfig = kube::config::Kubeconfig::read_from(&identity).expect("kubeconfig");
                    let client_config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
                        .await
                        .expect("config");
                    let health = WatchHealth::of_index();
                    let client = kube::client::ClientBuilder::try_from(client_config)
                        .expect("client")
                        .with_layer(&ResumedLayer::new(health.clone()))
                        .build();
                    let _watcher = watch(engine.clone(), dir, Duration::from_secs(30))
                        .await
                        .expect("watch plugins");
                    let operator = Operator::new(client, health, config, engine, Arc::new(ReconcileMetrics::default()));
                    let _ = context_tx.send(operator.context());
                    operator
                        .run(async move {
                            let _ = stop_rx.wait_for(|s| *s).await;
                        })
                        .await;
                });
                let _ = stopped_tx.send(());
            })
            .expect("spawn the operator thread");
        let context = context_rx.recv().expect("the operator starts");
        Running {
            policy,
            plugin_dir,
            context,
            stop,
            stopped: std::sync::Mutex::new(stopped),
        }
    })
}
