//! What only a real scheduler shows, on the local cluster's kwok GPU nodes (4 × MI300X and 4 × MI325X servers of
//! 8 GPUs): a replica lands only on a node with the GPU model its template asks for (node affinity), and a service
//! that asks for more GPUs than any node has free says so in its status, in words, instead of "Starting"
//! forever, and proceeds once GPUs are freed; a service with some replicas placed says it serves, and one that
//! asks for more GPUs than the cluster has says it cannot fit. In a binary of its own: it takes every MI325X GPU for a while.

use aim_operator::api::ServiceState;
use aim_tests::scenario::*;
use aim_tests::{TestEnv, operator, test_env, wait};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};

fn env() -> &'static TestEnv {
    let env = test_env!();
    env.start_operator(operator::test_config());
    env
}

const MI325X_8: Profile = Profile {
    name: "mi325x-8",
    precision: "fp16",
    gpus: 8,
    gpu: "MI325X",
};

async fn replicas(env: &TestEnv, ns: &str, service: &str) -> Vec<Pod> {
    Api::<Pod>::namespaced(env.client().await, ns)
        .list(&ListParams::default().labels(&format!("serving.kserve.io/inferenceservice={service}")))
        .await
        .unwrap()
        .items
}

#[tokio::test]
async fn replicas_land_only_on_their_gpu_model_and_a_service_no_node_can_take_says_so_until_gpus_free_up() {
    let env = env();
    settled(env).await;
    let ns = env.namespace("scheduling").await;
    let catalog = catalog(env, "sched", &[MI325X_8], None).await;
    let template = catalog.template("mi325x-8");

    // Four replicas of eight MI325X GPUs each: one per MI325X server, none on an MI300X one.
    let hog = service(
        "hog",
        &catalog.model,
        &format!("  templateRef: {template}\n  replicas: 4\n"),
    );
    assert!(env.apply(&hog, Some(&ns)).await.success);
    ready(env, &ns, "hog").await;
    let pods = replicas(env, &ns, "hog").await;
    assert_eq!(pods.len(), 4);
    let mut nodes: Vec<String> = pods
        .iter()
        .map(|p| p.spec.as_ref().and_then(|s| s.node_name.clone()).unwrap_or_default())
        .collect();
    nodes.sort();
    // gpu-mi325x-3 is a cloud node labelled only with its virtual function's device ID (no product name): it
    // is an MI325X server like the others. The mixed server (4 × MI300X, 4 × MI325X) is no one's.
    assert_eq!(
        nodes,
        ["gpu-mi325x-0", "gpu-mi325x-1", "gpu-mi325x-2", "gpu-mi325x-3"],
        "one replica per MI325X server, none on the free MI300X servers nor the mixed one"
    );

    // Every MI325X GPU is taken: a fifth replica's worth finds no node, and the service says why.
    let late = service("late", &catalog.model, &format!("  templateRef: {template}\n"));
    assert!(env.apply(&late, Some(&ns)).await.success);
    let s = wait_for(
        env,
        &ns,
        "late",
        "unschedulable",
        condition("RuntimeReady", "False", "Unschedulable"),
    )
    .await;
    assert_eq!(s.head.status, Some(ServiceState::Pending), "not Starting forever");
    let why = message(&s, "RuntimeReady");
    assert!(why.contains("asks for 8 × MI325X GPUs per replica"), "{why}");
    assert!(
        why.contains("Insufficient amd.com/gpu"),
        "the scheduler's own words: {why}"
    );
    assert_eq!(message(&s, "Ready"), why, "Ready says the same");

    // GPUs are freed: the waiting replica is placed and the service runs.
    assert!(env.kubectl(&["delete", "aimservice", "hog", "-n", &ns]).await.success);
    ready(env, &ns, "late").await;
    let placed = wait::until("the late replica on an MI325X node", || async {
        let pods = replicas(env, &ns, "late").await;
        let node = pods
            .iter()
            .find_map(|p| p.spec.as_ref().and_then(|s| s.node_name.clone()))
            .ok_or("not placed")?;
        Ok::<_, String>(node)
    })
    .await;
    assert!(placed.starts_with("gpu-mi325x-"), "{placed}");

    // Five replicas of eight with three servers free: three serve, and the service says it serves; five
    // replicas of eight (40) are more MI325X GPUs than the cluster has (32), so the rest can never start.
    let wide = service(
        "wide",
        &catalog.model,
        &format!("  templateRef: {template}\n  replicas: 5\n"),
    );
    assert!(env.apply(&wide, Some(&ns)).await.success);
    let s = wait_for(
        env,
        &ns,
        "wide",
        "partly serving",
        condition("RuntimeReady", "False", "ReplicasWaiting"),
    )
    .await;
    assert_eq!(
        s.head.status,
        Some(ServiceState::Degraded),
        "it serves, with fewer replicas"
    );
    let why = message(&s, "RuntimeReady");
    assert!(why.starts_with("serving with 3 of 5 replicas ready"), "{why}");
    assert!(
        replicas(env, &ns, "wide")
            .await
            .iter()
            .all(|p| p.spec.as_ref().and_then(|s| s.node_name.as_deref()) != Some("gpu-mixed-0")),
        "a replica waits rather than land where the device plugin could hand it MI300X GPUs"
    );
    assert!(
        why.contains("cannot fit: 5 replicas × 8 = 40 MI325X GPUs, and the cluster has 32 in total (4 nodes)"),
        "{why}"
    );
    for name in ["late", "wide"] {
        assert!(env.kubectl(&["delete", "aimservice", name, "-n", &ns]).await.success);
    }
}
