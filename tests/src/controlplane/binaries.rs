//! Locates the control-plane binaries, building them once per machine with `controlplane/build-binaries.sh`.
//!
//! The build lands in a cache directory outside any clone (`$AIM_CACHE_DIR`, default
//! `~/.cache/aim-operator`), keyed by the pinned versions, so every clone and CI run on the machine reuses it.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const BUILD_SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/controlplane/build-binaries.sh");

/// Paths of the four binaries.
#[derive(Debug, Clone)]
pub struct Binaries {
    /// `etcd`.
    pub etcd: PathBuf,
    /// `kube-apiserver`.
    pub kube_apiserver: PathBuf,
    /// `kube-controller-manager`.
    pub kube_controller_manager: PathBuf,
    /// `kubectl`.
    pub kubectl: PathBuf,
}

/// The build failed or printed no directory.
#[derive(Debug, thiserror::Error)]
#[error("building the control-plane binaries failed ({BUILD_SCRIPT}): {0}")]
pub struct BuildError(String);

impl Binaries {
    fn in_dir(dir: &Path) -> Self {
        Binaries {
            etcd: dir.join("etcd"),
            kube_apiserver: dir.join("kube-apiserver"),
            kube_controller_manager: dir.join("kube-controller-manager"),
            kubectl: dir.join("kubectl"),
        }
    }

    /// Returns the cached binaries, building them first if this machine has none (which takes a while; the
    /// build script's progress goes to stderr).
    pub fn ensure() -> Result<Self, BuildError> {
        let out = Command::new("bash")
            .arg(BUILD_SCRIPT)
            .stdin(Stdio::null())
            .stderr(Stdio::inherit())
            .output()
            .map_err(|e| BuildError(e.to_string()))?;
        if !out.status.success() {
            return Err(BuildError(format!("exit status {}", out.status)));
        }
        let dir = String::from_utf8_lossy(&out.stdout)
            .lines()
            .last()
            .unwrap_or_default()
            .trim()
            .to_string();
        if dir.is_empty() {
            return Err(BuildError("the script printed no binary directory".into()));
        }
        Ok(Self::in_dir(Path::new(&dir)))
    }
}
