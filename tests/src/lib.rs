//! Local Kubernetes control plane and test harness for the AIM operator.
//!
//! - [`controlplane`]: the local cluster: etcd, kube-apiserver, kube-controller-manager and kube-scheduler from
//!   pinned upstream sources, kwok's fake GPU nodes, the KServe controller, and [`gateway`] accepting routes.
//! - [`TestEnv`]: what integration tests use. It reuses the control plane named by `AIM_TEST_KUBECONFIG` (the
//!   README's test command starts one for the whole run) or starts a private one that stops when the test
//!   process exits. Each test gets its own namespace.
//! - [`seed`]: the YAML examples of the product overview.

pub mod audit;
pub mod container;
pub mod controlplane;
pub mod downloader;
pub mod gateway;
pub mod gofakes3;
pub mod hub;
pub mod identity;
pub mod kubelet;
pub mod monitoring;
pub mod moto;
pub mod operator;
pub mod pod_container;
pub mod python_plugin;
pub mod real_world;
pub mod replica;
pub mod runtime_image;
pub mod scenario;
pub mod seed;
pub mod storage;
pub mod tls;
pub mod wait;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// Environment variable naming the kubeconfig of an already running control plane.
pub const KUBECONFIG_ENV: &str = "AIM_TEST_KUBECONFIG";
/// Environment variable naming the kubectl binary that matches it.
pub const KUBECTL_ENV: &str = "AIM_TEST_KUBECTL";
/// File `aim-local up` writes into its state directory once everything is ready: the kubeconfig path and the
/// kubectl path, one per line.
pub const READY_FILE: &str = "ready";

/// A running control plane, as tests see it.
pub struct TestEnv {
    kubeconfig: PathBuf,
    kubectl: PathBuf,
}

static SHARED: OnceLock<TestEnv> = OnceLock::new();
static NAMESPACES: AtomicUsize = AtomicUsize::new(0);

/// The shared [`TestEnv`] of this test process.
#[macro_export]
macro_rules! test_env {
    () => {
        $crate::TestEnv::shared(&$crate::local_cluster_binary())
    };
}

/// `aim-local` (of the `aim-tools` package), which starts a private control plane when no shared one is named:
/// `AIM_LOCAL_BINARY`, else the one built with the workspace next to the test executable (`scripts/test` builds
/// every target first; by hand: `cargo build -p aim-tools`).
pub fn local_cluster_binary() -> String {
    if let Ok(binary) = std::env::var("AIM_LOCAL_BINARY") {
        return binary;
    }
    let operator = replica::operator_binary();
    let beside = operator.with_file_name("aim-local");
    assert!(
        beside.exists(),
        "{} is not built: cargo build -p aim-tools (or name a running cluster with {KUBECONFIG_ENV})",
        beside.display()
    );
    beside.display().to_string()
}

/// A test's namespace; deleted (without waiting) when dropped, even when the test fails.
pub struct Namespace {
    name: String,
    #[allow(dead_code)]
    cleanup: Cleanup,
}

impl std::ops::Deref for Namespace {
    type Target = String;
    fn deref(&self) -> &String {
        &self.name
    }
}

impl std::fmt::Display for Namespace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name)
    }
}

/// Deletes objects when dropped.
pub struct Cleanup {
    kubectl: PathBuf,
    kubeconfig: PathBuf,
    what: Vec<String>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = std::process::Command::new(&self.kubectl)
            .arg(format!("--kubeconfig={}", self.kubeconfig.display()))
            .arg("delete")
            .args(&self.what)
            .args(["--ignore-not-found", "--wait=false"])
            .output();
    }
}

/// Output of a kubectl run.
#[derive(Debug, Clone)]
pub struct KubectlOutput {
    /// Whether kubectl exited 0.
    pub success: bool,
    /// Its stdout.
    pub stdout: String,
    /// Its stderr.
    pub stderr: String,
}

