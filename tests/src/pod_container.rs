//! A pod's container run as a real container: the built operator image under podman (runc, host networking),
//! configured from the pod spec as a kubelet configures it. It takes the container's command, args and env
//! (`fieldRef`s resolved to the values given), its volume mounts (each volume a host directory the test fills,
//! as the kubelet fills a PVC, a ConfigMap or an emptyDir), the pod's and container's security context (user,
//! group, `fsGroup` as a supplemental group, read-only root), the ServiceAccount's token, `ca.crt` and
//! `namespace` at `/var/run/secrets/kubernetes.io/serviceaccount`, `KUBERNETES_SERVICE_HOST`/`PORT`, and a
//! termination-message file at the container's `terminationMessagePath`.
//!
//! What differs from a kubelet, because there is no pod network here: host networking, so the API server and
//! loopback servers are reached at 127.0.0.1 (the caller passes the port to listen on where the pod would own
//! its own). podman's configuration is the one `scripts/image` writes (`$AIM_CACHE_DIR/containers`).

use k8s_openapi::api::core::v1::{Container, PodSpec};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};

/// The tag `scripts/image` gives the operator image (the one `deploy/base` names).
pub fn operator_image() -> String {
    format!("ghcr.io/silogen/aim-operator:{}", aim_operator_version())
}

fn aim_operator_version() -> &'static str {
    // The tests crate and the operator are versioned together (the workspace's one version).
    env!("CARGO_PKG_VERSION")
}

fn cache_dir() -> PathBuf {
    std::env::var_os("AIM_CACHE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache/aim-operator"))
}

/// `podman` with the configuration `scripts/image` writes.
pub fn podman() -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new("podman");
    let dir = cache_dir().join("containers");
    if std::env::var_os("CONTAINERS_CONF").is_none() {
        cmd.env("CONTAINERS_CONF", dir.join("containers.conf"));
    }
    if std::env::var_os("CONTAINERS_STORAGE_CONF").is_none() {
        cmd.env("CONTAINERS_STORAGE_CONF", dir.join("storage.conf"));
    }
    cmd.stdin(Stdio::null()).kill_on_drop(true);
    cmd
}

/// Panics with what to do when the operator image has not been built.
pub async fn require_image(image: &str) {
    let exists = podman()
        .args(["image", "exists", image])
        .status()
        .await
        .is_ok_and(|s| s.success());
    assert!(
        exists,
        "the operator image {image} is not built here: run scripts/image (scripts/test runs it before the tests)"
    );
}

/// Where the kubelet puts a ServiceAccount's credentials in a pod.
pub const SERVICE_ACCOUNT_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// A ServiceAccount's projected credentials, written to a host directory: `token` (fresh), `ca.crt` (the API
/// server's CA) and `namespace`, and the API server's host and port for `KUBERNETES_SERVICE_HOST`/`PORT`.
pub struct ServiceAccountMount {
    /// The host directory holding the three files.
    pub dir: PathBuf,
    /// `KUBERNETES_SERVICE_HOST`.
    pub host: String,
    /// `KUBERNETES_SERVICE_PORT`.
    pub port: String,
}

impl ServiceAccountMount {
    /// The credentials of ServiceAccount `name` in `namespace` of the cluster of admin `kubeconfig`, in `dir`.
    pub async fn write(kubectl: &Path, kubeconfig: &Path, namespace: &str, name: &str, dir: &Path) -> Self {
        let run = |args: Vec<String>| async move {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            crate::controlplane::run_kubectl(kubectl, kubeconfig, &args)
                .await
                .expect("kubectl")
        };
        let token = run(vec![
            "create".into(),
            "token".into(),
            name.into(),
            "-n".into(),
            namespace.into(),
            "--duration=2h".into(),
        ])
        .await;
        let view = |path: &str| {
            run(vec![
                "config".into(),
                "view".into(),
                "--minify".into(),
                "--raw".into(),
                "-o".into(),
                format!("jsonpath={path}"),
            ])
        };
        let server = view("{.clusters[0].cluster.server}").await;
        let ca = view("{.clusters[0].cluster.certificate-authority}").await;
        std::fs::create_dir_all(dir).expect("service account directory");
        std::fs::write(dir.join("token"), token.trim()).unwrap();
        std::fs::copy(ca.trim(), dir.join("ca.crt")).expect("the cluster's CA");
        std::fs::write(dir.join("namespace"), namespace).unwrap();
        let address = server.trim().trim_start_matches("https://");
        let (host, port) = address.rsplit_once(':').expect("server host:port");
        ServiceAccountMount {
            dir: dir.to_path_buf(),
            host: host.to_string(),
            port: port.to_string(),
        }
    }
}

/// What the kubelet would provide besides the pod spec.
pub struct PodContext<'a> {
    /// Each volume of the pod, by name: the host directory that stands for it.
    pub volumes: BTreeMap<String, PathBuf>,
    /// Values of `fieldRef` env (`metadata.name` → the pod's name, …), by field path.
    pub fields: BTreeMap<String, String>,
    /// The ServiceAccount's credentials, when the pod mounts its token.
    pub service_account: Option<&'a ServiceAccountMount>,
    /// Arguments appended to the container's own (host networking: the port the pod would have owned).
    pub extra_args: Vec<String>,
    /// The host file standing for the container's termination-message file.
    pub termination_log: Option<PathBuf>,
}

