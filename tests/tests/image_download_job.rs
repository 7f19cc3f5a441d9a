//! The download Job's container as the operator builds it, run as a real container of the built image: its
//! command, env, the cache volume at the Job's mount path (group-owned by the pod's `fsGroup`, as the kubelet
//! prepares it), the CA-bundle ConfigMap the operator mounts (`--downloader-ca-bundle`), the Job's own
//! ServiceAccount token, read-only root, user 65532. It fills the cache from the loopback hub over **HTTPS** with
//! a private test CA, reports progress on its Job, and its termination message completes the ModelCache.
//!
//! kwok runs no containers, so the container runs under podman with host networking, and `FakeKubelet` writes
//! its end on the pod as a kubelet would (the termination message is the file the container wrote).

use aim_operator::controller::CaBundle;
use aim_operator::download::progress::ANNOTATION;
use aim_operator::testing::{identity_name, job_name};
use aim_tests::hub::{Behaviour, HubServer, generated_model};
use aim_tests::kubelet::{Exit, FakeKubelet, MANUAL};
use aim_tests::pod_container::{self, PodContext, ServiceAccountMount, fs_group_dir};
use aim_tests::tls::TestTls;
use aim_tests::{operator, test_env, wait};
use k8s_openapi::api::batch::v1::Job;
use kube::api::Api;
use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;

const CLASS: &str = "aim-test-rwx";
const BUNDLE: &str = "aim-test-private-ca";
const REPO: &str = "private-org/tiny-llama";

#[tokio::test]
async fn the_download_jobs_container_fills_the_cache_over_https_with_a_private_ca() {
    let env = test_env!();
    let image = pod_container::operator_image();
    pod_container::require_image(&image).await;
    let mut config = operator::test_config();
    config.download.image = image.clone();
    config.download.ca_bundle = CaBundle::parse(BUNDLE);
    env.start_operator(config);
    let client = env.client().await;
    aim_tests::storage::ensure_class(&client, CLASS, true).await;

    let ns = env.namespace("image-download").await;
    let tls = TestTls::new();
    let ca_pem = tls.ca_pem.clone();
    let files = generated_model(24);
    let hub = HubServer::start_tls(REPO, files.clone(), tls).await;
    // About three seconds, so that progress reports (every second) reach the Job while it runs.
    hub.set(Behaviour {
        rate: Some(8 << 20),
        ..Default::default()
    });
    // The admin's CA, distributed to the namespace as a ConfigMap (as trust-manager would).
    let configmap = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {BUNDLE}\ndata:\n  ca.crt: |\n{}",
        ca_pem.lines().map(|l| format!("    {l}\n")).collect::<String>()
    );
    let out = env.apply(&configmap, Some(&ns)).await;
    assert!(out.success, "{}", out.stderr);
    let cache = format!(
        "apiVersion: aim.silogen.ai/v1alpha1\nkind: ModelCache\nmetadata:\n  name: weights\nspec:\n  sourceUri: hf://{REPO}\n  size: 1Gi\n  storageClassName: {CLASS}\n  env:\n  - name: {MANUAL}\n    value: \"true\"\n  - name: HF_ENDPOINT\n    value: {}\n  - name: AIM_PROGRESS_SECONDS\n    value: \"1\"\n",
        hub.endpoint
    );
    let out = env.apply(&cache, Some(&ns)).await;
    assert!(out.success, "{}", out.stderr);

    let jobs: Api<Job> = Api::namespaced(client.clone(), &ns);
    let job = wait::until("the download Job", || async {
        jobs.get_opt(&job_name("weights", 0))
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| "not yet".to_string())
    })
    .await;
    let pod = job.spec.clone().unwrap().template.spec.unwrap();
    let container = pod.containers[0].clone();
    assert_eq!(container.image.as_deref(), Some(image.as_str()));
    let kubelet = FakeKubelet::new(client.clone(), &ns);
    kubelet.pod_of(&job_name("weights", 0)).await;

    // What the kubelet would prepare: the claim's volume (fsGroup), the ConfigMap's projected key, the
    // ServiceAccount's credentials, the termination-message file.
    let dir = tempfile::tempdir().unwrap();
    let fs_group = pod.security_context.as_ref().and_then(|s| s.fs_group).expect("fsGroup") as u32;
    let mut volumes = BTreeMap::new();
    for volume in pod.volumes.clone().unwrap_or_default() {
        let host = dir.path().join(&volume.name);
        if let Some(config_map) = &volume.config_map {
            assert_eq!(config_map.name, BUNDLE);
            std::fs::create_dir_all(&host).unwrap();
            for item in config_map.items.clone().unwrap_or_default() {
                assert_eq!(item.key, "ca.crt");
                std::fs::write(host.join(&item.path), &ca_pem).unwrap();
            }
        } else {
            fs_group_dir(&host, fs_group);
        }
        volumes.insert(volume.name, host);
    }
    let sa = ServiceAccountMount::write(
        env.kubectl_path(),
        env.kubeconfig(),
        &ns,
        &identity_name("weights"),
        &dir.path().join("serviceaccount"),
    )
    .await;
    let termination = dir.path().join("termination-log");
    std::fs::write(&termination, "").unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&termination, std::fs::Permissions::from_mode(0o666)).unwrap();
    }
    let context = PodContext {
        volumes: volumes.clone(),
        fields: BTreeMap::new(),
        service_account: Some(&sa),
        extra_args: vec![],
        termination_log: Some(termination.clone()),
    };
    let args = pod_container::run_args(&image, &pod, &container, &context);
    println!("podman run {}", args.join(" "));
    let run = pod_container::run_to_end(&format!("aim-download-{}", std::process::id()), args).await;
    let stdout = String::from_utf8_lossy(&run.stdout).to_string();
    let stderr = String::from_utf8_lossy(&run.stderr).to_string();
    assert!(
        run.status.success(),
        "the download container failed:\n{stdout}\n{stderr}"
    );
    let message = std::fs::read_to_string(&termination).unwrap();
    assert!(message.contains(r#""result":"ok""#), "termination message: {message}");
    kubelet.finish(&job_name("weights", 0), Exit::Succeeded(&message)).await;

    // The volume holds the model, written by 65532 into a directory of group 65532.
    let root = volumes["cache"].join(REPO);
    for f in &files {
        let path = root.join(&f.path);
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", f.path));
        assert!(bytes == f.bytes.as_ref(), "{} differs from the source", f.path);
        let meta = std::fs::metadata(&path).unwrap();
        assert_eq!((meta.uid(), meta.gid()), (65532, fs_group), "{} owner", f.path);
    }
    assert!(root.join(".aim-complete.json").exists(), "the completion marker");
    let job = jobs.get(&job_name("weights", 0)).await.unwrap();
    assert!(
        job.metadata.annotations.unwrap_or_default().contains_key(ANNOTATION),
        "the container reported progress on its own Job"
    );
    aim_tests::scenario::caches::model_cache_ready(client, &ns, "weights").await;
    operator::stop_if_started();
}
