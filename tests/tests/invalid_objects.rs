//! Objects the schema must refuse, each with a message that tells a person what is wrong. The API server
//! enforces these (enums, minimums, required fields, CEL), so the operator never sees them.

use aim_tests::{TestEnv, test_env};

const API: &str = "apiVersion: aim.silogen.ai/v1alpha1";

fn template(name: &str, spec: &str) -> String {
    format!("{API}\nkind: AIMServiceTemplate\nmetadata:\n  name: {name}\nspec:\n{spec}")
}

fn service(name: &str, spec: &str) -> String {
    format!("{API}\nkind: AIMService\nmetadata:\n  name: {name}\nspec:\n{spec}")
}

fn model_cache(name: &str, spec: &str) -> String {
    format!("{API}\nkind: ModelCache\nmetadata:\n  name: {name}\nspec:\n{spec}")
}

const GOOD_PROFILE: &str = "  modelId: meta/llama-3-8b:1.1+20240915\n  metric: latency\n  precision: fp8\n  gpuSelector:\n    count: 1\n    model: MI300X\n";

/// Applies `yaml` and asserts it is refused with every one of `expected` in the message.
async fn assert_rejected(env: &TestEnv, ns: &str, yaml: &str, expected: &[&str]) {
    let out = env.apply(yaml, Some(ns)).await;
    assert!(!out.success, "accepted, but should be rejected:\n{yaml}");
    for phrase in expected {
        assert!(out.stderr.contains(phrase), "message lacks {phrase:?}:\n{}", out.stderr);
    }
}

async fn assert_accepted(env: &TestEnv, ns: &str, yaml: &str) {
    let out = env.apply(yaml, Some(ns)).await;
    assert!(out.success, "rejected:\n{yaml}\n{}", out.stderr);
}

#[tokio::test]
async fn an_unknown_precision_is_rejected_listing_the_supported_ones() {
    let env = test_env!();
    let ns = env.namespace("bad-precision").await;
    let yaml = template("t", &GOOD_PROFILE.replace("precision: fp8", "precision: fp12"));
    assert_rejected(
        env,
        &ns,
        &yaml,
        &[
            "spec.precision: Unsupported value: \"fp12\"",
            "\"auto\", \"fp4\", \"fp8\", \"fp16\", \"fp32\", \"bf16\", \"int4\", \"int8\"",
        ],
    )
    .await;
}

#[tokio::test]
async fn every_one_of_the_eight_precisions_is_accepted() {
    let env = test_env!();
    let ns = env.namespace("all-precisions").await;
    for p in ["auto", "fp4", "fp8", "fp16", "fp32", "bf16", "int4", "int8"] {
        assert_accepted(
            env,
            &ns,
            &template(
                &format!("t-{p}"),
                &GOOD_PROFILE.replace("precision: fp8", &format!("precision: {p}")),
            ),
        )
        .await;
    }
}

#[tokio::test]
async fn an_unknown_metric_is_rejected() {
    let env = test_env!();
    let ns = env.namespace("bad-metric").await;
    let yaml = template("t", &GOOD_PROFILE.replace("metric: latency", "metric: fastest"));
    assert_rejected(
        env,
        &ns,
        &yaml,
        &[
            "spec.metric: Unsupported value: \"fastest\"",
            "\"latency\", \"throughput\"",
        ],
    )
    .await;
}

#[tokio::test]
async fn a_gpu_count_of_zero_is_rejected() {
    let env = test_env!();
    let ns = env.namespace("zero-gpus").await;
    let yaml = template("t", &GOOD_PROFILE.replace("count: 1", "count: 0"));
    assert_rejected(
        env,
        &ns,
        &yaml,
        &["spec.gpuSelector.count", "should be greater than or equal to 1"],
    )
    .await;
}

#[tokio::test]
async fn a_gpu_selector_without_a_model_is_rejected() {
    let env = test_env!();
    let ns = env.namespace("no-gpu-model").await;
    let yaml = template("t", &GOOD_PROFILE.replace("    model: MI300X\n", ""));
    assert_rejected(env, &ns, &yaml, &["spec.gpuSelector.model: Required value"]).await;
}