/// The `podman run` arguments (after `run`) for container `container` of `pod`, in `image`.
pub fn run_args(image: &str, pod: &PodSpec, container: &Container, context: &PodContext<'_>) -> Vec<String> {
    let mut args: Vec<String> = vec!["--network=host".into(), "--read-only-tmpfs=false".into()];
    let pod_security = pod.security_context.clone().unwrap_or_default();
    let security = container.security_context.clone().unwrap_or_default();
    let user = security.run_as_user.or(pod_security.run_as_user).unwrap_or(0);
    let group = security.run_as_group.or(pod_security.run_as_group).unwrap_or(0);
    args.push(format!("--user={user}:{group}"));
    if let Some(fs_group) = pod_security.fs_group {
        args.push(format!("--group-add={fs_group}"));
    }
    if security.read_only_root_filesystem == Some(true) {
        args.push("--read-only".into());
    }
    if security.allow_privilege_escalation == Some(false) {
        args.push("--security-opt=no-new-privileges".into());
    }
    if security
        .capabilities
        .as_ref()
        .and_then(|c| c.drop.as_ref())
        .is_some_and(|d| d.iter().any(|c| c == "ALL"))
    {
        args.push("--cap-drop=ALL".into());
    }
    for mount in container.volume_mounts.clone().unwrap_or_default() {
        let host = context
            .volumes
            .get(&mount.name)
            .unwrap_or_else(|| panic!("no host directory for volume {}", mount.name));
        let mode = if mount.read_only == Some(true) { "ro" } else { "rw" };
        args.push(format!("--volume={}:{}:{mode}", host.display(), mount.mount_path));
    }
    if let Some(sa) = context.service_account {
        args.push(format!("--volume={}:{SERVICE_ACCOUNT_DIR}:ro", sa.dir.display()));
        args.push(format!("--env=KUBERNETES_SERVICE_HOST={}", sa.host));
        args.push(format!("--env=KUBERNETES_SERVICE_PORT={}", sa.port));
    }
    if let Some(log) = &context.termination_log {
        let path = container
            .termination_message_path
            .clone()
            .unwrap_or_else(|| "/dev/termination-log".into());
        args.push(format!("--volume={}:{path}:rw", log.display()));
    }
    for var in container.env.clone().unwrap_or_default() {
        let value = match (&var.value, &var.value_from) {
            (Some(v), _) => v.clone(),
            (None, Some(from)) => {
                let field = from
                    .field_ref
                    .as_ref()
                    .unwrap_or_else(|| panic!("env {} comes from something other than a field", var.name));
                context
                    .fields
                    .get(&field.field_path)
                    .unwrap_or_else(|| panic!("no value for field {}", field.field_path))
                    .clone()
            }
            (None, None) => String::new(),
        };
        args.push(format!("--env={}={value}", var.name));
    }
    if let Some(command) = &container.command {
        args.push(format!("--entrypoint={}", serde_json::to_string(command).unwrap()));
    }
    args.push(image.to_string());
    args.extend(container.args.clone().unwrap_or_default());
    args.extend(context.extra_args.iter().cloned());
    args
}

/// A host directory as the kubelet prepares a volume for a pod with `fsGroup`: group-owned by it, setgid, group
/// writable.
pub fn fs_group_dir(dir: &Path, fs_group: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir).expect("volume directory");
    std::os::unix::fs::chown(dir, Some(0), Some(fs_group)).expect("chown the volume");
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o2775)).expect("chmod the volume");
}

/// A container started in the background (`podman run -d`); removed when dropped.
pub struct Detached {
    name: String,
}

impl Detached {
    /// Starts `args` (from [`run_args`]) as container `name`.
    pub async fn start(name: &str, args: Vec<String>) -> Detached {
        let _ = podman().args(["rm", "-f", name]).output().await;
        let out = podman()
            .args(["run", "-d", "--name", name])
            .args(&args)
            .output()
            .await
            .expect("run podman");
        assert!(
            out.status.success(),
            "podman run {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Detached { name: name.to_string() }
    }

    /// Its output so far (stdout and stderr).
    pub async fn logs(&self) -> String {
        let out = podman().args(["logs", &self.name]).output().await.expect("podman logs");
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    }

    /// Whether it still runs.
    pub async fn running(&self) -> bool {
        let out = podman()
            .args(["inspect", "--format", "{{.State.Running}}", &self.name])
            .output()
            .await
            .expect("podman inspect");
        String::from_utf8_lossy(&out.stdout).trim() == "true"
    }

    /// SIGTERM, as the kubelet stops a container, waiting up to `grace_seconds`; its exit code.
    pub async fn stop(&self, grace_seconds: u32) -> i32 {
        let _ = podman()
            .args(["stop", "--time", &grace_seconds.to_string(), &self.name])
            .output()
            .await;
        let out = podman()
            .args(["inspect", "--format", "{{.State.ExitCode}}", &self.name])
            .output()
            .await
            .expect("podman inspect");
        String::from_utf8_lossy(&out.stdout).trim().parse().unwrap_or(-1)
    }
}

impl Drop for Detached {
    fn drop(&mut self) {
        let _ = std::process::Command::new("podman")
            .envs(podman().as_std().get_envs().filter_map(|(k, v)| Some((k, v?))))
            .args(["rm", "-f", &self.name])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// Runs `args` (from [`run_args`]) to the end in the foreground (`podman run --rm`).
pub async fn run_to_end(name: &str, args: Vec<String>) -> Output {
    podman()
        .args(["run", "--rm", "--name", name])
        .args(&args)
        .output()
        .await
        .expect("run podman")
}
