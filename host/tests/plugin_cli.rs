//! The plugin author's commands, run as the real `aim-operator` binary: `plugin check` and `plugin eval` on the
//! documented examples.

mod support;

use aim_operator::policy::builtin;
use std::path::{Path, PathBuf};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_aim-operator");

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins/examples")
}

fn run(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(BIN)
        .args(args)
        .env_remove("RUST_BACKTRACE")
        .output()
        .expect("run aim-operator");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn plugin_file(dir: &Path, name: &str, bytes: &[u8]) -> String {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path.display().to_string()
}

#[test]
fn check_reports_the_policy_contract_and_smoke_test() {
    let dir = tempfile::tempdir().unwrap();
    let file = plugin_file(dir.path(), "matcher.wasm", builtin::MATCHER);
    let (ok, out, err) = run(&["plugin", "check", &file]);
    assert!(ok, "{err}");
    for line in [
        "policy:     matcher",
        "contract:   aim:policy@0.1.0",
        "smoke test: passed",
        "OK: deploy it as matcher.wasm",
    ] {
        assert!(out.contains(line), "lacks {line:?}:\n{out}");
    }
}

#[test]
fn check_refuses_a_bad_plugin_with_the_reason_and_a_failing_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    let file = plugin_file(dir.path(), "matcher.wasm", support::NETWORKED);
    let (ok, _, err) = run(&["plugin", "check", &file]);
    assert!(!ok);
    assert!(err.starts_with("REFUSED "), "{err}");
    assert!(err.contains("imports wasi:sockets/"), "{err}");
    assert!(!err.contains("Stack backtrace"), "{err}");
}

#[test]
fn eval_prints_the_decision_and_every_verdict_of_the_example_request() {
    let dir = tempfile::tempdir().unwrap();
    let file = plugin_file(dir.path(), "matcher.wasm", builtin::MATCHER);
    let input = examples().join("match-request.json");
    let (ok, out, err) = run(&["plugin", "eval", "--policy", "matcher", &file, input.to_str().unwrap()]);
    assert!(ok, "{err}");
    let answer: serde_json::Value = serde_json::from_str(&out).expect("JSON out");
    assert_eq!(answer["plugin"]["plugin"], "matcher.wasm");
    assert_eq!(answer["result"]["decision"]["UseCandidate"], 2);
    let verdicts = answer["result"]["verdicts"].as_array().unwrap();
    assert_eq!(verdicts.len(), 4);
    assert!(verdicts[1]["reason"].as_str().unwrap().contains("no node has MI325X"));
    assert!(verdicts[3]["reason"].as_str().unwrap().contains("not ready"));
}

#[test]
fn eval_runs_the_merger_and_router_examples() {
    let dir = tempfile::tempdir().unwrap();
    let merger = plugin_file(dir.path(), "merger.wasm", builtin::MERGER);
    let (ok, out, err) = run(&[
        "plugin",
        "eval",
        "--policy",
        "merger",
        &merger,
        examples().join("merge-request.json").to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    let merged: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(merged["result"]["merged"]["precision"], "Bf16");
    assert_eq!(merged["result"]["merged"]["gpu"]["count"], 2);
    assert!(
        merged["result"]["name_suffix"]
            .as_str()
            .unwrap()
            .starts_with("ovr-bf16-2xmi300x-")
    );

    let router = plugin_file(dir.path(), "router.wasm", builtin::ROUTER);
    let (ok, out, err) = run(&[
        "plugin",
        "eval",
        "--policy",
        "router",
        &router,
        examples().join("route-request.json").to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    assert!(
        out.contains("\"path\": \"/team-a/3f2b8a4e-1c9d-4e7a-b5f6-0a1b2c3d4e5f\""),
        "{out}"
    );
}

#[test]
fn eval_names_a_malformed_request() {
    let dir = tempfile::tempdir().unwrap();
    let file = plugin_file(dir.path(), "router.wasm", builtin::ROUTER);
    let input = plugin_file(dir.path(), "bad.json", b"{\"service\": {}}");
    let (ok, _, err) = run(&["plugin", "eval", "--policy", "router", &file, &input]);
    assert!(!ok);
    assert!(err.contains("bad.json is not a router request: missing field"), "{err}");
}
