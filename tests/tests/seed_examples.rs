//! Every YAML example of the product overview is accepted by the real API server, except the one `AIMService`
//! that writes `spec.modelId` for `spec.aimModelId`: that one is rejected naming the unknown field, and its
//! corrected form is accepted.

use aim_tests::seed::{SeedExample, seed_examples};
use aim_tests::{TestEnv, test_env};

/// The overview's namespaced objects live in `team-a`; each test moves them into its own namespace.
fn into_namespace(yaml: &str, ns: &str) -> String {
    yaml.replace("namespace: team-a", &format!("namespace: {ns}"))
}

async fn apply_example(env: &TestEnv, example: &str, ns: &str) -> aim_tests::KubectlOutput {
    env.apply(&into_namespace(example, ns), None).await
}

#[tokio::test]
async fn every_yaml_example_of_the_overview_is_accepted_by_server_side_apply() {
    let env = test_env!();
    let ns = env.namespace("seed").await;
    let _cluster_objects = env.cleanup(&[
        "aimimage/meta-llama-3-8b",
        "aimclusterservicetemplate/llama3-8b-latency-gpu1",
        "aimclusterconfig/default",
    ]);
    let examples: Vec<SeedExample> = seed_examples()
        .into_iter()
        .filter(|e| !e.is_service_with_model_id_slip())
        .collect();
    assert!(examples.len() >= 9);
    for example in examples {
        let out = apply_example(env, &example.yaml, &ns).await;
        assert!(
            out.success,
            "example {} was rejected: {}\n{}",
            example.index, out.stderr, example.yaml
        );
        assert!(
            out.stdout.contains("serverside-applied"),
            "example {}: {}",
            example.index,
            out.stdout
        );
    }
    // What was applied is readable back with the overview's own names.
    let services = env.kubectl(&["get", "aimservices", "-n", &ns, "-o", "name"]).await;
    for name in [
        "llama3-svc",
        "llama3-fast-svc",
        "llama3-override-svc",
        "llama3-fast-bf16",
    ] {
        assert!(
            services.stdout.contains(&format!("aimservice.aim.silogen.ai/{name}")),
            "{}",
            services.stdout
        );
    }
}

#[tokio::test]
async fn the_service_example_with_spec_model_id_is_rejected_naming_the_unknown_field() {
    let env = test_env!();
    let ns = env.namespace("seed-slip").await;
    let slip = seed_examples()
        .into_iter()
        .find(SeedExample::is_service_with_model_id_slip)
        .expect("the slip example");
    let out = apply_example(env, &slip.yaml, &ns).await;
    assert!(!out.success, "the API server accepted spec.modelId on an AIMService");
    assert!(
        out.stderr.contains(".spec.modelId: field not declared in schema"),
        "{}",
        out.stderr
    );
    // Nothing was stored: a rejected apply loses nothing and creates nothing.
    let get = env.kubectl(&["get", "aimservice", "llama3-8b-hf", "-n", &ns]).await;
    assert!(!get.success && get.stderr.contains("NotFound"), "{}", get.stderr);
}

#[tokio::test]
async fn the_corrected_service_example_is_accepted() {
    let env = test_env!();
    let ns = env.namespace("seed-fixed").await;
    let slip = seed_examples()
        .into_iter()
        .find(SeedExample::is_service_with_model_id_slip)
        .expect("the slip example");
    let out = apply_example(env, &slip.corrected(), &ns).await;
    assert!(out.success, "{}", out.stderr);
    let model = env
        .kubectl(&[
            "get",
            "aimservice",
            "llama3-8b-hf",
            "-n",
            &ns,
            "-o",
            "jsonpath={.spec.aimModelId}",
        ])
        .await;
    assert_eq!(model.stdout, "meta/llama-3-8b:1.1+20240915");
}
