//! A real node for the local cluster: the kubelet and kube-proxy built from the pinned Kubernetes module
//! (`controlplane/build-node.sh`), containerd and runc from Debian, a CNI bridge from Debian's
//! containernetworking-plugins. Pods scheduled to it run as real containers: the operator's own Deployment, its
//! download Jobs. It registers as `aim-cpu-0`, a CPU node without GPUs, next to kwok's fake GPU nodes.
//!
//! What this machine needs and why (each found by trying; see `tests/controlplane/README.md`):
//! - no registry is reachable, so the images come from here: the operator image from podman's store
//!   (`scripts/image`), and a pod-sandbox image built from `controlplane/node/pause.c` (ours: it holds the pod's
//!   namespaces and reaps zombies) instead of `registry.k8s.io/pause`;
//! - the VM refuses a negative `oom_score_adj` (even to root), which the kubelet asks for sandboxes and
//!   Guaranteed pods: containerd's `restrict_oom_score_adj` clamps it to containerd's own (0);
//! - cgroup v1 (hybrid): the kubelet runs with `failCgroupV1: false`, the cgroupfs driver and no QoS cgroups;
//! - the API server is reached from pods through the `kubernetes` Service (10.96.0.1), which kube-proxy
//!   (iptables mode) translates to the node's address; the API server listens there and its certificate names
//!   both (see `ControlPlane::start_with_real_node`).