#[tokio::test]
async fn a_service_without_aim_model_id_is_rejected() {
    let env = test_env!();
    let ns = env.namespace("no-model").await;
    assert_rejected(
        env,
        &ns,
        &service("s", "  templateRef: llama3-8b-fast\n"),
        &["spec.aimModelId: Required value"],
    )
    .await;
}

#[tokio::test]
async fn a_service_with_an_empty_aim_model_id_is_rejected() {
    let env = test_env!();
    let ns = env.namespace("empty-model").await;
    assert_rejected(
        env,
        &ns,
        &service("s", "  aimModelId: \"\"\n"),
        &["spec.aimModelId", "should be at least 1 chars long"],
    )
    .await;
}

#[tokio::test]
async fn a_service_with_zero_replicas_is_rejected() {
    let env = test_env!();
    let ns = env.namespace("zero-replicas").await;
    let yaml = service("s", "  aimModelId: meta/llama-3-8b:1.1+20240915\n  replicas: 0\n");
    assert_rejected(
        env,
        &ns,
        &yaml,
        &["spec.replicas", "should be greater than or equal to 1"],
    )
    .await;
}

/// Each scaling rule the schema holds, with the words that say what to change.
#[tokio::test]
async fn scaling_a_single_object_gets_wrong_is_rejected_saying_what_to_change() {
    let env = test_env!();
    let ns = env.namespace("bad-scaling").await;
    let model = "  aimModelId: meta/llama-3-8b:1.1+20240915\n";
    let cases: [(&str, &[&str]); 8] = [
        (
            "  replicas: 2\n  maxReplicas: 4\n",
            &["replicas is a fixed count", "remove spec.replicas"],
        ),
        (
            "  minReplicas: 3\n  maxReplicas: 2\n",
            &["minReplicas must not be more than maxReplicas"],
        ),
        (
            "  minReplicas: 0\n  maxReplicas: 2\n  autoScaling: {metric: memory, target: 80}\n",
            &["minReplicas 0 (scale to zero) needs autoScaling on a request metric"],
        ),
        (
            "  maxReplicas: 2\n  autoScaling: {metric: custom, target: 5}\n",
            &["custom needs a query"],
        ),
        (
            "  maxReplicas: 2\n  autoScaling: {metric: cpu, target: 80, query: up}\n",
            &["autoScaling.query goes with metric: custom"],
        ),
        (
            "  maxReplicas: 2\n  autoScaling: {metric: cpu, target: 80, prometheus: http://p:9090}\n",
            &["autoScaling.prometheus is for request metrics"],
        ),
        (
            "  maxReplicas: 2\n  autoScaling: {metric: tokens, target: 5}\n",
            &["spec.autoScaling.metric", "Unsupported value"],
        ),
        (
            "  maxReplicas: 2\n  autoScaling: {metric: cpu, target: 0}\n",
            &["spec.autoScaling.target", "greater than or equal to 1"],
        ),
    ];
    for (i, (spec, expected)) in cases.into_iter().enumerate() {
        assert_rejected(
            env,
            &ns,
            &service(&format!("s{i}"), &format!("{model}{spec}")),
            expected,
        )
        .await;
    }
    // A template holds the same bounds rules.
    assert_rejected(
        env,
        &ns,
        &template("t", &format!("{GOOD_PROFILE}  minReplicas: 5\n  maxReplicas: 1\n")),
        &["minReplicas must not be more than maxReplicas"],
    )
    .await;
    // Scale to zero on a request metric is fine.
    assert_accepted(
        env,
        &ns,
        &service(
            "zero",
            &format!(
                "{model}  minReplicas: 0\n  maxReplicas: 2\n  autoScaling: {{metric: waitingRequests, target: 2}}\n"
            ),
        ),
    )
    .await;
}

