//! The KServe controller manager of the local cluster, run out of cluster in Standard (raw deployment) mode: it
//! turns each InferenceService into its `-predictor` Deployment and Service and marks it Ready when its pods are.
//!
//! What it needs besides its CRDs: the `inferenceservice-config` ConfigMap in its namespace (upstream's, with the
//! default deployment mode Standard and no Istio virtual host or Ingress, since neither runs here),
//! `POD_NAMESPACE`, and a serving certificate for its webhook server under `$TMPDIR/k8s-webhook-server/
//! serving-certs` (no webhook configuration is registered with the API server, so nothing calls it).

use serde_json::Value;
use std::path::{Path, PathBuf};

/// KServe's namespace.
pub const NAMESPACE: &str = "kserve";

/// Errors while preparing KServe's configuration.
#[derive(Debug, thiserror::Error)]
pub enum KServeConfigError {
    /// The upstream ConfigMap could not be read or is not what was expected.
    #[error("KServe's inferenceservice-config: {0}")]
    Config(String),
    /// A file could not be written.
    #[error("{0}: {1}")]
    Io(PathBuf, std::io::Error),
}

fn set_json_key(data: &mut Value, key: &str, edit: impl FnOnce(&mut Value)) -> Result<(), KServeConfigError> {
    let text = data[key]
        .as_str()
        .ok_or_else(|| KServeConfigError::Config(format!("no data.{key}")))?;
    let mut value: Value =
        serde_json::from_str(text).map_err(|e| KServeConfigError::Config(format!("data.{key} is not JSON: {e}")))?;
    edit(&mut value);
    data[key] = Value::String(value.to_string());
    Ok(())
}

/// Upstream's `inferenceservice-config` (YAML at `upstream`), made for this cluster, as JSON.
pub fn config(upstream: &Path) -> Result<Value, KServeConfigError> {
    let text = std::fs::read_to_string(upstream).map_err(|e| KServeConfigError::Io(upstream.to_path_buf(), e))?;
    let mut config: Value =
        serde_saphyr::from_str(&text).map_err(|e| KServeConfigError::Config(format!("not YAML: {e}")))?;
    config["metadata"]["namespace"] = Value::String(NAMESPACE.into());
    let data = &mut config["data"];
    set_json_key(data, "deploy", |d| {
        d["defaultDeploymentMode"] = Value::String("Standard".into());
    })?;
    set_json_key(data, "ingress", |i| {
        i["disableIstioVirtualHost"] = Value::Bool(true);
        i["disableIngressCreation"] = Value::Bool(true);
    })?;
    Ok(config)
}

/// Writes the webhook server's certificate where KServe looks for it (`<tmp>/k8s-webhook-server/serving-certs`)
/// and returns `tmp`, the `TMPDIR` to run the manager with.
pub fn webhook_certs(state: &Path, cert: &Path, key: &Path) -> Result<PathBuf, KServeConfigError> {
    let tmp = state.join("kserve-tmp");
    let dir = tmp.join("k8s-webhook-server/serving-certs");
    std::fs::create_dir_all(&dir).map_err(|e| KServeConfigError::Io(dir.clone(), e))?;
    for (from, to) in [(cert, "tls.crt"), (key, "tls.key")] {
        std::fs::copy(from, dir.join(to)).map_err(|e| KServeConfigError::Io(dir.join(to), e))?;
    }
    Ok(tmp)
}
