//! `AIMService` end to end against the real API server, in each of the product's four patterns, with
//! caching on and off, and the failure reasons a person sees. The local cluster's KServe controller, scheduler and
//! kwok nodes run each InferenceService; `FakeKubelet` only ends what a test decides itself.

use aim_operator::api::{AIMServiceTemplate, ServiceState, TemplateScope};
use aim_tests::kubelet::{Exit, FakeKubelet, MANUAL};
use aim_tests::scenario::*;
use aim_tests::{Namespace, TestEnv, operator, test_env, wait};
use kube::api::{Api, ListParams};

fn env() -> &'static TestEnv {
    let env = test_env!();
    env.start_operator(operator::test_config());
    env
}

const MI300X_FP8: Profile = Profile {
    name: "mi300x-fp8",
    precision: "fp8",
    gpus: 1,
    gpu: "MI300X",
};
const MI325X_FP16: Profile = Profile {
    name: "mi325x-fp16",
    precision: "fp16",
    gpus: 2,
    gpu: "MI325X",
};

/// Every test's start: the cluster with the operator, a fresh namespace `ns`, and a catalog of `profiles`
/// tagged `tag`.
async fn setup(
    ns: &str,
    tag: &str,
    profiles: &[Profile],
    default: Option<&str>,
) -> (&'static TestEnv, Namespace, Catalog) {
    let env = env();
    let ns = env.namespace(ns).await;
    (env, ns, catalog(env, tag, profiles, default).await)
}

async fn apply(env: &TestEnv, ns: &str, yaml: &str) {
    let out = env.apply(yaml, Some(ns)).await;
    assert!(out.success, "{}\n{yaml}", out.stderr);
}

#[tokio::test]
async fn model_only_runs_the_images_default_template_on_kserve() {
    let (env, ns, catalog) = setup(
        "svc-default",
        "default",
        &[MI300X_FP8, MI325X_FP16],
        Some("mi325x-fp16"),
    )
    .await;
    apply(
        env,
        &ns,
        &service(
            "llama3-svc",
            &catalog.model,
            "  replicas: 2\n  env:\n  - name: AIM_PRECISION\n    value: fp16\n",
        ),
    )
    .await;

    let s = resolved(env, &ns, "llama3-svc").await;
    let resolved = s.resolved_template.unwrap();
    assert_eq!(
        (resolved.name, resolved.scope, resolved.derived),
        (catalog.template("mi325x-fp16"), TemplateScope::Cluster, false)
    );
    assert!(s.decision.is_none(), "the default template needs no matcher");

    let isvc = isvc(env, &ns, "llama3-svc").await;
    assert_eq!(
        isvc["metadata"]["annotations"]["serving.kserve.io/deploymentMode"],
        "Standard"
    );
    assert_eq!(isvc["metadata"]["ownerReferences"][0]["kind"], "AIMService");
    let predictor = &isvc["spec"]["predictor"];
    assert_eq!(predictor["minReplicas"], 2);
    let container = &predictor["containers"][0];
    assert_eq!(container["name"], "kserve-container");
    assert_eq!(container["image"], catalog.image.as_str());
    assert_eq!(container["resources"]["limits"]["amd.com/gpu"], "2");
    let precision = container["env"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "AIM_PRECISION")
        .unwrap();
    assert_eq!(precision["value"], "fp16");
    // Placed by the GPUs' device IDs (the MI325X and its virtual function), or their product name.
    let terms =
        &predictor["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"];
    assert_eq!(
        terms[0]["matchExpressions"][0]["values"],
        serde_json::json!(["74a5", "74b9"])
    );
    let values = &terms[1]["matchExpressions"][0]["values"];
    assert!(
        values.as_array().unwrap().iter().any(|v| v == "AMD_Instinct_MI325X"),
        "{values}"
    );

    // KServe makes the predictor Deployment; the scheduler places both replicas on MI325X nodes (node affinity,
    // two GPUs each); kwok runs them; KServe reports the InferenceService Ready.
    let s = ready(env, &ns, "llama3-svc").await;
    assert_eq!(s.head.status, Some(ServiceState::Running));
    assert_eq!(s.inference_service.as_deref(), Some("llama3-svc"));
    for (t, reason) in [
        ("CacheReady", "NotRequested"),
        ("RuntimeReady", "RuntimeReady"),
        ("RoutingReady", "RoutingDisabled"),
        ("Failure", "NoFailure"),
    ] {
        assert!(
            s.head.conditions.iter().any(|c| c.type_ == t && c.reason == reason),
            "{t}: {:?}",
            s.head.conditions
        );
    }
    let pods: Api<k8s_openapi::api::core::v1::Pod> = Api::namespaced(env.client().await, &ns);
    let replicas = pods
        .list(&ListParams::default().labels("serving.kserve.io/inferenceservice=llama3-svc"))
        .await
        .unwrap()
        .items;
    assert_eq!(replicas.len(), 2, "two replicas");
    for pod in &replicas {
        let node = pod.spec.as_ref().and_then(|s| s.node_name.clone()).unwrap_or_default();
        assert!(
            node.starts_with("gpu-mi325x-"),
            "a replica ran on {node}, not an MI325X node"
        );
    }

    // Losing the runtime after running is Degraded, not Failed: the replicas fail their readiness probes.
    FakeKubelet::new(env.client().await, &ns)
        .fail_readiness("serving.kserve.io/inferenceservice=llama3-svc")
        .await;
    wait_for(env, &ns, "llama3-svc", "Degraded", |s| {
        if s.head.status == Some(ServiceState::Degraded) {
            Ok(())
        } else {
            Err(format!("{:?}", s.head.status))
        }
    })
    .await;
    // Leaving Running is a Warning Event; the normal start before it was none (the Ready condition says it).
    // The operator records an object's Events in the order of its status writes, so once the Degraded one is
    // there a Running one would be too.
    wait::until("the Degraded Warning Event", || async {
        let degraded = events_of(env, &ns, "llama3-svc", "Degraded").await;
        degraded.starts_with("Warning|").then_some(()).ok_or(degraded)
    })
    .await;
    assert_eq!(
        events_of(env, &ns, "llama3-svc", "Running").await,
        "",
        "a normal start records no Running Event"
    );
}

