//! What the local cluster installs from other projects: KServe's CRDs (every one its controller manager watches)
//! and its `inferenceservice-config`, the Gateway API's `GatewayClass`, `Gateway` and `HTTPRoute` CRDs, KEDA's
//! `ScaledObject` CRD (KServe makes one for a service that scales on a request metric), and kwok's node and
//! volume stages.
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
pub fn module_dir(module: &str, version: &str) -> Result<PathBuf, UpstreamCrdError> {
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

/// The KServe module's directory.
pub fn kserve_dir(versions: &Versions) -> Result<PathBuf, UpstreamCrdError> {
    module_dir("github.com/kserve/kserve", &versions.kserve)
}

/// The kwok module's directory.
pub fn kwok_dir(versions: &Versions) -> Result<PathBuf, UpstreamCrdError> {
    module_dir("sigs.k8s.io/kwok", &versions.kwok)
}

fn existing(dir: &std::path::Path, module: &str, path: &str) -> Result<PathBuf, UpstreamCrdError> {
    let file = dir.join(path);
    if file.is_file() {
        Ok(file)
    } else {
        Err(UpstreamCrdError::Missing {
            module: module.to_string(),
            path: path.to_string(),
        })
    }
}

/// Paths of the upstream CRD files, in install order: every KServe CRD (its manager watches them all), the
/// Gateway API's, then KEDA's `ScaledObject` (installed before KServe starts: it watches ScaledObjects only when
/// the CRD exists then).
pub fn upstream_crd_files(versions: &Versions) -> Result<Vec<PathBuf>, UpstreamCrdError> {
    let kserve = kserve_dir(versions)?;
    let mut files: Vec<PathBuf> = std::fs::read_dir(kserve.join("config/crd/full"))
        .map_err(|e| UpstreamCrdError::Download {
            module: format!("github.com/kserve/kserve@{}", versions.kserve),
            detail: format!("config/crd/full: {e}"),
        })?
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.extension().is_some_and(|e| e == "yaml")
                && p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("serving.kserve.io_"))
        })
        .collect();
    files.sort();
    let gateway = module_dir("sigs.k8s.io/gateway-api", &versions.gateway_api)?;
    let module = format!("sigs.k8s.io/gateway-api@{}", versions.gateway_api);
    // The standard channel's kinds a Gateway API implementation watches (Traefik, on the real node's cluster,
    // lists each of them before it serves a route).
    for path in [
        "config/crd/standard/gateway.networking.k8s.io_gatewayclasses.yaml",
        "config/crd/standard/gateway.networking.k8s.io_gateways.yaml",
        "config/crd/standard/gateway.networking.k8s.io_httproutes.yaml",
        "config/crd/standard/gateway.networking.k8s.io_grpcroutes.yaml",
        "config/crd/standard/gateway.networking.k8s.io_referencegrants.yaml",
        "config/crd/standard/gateway.networking.k8s.io_backendtlspolicies.yaml",
        "config/crd/standard/gateway.networking.k8s.io_tlsroutes.yaml",
    ] {
        files.push(existing(&gateway, &module, path)?);
    }
    let keda = module_dir("github.com/kedacore/keda/v2", &versions.keda)?;
    let module = format!("github.com/kedacore/keda/v2@{}", versions.keda);
    files.push(existing(&keda, &module, "config/crd/bases/keda.sh_scaledobjects.yaml")?);
    Ok(files)
}

/// KServe's `inferenceservice-config` ConfigMap file.
pub fn kserve_config(versions: &Versions) -> Result<PathBuf, UpstreamCrdError> {
    let dir = kserve_dir(versions)?;
    existing(
        &dir,
        &format!("github.com/kserve/kserve@{}", versions.kserve),
        "config/configmap/inferenceservice.yaml",
    )
}

/// kwok's stages for nodes: Ready at once, heartbeats through Leases.
pub fn kwok_stage_files(versions: &Versions) -> Result<Vec<PathBuf>, UpstreamCrdError> {
    let dir = kwok_dir(versions)?;
    let module = format!("sigs.k8s.io/kwok@{}", versions.kwok);
    [
        "kustomize/stage/node/fast/node-initialize.yaml",
        "kustomize/stage/node/heartbeat-with-lease/node-heartbeat-with-lease.yaml",
    ]
    .into_iter()
    .map(|p| existing(&dir, &module, p))
    .collect()
}

/// KEDA's CRDs besides `ScaledObject` (which every cluster has: [`upstream_crd_files`]), all of which its
/// operator watches, and the HTTP add-on's `InterceptorRoute` and `HTTPScaledObject`, for a cluster that runs
/// them.
pub fn keda_crd_files(versions: &Versions) -> Result<Vec<PathBuf>, UpstreamCrdError> {
    let keda = module_dir("github.com/kedacore/keda/v2", &versions.keda)?;
    let module = format!("github.com/kedacore/keda/v2@{}", versions.keda);
    let mut files = [
        "config/crd/bases/keda.sh_scaledobjects.yaml",
        "config/crd/bases/keda.sh_scaledjobs.yaml",
        "config/crd/bases/keda.sh_triggerauthentications.yaml",
        "config/crd/bases/keda.sh_clustertriggerauthentications.yaml",
        "config/crd/bases/eventing.keda.sh_cloudeventsources.yaml",
        "config/crd/bases/eventing.keda.sh_clustercloudeventsources.yaml",
    ]
    .into_iter()
    .map(|p| existing(&keda, &module, p))
    .collect::<Result<Vec<_>, _>>()?;
    let add_on = module_dir("github.com/kedacore/http-add-on", &versions.http_add_on)?;
    let module = format!("github.com/kedacore/http-add-on@{}", versions.http_add_on);
    for p in [
        "config/crd/bases/http.keda.sh_interceptorroutes.yaml",
        "config/crd/bases/http.keda.sh_httpscaledobjects.yaml",
    ] {
        files.push(existing(&add_on, &module, p)?);
    }
    Ok(files)
}