impl TestEnv {
    /// Reuses the control plane named by [`KUBECONFIG_ENV`], or starts one with `aim_local up` that lives as long
    /// as this process.
    pub fn shared(aim_local: &str) -> &'static TestEnv {
        SHARED.get_or_init(
            || match (std::env::var_os(KUBECONFIG_ENV), std::env::var_os(KUBECTL_ENV)) {
                (Some(kubeconfig), Some(kubectl)) => TestEnv {
                    kubeconfig: kubeconfig.into(),
                    kubectl: kubectl.into(),
                },
                _ => Self::start_private(Path::new(aim_local)),
            },
        )
    }

    // The child is never waited for on success: it outlives every test and stops by itself when this process
    // exits (`--exit-with`), taking the control plane down with it.
    #[allow(clippy::zombie_processes)]
    fn start_private(aim_local: &Path) -> TestEnv {
        let dir = std::env::temp_dir().join(format!("aim-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the control plane's state directory");
        let log = std::fs::File::create(dir.with_extension("log")).expect("create the aim-local log");
        let mut child = std::process::Command::new(aim_local)
            .args(["up", "--dir"])
            .arg(&dir)
            .args(["--exit-with", &std::process::id().to_string()])
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone log handle"))
            .stderr(log)
            .spawn()
            .expect("start aim-local up");
        // The first run on a machine builds Kubernetes from source; wait as long as the child is alive.
        loop {
            if let Ok(ready) = std::fs::read_to_string(dir.join(READY_FILE)) {
                let mut lines = ready.lines();
                let (Some(kubeconfig), Some(kubectl)) = (lines.next(), lines.next()) else {
                    continue;
                };
                return TestEnv {
                    kubeconfig: kubeconfig.into(),
                    kubectl: kubectl.into(),
                };
            }
            if let Ok(Some(status)) = child.try_wait() {
                let log = std::fs::read_to_string(dir.with_extension("log")).unwrap_or_default();
                panic!("aim-local up exited with {status} before the control plane was ready:\n{log}");
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// A new client for the calling test (clients are bound to the runtime that created them, and every
    /// `#[tokio::test]` has its own runtime).
    pub async fn client(&self) -> kube::Client {
        let kubeconfig = kube::config::Kubeconfig::read_from(&self.kubeconfig).expect("read the kubeconfig");
        let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
            .await
            .expect("kubeconfig");
        kube::Client::try_from(config).expect("build a client")
    }

    /// The kubectl binary.
    pub fn kubectl_path(&self) -> &Path {
        &self.kubectl
    }

    /// The kubeconfig path.
    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    /// The API server's audit log of the operator's requests (see [`controlplane::ControlPlane::audit_log`]).
    pub fn audit_log(&self) -> PathBuf {
        self.kubeconfig
            .parent()
            .unwrap_or(Path::new("."))
            .join(controlplane::AUDIT_LOG)
    }

    /// Creates a fresh namespace named after `prefix` for one test; it is deleted when the guard drops.
    pub async fn namespace(&self, prefix: &str) -> Namespace {
        let n = NAMESPACES.fetch_add(1, Ordering::Relaxed);
        let mut name = format!("{prefix}-{}-{n}", std::process::id());
        name.truncate(63);
        let out = self.kubectl(&["create", "namespace", &name]).await;
        assert!(out.success, "creating namespace {name}: {}", out.stderr);
        Namespace {
            name: name.clone(),
            cleanup: self.cleanup(&["namespace", &name]),
        }
    }

    /// A guard that deletes `kind name` (cluster-scoped) when it drops, so tests leave nothing behind that
    /// the next test binary's operator would act on.
    pub fn cleanup(&self, what: &[&str]) -> Cleanup {
        Cleanup {
            kubectl: self.kubectl.clone(),
            kubeconfig: self.kubeconfig.clone(),
            what: what.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// Starts the operator in this process (once per test binary; the first config wins).
    pub fn start_operator(&self, config: aim_operator::controller::OperatorConfig) -> &'static operator::Running {
        operator::start(self.kubeconfig.clone(), self.kubectl.clone(), config)
    }

    /// Runs kubectl against the control plane.
    pub async fn kubectl(&self, args: &[&str]) -> KubectlOutput {
        self.kubectl_with_stdin(args, None).await
    }

    /// Runs kubectl with `stdin` as its standard input (for `-f -`).
    pub async fn kubectl_with_stdin(&self, args: &[&str], stdin: Option<&str>) -> KubectlOutput {
        use tokio::io::AsyncWriteExt;
        let mut child = tokio::process::Command::new(&self.kubectl)
            .arg(format!("--kubeconfig={}", self.kubeconfig.display()))
            .args(args)
            .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run kubectl");
        if let Some(input) = stdin {
            let mut pipe = child.stdin.take().expect("stdin is piped");
            pipe.write_all(input.as_bytes()).await.expect("write kubectl stdin");
        }
        let out = child.wait_with_output().await.expect("wait for kubectl");
        KubectlOutput {
            success: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// `kubectl apply --server-side -f -` of `yaml`, into `namespace` when given.
    pub async fn apply(&self, yaml: &str, namespace: Option<&str>) -> KubectlOutput {
        let mut args = vec!["apply", "--server-side", "--field-manager=aim-tests", "-f", "-"];
        if let Some(ns) = namespace {
            args.extend(["-n", ns]);
        }
        self.kubectl_with_stdin(&args, Some(yaml)).await
    }
}