#[tokio::test]
async fn model_only_without_a_default_lets_the_matcher_choose_and_records_every_verdict() {
    let (env, ns, catalog) = setup("svc-matcher", "nodefault", &[MI300X_FP8, MI325X_FP16], None).await;
    apply(env, &ns, &service("svc", &catalog.model, "")).await;
    let s = resolved(env, &ns, "svc").await;
    let decision = s.decision.expect("the matcher's decision is recorded");
    assert_eq!(decision.plugin, "builtin:matcher");
    assert!(decision.digest.starts_with("sha256:"));
    assert_eq!(decision.candidates.len(), 2);
    assert!(decision.candidates.iter().all(|c| c.accepted && !c.reason.is_empty()));
    // Both fit; the one with fewer GPUs wins.
    assert_eq!(s.resolved_template.unwrap().name, catalog.template("mi300x-fp8"));
    assert!(
        decision.outcome.starts_with("use cluster template"),
        "{}",
        decision.outcome
    );
}

#[tokio::test]
async fn a_template_ref_finds_the_namespace_template_before_the_cluster_template() {
    let (env, ns, catalog) = setup("svc-ref", "ref", &[MI300X_FP8], None).await;
    let shared = catalog.template("mi300x-fp8");
    apply(env, &ns, &format!("{API}\nkind: AIMServiceTemplate\nmetadata:\n  name: {shared}\nspec:\n  modelId: {}\n  precision: bf16\n  modelSources:\n  - sourceUri: hf://org/ref-local\n    size: 1Gi\n", catalog.model)).await;
    apply(
        env,
        &ns,
        &service("svc", &catalog.model, &format!("  templateRef: {shared}\n")),
    )
    .await;
    let s = resolved(env, &ns, "svc").await;
    assert_eq!(s.resolved_template.as_ref().unwrap().scope, TemplateScope::Namespace);
    assert!(
        message(&s, "Resolved").contains("namespace template"),
        "{}",
        message(&s, "Resolved")
    );
    isvc(env, &ns, "svc").await;
}

