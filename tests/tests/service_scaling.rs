//! Autoscaling end to end: the operator renders a service's bounds and metric into its InferenceService, and
//! the real KServe controller makes the HorizontalPodAutoscaler (CPU, memory) or the KEDA ScaledObject (request
//! metrics; KEDA's CRD comes from its pinned Go module) with them. No metrics server or KEDA operator runs here,
//! so nothing acts on those objects on its own: where a test needs the replica count to move,
//! `autoscaler_scales` plays the autoscaler and scales the predictor Deployment, and the real scheduler places
//! (or cannot place) the replicas on kwok's GPU nodes.

use aim_operator::api::ServiceState;
use aim_tests::scenario::*;
use aim_tests::{Namespace, TestEnv, operator, test_env};

fn env() -> &'static TestEnv {
    let env = test_env!();
    env.start_operator(operator::test_config());
    env
}

/// The cluster with the operator, a fresh namespace `ns` and a one-template catalog tagged `tag`.
async fn setup(ns: &str, tag: &str) -> (&'static TestEnv, Namespace, Catalog) {
    let env = env();
    let ns = env.namespace(ns).await;
    (env, ns, single_template_catalog(env, tag).await)
}

const HPA: (&str, &str, &str) = ("autoscaling", "v2", "HorizontalPodAutoscaler");
const SCALED_OBJECT: (&str, &str, &str) = ("keda.sh", "v1alpha1", "ScaledObject");

/// A namespace template of `catalog`'s model on `gpus` × `gpu`, with inline sources.
fn template(name: &str, model: &str, gpus: u32, gpu: &str, extra: &str) -> String {
    format!(
        "{API}\nkind: AIMServiceTemplate\nmetadata:\n  name: {name}\nspec:\n  modelId: {model}\n  precision: fp8\n  \
         gpuSelector: {{count: {gpus}, model: {gpu}}}\n  modelSources:\n  - sourceUri: hf://org/{name}\n    size: 1Gi\n{extra}"
    )
}

async fn apply(env: &TestEnv, ns: &str, yaml: &str) {
    let out = env.apply(yaml, Some(ns)).await;
    assert!(out.success, "{}\n{yaml}", out.stderr);
}

fn replicas(summary: &'static str) -> impl Fn(&aim_operator::api::AIMServiceStatus) -> Result<(), String> {
    move |s| match s.replicas.as_ref().map(|r| r.summary.as_str()) {
        Some(seen) if seen == summary => Ok(()),
        other => Err(format!("replicas {other:?}")),
    }
}

#[tokio::test]
async fn cpu_bounds_become_a_horizontal_pod_autoscaler_and_the_template_gives_the_defaults() {
    let (env, ns, catalog) = setup("svc-hpa", "hpa").await;
    // The template scales on CPU between 1 and 3; the service raises the floor to 2 and the target to 60 %.
    apply(
        env,
        &ns,
        &template(
            "elastic",
            &catalog.model,
            1,
            "MI300X",
            "  minReplicas: 1\n  maxReplicas: 3\n  autoScaling: {metric: cpu, target: 80}\n",
        ),
    )
    .await;
    apply(
        env,
        &ns,
        &service(
            "chat",
            &catalog.model,
            "  templateRef: elastic\n  minReplicas: 2\n  autoScaling: {metric: cpu, target: 60}\n",
        ),
    )
    .await;
    let isvc = isvc(env, &ns, "chat").await;
    assert_eq!(
        isvc["metadata"]["annotations"]["serving.kserve.io/autoscalerClass"],
        "hpa"
    );
    let hpa = child(env, &ns, HPA, "chat-predictor").await;
    let spec = &hpa["spec"];
    assert_eq!(
        (spec["minReplicas"].as_i64(), spec["maxReplicas"].as_i64()),
        (Some(2), Some(3))
    );
    assert_eq!(spec["scaleTargetRef"]["name"], "chat-predictor");
    let metric = &spec["metrics"][0]["resource"];
    assert_eq!(metric["name"], "cpu");
    assert_eq!(metric["target"]["averageUtilization"], 60);
    // The kube-controller-manager's HPA controller raises the Deployment to the floor even without metrics;
    // the scheduler places both replicas.
    let s = wait_for(env, &ns, "chat", "two of two (2-3), ready", |s| {
        replicas("2/2 (2-3)")(s)?;
        condition("Ready", "True", "Ready")(s)
    })
    .await;
    assert_eq!(s.head.status, Some(ServiceState::Running));
    assert_eq!(s.replicas.unwrap().autoscaler, "hpa");
    let table = env.kubectl(&["get", "aimsvc", "chat", "-n", &ns]).await;
    assert!(
        table.stdout.contains("2/2 (2-3)"),
        "the REPLICAS column:\n{}",
        table.stdout
    );
}

