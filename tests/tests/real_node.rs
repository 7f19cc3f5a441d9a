//! The operator as a cluster admin runs it, on a real node: a private local cluster with one real kubelet
//! (`aim_tests::controlplane::real_node`: containerd and runc, kube-proxy, a CNI bridge) and no fake GPU nodes, so
//! every pod runs as a real container of the built image.
//!
//! - `kubectl apply -k deploy/base` runs the operator's Deployment as two real pods; their readiness probes
//!   (`/readyz` over the pod network) make it Available; one pod holds the Lease, and when it is deleted the other
//!   takes over.
//! - A ModelCache's download Job runs as a real pod: the downloader reaches the API server through the
//!   `kubernetes` Service with its projected token, fetches from a hub on the host, and its termination message
//!   (written by the container, read by the real kubelet) completes the cache.
//! - `helm install` of the chart gives a working operator too.
//!
//! One stand-in: the volume. kwok plays the storage provisioner (a hostPath volume), and the kubelet does not
//! apply `fsGroup` to hostPath; [`prepare_volume`] makes the directory writable, as NFS-style provisioners of
//! ReadWriteMany storage create theirs.

use aim_tests::controlplane::nodes::GpuNodes;
use aim_tests::controlplane::real_node::{NODE_NAME, host_ip};
use aim_tests::controlplane::{ControlPlane, binaries};
use aim_tests::hub::{HubServer, generated_model};
use aim_tests::wait;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim, Pod};
use kube::api::{Api, DeleteParams, ListParams};
use std::path::PathBuf;
use std::time::Instant;

const REPO: &str = "real-org/tiny-llama";
const CLASS: &str = "real-rwx";

fn repo(path: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(path)
        .display()
        .to_string()
}

async fn holder(leases: &Api<Lease>) -> Option<String> {
    leases
        .get_opt("aim-operator")
        .await
        .ok()
        .flatten()?
        .spec?
        .holder_identity
}

/// Running pods of the operator in `namespace` (name, node, pod IP).
async fn operator_pods(pods: &Api<Pod>) -> Vec<(String, String, String)> {
    let list = pods
        .list(&ListParams::default().labels("app.kubernetes.io/name=aim-operator"))
        .await
        .map(|l| l.items)
        .unwrap_or_default();
    list.into_iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .filter(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"))
        .map(|p| {
            let status = p.status.clone().unwrap_or_default();
            (
                p.metadata.name.clone().unwrap_or_default(),
                p.spec.and_then(|s| s.node_name).unwrap_or_default(),
                status.pod_ip.unwrap_or_default(),
            )
        })
        .collect()
}

/// What an NFS-style provisioner does for a ReadWriteMany volume: a directory anyone in the pod may write to
/// (the kubelet applies `fsGroup` to block and CSI volumes, not to hostPath).
async fn prepare_volume(cp: &ControlPlane, namespace: &str, claim: &str) {
    let client = cp.client().await.unwrap();
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), namespace);
    let volume = wait::until("the cache's volume", || async {
        claims
            .get_opt(claim)
            .await
            .map_err(|e| e.to_string())?
            .and_then(|c| c.spec?.volume_name)
            .ok_or_else(|| "not bound yet".to_string())
    })
    .await;
    let pv = Api::<PersistentVolume>::all(client).get(&volume).await.unwrap();
    let path = pv.spec.unwrap().host_path.unwrap().path;
    std::fs::create_dir_all(&path).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o777)).unwrap();
}