#[tokio::test]
async fn overrides_without_a_template_derive_one_that_services_share_and_that_goes_with_the_last() {
    let (env, ns, catalog) = setup("svc-overrides", "ovr", &[MI300X_FP8], Some("mi300x-fp8")).await;
    let overrides =
        "  overrides:\n    precision: bf16\n    gpuSelector:\n      count: 2\n      model: MI300X\n  replicas: 2\n";
    apply(env, &ns, &service("a", &catalog.model, overrides)).await;
    let s = resolved(env, &ns, "a").await;
    let derived = s.resolved_template.clone().unwrap();
    assert!(
        derived.derived && derived.scope == TemplateScope::Namespace,
        "{derived:?}"
    );
    assert!(
        derived
            .name
            // The base's name with the words the overrides change (fp8) as they are now, and the suffix.
            .starts_with(&format!("{}-ovr-bf16-2xmi300x-", catalog.template("mi300x-bf16"))),
        "{}",
        derived.name
    );
    // The first status is written once the service's start has settled, so its decision may be the derivation
    // itself or the use of the template it made a moment before: either says the template was derived.
    let outcome = s.decision.unwrap().outcome;
    assert!(
        outcome.starts_with("derive") || outcome.ends_with("(derived by the operator for these overrides)"),
        "{outcome}"
    );

    let templates: Api<AIMServiceTemplate> = Api::namespaced(env.client().await, &ns);
    let t = templates.get(&derived.name).await.unwrap();
    let labels = t.metadata.labels.clone().unwrap();
    assert_eq!(labels["aim.silogen.ai/component"], "derived-template");
    assert_eq!(labels["aim.silogen.ai/derived-from"], catalog.template("mi300x-fp8"));
    assert_eq!(format!("{:?}", t.spec.profile.parameters.precision), "Some(Bf16)");
    assert_eq!(t.spec.profile.parameters.gpu_selector.as_ref().unwrap().count, 2);
    assert_eq!(
        t.spec.profile.parameters.metric,
        Some(aim_operator::api::Metric::Latency),
        "the base's metric stays"
    );

    apply(env, &ns, &service("b", &catalog.model, overrides)).await;
    let b = resolved(env, &ns, "b").await;
    assert_eq!(
        b.resolved_template.unwrap().name,
        derived.name,
        "the same overrides share one template"
    );
    assert!(
        t.metadata.owner_references.is_none(),
        "a shared template records no users on itself: {:?}",
        t.metadata.owner_references
    );

    assert!(env.kubectl(&["delete", "aimservice", "a", "-n", &ns]).await.success);
    // Longer than the grace period (4 s in tests): b still uses it, so it stays.
    tokio::time::sleep(std::time::Duration::from_secs(6)).await;
    assert!(
        templates.get_opt(&derived.name).await.unwrap().is_some(),
        "the template stays while b uses it"
    );
    assert!(env.kubectl(&["delete", "aimservice", "b", "-n", &ns]).await.success);
    wait::until("the unused derived template to be collected", || async {
        if templates
            .get_opt(&derived.name)
            .await
            .map_err(|e| e.to_string())?
            .is_none()
        {
            Ok(())
        } else {
            Err("still there".into())
        }
    })
    .await;
}

#[tokio::test]
async fn overrides_that_an_existing_template_matches_use_it() {
    let (env, ns, catalog) = setup("svc-match", "match", &[MI300X_FP8, MI325X_FP16], Some("mi300x-fp8")).await;
    apply(
        env,
        &ns,
        &service("svc", &catalog.model, "  overrides:\n    precision: fp16\n"),
    )
    .await;
    let s = resolved(env, &ns, "svc").await;
    let resolved = s.resolved_template.unwrap();
    assert_eq!(
        (resolved.name, resolved.derived),
        (catalog.template("mi325x-fp16"), false)
    );
    let decision = s.decision.unwrap();
    let rejected = decision
        .candidates
        .iter()
        .find(|c| !c.accepted)
        .expect("the fp8 template is rejected");
    assert!(
        rejected.reason.contains("precision is fp8, the service wants fp16"),
        "{}",
        rejected.reason
    );
}

/// KServe labels the predictor pods `app: isvc.<name>-predictor` (63 characters at most), so a service name of
/// 49 or more characters would get an InferenceService KServe never runs: the operator shortens it.
#[tokio::test]
async fn a_long_service_name_gets_an_inference_service_kserve_can_run() {
    let (env, ns, catalog) = setup("svc-long", "long", &[MI300X_FP8], None).await;
    let name = format!("a-service-name-{}", "x".repeat(45));
    assert!(name.len() > 48);
    apply(env, &ns, &service(&name, &catalog.model, "")).await;
    let s = ready(env, &ns, &name).await;
    assert_eq!(s.head.status, Some(ServiceState::Running));
    let isvc_name = s.inference_service.expect("the InferenceService's name in status");
    assert!(
        format!("isvc.{isvc_name}-predictor").len() <= 63 && isvc_name.starts_with("sa-service-name-"),
        "{isvc_name}"
    );
}