#[tokio::test]
async fn a_request_metric_becomes_a_keda_scaled_object_that_may_scale_to_zero() {
    let (env, ns, catalog) = setup("svc-keda", "keda").await;
    apply(
        env,
        &ns,
        &service(
            "chat",
            &catalog.model,
            "  minReplicas: 0\n  maxReplicas: 2\n  autoScaling:\n    metric: waitingRequests\n    target: 4\n    \
             prometheus: http://prometheus.monitoring:9090\n",
        ),
    )
    .await;
    let isvc = isvc(env, &ns, "chat").await;
    assert_eq!(
        isvc["metadata"]["annotations"]["serving.kserve.io/autoscalerClass"],
        "keda"
    );
    assert_eq!(
        isvc["spec"]["predictor"]["annotations"]["prometheus.io/port"], "8000",
        "the replicas ask Prometheus to scrape vLLM's metrics"
    );
    let scaled = child(env, &ns, SCALED_OBJECT, "chat-predictor").await;
    let spec = &scaled["spec"];
    assert_eq!(
        (spec["minReplicaCount"].as_i64(), spec["maxReplicaCount"].as_i64()),
        (Some(0), Some(2)),
        "KEDA passes a floor of zero through"
    );
    let trigger = &spec["triggers"][0];
    assert_eq!(trigger["type"], "prometheus");
    assert_eq!(
        trigger["metadata"]["serverAddress"],
        "http://prometheus.monitoring:9090"
    );
    assert_eq!(trigger["metadata"]["threshold"], "4");
    assert_eq!(
        trigger["metadata"]["query"],
        format!("sum(vllm:num_requests_waiting{{namespace=\"{ns}\",pod=~\"chat-predictor-.*\"}})").as_str()
    );
}

#[tokio::test]
async fn a_scaling_service_keeps_running_and_says_what_the_next_replica_waits_for() {
    let env = env();
    settled(env).await;
    let ns = env.namespace("svc-scaling").await;
    let catalog = single_template_catalog(env, "scaling").await;
    // Eight MI325X GPUs a replica: the cluster's four MI325X servers hold four replicas.
    apply(env, &ns, &template("big", &catalog.model, 8, "MI325X", "")).await;
    apply(
        env,
        &ns,
        &service(
            "chat",
            &catalog.model,
            "  templateRef: big\n  minReplicas: 1\n  maxReplicas: 6\n  autoScaling:\n    metric: runningRequests\n    \
             target: 8\n    prometheus: http://prometheus.monitoring:9090\n",
        ),
    )
    .await;
    wait_for(env, &ns, "chat", "one of one (1-6)", replicas("1/1 (1-6)")).await;
    autoscaler_scales(env, &ns, "chat", 5).await;
    let s = wait_for(env, &ns, "chat", "four placed, one waiting", |s| {
        replicas("4/5 (1-6)")(s)?;
        condition("RuntimeReady", "True", "Scaling")(s)
    })
    .await;
    assert_eq!(s.head.status, Some(ServiceState::Running), "it serves while it scales");
    let says = message(&s, "RuntimeReady");
    assert!(
        says.contains("scaling from 4 to 5 ready replicas")
            && says.contains("cannot fit: 5 replicas × 8 = 40 MI325X GPUs, and the cluster has 32 in total"),
        "{says}"
    );
    autoscaler_scales(env, &ns, "chat", 2).await;
    let s = wait_for(env, &ns, "chat", "two of two", |s| {
        replicas("2/2 (1-6)")(s)?;
        condition("RuntimeReady", "True", "RuntimeReady")(s)
    })
    .await;
    assert_eq!(s.head.status, Some(ServiceState::Running));
}

#[tokio::test]
async fn scale_to_zero_on_a_cpu_metric_is_refused_by_the_schema_or_explained_in_a_condition() {
    let (env, ns, catalog) = setup("svc-zero", "zero").await;
    // One object alone: the API server refuses it.
    let refused = env
        .apply(
            &service(
                "own",
                &catalog.model,
                "  minReplicas: 0\n  maxReplicas: 2\n  autoScaling: {metric: cpu, target: 80}\n",
            ),
            Some(&ns),
        )
        .await;
    assert!(!refused.success);
    assert!(
        refused
            .stderr
            .contains("minReplicas 0 (scale to zero) needs autoScaling on a request metric"),
        "{}",
        refused.stderr
    );
    // The metric from the template: only the operator sees both, and says so.
    apply(
        env,
        &ns,
        &template(
            "cpu",
            &catalog.model,
            1,
            "MI300X",
            "  autoScaling: {metric: cpu, target: 80}\n",
        ),
    )
    .await;
    apply(
        env,
        &ns,
        &service(
            "chat",
            &catalog.model,
            "  templateRef: cpu\n  minReplicas: 0\n  maxReplicas: 2\n",
        ),
    )
    .await;
    let s = wait_for(
        env,
        &ns,
        "chat",
        "refused scaling",
        condition("Failure", "True", "ScalingUnsupported"),
    )
    .await;
    assert_eq!(s.head.status, Some(ServiceState::Failed));
    assert!(
        message(&s, "RuntimeReady").contains("the template scales on cpu"),
        "{}",
        message(&s, "RuntimeReady")
    );
    assert!(
        isvc_now(env, &ns, "chat").await.is_none(),
        "nothing KServe would run at one replica"
    );
}
