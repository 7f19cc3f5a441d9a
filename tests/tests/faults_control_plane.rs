//! The control plane failing under the operator, on a private local cluster (this test stops its API server and
//! its etcd, so it cannot share the suite's): the operator (`aim-operator run` as a process, as its
//! ServiceAccount, leader election on) keeps running while kube-apiserver is down for 30 seconds, says so on
//! `/readyz`, and resumes without a restart; after etcd restarts, its watches recover and changes made while
//! they were broken still reach their objects. Every service converges, with one InferenceService each.

use aim_operator::api::{AIMService, ServiceState};
use aim_tests::controlplane::ControlPlane;
use aim_tests::replica::Replica;
use kube::api::{Api, ListParams};
use std::time::{Duration, Instant};

const API: &str = "apiVersion: aim.silogen.ai/v1alpha1";
const MODEL: &str = "faults/llama";
const NS: &str = "faults";

fn services(prefix: &str, n: usize, replicas: u32) -> String {
    (0..n)
        .map(|i| {
            format!(
                "{API}\nkind: AIMService\nmetadata:\n  name: {prefix}-{i}\n  namespace: {NS}\nspec:\n  aimModelId: {MODEL}\n  replicas: {replicas}\n---\n"
            )
        })
        .collect()
}

async fn apply(cp: &ControlPlane, yaml: &str) {
    let file = cp.dir().join(format!("apply-{}.yaml", std::process::id()));
    std::fs::write(&file, yaml).unwrap();
    cp.kubectl(&["apply", "--server-side", "-f", &file.display().to_string()])
        .await
        .expect("apply");
}

/// Waits until every service is Running and has exactly one InferenceService whose replicas match `replicas`
/// of its name's prefix.
async fn converged(cp: &ControlPlane, want: &[(&str, usize, u32)]) {
    let client = cp.client().await.unwrap();
    let services: Api<AIMService> = Api::namespaced(client.clone(), NS);
    let isvcs: Api<kube::api::DynamicObject> = Api::namespaced_with(
        client,
        NS,
        &kube::api::ApiResource::from_gvk(&kube::api::GroupVersionKind::gvk(
            "serving.kserve.io",
            "v1beta1",
            "InferenceService",
        )),
    );
    let start = Instant::now();
    loop {
        let mut missing = Vec::new();
        let listed = services
            .list(&ListParams::default())
            .await
            .map(|l| l.items)
            .unwrap_or_default();
        let inference = isvcs
            .list(&ListParams::default())
            .await
            .map(|l| l.items)
            .unwrap_or_default();
        for (prefix, n, replicas) in want {
            for i in 0..*n {
                let name = format!("{prefix}-{i}");
                let running = listed.iter().any(|s| {
                    kube::ResourceExt::name_any(s) == name
                        && s.status.as_ref().and_then(|s| s.head.status) == Some(ServiceState::Running)
                });
                let owned: Vec<_> = inference
                    .iter()
                    .filter(|o| o.metadata.labels.as_ref().and_then(|l| l.get("aim.silogen.ai/service")) == Some(&name))
                    .collect();
                let scaled = owned.len() == 1
                    && owned[0].data["spec"]["predictor"]["minReplicas"].as_u64() == Some(u64::from(*replicas));
                if !running || !scaled {
                    missing.push(format!(
                        "{name} (running {running}, isvcs {}, replicas ok {scaled})",
                        owned.len()
                    ));
                }
            }
        }
        if missing.is_empty() {
            return;
        }
        assert!(start.elapsed() < Duration::from_secs(180), "not converged: {missing:?}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test]
async fn the_operator_rides_out_an_api_server_outage_and_an_etcd_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut cp = ControlPlane::start(dir.path()).await.expect("a private control plane");
    let identity = aim_tests::identity::operator_kubeconfig(cp.kubectl_path(), cp.kubeconfig(), &dir.path().join("sa"))
        .await
        .expect("the operator's identity");
    cp.kubectl(&["create", "namespace", NS]).await.unwrap();
    apply(
        &cp,
        &format!(
            "{API}\nkind: AIMImage\nmetadata:\n  name: faults\nspec:\n  modelId: {MODEL}\n  image: reg/faults:1\n  defaultServiceTemplate: faults-one\n---\n{API}\nkind: AIMClusterServiceTemplate\nmetadata:\n  name: faults-one\nspec:\n  modelId: {MODEL}\n  metric: latency\n  precision: fp8\n  gpuSelector: {{count: 1, model: MI300X}}\n  modelSources:\n  - sourceUri: hf://faults/llama\n    size: 16Gi\n"
        ),
    )
    .await;
    let mut operator = Replica::start(
        &identity,
        &[
            "--namespace",
            "aim-system",
            "--identity",
            "faults",
            "--log-format",
            "json",
        ],
        &[],
        Some(&dir.path().join("operator.log")),
    );
    let pid = operator.pid();
    let ready = |code: Option<u16>| code == Some(200);
    let start = Instant::now();
    while !ready(operator.get("/readyz").await.map(|(c, _)| c)) {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the operator never became ready"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // kube-apiserver down for 30 s in the middle of a rollout.
    apply(&cp, &services("outage", 6, 1)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    cp.stop_component("kube-apiserver").await;
    let down = Instant::now();
    let mut said_not_ready = false;
    while down.elapsed() < Duration::from_secs(30) {
        assert!(
            operator.exits_within(Duration::ZERO).await.is_none(),
            "the operator exited during the outage"
        );
        if let Some((code, body)) = operator.get("/readyz").await
            && code != 200
        {
            if !said_not_ready {
                let first = body.split(';').next().unwrap_or_default();
                println!("/readyz {:.0?} into the outage: {code} {first}; …", down.elapsed());
            }
            said_not_ready = true;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    cp.start_component("kube-apiserver")
        .await
        .expect("the API server starts again");
    assert!(
        said_not_ready,
        "/readyz never said the operator could not reach the API server"
    );
    converged(&cp, &[("outage", 6, 1)]).await;
    let back = Instant::now();
    loop {
        match operator.get("/readyz").await {
            Some((200, _)) => break,
            other => assert!(
                back.elapsed() < Duration::from_secs(60),
                "not ready again a minute after convergence: {other:?}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    println!(
        "/readyz ready again {:.0?} after the services converged",
        back.elapsed()
    );
    assert_eq!(operator.pid(), pid);
    assert!(
        operator.exits_within(Duration::ZERO).await.is_none(),
        "the same process, not a restart"
    );

    // etcd restarted: the API server stays up, the operator's watches break and recover. Changes made while
    // they are broken (a new service, a changed replica count) must still reach their objects.
    cp.stop_component("etcd").await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    cp.start_component("etcd").await.expect("etcd starts again");
    apply(&cp, &services("after-etcd", 3, 1)).await;
    apply(&cp, &services("outage", 6, 2)).await;
    converged(&cp, &[("outage", 6, 2), ("after-etcd", 3, 1)]).await;
    assert!(
        operator.exits_within(Duration::ZERO).await.is_none(),
        "the operator kept running"
    );
    operator.terminate();
    cp.stop().await;
}