#[tokio::test]
async fn overriding_only_the_gpu_count_takes_the_model_from_the_referenced_template() {
    let (env, ns, catalog) = setup("svc-gpu-count", "gpucount", &[MI300X_FP8], None).await;
    apply(env, &ns, &format!("{API}\nkind: AIMServiceTemplate\nmetadata:\n  name: base\nspec:\n  modelId: {}\n  metric: latency\n  precision: fp8\n  gpuSelector:\n    count: 1\n    model: MI300X\n  modelSources:\n  - sourceUri: hf://org/gpu-count\n    size: 8Gi\n", catalog.model)).await;
    let overrides = "  templateRef: base\n  overrides:\n    gpuSelector:\n      count: 2\n";
    apply(env, &ns, &service("two", &catalog.model, overrides)).await;
    let s = resolved(env, &ns, "two").await;
    let resolved = s.resolved_template.unwrap();
    assert!(resolved.derived, "{resolved:?}");
    let t: AIMServiceTemplate = Api::namespaced(env.client().await, &ns)
        .get(&resolved.name)
        .await
        .unwrap();
    assert_eq!(
        t.spec.profile.parameters.gpu_selector,
        Some(aim_operator::api::GpuSelector::new("MI300X", 2)),
        "the count from the service, the model from the base"
    );
    // An empty selector says nothing: the schema refuses it.
    let empty = env
        .apply(
            &service(
                "empty",
                &catalog.model,
                "  templateRef: base\n  overrides:\n    gpuSelector: {}\n",
            ),
            Some(&ns),
        )
        .await;
    assert!(
        !empty.success && empty.stderr.contains("gpuSelector names a count, a model, or both"),
        "{}",
        empty.stderr
    );
}

#[tokio::test]
async fn a_template_ref_with_overrides_derives_from_the_referenced_template() {
    let (env, ns, catalog) = setup("svc-ref-ovr", "refovr", &[MI300X_FP8], None).await;
    apply(env, &ns, &format!("{API}\nkind: AIMServiceTemplate\nmetadata:\n  name: llama3-8b-fast\nspec:\n  modelId: {}\n  metric: latency\n  precision: fp8\n  gpuSelector:\n    count: 1\n    model: MI300X\n  modelSources:\n  - sourceUri: hf://org/fast\n    size: 8Gi\n", catalog.model)).await;
    apply(
        env,
        &ns,
        &service(
            "llama3-fast-bf16",
            &catalog.model,
            "  templateRef: llama3-8b-fast\n  overrides:\n    precision: bf16\n",
        ),
    )
    .await;
    let s = resolved(env, &ns, "llama3-fast-bf16").await;
    let resolved = s.resolved_template.unwrap();
    assert!(
        resolved.derived && resolved.name.starts_with("llama3-8b-fast-ovr-bf16-"),
        "{resolved:?}"
    );
    let t: AIMServiceTemplate = Api::namespaced(env.client().await, &ns)
        .get(&resolved.name)
        .await
        .unwrap();
    assert_eq!(
        t.spec.profile.parameters.precision,
        Some(aim_operator::api::Precision::Bf16)
    );
    assert_eq!(
        t.spec.profile.model_sources.unwrap()[0].source_uri,
        "hf://org/fast",
        "the rest comes from the base"
    );
    let isvc = isvc(env, &ns, "llama3-fast-bf16").await;
    let env_vars = isvc["spec"]["predictor"]["containers"][0]["env"]
        .as_array()
        .unwrap()
        .clone();
    assert!(
        env_vars
            .iter()
            .any(|e| e["name"] == "AIM_PRECISION" && e["value"] == "bf16"),
        "{env_vars:?}"
    );
}

