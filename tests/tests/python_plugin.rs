//! The example Python matcher (`plugins/python-matcher`), built with componentize-py as its README says: the
//! operator's `plugin check` accepts it with the default limits, `plugin eval` answers the example request as
//! the README promises, every rule of its README decides as written, and hot-swapped into a running operator it
//! decides services there (a test binary of its own: it swaps the operator's matcher).

use aim_operator::policy::bindings::{Decision, MatchRequest};
use aim_operator::policy::{Matcher, PolicyEngine, PolicyEngineConfig, PolicyKind};
use aim_tests::python_plugin::python_matcher;
use aim_tests::replica::operator_binary;
use aim_tests::scenario::*;
use aim_tests::{operator, test_env};
use serde_json::{Value, json};

fn examples() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins/examples")
}

fn aim_operator(args: &[&str]) -> (bool, String) {
    let out = std::process::Command::new(operator_binary())
        .args(args)
        .output()
        .expect("run aim-operator");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn plugin_check_accepts_the_python_matcher_and_eval_answers_the_example_as_its_readme_says() {
    let wasm = python_matcher();
    let file = wasm.display().to_string();
    let (ok, text) = aim_operator(&["plugin", "check", &file]);
    assert!(
        ok && text.contains("policy:     matcher") && text.contains("smoke test: passed"),
        "{text}"
    );

    let example = examples().join("match-request.json").display().to_string();
    let (ok, text) = aim_operator(&["plugin", "eval", "--policy", "matcher", &file, &example]);
    assert!(ok, "{text}");
    let answer: Value = serde_json::from_str(&text).unwrap();
    // README: the example picks team-a-bf16: bf16 as asked, one MI300X holds 15 GiB, MI300X is in the cluster.
    assert_eq!(answer["result"]["decision"], json!({ "UseCandidate": 2 }), "{text}");
    let reasons: Vec<&str> = answer["result"]["verdicts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["reason"].as_str().unwrap())
        .collect();
    assert_eq!(
        reasons,
        [
            "runs fp8, not bf16",
            "no MI325X in the cluster",
            "fits; score -90",
            "not available yet (pending)"
        ]
    );

    // Under an operator with the old limits it is refused for its size, with the number and the flag's limit.
    let (ok, text) = aim_operator(&["plugin", "check", "--plugin-max-component-mib", "8", &file]);
    assert!(!ok && text.contains("the limit is 8388608 bytes"), "{text}");
}

fn candidate(name: &str, scope: &str, precision: &str, gpu: (&str, u32), gib: u64, state: &str) -> Value {
    json!({
        "name": name,
        "scope": scope,
        "parameters": { "metric": "Latency", "precision": precision, "gpu": { "model": gpu.0, "count": gpu.1 } },
        "state": state,
        "model_source_sizes": [gib << 30],
    })
}

fn request(wanted: Value, candidates: Vec<Value>) -> MatchRequest {
    serde_json::from_value(json!({
        "model_id": "org/model",
        "wanted": wanted,
        "candidates": candidates,
        "inventory": [{ "model": "MI300X", "nodes": 4, "allocatable": 32, "max_per_node": 8 }],
    }))
    .expect("a match request")
}

fn none() -> Value {
    json!({ "metric": null, "precision": null, "gpu": null })
}

/// Each rule of `plugins/python-matcher/README.md`, one request each, through one loaded plugin.
#[test]
fn each_rule_of_the_python_matchers_readme_decides_as_written() {
    let engine = PolicyEngine::new(PolicyEngineConfig::default()).unwrap();
    let bytes = std::fs::read(python_matcher()).unwrap();
    engine.install(
        engine
            .load(&bytes, "matcher.wasm", Some(PolicyKind::Matcher))
            .expect("the Python matcher loads with the default limits"),
    );
    let decide = |r: MatchRequest| engine.decide_blocking::<Matcher>(&r).expect("a decision").value;

    // Fewer GPUs first, even over a namespace template (the built-in matcher ranks scope first).
    let d = decide(request(
        none(),
        vec![
            candidate("ns-two", "Namespace", "Fp8", ("MI300X", 2), 16, "Available"),
            candidate("cl-one", "Cluster", "Fp8", ("MI300X", 1), 16, "Available"),
        ],
    ));
    assert_eq!(d.decision, Decision::UseCandidate(1), "{d:?}");
    assert_eq!(d.verdicts[0].score, -190);
    assert_eq!(d.verdicts[1].score, -100);

    // With equal GPUs, the namespace template wins.
    let d = decide(request(
        none(),
        vec![
            candidate("cl-one", "Cluster", "Fp8", ("MI300X", 1), 16, "Available"),
            candidate("ns-one", "Namespace", "Fp8", ("MI300X", 1), 16, "Available"),
        ],
    ));
    assert_eq!(d.decision, Decision::UseCandidate(1), "{d:?}");

    // Weights over 90 % of the GPUs' memory are refused, with the numbers.
    let d = decide(request(
        none(),
        vec![candidate("small", "Cluster", "Fp16", ("MI300X", 1), 754, "Available")],
    ));
    assert_eq!(d.decision, Decision::None, "{d:?}");
    assert!(
        d.verdicts[0]
            .reason
            .contains("754.0 GiB of weights do not fit in 1 x MI300X"),
        "{}",
        d.verdicts[0].reason
    );

    // A node must have that many GPUs.
    let d = decide(request(
        none(),
        vec![candidate("wide", "Cluster", "Fp8", ("MI300X", 16), 16, "Available")],
    ));
    assert!(
        d.verdicts[0].reason.contains("no node has 16 MI300X (at most 8)"),
        "{}",
        d.verdicts[0].reason
    );

    // Nothing accepted with overrides: derive a template with them; without overrides: none.
    let wanted = json!({ "metric": null, "precision": "Bf16", "gpu": { "model": "MI300X", "count": 2 } });
    let d = decide(request(
        wanted,
        vec![candidate("fp8", "Cluster", "Fp8", ("MI300X", 2), 16, "Available")],
    ));
    assert!(matches!(d.decision, Decision::Derive(_)), "{d:?}");
    assert_eq!(d.verdicts[0].reason, "runs fp8, not bf16");
    let d = decide(request(
        none(),
        vec![candidate("pending", "Cluster", "Fp8", ("MI300X", 1), 16, "Pending")],
    ));
    assert_eq!(d.decision, Decision::None, "{d:?}");
}

#[tokio::test]
async fn the_python_matcher_hot_swapped_into_a_running_operator_decides_its_services() {
    let env = test_env!();
    let running = env.start_operator(operator::test_config());
    let ns = env.namespace("py-plugin").await;
    let catalog = catalog(
        env,
        "python",
        &[Profile {
            name: "one-gpu",
            precision: "fp8",
            gpus: 1,
            gpu: "MI300X",
        }],
        None,
    )
    .await;
    // A namespace template on two GPUs: the built-in matcher prefers it (namespace first), the Python one the
    // cluster template on one GPU (fewest GPUs first).
    let template = format!(
        "apiVersion: aim.silogen.ai/v1alpha1\nkind: AIMServiceTemplate\nmetadata:\n  name: ns-two\nspec:\n  modelId: {}\n  metric: latency\n  precision: fp8\n  gpuSelector: {{count: 2, model: MI300X}}\n  modelSources:\n  - sourceUri: hf://org/python-two\n    size: 16Gi\n",
        catalog.model
    );
    let out = env.apply(&template, Some(&ns)).await;
    assert!(out.success, "{}", out.stderr);
    assert!(
        env.apply(&service("before", &catalog.model, ""), Some(&ns))
            .await
            .success
    );
    let before = resolved(env, &ns, "before").await;
    assert_eq!(before.resolved_template.unwrap().name, "ns-two");
    assert_eq!(before.decision.unwrap().plugin, "builtin:matcher");

    let wasm = std::fs::read(python_matcher()).unwrap();
    running.swap_plugin(PolicyKind::Matcher, &wasm).await;

    assert!(
        env.apply(&service("after", &catalog.model, ""), Some(&ns))
            .await
            .success
    );
    let after = resolved(env, &ns, "after").await;
    assert_eq!(after.resolved_template.unwrap().name, catalog.template("one-gpu"));
    let decision = after.decision.unwrap();
    assert_eq!(decision.plugin, "matcher.wasm");
    assert_eq!(decision.digest, aim_operator::policy::artifact_cache::digest(&wasm));
    // The service decided before keeps its template.
    let before = status(env, &ns, "before").await;
    assert_eq!(before.resolved_template.unwrap().name, "ns-two");
    std::fs::remove_file(running.plugin_dir.join("matcher.wasm")).unwrap();
}
