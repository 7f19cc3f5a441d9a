//! The operator image as the Deployment runs it: the built image (`scripts/image`) started by podman with the
//! container, env, volumes and security context of `deploy/base/deployment.yaml`'s pod template (read-only root,
//! user 65532, no capabilities), the `aim-operator` ServiceAccount's token, `ca.crt` and `namespace` mounted where
//! the kubelet mounts them, and `KUBERNETES_SERVICE_HOST`/`PORT` set. It must take the Lease, serve `/readyz` and
//! `/metrics`, reconcile a service to Running and stop cleanly on SIGTERM, releasing the Lease.
//!
//! Host networking stands in for the pod network (see `aim_tests::pod_container`), so the one argument added to
//! the Deployment's is the port to listen on. No in-process operator runs in this test binary: the container is
//! the operator.

use aim_operator::api::ServiceState;
use aim_tests::pod_container::{self, Detached, PodContext, ServiceAccountMount};
use aim_tests::replica::{free_port, http_get};
use aim_tests::scenario::{service, single_template_catalog, wait_for};
use aim_tests::{test_env, wait};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, PostParams};
use std::collections::BTreeMap;
use std::time::Instant;

const NAMESPACE: &str = "aim-system";

fn deployment() -> Deployment {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/base/deployment.yaml");
    serde_saphyr::from_str(&std::fs::read_to_string(path).unwrap()).expect("deploy/base/deployment.yaml")
}

#[tokio::test]
async fn the_image_runs_as_the_deployments_pod_leads_and_reconciles() {
    let env = test_env!();
    let image = pod_container::operator_image();
    pod_container::require_image(&image).await;
    let deployment = deployment();
    let template = deployment.spec.clone().template;
    let pod_spec = template.spec.clone().unwrap();
    let container = pod_spec
        .containers
        .iter()
        .find(|c| c.name == "operator")
        .unwrap()
        .clone();
    assert_eq!(
        container.image.as_deref(),
        Some(image.as_str()),
        "deploy/base names the image scripts/image builds"
    );

    // The operator's identity and RBAC from deploy/base, and its ServiceAccount's credentials as projected.
    let dir = tempfile::tempdir().unwrap();
    aim_operator_identity(env, dir.path()).await;
    let sa = ServiceAccountMount::write(
        env.kubectl_path(),
        env.kubeconfig(),
        NAMESPACE,
        pod_spec.service_account_name.as_deref().unwrap(),
        &dir.path().join("serviceaccount"),
    )
    .await;

    // The pod object itself, so the operator finds its own image through POD_NAME (as it does in a cluster).
    let pod_name = format!("aim-operator-image-{}", std::process::id());
    let _pod_guard = env.cleanup(&["pod", "-n", NAMESPACE, &pod_name]);
    let pods: Api<Pod> = Api::namespaced(env.client().await, NAMESPACE);
    let mut pod = Pod {
        metadata: template.metadata.clone().unwrap_or_default(),
        spec: Some(pod_spec.clone()),
        status: None,
    };
    pod.metadata.name = Some(pod_name.clone());
    pod.metadata.namespace = Some(NAMESPACE.into());
    pods.create(&PostParams::default(), &pod)
        .await
        .expect("the operator's pod object");

    // Volumes: the plugin ConfigMap (optional, absent: an empty directory), the compiled-plugin emptyDir.
    let mut volumes = BTreeMap::new();
    for volume in pod_spec.volumes.clone().unwrap_or_default() {
        let host = dir.path().join(&volume.name);
        std::fs::create_dir_all(&host).unwrap();
        if volume.empty_dir.is_some() {
            // The kubelet makes an emptyDir writable by anyone.
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&host, std::fs::Permissions::from_mode(0o777)).unwrap();
        }
        volumes.insert(volume.name, host);
    }
    let port = free_port();
    let context = PodContext {
        volumes,
        fields: BTreeMap::from([
            ("metadata.name".to_string(), pod_name.clone()),
            ("metadata.namespace".to_string(), NAMESPACE.to_string()),
        ]),
        service_account: Some(&sa),
        extra_args: vec![format!("--http-addr=127.0.0.1:{port}")],
        termination_log: None,
    };
    let args = pod_container::run_args(&image, &pod_spec, &container, &context);
    println!("podman run {}", args.join(" "));
    let started = Instant::now();
    let operator = Detached::start(&pod_name, args).await;

    let ready = wait::until("/readyz of the operator container", || async {
        if !operator.running().await {
            return Err(format!("the container exited:\n{}", operator.logs().await));
        }
        match http_get(port, "/readyz").await {
            Some((200, body)) => Ok(body),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    println!("ready in {:.1?}: {ready}", started.elapsed());

    let leases: Api<Lease> = Api::namespaced(env.client().await, NAMESPACE);
    wait::until("the container to hold the Lease", || async {
        let lease = leases.get_opt("aim-operator").await.map_err(|e| e.to_string())?;
        let holder = lease.and_then(|l| l.spec?.holder_identity);
        (holder.as_deref() == Some(pod_name.as_str()))
            .then_some(())
            .ok_or_else(|| format!("held by {holder:?}"))
    })
    .await;
    let (code, metrics) = http_get(port, "/metrics").await.expect("/metrics");
    assert_eq!(code, 200);
    assert!(metrics.lines().any(|l| l == "aim_leader 1"), "it says it leads");

    // A service reconciled by the container to Running.
    let ns = env.namespace("image-operator").await;
    let catalog = single_template_catalog(env, "image-op").await;
    let out = env.apply(&service("served", &catalog.model, ""), Some(&ns)).await;
    assert!(out.success, "{}", out.stderr);
    wait_for(env, &ns, "served", "Running", |s| {
        (s.head.status == Some(ServiceState::Running))
            .then_some(())
            .ok_or_else(|| format!("{:?}", s.head.status))
    })
    .await;

    let logs = operator.logs().await;
    let json_lines = logs
        .lines()
        .filter(|l| serde_json::from_str::<serde_json::Value>(l).is_ok())
        .count();
    assert!(json_lines > 0, "--log-format=json logs JSON lines:\n{logs}");
    assert!(
        logs.contains("download and size-check Jobs run this image") && logs.contains(&image),
        "it found its own image through its pod:\n{logs}"
    );

    // SIGTERM, as the kubelet stops a pod: a clean exit that gives the Lease up for the next replica.
    let code = operator.stop(30).await;
    assert_eq!(code, 0, "exit code after SIGTERM:\n{}", operator.logs().await);
    let lease = leases.get("aim-operator").await.unwrap();
    assert_eq!(
        lease.spec.and_then(|s| s.holder_identity),
        None,
        "the Lease is released"
    );
}

/// Applies deploy/base's namespace, ServiceAccount and RBAC (what the Deployment runs as).
async fn aim_operator_identity(env: &aim_tests::TestEnv, dir: &std::path::Path) {
    aim_tests::identity::operator_kubeconfig(env.kubectl_path(), env.kubeconfig(), &dir.join("kubeconfig"))
        .await
        .expect("the operator's identity");
}