#[tokio::test]
async fn a_template_too_small_for_the_weights_fails_with_the_numbers_and_derives_nothing() {
    let env = env();
    let ns = env.namespace("svc-no-fit").await;
    // A 405B model in fp16: about 754 GiB of weights, served on 8 × MI300X by default.
    const EIGHT_MI300X: Profile = Profile {
        name: "mi300x-fp16",
        precision: "fp16",
        gpus: 8,
        gpu: "MI300X",
    };
    const TWO_MI300X: Profile = Profile {
        name: "mi300x-fp16-small",
        precision: "fp16",
        gpus: 2,
        gpu: "MI300X",
    };
    let catalog = sized_catalog(env, "nofit", &[EIGHT_MI300X, TWO_MI300X], Some("mi300x-fp16"), "754Gi").await;
    let small = catalog.template("mi300x-fp16-small");
    apply(
        env,
        &ns,
        &service(
            "derived",
            &catalog.model,
            "  overrides:\n    precision: bf16\n    gpuSelector: {count: 2, model: MI300X}\n",
        ),
    )
    .await;
    apply(
        env,
        &ns,
        &service("named", &catalog.model, &format!("  templateRef: {small}\n")),
    )
    .await;

    let derived = wait_for(
        env,
        &ns,
        "derived",
        "TemplateDoesNotFit",
        condition("Resolved", "False", "TemplateDoesNotFit"),
    )
    .await;
    assert_eq!(derived.head.status, Some(ServiceState::Failed));
    let why = message(&derived, "Resolved");
    for part in ["the derived template", "754.0 GiB", "345.6 GiB usable", "2 × MI300X"] {
        assert!(why.contains(part), "'{part}' missing from: {why}");
    }
    let templates: Api<AIMServiceTemplate> = Api::namespaced(env.client().await, &ns);
    assert!(
        templates.list(&ListParams::default()).await.unwrap().items.is_empty(),
        "no template is derived for what cannot run"
    );
    assert!(isvc_now(env, &ns, "derived").await.is_none());

    let named = wait_for(
        env,
        &ns,
        "named",
        "TemplateDoesNotFit",
        condition("Resolved", "False", "TemplateDoesNotFit"),
    )
    .await;
    let why = message(&named, "Resolved");
    assert!(
        why.contains(&format!("cluster template '{small}'")) && why.contains("754.0 GiB"),
        "{why}"
    );
    assert!(isvc_now(env, &ns, "named").await.is_none());
}

#[tokio::test]
async fn service_pull_secrets_replace_the_templates_and_env_merges_by_name_the_service_winning() {
    let (env, ns, catalog) = setup("svc-secrets", "secrets", &[], None).await;
    let template = format!(
        "{API}\nkind: AIMServiceTemplate\nmetadata:\n  name: private\nspec:\n  modelId: {}\n  metric: latency\n  precision: fp8\n  gpuSelector: {{count: 1, model: MI300X}}\n  imagePullSecrets: [{{name: from-template}}]\n  env:\n  - {{name: LOG_LEVEL, value: template}}\n  - {{name: ONLY_TEMPLATE, value: kept}}\n  modelSources:\n  - sourceUri: hf://org/secrets-{}\n    size: 16Gi\n",
        catalog.model,
        std::process::id()
    );
    apply(env, &ns, &template).await;
    apply(
        env,
        &ns,
        &service(
            "own",
            &catalog.model,
            "  templateRef: private\n  imagePullSecrets: [{name: from-service}]\n  env:\n  - {name: LOG_LEVEL, value: service}\n",
        ),
    )
    .await;
    apply(
        env,
        &ns,
        &service("inherits", &catalog.model, "  templateRef: private\n"),
    )
    .await;

    let own = isvc(env, &ns, "own").await;
    let predictor = &own["spec"]["predictor"];
    assert_eq!(
        predictor["imagePullSecrets"],
        serde_json::json!([{ "name": "from-service" }]),
        "a service's non-empty list replaces the template's"
    );
    let container_env = &predictor["containers"][0]["env"];
    let value_of = |name: &str| {
        container_env
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == name)
            .map(|e| e["value"].clone())
    };
    assert_eq!(value_of("LOG_LEVEL"), Some("service".into()), "{container_env}");
    assert_eq!(value_of("ONLY_TEMPLATE"), Some("kept".into()), "{container_env}");

    let inherits = isvc(env, &ns, "inherits").await;
    assert_eq!(
        inherits["spec"]["predictor"]["imagePullSecrets"],
        serde_json::json!([{ "name": "from-template" }]),
        "an empty list inherits the template's"
    );
}

#[tokio::test]
async fn a_missing_template_is_template_not_found() {
    let (env, ns, catalog) = setup("svc-no-tpl", "notpl", &[], None).await;
    apply(
        env,
        &ns,
        &service("svc", &catalog.model, "  templateRef: no-such-template\n"),
    )
    .await;
    let s = wait_for(
        env,
        &ns,
        "svc",
        "TemplateNotFound",
        condition("Resolved", "False", "TemplateNotFound"),
    )
    .await;
    assert_eq!(s.head.status, Some(ServiceState::Failed));
    assert!(
        message(&s, "Failure").contains("no AIMServiceTemplate 'no-such-template'"),
        "{}",
        message(&s, "Failure")
    );
    assert!(isvc_now(env, &ns, "svc").await.is_none());
}