use super::{ControlPlaneError, io, run_kubectl};
use std::net::{IpAddr, Ipv4Addr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::process::{Child, Command};

/// The real node's name.
pub const NODE_NAME: &str = "aim-cpu-0";
/// The label it carries, for a nodeSelector that wants it.
pub const NODE_LABEL: &str = "aim.silogen.ai/real-node";
/// Its pods' subnet (a CNI bridge on the host).
pub const POD_SUBNET: &str = "10.244.0.0/24";
/// The bridge's name.
const BRIDGE: &str = "aimnode0";
/// The sandbox image containerd runs for every pod.
const PAUSE_IMAGE: &str = "localhost/aim-pause:1";
const PAUSE_SOURCE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/controlplane/node/pause.c");

/// The address pods reach the host (and the API server) at: the host's address on its default route, else its
/// first global IPv4 address.
pub fn host_ip() -> Result<Ipv4Addr, ControlPlaneError> {
    let routed = UdpSocket::bind("0.0.0.0:0")
        .and_then(|s| s.connect("192.0.2.255:9").map(|_| s))
        .and_then(|s| s.local_addr())
        .ok()
        .and_then(|a| match a.ip() {
            IpAddr::V4(v4) if !v4.is_loopback() && !v4.is_unspecified() => Some(v4),
            _ => None,
        });
    if let Some(ip) = routed {
        return Ok(ip);
    }
    let out = std::process::Command::new("ip")
        .args(["-4", "-o", "addr", "show", "scope", "global"])
        .output()
        .map_err(io("listing the host's addresses"))?;
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .skip_while(|w| *w != "inet")
        .nth(1)
        .and_then(|cidr| cidr.split('/').next()?.parse().ok())
        .ok_or_else(|| ControlPlaneError::RealNode("the host has no IPv4 address for pods to reach".into()))
}

/// The tools a real node needs; the error says how to get the missing ones.
fn check_tools() -> Result<(), ControlPlaneError> {
    let missing: Vec<&str> = ["containerd", "ctr", "runc", "iptables", "gcc", "podman", "buildah"]
        .into_iter()
        .filter(|t| {
            !std::process::Command::new("sh")
                .args(["-c", &format!("command -v {t}")])
                .stdout(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        })
        .collect();
    let cni = Path::new("/usr/lib/cni/bridge").exists();
    if missing.is_empty() && cni {
        return Ok(());
    }
    Err(ControlPlaneError::RealNode(format!(
        "a real node needs {}{}: `source scripts/env.sh && ensure_container_tools` installs them from Debian",
        missing.join(", "),
        if cni { "" } else { " and containernetworking-plugins" }
    )))
}

/// The running node: containerd, the kubelet and kube-proxy, stopped (and their pods, mounts, bridge and rules
/// removed) by [`RealNode::stop`] or on drop.
pub struct RealNode {
    /// Held while the node runs: one real node per machine at a time (they share the bridge, the node's
    /// address and its DNS port, and kube-proxy's rules).
    _machine: std::fs::File,
    dir: PathBuf,
    processes: Vec<(&'static str, Child)>,
    kube_proxy: PathBuf,
    kubectl: PathBuf,
    kubeconfig: PathBuf,
}

async fn run(what: &str, cmd: &mut Command) -> Result<String, ControlPlaneError> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(io(format!("running {what}")))?;
    if !out.status.success() {
        return Err(ControlPlaneError::RealNode(format!(
            "{what} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn podman() -> Command {
    let mut cmd = Command::new("podman");
    let env = crate::pod_container::podman();
    for (k, v) in env.as_std().get_envs() {
        if let Some(v) = v {
            cmd.env(k, v);
        }
    }
    cmd
}

fn spawn(dir: &Path, name: &str, binary: &Path, args: &[String]) -> Result<Child, ControlPlaneError> {
    let mut command = Command::new(binary);
    command.args(args);
    super::spawn_logged(dir, name, command)
}

fn free_port() -> Result<u16, ControlPlaneError> {
    super::free_port()
}

impl RealNode {
    /// Starts the node in `dir` against the cluster of admin `kubeconfig`, reachable at `node_ip`; returns once
    /// the node is Ready and kube-proxy has programmed the `kubernetes` Service.
    pub async fn start(
        dir: &Path,
        kubectl: &Path,
        kubeconfig: &Path,
        node_ip: Ipv4Addr,
        bin: &Path,
        coredns: &Path,
    ) -> Result<RealNode, ControlPlaneError> {
        check_tools()?;
        let machine = machine_lock().await?;
        let dir = dir.join("node");
        std::fs::create_dir_all(&dir).map_err(io("creating the node's directory"))?;
        let mut node = RealNode {
            _machine: machine,
            dir: dir.clone(),
            processes: Vec::new(),
            kube_proxy: bin.join("kube-proxy"),
            kubectl: kubectl.to_path_buf(),
            kubeconfig: kubeconfig.to_path_buf(),
        };
        let socket = dir.join("containerd.sock");
        let containerd_config = dir.join("containerd.toml");
        std::fs::write(&containerd_config, containerd_toml(&dir)).map_err(io("writing containerd's config"))?;
        std::fs::create_dir_all(dir.join("cni")).map_err(io("creating the CNI directory"))?;
        std::fs::write(dir.join("cni/10-aim.conflist"), cni_conflist(&dir)).map_err(io("writing the CNI config"))?;
        let containerd = spawn(
            &dir,
            "containerd",
            Path::new("containerd"),
            &["--config".into(), containerd_config.display().to_string()],
        )?;
        node.processes.push(("containerd", containerd));
        let start = Instant::now();
        while !socket.exists() {
            if start.elapsed() > Duration::from_secs(30) {
                return Err(ControlPlaneError::RealNode(
                    "containerd did not start within 30 s".into(),
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        node.import_images(&socket).await?;
        node.start_dns(coredns, node_ip).await?;

        let kubelet_config = dir.join("kubelet.yaml");
        let (kubelet_port, healthz_port) = (free_port()?, free_port()?);
        std::fs::write(
            &kubelet_config,
            kubelet_yaml(&socket, node_ip, kubelet_port, healthz_port),
        )
        .map_err(io("writing the kubelet's config"))?;
        let kubelet = spawn(
            &dir,
            "kubelet",
            &bin.join("kubelet"),
            &[
                format!("--config={}", kubelet_config.display()),
                format!("--kubeconfig={}", kubeconfig.display()),
                format!("--hostname-override={NODE_NAME}"),
                format!("--node-ip={node_ip}"),
                format!("--node-labels={NODE_LABEL}=true"),
                format!("--root-dir={}", dir.join("kubelet").display()),
                format!("--cert-dir={}", dir.join("kubelet-pki").display()),
                "--v=1".into(),
            ],
        )?;
        node.processes.push(("kubelet", kubelet));
        // The node object appears a moment after the kubelet starts.
        let start = Instant::now();
        loop {
            let ready = run_kubectl(
                kubectl,
                kubeconfig,
                &[
                    "get",
                    "node",
                    NODE_NAME,
                    "-o",
                    "jsonpath={.status.conditions[?(@.type=='Ready')].status}",
                ],
            )
            .await
            .unwrap_or_default();
            if ready == "True" {
                break;
            }
            if start.elapsed() > Duration::from_secs(90) {
                return Err(ControlPlaneError::RealNode(format!(
                    "the kubelet's node never became Ready; see {}",
                    dir.join("kubelet.log").display()
                )));
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }

        let kube_proxy = spawn(
            &dir,
            "kube-proxy",
            &node.kube_proxy,
            &[
                format!("--kubeconfig={}", kubeconfig.display()),
                format!("--hostname-override={NODE_NAME}"),
                "--proxy-mode=iptables".into(),
                "--cluster-cidr=10.244.0.0/16".into(),
                // This VM's conntrack table cannot be resized; the default is enough for a test node.
                "--conntrack-max-per-core=0".into(),
                format!("--metrics-bind-address=127.0.0.1:{}", free_port()?),
                format!("--healthz-bind-address=127.0.0.1:{}", free_port()?),
            ],
        )?;
        node.processes.push(("kube-proxy", kube_proxy));
        let start = Instant::now();
        loop {
            let rules = run("iptables", Command::new("iptables").args(["-t", "nat", "-S"]))
                .await
                .unwrap_or_default();
            if rules.contains("10.96.0.1/32") {
                break;
            }
            if start.elapsed() > Duration::from_secs(60) {
                return Err(ControlPlaneError::RealNode(
                    "kube-proxy did not program the kubernetes Service within 60 s".into(),
                ));
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        Ok(node)
    }

    /// CoreDNS as the cluster's DNS, on the node's address (port 53), the `clusterDNS` the kubelet gives pods:
    /// `<service>.<namespace>[.svc.cluster.local]` from the API server's Services, other names forwarded to the
    /// host's resolver. Returns once it reports ready (its Kubernetes plugin has listed the Services).
    async fn start_dns(&mut self, coredns: &Path, node_ip: Ipv4Addr) -> Result<(), ControlPlaneError> {
        let ready_port = free_port()?;
        let corefile = self.dir.join("Corefile");
        std::fs::write(
            &corefile,
            format!(
                ".:53 {{\n    bind {node_ip}\n    errors\n    ready 127.0.0.1:{ready_port}\n    \
                 kubernetes cluster.local in-addr.arpa ip6.arpa {{\n        kubeconfig {kubeconfig}\n        \
                 pods insecure\n        fallthrough in-addr.arpa ip6.arpa\n    }}\n    \
                 forward . /etc/resolv.conf\n    cache 30\n}}\n",
                kubeconfig = self.kubeconfig.display(),
            ),
        )
        .map_err(io("writing the Corefile"))?;
        let dns = spawn(
            &self.dir,
            "coredns",
            coredns,
            &["-conf".into(), corefile.display().to_string()],
        )?;
        self.processes.push(("coredns", dns));
        let start = Instant::now();
        while !super::http_ok(ready_port, "/ready").await {
            if start.elapsed() > Duration::from_secs(60) {
                return Err(ControlPlaneError::RealNode(format!(
                    "CoreDNS did not become ready within 60 s; see {}",
                    self.dir.join("coredns.log").display()
                )));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Ok(())
    }

    /// The pause image (built once per machine per source) and the operator image (from podman's store, as
    /// `scripts/image` left it), imported into containerd's `k8s.io` namespace.
    async fn import_images(&self, socket: &Path) -> Result<(), ControlPlaneError> {
        use sha2::Digest as _;
        let source = std::fs::read(PAUSE_SOURCE).map_err(io("reading pause.c"))?;
        let digest = sha2::Sha256::digest(&source)
            .iter()
            .take(6)
            .map(|b| format!("{b:02x}"))
            .collect::<String>();
        let build = self.dir.join("pause-build");
        std::fs::create_dir_all(&build).map_err(io("creating the pause build directory"))?;
        let binary = build.join("pause");
        let pause_tar = scratch_image(
            PAUSE_IMAGE,
            &format!("pause-{digest}"),
            &binary,
            "65535:65535",
            || async {
                run(
                    "gcc (pause)",
                    Command::new("gcc")
                        .args(["-static", "-Os", "-s", "-o"])
                        .arg(&binary)
                        .arg(PAUSE_SOURCE),
                )
                .await
                .map(|_| ())
            },
        )
        .await?;
        ctr_import(socket, &pause_tar).await?;
        // The operator's image, when it is built (the tests that run the operator as pods require it first; the
        // demo runs the operator in its own process).
        let operator = crate::pod_container::operator_image();
        let built = podman()
            .args(["image", "exists", &operator])
            .status()
            .await
            .is_ok_and(|s| s.success());
        if built {
            self.import(&operator).await?;
        }
        Ok(())
    }

    /// Makes the node an AMD GPU server as the AMD GPU operator presents one: the node labeller's labels for
    /// `gpus` GPUs of PCI device `device_id` (`product`, its product name), and `amd.com/gpu` advertised as an
    /// extended resource in the node's capacity (what the device plugin registers; here no device backs it, and
    /// no container sees a GPU: the runtime stand-in needs none).
    pub async fn advertise_gpus(&self, device_id: &str, product: &str, gpus: u32) -> Result<(), ControlPlaneError> {
        let kubectl = |args: Vec<String>| async move {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            super::run_kubectl(&self.kubectl, &self.kubeconfig, &args).await
        };
        kubectl(vec![
            "label".into(),
            "node".into(),
            NODE_NAME.into(),
            "--overwrite".into(),
            format!("amd.com/gpu.device-id={device_id}"),
            format!("amd.com/gpu.product-name={product}"),
            format!("amd.com/gpu.count={gpus}"),
            "amd.com/gpu.family=AI".into(),
        ])
        .await?;
        let patch =
            serde_json::json!([{ "op": "add", "path": "/status/capacity/amd.com~1gpu", "value": gpus.to_string() }]);
        kubectl(vec![
            "patch".into(),
            "node".into(),
            NODE_NAME.into(),
            "--subresource=status".into(),
            "--type=json".into(),
            "-p".into(),
            patch.to_string(),
        ])
        .await?;
        Ok(())
    }

    /// Taints the node `NODE_LABEL=true:NoSchedule`, so only pods that tolerate it run here (the demo keeps
    /// kwok's work on kwok's nodes: a pod meant for kwok would not start here, its image being a name only).
    pub async fn taint(&self) -> Result<(), ControlPlaneError> {
        let taint = format!("{NODE_LABEL}=true:NoSchedule");
        super::run_kubectl(
            &self.kubectl,
            &self.kubeconfig,
            &["taint", "node", NODE_NAME, &taint, "--overwrite"],
        )
        .await
        .map(|_| ())
    }

    /// Imports the image `tag` of one static `binary` (its entrypoint, run as `user`), built once per machine and
    /// cached as `cache_key` (name it after the binary's version), into the node's containerd.
    pub async fn import_binary(
        &self,
        tag: &str,
        cache_key: &str,
        binary: &Path,
        user: &str,
    ) -> Result<(), ControlPlaneError> {
        let tar = scratch_image(tag, cache_key, binary, user, || async { Ok(()) }).await?;
        ctr_import(&self.dir.join("containerd.sock"), &tar).await
    }

    /// Imports `image` from podman's store into the node's containerd, as a registry pull would have put it
    /// there (the node pulls nothing: `imagePullPolicy` of a tag other than `latest` is `IfNotPresent`).
    pub async fn import(&self, image: &str) -> Result<(), ControlPlaneError> {
        let tar = self.dir.join(format!("{}.tar", image.replace(['/', ':'], "_")));
        run(
            &format!("podman save {image} (scripts/image and scripts/runtime-image build the images)"),
            podman()
                .args(["save", "--format", "oci-archive", "-o"])
                .arg(&tar)
                .arg(image),
        )
        .await?;
        ctr_import(&self.dir.join("containerd.sock"), &tar).await?;
        let _ = std::fs::remove_file(&tar);
        Ok(())
    }

    /// Stops kube-proxy, the kubelet, every pod's processes and containerd; removes the node's mounts, iptables
    /// rules and bridge.
    pub async fn stop(mut self) {
        self.teardown().await;
    }

    async fn teardown(&mut self) {
        while let Some((_, mut child)) = self.processes.pop() {
            let _ = child.start_kill();
            let _ = tokio::time::timeout(Duration::from_secs(10), child.wait()).await;
        }
        teardown_leftovers(&self.dir, &self.kube_proxy);
    }
}

/// The OCI archive of image `tag`, `FROM scratch` with `binary` as its entrypoint run as `user`, cached in the
/// machine's node-image cache as `<cache_key>.tar`: when it is not there yet, `prepare` makes the binary and
/// buildah builds the image.
async fn scratch_image<F, Fut>(
    tag: &str,
    cache_key: &str,
    binary: &Path,
    user: &str,
    prepare: F,
) -> Result<PathBuf, ControlPlaneError>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<(), ControlPlaneError>>,
{
    let cache = super::cache_dir().join("node-images");
    std::fs::create_dir_all(&cache).map_err(io("creating the node image cache"))?;
    let tar = cache.join(format!("{cache_key}.tar"));
    if tar.exists() {
        return Ok(tar);
    }
    prepare().await?;
    let build = BuildDir(cache.join(format!(".build-{cache_key}-{}", std::process::id())));
    std::fs::create_dir_all(build.path()).map_err(io("creating an image build directory"))?;
    let name = binary
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    std::fs::copy(binary, build.path().join(&name)).map_err(io(format!("copying {name} into its image")))?;
    std::fs::write(
        build.path().join("Containerfile"),
        format!("FROM scratch\nCOPY {name} /{name}\nUSER {user}\nENTRYPOINT [\"/{name}\"]\n"),
    )
    .map_err(io("writing a Containerfile"))?;
    run(
        &format!("buildah ({tag})"),
        Command::new("buildah")
            .envs(
                crate::pod_container::podman()
                    .as_std()
                    .get_envs()
                    .filter_map(|(k, v)| Some((k, v?))),
            )
            .args(["build", "--quiet", "--layers=false", "-t", tag, "-f"])
            .arg(build.path().join("Containerfile"))
            .arg(build.path()),
    )
    .await?;
    let partial = tar.with_extension("partial");
    run(
        &format!("podman save ({tag})"),
        podman()
            .args(["save", "--format", "oci-archive", "-o"])
            .arg(&partial)
            .arg(tag),
    )
    .await?;
    std::fs::rename(&partial, &tar).map_err(io(format!("publishing the image {tag}")))?;
    Ok(tar)
}

/// The machine's real-node lock, taken (waiting for another test's node to stop first).
async fn machine_lock() -> Result<std::fs::File, ControlPlaneError> {
    let path = super::cache_dir().join(".real-node.lock");
    std::fs::create_dir_all(super::cache_dir()).map_err(io("creating the cache directory"))?;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(io("opening the real-node lock"))?;
    tokio::task::spawn_blocking(move || file.lock().map(|_| file))
        .await
        .expect("lock task panicked")
        .map_err(io("taking the real-node lock"))
}

/// A scratch directory, removed when dropped.
struct BuildDir(PathBuf);

impl BuildDir {
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for BuildDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn ctr_import(socket: &Path, tar: &Path) -> Result<(), ControlPlaneError> {
    run(
        "ctr images import",
        Command::new("ctr")
            .arg("--address")
            .arg(socket)
            .args(["-n", "k8s.io", "images", "import"])
            .arg(tar),
    )
    .await
    .map(|_| ())
}

/// What outlives the processes: the pods' containers and shims (they daemonise), their mounts, kube-proxy's
/// rules, the bridge.
fn teardown_leftovers(dir: &Path, kube_proxy: &Path) {
    kill_containers(dir);
    let socket = dir.join("containerd.sock").display().to_string();
    let _ = std::process::Command::new("pkill").args(["-9", "-f", &socket]).status();
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
    let prefix = dir.display().to_string();
    let mut ours: Vec<&str> = mounts
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1))
        .filter(|m| m.starts_with(&prefix))
        .collect();
    ours.sort_by_key(|m| std::cmp::Reverse(m.len()));
    for mount in ours {
        let _ = std::process::Command::new("umount").args(["-l", mount]).status();
    }
    let _ = std::process::Command::new(kube_proxy)
        .arg("--cleanup")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    remove_kube_chains();
    let _ = std::process::Command::new("ip")
        .args(["link", "delete", BRIDGE])
        .stderr(Stdio::null())
        .status();
}

/// Kills what ran in this node's containers. Killing a pod's shim leaves its container's processes to init, still
/// running (an operator pod went on calling an API server that was gone, after every run of the suite), so they
/// are found by their cgroup, which carries the container's id, as containerd's task directories list them.
fn kill_containers(dir: &Path) {
    let tasks = dir.join("containerd-state/io.containerd.runtime.v2.task/k8s.io");
    let ids: Vec<String> = std::fs::read_dir(&tasks)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    if ids.is_empty() {
        return;
    }
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let pid = entry.file_name().to_string_lossy().into_owned();
        if pid.parse::<u32>().is_err() {
            continue;
        }
        let cgroup = std::fs::read_to_string(entry.path().join("cgroup")).unwrap_or_default();
        if ids.iter().any(|id| cgroup.contains(id.as_str())) {
            let _ = std::process::Command::new("kill").args(["-9", &pid]).status();
        }
    }
}

/// Removes every `KUBE-*` iptables chain and the jumps into them: what kube-proxy's `--cleanup` leaves of the
/// kubelet's (its canaries, and its firewall rule that drops packets to 127/8 from elsewhere).
fn remove_kube_chains() {
    let iptables = |args: &[&str]| {
        std::process::Command::new("iptables")
            .args(args)
            .stderr(Stdio::null())
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    };
    for table in ["nat", "filter", "mangle"] {
        let rules = iptables(&["-t", table, "-S"]);
        for rule in rules.lines() {
            let words: Vec<&str> = rule.split_whitespace().collect();
            let jumps_to_kube = words.windows(2).any(|w| w[0] == "-j" && w[1].starts_with("KUBE-"));
            if words.first() == Some(&"-A") && !words[1].starts_with("KUBE-") && jumps_to_kube {
                let mut delete = vec!["-t", table, "-D"];
                delete.extend(&words[1..]);
                iptables(&delete);
            }
        }
        for chain in rules
            .lines()
            .filter_map(|r| r.strip_prefix("-N "))
            .filter(|c| c.starts_with("KUBE-"))
        {
            iptables(&["-t", table, "-F", chain]);
        }
        for chain in rules
            .lines()
            .filter_map(|r| r.strip_prefix("-N "))
            .filter(|c| c.starts_with("KUBE-"))
        {
            iptables(&["-t", table, "-X", chain]);
        }
    }
}

impl Drop for RealNode {
    fn drop(&mut self) {
        for (_, child) in &mut self.processes {
            let _ = child.start_kill();
        }
        if !self.processes.is_empty() {
            std::thread::sleep(Duration::from_millis(500));
            teardown_leftovers(&self.dir, &self.kube_proxy);
        }
    }
}

fn containerd_toml(dir: &Path) -> String {
    format!(
        r#"version = 2
root = "{dir}/containerd-root"
state = "{dir}/containerd-state"
[grpc]
  address = "{dir}/containerd.sock"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{PAUSE_IMAGE}"
  # This VM refuses a negative oom_score_adj, which the kubelet asks for sandboxes and Guaranteed pods.
  restrict_oom_score_adj = true
  enable_unprivileged_ports = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "{dir}/cni"
"#,
        dir = dir.display()
    )
}

fn cni_conflist(dir: &Path) -> String {
    serde_json::json!({
        "cniVersion": "1.0.0",
        "name": "aim-local",
        "plugins": [
            {
                "type": "bridge", "bridge": BRIDGE, "isGateway": true, "ipMasq": false,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{ "subnet": POD_SUBNET }]],
                    "routes": [{ "dst": "0.0.0.0/0" }],
                    "dataDir": dir.join("ipam").display().to_string(),
                },
            },
            { "type": "loopback" },
        ],
    })
    .to_string()
}

fn kubelet_yaml(socket: &Path, node_ip: Ipv4Addr, port: u16, healthz_port: u16) -> String {
    format!(
        "apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# cgroup v1 (this machine's hybrid layout): allowed explicitly, cgroupfs, no QoS cgroups or allocatable enforcement.
failCgroupV1: false
cgroupDriver: cgroupfs
cgroupsPerQOS: false
enforceNodeAllocatable: []
failSwapOn: false
# Pods resolve Services by name through CoreDNS on the node's address.
clusterDNS: [{node_ip}]
clusterDomain: cluster.local
containerRuntimeEndpoint: unix://{socket}
address: {node_ip}
port: {port}
readOnlyPort: 0
healthzPort: {healthz_port}
healthzBindAddress: 127.0.0.1
authentication:
  anonymous: {{enabled: true}}
  webhook: {{enabled: false}}
authorization: {{mode: AlwaysAllow}}
# No image garbage collection or eviction by disk pressure on a test node (its filesystems' stats are the VM's);
# local storage is counted, so the node reports its ephemeral storage and a pod's request for some (the AIM
# runtime's download volume) is scheduled against it, as on a real GPU node.
localStorageCapacityIsolation: true
evictionHard: {{}}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
serializeImagePulls: false
",
        socket = socket.display()
    )
}