#[tokio::test]
async fn the_operator_and_its_download_jobs_run_as_real_pods_on_a_real_node() {
    aim_tests::pod_container::require_image(&aim_tests::pod_container::operator_image()).await;
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let cp = ControlPlane::start_with_real_node(dir.path(), GpuNodes::none())
        .await
        .expect("a private control plane with a real node");
    println!("cluster with a real node up in {:.0?}", started.elapsed());
    let client = cp.client().await.unwrap();

    // deploy/base as a cluster admin applies it.
    cp.kubectl(&["apply", "--server-side", "-k", &repo("deploy/base")])
        .await
        .expect("deploy/base applies");
    let started = Instant::now();
    cp.kubectl(&[
        "wait",
        "--for=condition=Available",
        "--timeout=120s",
        "deployment/aim-operator",
        "-n",
        "aim-system",
    ])
    .await
    .unwrap_or_else(|e| panic!("the Deployment's real pods never became ready: {e}"));
    println!("deploy/base Available in {:.0?}", started.elapsed());
    let pods: Api<Pod> = Api::namespaced(client.clone(), "aim-system");
    let running = operator_pods(&pods).await;
    assert_eq!(running.len(), 2, "two replicas: {running:?}");
    for (name, node, ip) in &running {
        assert_eq!(node, NODE_NAME, "{name} runs on the real node");
        assert!(
            ip.starts_with("10.244."),
            "{name} has an address on the pod network: {ip}"
        );
    }
    let leases: Api<Lease> = Api::namespaced(client.clone(), "aim-system");
    let leader = wait::until("one operator pod to hold the Lease", || async {
        let h = holder(&leases).await;
        match h {
            Some(h) if running.iter().any(|(n, _, _)| *n == h) => Ok(h),
            other => Err(format!("held by {other:?}")),
        }
    })
    .await;

    // Leader election between pods: the leader goes, another pod leads.
    pods.delete(&leader, &DeleteParams::default()).await.unwrap();
    let started = Instant::now();
    let next = wait::until("another pod to take the Lease", || async {
        match holder(&leases).await {
            Some(h) if h != leader => Ok(h),
            other => Err(format!("held by {other:?}")),
        }
    })
    .await;
    println!("{leader} deleted; {next} leads after {:.1?}", started.elapsed());

    // A download Job as a real pod.
    aim_tests::storage::ensure_class(&client, CLASS, true).await;
    cp.kubectl(&["create", "namespace", "real-cache"]).await.unwrap();
    let files = generated_model(8);
    let hub = HubServer::start_on(host_ip().unwrap().into(), REPO, files.clone()).await;
    let cache = format!(
        "apiVersion: aim.silogen.ai/v1alpha1\nkind: ModelCache\nmetadata:\n  name: weights\n  namespace: real-cache\nspec:\n  sourceUri: hf://{REPO}\n  size: 1Gi\n  storageClassName: {CLASS}\n  env:\n  - name: HF_ENDPOINT\n    value: {}\n",
        hub.endpoint
    );
    let file = dir.path().join("cache.yaml");
    std::fs::write(&file, cache).unwrap();
    cp.kubectl(&["apply", "--server-side", "-f", &file.display().to_string()])
        .await
        .unwrap();
    prepare_volume(&cp, "real-cache", "weights-cache").await;
    let started = Instant::now();
    aim_tests::scenario::caches::model_cache_ready(client.clone(), "real-cache", "weights").await;
    println!("ModelCache Ready {:.1?} after the volume", started.elapsed());
    let job_pods: Api<Pod> = Api::namespaced(client.clone(), "real-cache");
    let download = job_pods
        .list(&ListParams::default().labels("aim.silogen.ai/component=download"))
        .await
        .unwrap()
        .items;
    let ran = download
        .iter()
        .find(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Succeeded"));
    let ran = ran.expect("a download pod that succeeded");
    assert_eq!(ran.spec.as_ref().and_then(|s| s.node_name.as_deref()), Some(NODE_NAME));
    let message = ran.status.as_ref().unwrap().container_statuses.as_ref().unwrap()[0]
        .state
        .as_ref()
        .and_then(|s| s.terminated.as_ref())
        .and_then(|t| t.message.clone())
        .unwrap_or_default();
    assert!(
        message.contains(r#""result":"ok""#),
        "the real kubelet read the termination message: {message}"
    );
    assert!(hub.bytes_sent() >= files.iter().map(|f| f.bytes.len() as u64).sum::<u64>());

    // Helm: the same operator from the chart, in its own namespace, once the kustomize one is gone.
    cp.kubectl(&["delete", "deployment", "aim-operator", "-n", "aim-system", "--wait"])
        .await
        .unwrap();
    let helm = binaries::helm().expect("helm");
    let kubeconfig = cp.kubeconfig().display().to_string();
    let out = tokio::process::Command::new(helm)
        .args([
            "install",
            "aim-helm",
            &repo("deploy/helm/aim-operator"),
            "--namespace",
            "aim-helm",
        ])
        .args([
            "--create-namespace",
            "--kubeconfig",
            &kubeconfig,
            "--wait",
            "--timeout",
            "180s",
        ])
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "helm install: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let helm_pods: Api<Pod> = Api::namespaced(client.clone(), "aim-helm");
    let helm_running = operator_pods(&helm_pods).await;
    assert_eq!(helm_running.len(), 2, "{helm_running:?}");
    let helm_leases: Api<Lease> = Api::namespaced(client, "aim-helm");
    wait::until("a pod of the Helm release to lead", || async {
        match holder(&helm_leases).await {
            Some(h) if helm_running.iter().any(|(n, _, _)| *n == h) => Ok(()),
            other => Err(format!("held by {other:?}")),
        }
    })
    .await;
    cp.stop().await;
}