#[tokio::test]
async fn a_missing_model_is_model_not_found_and_recovers_when_the_catalog_arrives() {
    let env = env();
    let ns = env.namespace("svc-no-model").await;
    let tag = format!("late-{}", std::process::id());
    apply(env, &ns, &service("svc", &format!("org/{tag}:1.0"), "")).await;
    let s = wait_for(
        env,
        &ns,
        "svc",
        "ModelNotFound",
        condition("Resolved", "False", "ModelNotFound"),
    )
    .await;
    assert!(
        message(&s, "Resolved").contains("no AIMImage has modelId"),
        "{}",
        message(&s, "Resolved")
    );
    let _catalog = catalog(env, "late", &[MI300X_FP8], Some("mi300x-fp8")).await;
    resolved(env, &ns, "svc").await;
}

#[tokio::test]
async fn with_cache_model_the_runtime_waits_for_a_warm_cache_and_mounts_it() {
    let (env, ns, catalog) = setup("svc-cache", "cached", &[MI300X_FP8], Some("mi300x-fp8")).await;
    apply(
        env,
        &ns,
        &service(
            "svc",
            &catalog.model,
            &format!("  cacheModel: true\n  imagePullSecrets: [{{name: from-service}}]\n  env:\n  - name: HF_TOKEN\n    value: from-service\n  - name: {MANUAL}\n    value: \"true\"\n"),
        ),
    )
    .await;
    let s = wait_for(
        env,
        &ns,
        "svc",
        "cache warming",
        condition("CacheReady", "False", "CacheWarming"),
    )
    .await;
    assert_eq!(
        s.head
            .conditions
            .iter()
            .find(|c| c.type_ == "RuntimeReady")
            .unwrap()
            .reason,
        "WaitingForCache"
    );
    assert!(
        isvc_now(env, &ns, "svc").await.is_none(),
        "no InferenceService before the cache is warm"
    );

    let source = format!("hf://org/{}-fp8", catalog.template("").trim_end_matches('-'));
    let cache = aim_operator::testing::model_cache_name(&source, &Default::default());
    let mc: Api<aim_operator::api::ModelCache> = Api::namespaced(env.client().await, &ns);
    let created = wait::until("the ModelCache", || async {
        mc.get_opt(&cache)
            .await
            .map_err(|e| e.to_string())?
            .ok_or("none".to_string())
    })
    .await;
    assert_eq!(
        created.spec.credentials.env[0].value.as_deref(),
        Some("from-service"),
        "the service's credentials reach the cache"
    );
    assert_eq!(
        created.spec.credentials.image_pull_secrets[0].name, "from-service",
        "the service's pull secrets reach the cache"
    );
    let claim = aim_operator::testing::pvc_name(&cache);
    wait::until("the claim", || async {
        Api::<k8s_openapi::api::core::v1::PersistentVolumeClaim>::namespaced(env.client().await, &ns)
            .get_opt(&claim)
            .await
            .map_err(|e| e.to_string())?
            .ok_or("none".to_string())
    })
    .await;
    // The download runs until the test ends it (the service's env reaches the download Job: AIM_TEST_MANUAL).
    FakeKubelet::new(env.client().await, &ns)
        .finish(&aim_operator::testing::job_name(&cache, 0), Exit::Succeeded("ok"))
        .await;
    wait_for(
        env,
        &ns,
        "svc",
        "cache ready",
        condition("CacheReady", "True", "CacheReady"),
    )
    .await;
    let isvc = isvc(env, &ns, "svc").await;
    let predictor = &isvc["spec"]["predictor"];
    assert_eq!(
        predictor["volumes"][1]["persistentVolumeClaim"]["claimName"],
        claim.as_str()
    );
    // Where the AIM runtime looks for the model: $AIM_CACHE_PATH/<model id>, which must be the directory the
    // downloader filled (`<org>/<model>` on the volume), not the volume's root.
    let model_id = source.trim_start_matches("hf://");
    assert_eq!(
        predictor["containers"][0]["volumeMounts"][1],
        serde_json::json!({
            "name": "model-cache-0",
            "mountPath": format!("/workspace/model-cache/{model_id}"),
            "subPath": model_id,
            "readOnly": true,
        })
    );
    let env = predictor["containers"][0]["env"].as_array().unwrap();
    assert!(
        env.iter()
            .any(|e| e["name"] == "AIM_CACHE_PATH" && e["value"] == "/workspace/model-cache"),
        "{env:?}"
    );
    assert!(
        !env.iter().any(|e| e["name"] == "HF_HOME"),
        "a cached model is not downloaded: {env:?}"
    );
}

