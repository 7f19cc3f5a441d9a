//! The memo of policy decisions and the instance pool sized from the call limit, with real components.

mod support;

use aim_operator::policy::bindings::{Precision, Scope};
use aim_operator::policy::{Matcher, PolicyEngine, PolicyEngineConfig, PolicyKind, SandboxLimits, call, sandbox};
use std::sync::Arc;
use std::time::Duration;
use support::*;

fn ask(behaviour: &str, tag: usize) -> aim_operator::policy::bindings::MatchRequest {
    request(
        behaviour,
        params(None, None, None),
        vec![candidate(
            &format!("only-{tag}"),
            Scope::Cluster,
            Precision::Fp8,
            ("MI300X", 1),
            16,
        )],
    )
}

#[tokio::test]
async fn a_decision_asked_again_is_answered_from_the_memo_without_running_the_plugin() {
    let engine = engine();
    let req = request(
        MODEL,
        params(None, None, None),
        vec![candidate("t", Scope::Cluster, Precision::Fp8, ("MI300X", 1), 16)],
    );
    let first = engine.decide::<Matcher>(req.clone()).await.unwrap();
    let second = engine.decide::<Matcher>(req.clone()).await.unwrap();
    assert_eq!(first, second, "the same answer, with the same plugin named");
    let (hits, misses, calls) = engine.metrics().counts(PolicyKind::Matcher);
    assert_eq!((hits, misses, calls), (1, 1, 1), "one plugin run for two decisions");

    // Another request is another decision.
    let other = request(MODEL, params(None, Some(Precision::Bf16), None), req.candidates.clone());
    engine.decide::<Matcher>(other).await.unwrap();
    assert_eq!(engine.metrics().counts(PolicyKind::Matcher).2, 2);
}

#[tokio::test]
async fn a_swap_empties_the_memo_and_the_new_plugin_decides() {
    let engine = engine();
    let req = ask("well-behaved", 0);
    assert_eq!(
        engine.decide::<Matcher>(req.clone()).await.unwrap().provenance.plugin,
        "builtin:matcher"
    );
    assert_eq!(engine.memo_sizes().0, 1);
    engine.install(engine.load(HOSTILE, "hostile.wasm", Some(PolicyKind::Matcher)).unwrap());
    assert_eq!(engine.memo_sizes().0, 0, "the swap forgot the old plugin's decisions");
    let decided = engine.decide::<Matcher>(req).await.unwrap();
    assert_eq!(decided.provenance.plugin, "hostile.wasm");
    assert_eq!(decided.value.reason, "well-behaved answer");
}

#[tokio::test]
async fn refusals_are_remembered_but_timeouts_are_tried_again() {
    let engine = engine();
    engine.install(engine.load(HOSTILE, "hostile.wasm", Some(PolicyKind::Matcher)).unwrap());
    for _ in 0..2 {
        assert!(engine.decide::<Matcher>(ask("panic", 0)).await.is_err());
    }
    assert_eq!(
        engine.metrics().failures(PolicyKind::Matcher),
        1,
        "a panic on this input is its answer"
    );
    for _ in 0..2 {
        assert!(engine.decide::<Matcher>(ask("loop", 0)).await.is_err());
    }
    assert_eq!(
        engine.metrics().failures(PolicyKind::Matcher),
        3,
        "a timeout depends on load, so it is run again"
    );
}

#[tokio::test]
async fn the_instance_pool_holds_every_call_the_engine_lets_run_at_once() {
    // More concurrent calls than the fixed pool of 64 instances the engine once had. Each runs until its
    // deadline, so all of them hold an instance at the same time.
    const CALLS: usize = 80;
    let limits = SandboxLimits {
        deadline: Duration::from_millis(1500),
        ..test_limits()
    };
    let engine = PolicyEngine::new(PolicyEngineConfig {
        limits,
        max_concurrent_calls: CALLS,
        ..PolicyEngineConfig::default()
    })
    .unwrap();
    engine.install(engine.load(HOSTILE, "hostile.wasm", Some(PolicyKind::Matcher)).unwrap());
    let calls: Vec<_> = (0..CALLS)
        .map(|i| {
            let engine = engine.clone();
            tokio::spawn(async move { engine.decide::<Matcher>(ask("loop", i)).await })
        })
        .collect();
    for call in calls {
        let outcome = call.await.unwrap();
        assert!(
            matches!(outcome, Err(aim_operator::policy::CallError::Timeout { .. })),
            "every call gets an instance and runs to its deadline: {:?}",
            outcome.err()
        );
    }

    // The failure this prevents is real: a pool smaller than the calls running at once refuses instances.
    let small = Arc::new(sandbox::new_engine(2, &aim_operator::policy::SandboxLimits::default()).unwrap());
    let plugin = Arc::new(
        aim_operator::policy::loader::Loader::new((*small).clone(), Default::default(), limits)
            .unwrap()
            .load(HOSTILE, "hostile.wasm", Some(PolicyKind::Matcher))
            .unwrap(),
    );
    let threads: Vec<_> = (0..8)
        .map(|i| {
            let (small, plugin) = (small.clone(), plugin.clone());
            std::thread::spawn(move || call::call::<Matcher>(&small, &plugin, &limits, &ask("loop", i)))
        })
        .collect();
    let refused = threads
        .into_iter()
        .map(|t| t.join().unwrap())
        .filter(|outcome| matches!(outcome, Err(aim_operator::policy::CallError::Instantiate { .. })))
        .count();
    assert!(refused > 0, "8 calls at once on a pool of 2 must run out of instances");
}