/// GPUs are the template's: `resources` takes CPU, memory and the like.
#[tokio::test]
async fn gpus_in_a_services_resources_are_rejected_with_where_they_come_from() {
    let env = test_env!();
    let ns = env.namespace("bad-resources").await;
    for part in ["requests", "limits"] {
        let yaml = service(
            "s",
            &format!("  aimModelId: m/x\n  resources:\n    {part}:\n      amd.com/gpu: \"2\"\n"),
        );
        assert_rejected(env, &ns, &yaml, &["GPUs come from gpuSelector"]).await;
    }
}

#[tokio::test]
async fn a_service_override_with_an_unknown_precision_is_rejected() {
    let env = test_env!();
    let ns = env.namespace("bad-override").await;
    let yaml = service(
        "s",
        "  aimModelId: meta/llama-3-8b:1.1+20240915\n  overrides:\n    precision: fp9\n",
    );
    assert_rejected(
        env,
        &ns,
        &yaml,
        &["spec.overrides.precision: Unsupported value: \"fp9\""],
    )
    .await;
}

#[tokio::test]
async fn a_misspelt_service_field_is_rejected_naming_it() {
    let env = test_env!();
    let ns = env.namespace("typo").await;
    let yaml = service(
        "s",
        "  aimModelId: meta/llama-3-8b:1.1+20240915\n  templateName: llama3-8b-fast\n",
    );
    assert_rejected(env, &ns, &yaml, &[".spec.templateName: field not declared in schema"]).await;
}

#[tokio::test]
async fn cache_model_must_be_a_boolean() {
    let env = test_env!();
    let ns = env.namespace("cache-type").await;
    let yaml = service(
        "s",
        "  aimModelId: meta/llama-3-8b:1.1+20240915\n  cacheModel: \"yes\"\n",
    );
    assert_rejected(env, &ns, &yaml, &["spec.cacheModel", "boolean"]).await;
}

#[tokio::test]
async fn a_source_uri_with_an_unsupported_scheme_is_rejected_naming_the_supported_ones() {
    let env = test_env!();
    let ns = env.namespace("bad-scheme").await;
    for uri in [
        "https://huggingface.co/meta-llama/Llama-3.1-8B",
        "meta-llama/Llama-3.1-8B",
        "hf://",
        "hf://has space",
    ] {
        let yaml = model_cache("weights", &format!("  sourceUri: \"{uri}\"\n"));
        assert_rejected(
            env,
            &ns,
            &yaml,
            &["spec.sourceUri", "must start with hf:// (Hugging Face Hub", "or s3://"],
        )
        .await;
    }
}

#[tokio::test]
async fn both_supported_source_schemes_are_accepted() {
    let env = test_env!();
    let ns = env.namespace("good-scheme").await;
    assert_accepted(
        env,
        &ns,
        &model_cache("hf", "  sourceUri: hf://meta-llama/Llama-3.1-8B-Instruct\n"),
    )
    .await;
    assert_accepted(env, &ns, &model_cache("s3", "  sourceUri: s3://models/llama/3.1-8b\n")).await;
}

#[tokio::test]
async fn an_inline_model_source_with_an_unsupported_scheme_is_rejected() {
    let env = test_env!();
    let ns = env.namespace("bad-inline").await;
    let yaml = template(
        "t",
        &format!("{GOOD_PROFILE}  modelSources:\n  - sourceUri: ftp://models/llama\n"),
    );
    assert_rejected(
        env,
        &ns,
        &yaml,
        &["spec.modelSources[0].sourceUri", "must start with hf://"],
    )
    .await;
}

#[tokio::test]
async fn changing_a_model_cache_source_uri_is_rejected_as_immutable() {
    let env = test_env!();
    let ns = env.namespace("immutable-uri").await;
    assert_accepted(
        env,
        &ns,
        &model_cache("weights", "  sourceUri: hf://meta-llama/Llama-3.1-8B-Instruct\n"),
    )
    .await;
    let changed = model_cache("weights", "  sourceUri: hf://meta-llama/Llama-3.3-70B-Instruct\n");
    assert_rejected(env, &ns, &changed, &["spec.sourceUri", "sourceUri is immutable"]).await;
}

