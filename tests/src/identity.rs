//! Identities for what runs against the local cluster as a pod would. The operator's own: the `aim-operator` ServiceAccount with exactly the RBAC `deploy/base` ships,
//! and a kubeconfig holding a token for it. What runs with it can do exactly what an installed operator can:
//! a permission the shipped RBAC lacks fails with 403.

use crate::controlplane::{ControlPlaneError, run_kubectl};
use std::path::{Path, PathBuf};

/// The files of `deploy/base` that make the identity: its namespace, ServiceAccount and RBAC.
const IDENTITY_MANIFESTS: [&str; 3] = ["namespace.yaml", "serviceaccount.yaml", "rbac.yaml"];

fn deploy_base() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/base")
}

/// Applies the operator's namespace, ServiceAccount and RBAC from `deploy/base` with the admin `kubeconfig`,
/// and writes `out`: a kubeconfig for the same API server authenticating as the ServiceAccount.
pub async fn operator_kubeconfig(kubectl: &Path, kubeconfig: &Path, out: &Path) -> Result<PathBuf, ControlPlaneError> {
    let base = deploy_base();
    let mut args = vec!["apply".to_string(), "--server-side".into(), "--force-conflicts".into()];
    for file in IDENTITY_MANIFESTS {
        args.extend(["-f".into(), base.join(file).display().to_string()]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run_kubectl(kubectl, kubeconfig, &args).await?;
    service_account_kubeconfig(kubectl, kubeconfig, "aim-system", "aim-operator", out).await
}

/// Writes `out`: a kubeconfig for the API server of the admin `kubeconfig`, authenticating as ServiceAccount
/// `name` of `namespace` (which must exist) with a fresh token, as a pod running as it would.
pub async fn service_account_kubeconfig(
    kubectl: &Path,
    kubeconfig: &Path,
    namespace: &str,
    name: &str,
    out: &Path,
) -> Result<PathBuf, ControlPlaneError> {
    let token = run_kubectl(
        kubectl,
        kubeconfig,
        &["create", "token", name, "-n", namespace, "--duration=48h"],
    )
    .await?;
    let field = |path: &str| {
        let path = path.to_string();
        async move {
            run_kubectl(
                kubectl,
                kubeconfig,
                &["config", "view", "--minify", "--raw", "-o", &format!("jsonpath={path}")],
            )
            .await
        }
    };
    let server = field("{.clusters[0].cluster.server}").await?;
    let ca = field("{.clusters[0].cluster.certificate-authority}").await?;
    let credentials = format!("token: {}", token.trim());
    let yaml = crate::controlplane::kubeconfig(&server, &ca, name, &credentials, Some(namespace));
    std::fs::write(out, yaml).map_err(|source| ControlPlaneError::Io {
        context: format!("writing {}", out.display()),
        source,
    })?;
    Ok(out.to_path_buf())
}
