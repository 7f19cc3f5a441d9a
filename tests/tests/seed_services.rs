//! The product overview's own examples, applied as written (the `spec.modelId` slip corrected), run end to
//! end on the local cluster: discovery, caches, KServe, the scheduler placing replicas on GPU nodes, and the
//! local gateway accepting routes; all four service patterns reach Running. The cluster admin's part is done
//! first, as in a real cluster: the storage class and the Gateway the overview's `AIMClusterConfig` names. In a
//! binary of its own: the examples include the cluster-wide `AIMClusterConfig default`.

use aim_operator::api::{AIMService, ServiceState};
use aim_tests::seed::seed_examples;
use aim_tests::{operator, test_env, wait};
use kube::api::Api;

#[tokio::test]
async fn every_service_pattern_of_the_overview_reaches_running() {
    let env = test_env!();
    env.start_operator(operator::test_config());
    let ns = env.namespace("seed-e2e").await;
    let _cluster_objects = env.cleanup(&[
        "aimimage/meta-llama-3-8b",
        "aimclusterservicetemplate/llama3-8b-latency-gpu1",
        "aimclusterconfig/default",
    ]);
    let client = env.client().await;
    aim_tests::storage::ensure_class(&client, "fast-rwx", true).await;
    let _ = env.kubectl(&["create", "namespace", "infra-gw"]).await;
    let gateway = env
        .apply(&aim_tests::gateway::gateway_yaml("infra-gw", "public-gw"), None)
        .await;
    assert!(gateway.success, "{}", gateway.stderr);
    for example in seed_examples() {
        let yaml = example
            .corrected()
            .replace("namespace: team-a", &format!("namespace: {ns}"));
        let out = env.apply(&yaml, None).await;
        assert!(out.success, "example {}: {}", example.index, out.stderr);
    }
    let services: Api<AIMService> = Api::namespaced(env.client().await, &ns);
    let patterns = [
        (
            "llama3-svc",
            "model only (then re-applied with templateRef and pull secrets)",
        ),
        ("llama3-fast-svc", "namespace templateRef"),
        ("llama3-override-svc", "overrides without a template"),
        ("llama3-fast-bf16", "templateRef with overrides"),
        ("llama3-8b-hf", "model only, with HF_TOKEN from a Secret"),
    ];
    for (name, pattern) in patterns {
        let s = wait::until(&format!("{name} ({pattern}) to run"), || async {
            let s = services
                .get(name)
                .await
                .map_err(|e| e.to_string())?
                .status
                .unwrap_or_default();
            if s.head.status == Some(ServiceState::Running) {
                Ok(s)
            } else {
                Err(format!(
                    "{:?}: {:?}",
                    s.head.status,
                    s.head
                        .conditions
                        .iter()
                        .filter(|c| c.status != "True")
                        .map(|c| (&c.type_, &c.reason, &c.message))
                        .collect::<Vec<_>>()
                ))
            }
        })
        .await;
        assert!(
            s.route_path
                .as_deref()
                .is_some_and(|p| p.starts_with(&format!("/{ns}/"))),
            "{name} is routed: {:?}",
            s.route_path
        );
    }
    let bf16 = services
        .get("llama3-fast-bf16")
        .await
        .unwrap()
        .status
        .unwrap()
        .resolved_template
        .unwrap();
    assert!(
        bf16.derived && bf16.name.starts_with("llama3-8b-fast-ovr-bf16-"),
        "{bf16:?}"
    );
    let overridden = services.get("llama3-override-svc").await.unwrap().status.unwrap();
    assert!(
        overridden.decision.is_some(),
        "the matcher decided the overrides-only pattern"
    );
    let table = env.kubectl(&["get", "aimservices", "-n", &ns]).await.stdout;
    println!("{table}");
    assert_eq!(table.matches("Running").count(), 5, "{table}");
}