#[tokio::test]
async fn spec_changes_reach_the_inference_service() {
    let (env, ns, catalog) = setup("svc-update", "update", &[MI300X_FP8], Some("mi300x-fp8")).await;
    apply(env, &ns, &service("svc", &catalog.model, "  replicas: 1\n")).await;
    isvc(env, &ns, "svc").await;
    apply(
        env,
        &ns,
        &service(
            "svc",
            &catalog.model,
            "  replicas: 3\n  env:\n  - name: VLLM_LOGGING_LEVEL\n    value: DEBUG\n",
        ),
    )
    .await;
    wait::until("replicas and env to reach the InferenceService", || async {
        let v = isvc_now(env, &ns, "svc").await.ok_or("gone")?;
        let p = &v["spec"]["predictor"];
        let env_ok = p["containers"][0]["env"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["name"] == "VLLM_LOGGING_LEVEL" && e["value"] == "DEBUG");
        if p["minReplicas"] == 3 && p["maxReplicas"] == 3 && env_ok {
            Ok(())
        } else {
            Err(format!("{p}"))
        }
    })
    .await;
    let list = Api::<AIMServiceTemplate>::namespaced(env.client().await, &ns)
        .list(&ListParams::default())
        .await
        .unwrap();
    assert!(list.items.is_empty(), "no derived template without overrides");
}

#[tokio::test]
async fn a_derived_template_takes_up_changes_of_its_base_when_a_service_next_resolves_to_it() {
    let (env, ns, catalog) = setup("svc-rebase", "rebase", &[MI300X_FP8], None).await;
    let base = |level: &str| {
        format!(
            "{API}\nkind: AIMServiceTemplate\nmetadata:\n  name: base\nspec:\n  modelId: {}\n  precision: fp8\n  env:\n  - name: VLLM_LOGGING_LEVEL\n    value: {level}\n  modelSources:\n  - sourceUri: hf://org/rebase\n    size: 1Gi\n",
            catalog.model
        )
    };
    apply(env, &ns, &base("INFO")).await;
    let spec = "  templateRef: base\n  overrides:\n    precision: bf16\n";
    apply(env, &ns, &service("first", &catalog.model, spec)).await;
    let derived = resolved(env, &ns, "first").await.resolved_template.unwrap().name;

    apply(env, &ns, &base("DEBUG")).await;
    apply(env, &ns, &service("second", &catalog.model, spec)).await;
    let second = resolved(env, &ns, "second").await;
    assert_eq!(
        second.resolved_template.unwrap().name,
        derived,
        "the same base and overrides share one template"
    );
    let templates: Api<AIMServiceTemplate> = Api::namespaced(env.client().await, &ns);
    let t = templates.get(&derived).await.unwrap();
    assert_eq!(
        t.spec.profile.credentials.env[0].value.as_deref(),
        Some("DEBUG"),
        "the base's change was carried over"
    );
    assert_eq!(
        t.spec.profile.parameters.precision,
        Some(aim_operator::api::Precision::Bf16),
        "the override still wins"
    );
    assert!(
        t.metadata.owner_references.is_none(),
        "users are not recorded on the shared template"
    );
    assert_eq!(
        status(env, &ns, "first").await.resolved_template.unwrap().name,
        derived,
        "the first service still runs it"
    );
}

/// The Normal `Restored` and `Recreated` Events on service `name`, as `type|message;…`.
async fn restored_events(env: &TestEnv, ns: &str, name: &str) -> String {
    let mut out = String::new();
    for reason in ["Restored", "Recreated"] {
        out += &events_of(env, ns, name, reason).await;
    }
    out
}

async fn events_of(env: &TestEnv, ns: &str, name: &str, reason: &str) -> String {
    env.kubectl(&[
        "get",
        "events",
        "-n",
        ns,
        "--field-selector",
        &format!("involvedObject.kind=AIMService,involvedObject.name={name},reason={reason}"),
        "-o",
        "jsonpath={range .items[*]}{.type}|{.message};{end}",
    ])
    .await
    .stdout
}

