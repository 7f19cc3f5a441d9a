//! The built-in plugins, called through the real host: sandbox, bindings and output checks included.

mod support;

use aim_operator::policy::bindings::{Decision, MergeRequest, Precision, Scope};
use aim_operator::policy::{Matcher, Merger, PolicyKind, Router};
use support::*;

#[tokio::test]
async fn a_fresh_engine_runs_the_built_in_plugins_and_names_them_in_every_decision() {
    let engine = engine();
    for kind in PolicyKind::ALL {
        let current = engine.current(kind);
        assert_eq!(current.provenance.plugin, format!("builtin:{kind}"));
        assert!(current.provenance.digest.starts_with("sha256:") && current.provenance.digest.len() == 71);
        assert_eq!(current.contract, "aim:policy@0.1.0");
    }
    let decided = engine
        .decide::<Matcher>(request(MODEL, params(None, None, None), vec![]))
        .await
        .unwrap();
    assert_eq!(decided.provenance, engine.current(PolicyKind::Matcher).provenance);
}

#[tokio::test]
async fn the_default_matcher_prefers_the_namespace_template_and_judges_every_candidate() {
    let engine = engine();
    let candidates = vec![
        candidate("cluster-mi300x", Scope::Cluster, Precision::Fp8, ("MI300X", 1), 16),
        candidate("ns-mi300x", Scope::Namespace, Precision::Fp8, ("MI300X", 1), 16),
        candidate("too-big", Scope::Namespace, Precision::Fp16, ("MI300X", 1), 400),
    ];
    let decided = engine
        .decide::<Matcher>(request(MODEL, params(None, None, None), candidates))
        .await
        .unwrap()
        .value;
    assert_eq!(decided.decision, Decision::UseCandidate(1));
    assert_eq!(decided.verdicts.len(), 3);
    assert!(!decided.verdicts[2].accepted);
    assert!(
        decided.verdicts[2]
            .reason
            .contains("more than the 172.8 GiB usable on 1 × MI300X"),
        "{}",
        decided.verdicts[2].reason
    );
}

#[tokio::test]
async fn the_default_matcher_asks_to_derive_when_no_template_fits_the_overrides() {
    let engine = engine();
    let wanted = params(None, Some(Precision::Bf16), Some(("MI300X", 2)));
    let candidates = vec![candidate("fp8", Scope::Cluster, Precision::Fp8, ("MI300X", 1), 16)];
    let decided = engine
        .decide::<Matcher>(request(MODEL, wanted.clone(), candidates))
        .await
        .unwrap()
        .value;
    assert_eq!(decided.decision, Decision::Derive(wanted));
}

#[tokio::test]
async fn the_default_merger_lets_overrides_win_and_names_the_result_deterministically() {
    let engine = engine();
    let ask = || MergeRequest {
        base_name: "llama3-8b-fast".into(),
        model_id: MODEL.into(),
        base: params(None, Some(Precision::Fp8), Some(("MI300X", 1))),
        overrides: params(None, Some(Precision::Bf16), None),
    };
    let first = engine.decide::<Merger>(ask()).await.unwrap().value;
    let second = engine.decide::<Merger>(ask()).await.unwrap().value;
    assert_eq!(first.merged, params(None, Some(Precision::Bf16), Some(("MI300X", 1))));
    assert_eq!(first.name_suffix, second.name_suffix);
    assert!(first.name_suffix.starts_with("ovr-bf16-"), "{}", first.name_suffix);
}

#[tokio::test]
async fn the_default_router_serves_each_service_under_its_namespace_and_uid() {
    let engine = engine();
    let (svc, config) = service("llama3-svc");
    assert_eq!(
        engine.decide::<Router>((svc, config)).await.unwrap().value,
        "/team-a/0b1c-42"
    );
}
