//! Locates the local cluster's binaries, building them once per machine: Kubernetes and etcd
//! (`controlplane/build-binaries.sh`), kwok (`build-kwok.sh`) and the KServe controller manager
//! (`build-kserve.sh`); moto for the downloader's tests (`build-moto.sh`, through [`build`]) and helm for the
//! chart's (`build-helm.sh`, [`helm`]).
//!
//! Each build lands in a cache directory outside any clone (`$AIM_CACHE_DIR`, default `~/.cache/aim-operator`),
//! keyed by its pinned version, so every clone and CI run on the machine reuses it.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const SCRIPTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/controlplane");

/// Paths of the binaries.
#[derive(Debug, Clone)]
pub struct Binaries {
    /// `etcd`.
    pub etcd: PathBuf,
    /// `kube-apiserver`.
    pub kube_apiserver: PathBuf,
    /// `kube-controller-manager`.
    pub kube_controller_manager: PathBuf,
    /// `kube-scheduler`.
    pub kube_scheduler: PathBuf,
    /// `kubectl`.
    pub kubectl: PathBuf,
    /// `kwok`.
    pub kwok: PathBuf,
    /// The KServe controller manager.
    pub kserve_manager: PathBuf,
}

/// A build failed or printed no directory.
#[derive(Debug, thiserror::Error)]
#[error("building the local cluster's binaries failed ({script}): {detail}")]
pub struct BuildError {
    script: String,
    detail: String,
}

/// Runs `controlplane/<script>` and returns the binary directory it prints last.
pub fn build(script: &str) -> Result<PathBuf, BuildError> {
    let path = Path::new(SCRIPTS).join(script);
    let fail = |detail: String| BuildError {
        script: path.display().to_string(),
        detail,
    };
    let out = Command::new("bash")
        .arg(&path)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| fail(e.to_string()))?;
    if !out.status.success() {
        return Err(fail(format!("exit status {}", out.status)));
    }
    let dir = String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap_or_default()
        .trim()
        .to_string();
    if dir.is_empty() {
        return Err(fail("the script printed no binary directory".into()));
    }
    Ok(PathBuf::from(dir))
}

impl Binaries {
    /// Returns the cached binaries, building what this machine lacks first (which takes a while; the build
    /// scripts' progress goes to stderr).
    pub fn ensure() -> Result<Self, BuildError> {
        let k8s = build("build-binaries.sh")?;
        let kwok = build("build-kwok.sh")?;
        let kserve = build("build-kserve.sh")?;
        Ok(Binaries {
            etcd: k8s.join("etcd"),
            kube_apiserver: k8s.join("kube-apiserver"),
            kube_controller_manager: k8s.join("kube-controller-manager"),
            kube_scheduler: k8s.join("kube-scheduler"),
            kubectl: k8s.join("kubectl"),
            kwok: kwok.join("kwok"),
            kserve_manager: kserve.join("kserve-manager"),
        })
    }
}

/// `helm`, built once per machine from its pinned Go module (`build-helm.sh`), for the chart's tests.
pub fn helm() -> Result<PathBuf, BuildError> {
    Ok(build("build-helm.sh")?.join("helm"))
}

/// The directory holding `prometheus` and `promtool`, from Debian's package (`fetch-prometheus.sh`), once per
/// machine.
pub fn prometheus() -> Result<PathBuf, BuildError> {
    build("fetch-prometheus.sh")
}

/// `traefik`, built once per machine from its pinned Go module (`build-traefik.sh`): the real node's Gateway
/// API implementation.
pub fn traefik() -> Result<PathBuf, BuildError> {
    Ok(build("build-traefik.sh")?.join("traefik"))
}

/// The kubelet and kube-proxy, built once per machine from the pinned Kubernetes module (`build-node.sh`), for
/// a real node: their directory.
pub fn node() -> Result<PathBuf, BuildError> {
    build("build-node.sh")
}

/// `coredns`, built once per machine from its pinned module with the plugins a cluster DNS needs
/// (`build-coredns.sh`): the real node's cluster DNS.
pub fn coredns() -> Result<PathBuf, BuildError> {
    Ok(build("build-coredns.sh")?.join("coredns"))
}

/// KEDA's operator and metrics adapter (`keda-operator`, `keda-adapter`), built once per machine from KEDA's
/// pinned module (`build-keda.sh`): their directory.
pub fn keda() -> Result<PathBuf, BuildError> {
    build("build-keda.sh")
}

/// KEDA's HTTP add-on interceptor and scaler (`keda-http-interceptor`, `keda-http-scaler`), built once per
/// machine from its pinned module (`build-http-add-on.sh`): their directory.
pub fn http_add_on() -> Result<PathBuf, BuildError> {
    build("build-http-add-on.sh")
}

/// `metrics-server`, built once per machine from its pinned module (`build-metrics-server.sh`).
pub fn metrics_server() -> Result<PathBuf, BuildError> {
    Ok(build("build-metrics-server.sh")?.join("metrics-server"))
}