/// A hand edit of what the operator sets on a child is put back, and an Event on the service says which field;
/// a deleted InferenceService is made again, said so, and a service running a moment before is not called
/// Degraded while KServe brings the new one up.
#[tokio::test]
async fn a_child_changed_or_deleted_by_hand_is_put_back_and_an_event_says_what() {
    let (env, ns, catalog) = setup("svc-drift", "drift", &[MI300X_FP8], None).await;
    apply(env, &ns, &service("svc", &catalog.model, "")).await;
    ready(env, &ns, "svc").await;
    let image = isvc(env, &ns, "svc").await["spec"]["predictor"]["containers"][0]["image"].clone();

    let patch = r#"[{"op":"replace","path":"/spec/predictor/containers/0/image","value":"evil.example/aim:1"}]"#;
    let edited = env
        .kubectl(&[
            "patch",
            "inferenceservice",
            "svc",
            "-n",
            &ns,
            "--type=json",
            "-p",
            patch,
        ])
        .await;
    assert!(edited.success, "{}", edited.stderr);
    wait::until("the image put back", || async {
        let now = isvc(env, &ns, "svc").await["spec"]["predictor"]["containers"][0]["image"].clone();
        if now == image { Ok(()) } else { Err(format!("{now}")) }
    })
    .await;
    let events = wait::until("the Restored Event naming the field", || async {
        let events = restored_events(env, &ns, "svc").await;
        if events.contains("spec.predictor.containers[0].image") {
            Ok(events)
        } else {
            Err(events)
        }
    })
    .await;
    assert!(
        events.starts_with("Normal|InferenceService") && events.contains("was changed outside the operator"),
        "{events}"
    );

    // Deleted: made again, said so; the service reads Running throughout, as far as this poll sees.
    let deleted = env
        .kubectl(&["delete", "inferenceservice", "svc", "-n", &ns, "--wait=false"])
        .await;
    assert!(deleted.success, "{}", deleted.stderr);
    let mut seen = Vec::new();
    let start = std::time::Instant::now();
    while start.elapsed() < std::time::Duration::from_secs(3) {
        seen.push(status(env, &ns, "svc").await.head.status);
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    wait::until("the Event about the deleted InferenceService", || async {
        let events = restored_events(env, &ns, "svc").await;
        if events.contains("deleted outside the operator") {
            Ok(())
        } else {
            Err(events)
        }
    })
    .await;
    ready(env, &ns, "svc").await;
    println!("states while the InferenceService was put back: {seen:?}");
    assert!(
        !seen.contains(&Some(ServiceState::Degraded)),
        "put back within the hold, the service is not called Degraded: {seen:?}"
    );
}

#[tokio::test]
async fn an_mi355x_template_runs_on_the_mi355x_server_found_by_its_device_id() {
    const MI355X_FP8: Profile = Profile {
        name: "mi355x-fp8",
        precision: "fp8",
        gpus: 4,
        gpu: "MI355X",
    };
    let (env, ns, catalog) = setup("svc-mi355x", "mi355x", &[MI355X_FP8], Some("mi355x-fp8")).await;
    apply(env, &ns, &service("svc", &catalog.model, "")).await;
    ready(env, &ns, "svc").await;
    let pods: Api<k8s_openapi::api::core::v1::Pod> = Api::namespaced(env.client().await, &ns);
    let replicas = pods
        .list(&ListParams::default().labels("serving.kserve.io/inferenceservice=svc"))
        .await
        .unwrap()
        .items;
    let node = replicas[0]
        .spec
        .as_ref()
        .and_then(|s| s.node_name.clone())
        .unwrap_or_default();
    assert_eq!(node, "gpu-mi355x-0");
    let isvc = isvc(env, &ns, "svc").await;
    let terms = &isvc["spec"]["predictor"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
        ["nodeSelectorTerms"];
    assert_eq!(
        terms[0]["matchExpressions"][0],
        serde_json::json!({ "key": "amd.com/gpu.device-id", "operator": "In", "values": ["75a3", "75b3"] })
    );
    // Without caching, the runtime downloads into a volume sized from the model (16 GiB + 10 %), not into its
    // container's writable layer.
    let container = &isvc["spec"]["predictor"]["containers"][0];
    assert_eq!(container["resources"]["requests"]["ephemeral-storage"], "18Gi");
    assert!(
        container["volumeMounts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["mountPath"] == "/workspace/model-cache" && m["name"] == "model-download"),
        "{container}"
    );
}
