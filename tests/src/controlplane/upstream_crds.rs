//! The third-party CRDs the operator writes to: KServe's `InferenceService` and the Gateway API's `GatewayClass`,
//! `Gateway` and `HTTPRoute`.
//!
//! They are read from the pinned upstream Go modules (`go mod download` puts the module, YAML included, in the
//! Go module cache), so the tests run against exactly what upstream publishes and nothing of theirs is committed.

use super::versions::Versions;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// Errors while fetching upstream CRDs.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamCrdError {
    /// `go mod download` failed.
    #[error("go mod download {module} failed: {detail}")]
    Download {
        /// `module@version`.
        module: String,
        /// What went wrong.
        detail: String,
    },
    /// The module does not contain the expected file.
    #[error("{module} has no {path}; was the pinned version changed?")]
    Missing {
        /// `module@version`.
        module: String,
        /// Path inside the module.
        path: String,
    },
}

/// Downloads (or finds in the module cache) `module@version` and returns its directory.
fn module_dir(module: &str, version: &str) -> Result<PathBuf, UpstreamCrdError> {
    let spec = format!("{module}@{version}");
    let err = |detail: String| UpstreamCrdError::Download {
        module: spec.clone(),
        detail,
    };
    let out = Command::new("go")
        .args(["mod", "download", "-json", &spec])
        .env("GOTOOLCHAIN", "local")
        .env("GOFLAGS", "-mod=mod")
        .current_dir(std::env::temp_dir())
        .stdin(Stdio::null())
        .output()
        .map_err(|e| err(format!("cannot run go: {e}")))?;
    let info: serde_json::Value = serde_json::from_slice(&out.stdout).map_err(|e| {
        err(format!(
            "unreadable output ({e}): {}",
            String::from_utf8_lossy(&out.stderr)
        ))
    })?;
    if let Some(e) = info.get("Error").and_then(|e| e.as_str()) {
        return Err(err(e.to_string()));
    }
    info.get("Dir")
        .and_then(|d| d.as_str())
        .map(PathBuf::from)
        .ok_or_else(|| err("no Dir in output".into()))
}

/// Paths of the upstream CRD files, in install order.
pub fn upstream_crd_files(versions: &Versions) -> Result<Vec<PathBuf>, UpstreamCrdError> {
    let wanted: [(&str, &str, &[&str]); 2] = [
        (
            "github.com/kserve/kserve",
            &versions.kserve,
            &["config/crd/full/serving.kserve.io_inferenceservices.yaml"],
        ),
        (
            "sigs.k8s.io/gateway-api",
            &versions.gateway_api,
            &[
                "config/crd/standard/gateway.networking.k8s.io_gatewayclasses.yaml",
                "config/crd/standard/gateway.networking.k8s.io_gateways.yaml",
                "config/crd/standard/gateway.networking.k8s.io_httproutes.yaml",
            ],
        ),
    ];
    let mut files = Vec::new();
    for (module, version, paths) in wanted {
        let dir = module_dir(module, version)?;
        for path in paths {
            let file = dir.join(path);
            if !file.is_file() {
                return Err(UpstreamCrdError::Missing {
                    module: format!("{module}@{version}"),
                    path: path.to_string(),
                });
            }
            files.push(file);
        }
    }
    Ok(files)
}
