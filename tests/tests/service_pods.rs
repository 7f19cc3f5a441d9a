//! Per-service pod settings and the labels and annotations that follow a service, end to end: the operator
//! writes them into the InferenceService, the real KServe controller makes the predictor Deployment, the
//! kube-controller-manager its pods, the scheduler places them on kwok GPU nodes. The assertions read the pods
//! as they run, not only what the operator wrote.

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

async fn apply(env: &TestEnv, ns: Option<&str>, yaml: &str) {
    let out = env.apply(yaml, ns).await;
    assert!(out.success, "{}\n{yaml}", out.stderr);
}

async fn replicas(env: &TestEnv, ns: &str, isvc: &str) -> Vec<Pod> {
    Api::<Pod>::namespaced(env.client().await, ns)
        .list(&ListParams::default().labels(&format!("serving.kserve.io/inferenceservice={isvc}")))
        .await
        .unwrap()
        .items
}

#[tokio::test]
async fn pod_settings_of_service_and_template_reach_the_running_pods_and_labels_follow_the_service() {
    let env = env();
    let ns = env.namespace("svc-pods").await;
    let catalog = single_template_catalog(env, "pods").await;
    // What the pods name must exist: the API server refuses a pod of an unknown PriorityClass or RuntimeClass.
    let priority = format!("aim-interactive-{}", std::process::id());
    let runtime_class = format!("aim-rocm-{}", std::process::id());
    let _priority = env.cleanup(&["priorityclass", &priority]);
    let _runtime_class = env.cleanup(&["runtimeclass", &runtime_class]);
    apply(
        env,
        None,
        &format!(
            "apiVersion: scheduling.k8s.io/v1\nkind: PriorityClass\nmetadata:\n  name: {priority}\nvalue: 1000\n---\n\
             apiVersion: node.k8s.io/v1\nkind: RuntimeClass\nmetadata:\n  name: {runtime_class}\nhandler: runc\n"
        ),
    )
    .await;
    apply(
        env,
        Some(&ns),
        "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: llm-runner\n",
    )
    .await;
    // The template's defaults: a toleration, a node label and 6 CPUs a replica.
    apply(
        env,
        Some(&ns),
        &format!(
            "{API}\nkind: AIMServiceTemplate\nmetadata:\n  name: gpu-pool\nspec:\n  modelId: {}\n  precision: fp8\n  \
             gpuSelector: {{count: 1, model: MI300X}}\n  modelSources:\n  - sourceUri: hf://org/pods\n    size: 1Gi\n  \
             tolerations:\n  - {{key: amd.com/gpu, operator: Exists, effect: NoSchedule}}\n  \
             nodeSelector:\n    kubernetes.io/os: linux\n  resources:\n    requests:\n      cpu: \"6\"\n",
            catalog.model
        ),
    )
    .await;
    apply(
        env,
        Some(&ns),
        &format!(
            "{API}\nkind: AIMService\nmetadata:\n  name: chat\n  labels:\n    team: nlp\n    \
             aim.silogen.ai/redecide: \"0\"\n  annotations:\n    example.com/owner: ana\nspec:\n  aimModelId: {}\n  \
             templateRef: gpu-pool\n  serviceAccountName: llm-runner\n  priorityClassName: {priority}\n  \
             runtimeClassName: {runtime_class}\n  nodeSelector:\n    type: kwok\n  resources:\n    requests:\n      \
             memory: 100Gi\n    limits:\n      memory: 120Gi\n",
            catalog.model
        ),
    )
    .await;
    let s = ready(env, &ns, "chat").await;
    assert_eq!(s.head.status, Some(ServiceState::Running));

    let pods = replicas(env, &ns, "chat").await;
    assert_eq!(pods.len(), 1);
    let (meta, spec) = (&pods[0].metadata, pods[0].spec.as_ref().unwrap());
    assert_eq!(spec.service_account_name.as_deref(), Some("llm-runner"));
    assert_eq!(spec.priority_class_name.as_deref(), Some(priority.as_str()));
    assert_eq!(spec.priority, Some(1000), "the API server resolved the PriorityClass");
    assert_eq!(spec.runtime_class_name.as_deref(), Some(runtime_class.as_str()));
    let selector = spec.node_selector.clone().unwrap_or_default();
    assert_eq!(
        (selector.get("kubernetes.io/os"), selector.get("type")),
        (Some(&"linux".to_string()), Some(&"kwok".to_string())),
        "the template's node labels and the service's, together: {selector:?}"
    );
    assert!(
        spec.tolerations
            .iter()
            .flatten()
            .any(|t| t.key.as_deref() == Some("amd.com/gpu") && t.effect.as_deref() == Some("NoSchedule")),
        "the template's toleration: {:?}",
        spec.tolerations
    );
    let resources = spec.containers[0].resources.clone().unwrap();
    let get =
        |m: &Option<std::collections::BTreeMap<String, k8s_openapi::apimachinery::pkg::api::resource::Quantity>>,
         k: &str| m.as_ref().and_then(|m| m.get(k)).map(|q| q.0.clone());
    assert_eq!(
        get(&resources.requests, "cpu").as_deref(),
        Some("6"),
        "the template's CPU"
    );
    assert_eq!(
        get(&resources.requests, "memory").as_deref(),
        Some("100Gi"),
        "the service's memory"
    );
    assert_eq!(get(&resources.limits, "memory").as_deref(), Some("120Gi"));
    assert_eq!(
        get(&resources.limits, "amd.com/gpu").as_deref(),
        Some("1"),
        "GPUs stay the template's"
    );
    let labels = meta.labels.clone().unwrap_or_default();
    assert_eq!(labels.get("team").map(String::as_str), Some("nlp"), "{labels:?}");
    assert!(
        !labels.contains_key("aim.silogen.ai/redecide"),
        "the operator's keys stay on the service"
    );
    assert_eq!(
        meta.annotations
            .as_ref()
            .and_then(|a| a.get("example.com/owner"))
            .map(String::as_str),
        Some("ana")
    );
    let isvc = isvc(env, &ns, "chat").await;
    assert_eq!(isvc["metadata"]["labels"]["team"], "nlp");
    assert_eq!(isvc["metadata"]["annotations"]["example.com/owner"], "ana");
    assert_eq!(
        isvc["metadata"]["annotations"]["serving.kserve.io/autoscalerClass"], "none",
        "the operator's annotations stay"
    );

    // A changed label follows to the InferenceService (and with it KServe's next pods), and that is the one
    // write it costs: the service's status says nothing new, so it is not written.
    let audit_from = aim_tests::audit::offset(&env.audit_log());
    let out = env
        .kubectl(&["label", "aimsvc", "chat", "team=search", "--overwrite", "-n", &ns])
        .await;
    assert!(out.success, "{}", out.stderr);
    wait::until("the label follows", || async {
        match isvc_now(env, &ns, "chat").await {
            Some(i) if i["metadata"]["labels"]["team"] == "search" => Ok(()),
            other => Err(format!("{:?}", other.map(|i| i["metadata"]["labels"].clone()))),
        }
    })
    .await;
    // KServe rolls the pods to the new labels; give the rollout's changes time to reach the operator.
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    ready(env, &ns, "chat").await;
    let requests = aim_tests::audit::count_in(
        &env.audit_log(),
        audit_from,
        aim_tests::audit::offset(&env.audit_log()),
        &ns,
    );
    let writes: Vec<(&str, u64)> = requests
        .writes_by_resource
        .iter()
        .filter(|(resource, _)| !resource.starts_with("events"))
        .map(|(resource, n)| (resource.as_str(), *n))
        .collect();
    // The InferenceService once, and the service's status once: the mark of what was applied lives there, not
    // on the InferenceService (whose annotations reach the pods). The rollout that follows writes no status.
    assert_eq!(
        writes,
        [("aimservices/status", 1), ("inferenceservices", 1)],
        "a label change writes the InferenceService once, the service's status once, and nothing else: {:?}",
        requests.writes_by_resource
    );
}