#[tokio::test]
async fn changing_a_namespace_template_model_id_is_rejected_as_immutable() {
    let env = test_env!();
    let ns = env.namespace("immutable-model").await;
    assert_accepted(env, &ns, &template("t", GOOD_PROFILE)).await;
    let changed = template(
        "t",
        &GOOD_PROFILE.replace("meta/llama-3-8b:1.1+20240915", "meta/llama-3-70b:1.0"),
    );
    assert_rejected(env, &ns, &changed, &["spec.modelId", "modelId is immutable"]).await;
    // Other fields stay editable.
    assert_accepted(
        env,
        &ns,
        &template("t", &GOOD_PROFILE.replace("metric: latency", "metric: throughput")),
    )
    .await;
}

#[tokio::test]
async fn changing_a_cluster_template_model_id_is_rejected_as_immutable() {
    let env = test_env!();
    let name = format!("immutable-cluster-{}", std::process::id());
    let _cleanup = env.cleanup(&["aimclusterservicetemplate", &name]);
    let yaml = |model: &str| {
        format!(
            "{API}\nkind: AIMClusterServiceTemplate\nmetadata:\n  name: {name}\nspec:\n  modelId: {model}\n  metric: latency\n"
        )
    };
    let out = env.apply(&yaml("meta/llama-3-8b:1.1+20240915"), None).await;
    assert!(out.success, "{}", out.stderr);
    let out = env.apply(&yaml("meta/llama-3-70b:1.0"), None).await;
    assert!(
        !out.success && out.stderr.contains("modelId is immutable"),
        "{}",
        out.stderr
    );
}

#[tokio::test]
async fn a_cluster_config_gateway_needs_a_namespace() {
    let env = test_env!();
    let name = format!("gw-{}", std::process::id());
    let yaml = format!(
        "{API}\nkind: AIMClusterConfig\nmetadata:\n  name: {name}\nspec:\n  routing:\n    gateway:\n      name: public-gw\n"
    );
    let out = env.apply(&yaml, None).await;
    assert!(!out.success, "accepted a gateway without a namespace");
    assert!(
        out.stderr.contains("spec.routing.gateway.namespace: Required value"),
        "{}",
        out.stderr
    );
}

#[tokio::test]
async fn defaults_are_filled_in_by_the_api_server() {
    let env = test_env!();
    let ns = env.namespace("defaults").await;
    assert_accepted(env, &ns, &service("s", "  aimModelId: meta/llama-3-8b:1.1+20240915\n")).await;
    let spec = env
        .kubectl(&[
            "get",
            "aimservice",
            "s",
            "-n",
            &ns,
            "-o",
            "jsonpath={.spec.cacheModel} {.spec.replicas}",
        ])
        .await;
    assert_eq!(
        spec.stdout, "false ",
        "replicas stays unset: one replica, unless its template has an autoscaler choose"
    );
    assert_accepted(env, &ns, &template("t", &format!("{GOOD_PROFILE}  caching: {{}}\n"))).await;
    let caching = env
        .kubectl(&[
            "get",
            "aimservicetemplate",
            "t",
            "-n",
            &ns,
            "-o",
            "jsonpath={.spec.caching.enabled}",
        ])
        .await;
    assert_eq!(caching.stdout, "false");
    let name = format!("defaults-{}", std::process::id());
    let _cleanup = env.cleanup(&["aimclusterconfig", &name]);
    let config = format!(
        "{API}\nkind: AIMClusterConfig\nmetadata:\n  name: {name}\nspec:\n  routing:\n    gateway:\n      name: gw\n      namespace: infra\n"
    );
    assert!(env.apply(&config, None).await.success);
    let route = env
        .kubectl(&[
            "get",
            "aimclusterconfig",
            &name,
            "-o",
            "jsonpath={.spec.routing.autoCreateRoute}",
        ])
        .await;
    assert_eq!(route.stdout, "true");
}
