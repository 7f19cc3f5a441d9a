//! Hostile plugins at run time: each misbehaviour ends that one decision with a clear error, and the host
//! serves the next call normally (every call gets a fresh store).

mod support;

use aim_operator::policy::bindings::{Decision, MatchRequest, Precision, Scope};
use aim_operator::policy::{CallError, Matcher, PolicyEngine, PolicyKind, Router, SandboxLimits, limits::EPOCH_TICK};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::*;

fn hostile_engine() -> Arc<PolicyEngine> {
    let engine = engine();
    install_hostile(&engine);
    engine
}

fn install_hostile(engine: &PolicyEngine) {
    engine.install(
        engine
            .load(HOSTILE, "hostile.wasm", Some(PolicyKind::Matcher))
            .expect("the hostile matcher loads"),
    );
}

/// A request whose model ID tells the hostile matcher what to do.
fn ask(behaviour: &str) -> MatchRequest {
    request(
        behaviour,
        params(None, None, None),
        vec![candidate("only", Scope::Cluster, Precision::Fp8, ("MI300X", 1), 16)],
    )
}

/// Runs `behaviour`, expects an error, then checks the same engine still answers a normal request.
async fn fails_then_recovers(engine: &Arc<PolicyEngine>, behaviour: &str) -> CallError {
    let err = engine
        .decide::<Matcher>(ask(behaviour))
        .await
        .expect_err("the misbehaving call must fail");
    let next = engine
        .decide::<Matcher>(ask("well-behaved"))
        .await
        .expect("the next call is served");
    assert_eq!(next.value.decision, Decision::UseCandidate(0));
    err
}

#[tokio::test]
async fn an_infinite_loop_is_stopped_at_the_deadline() {
    let engine = hostile_engine();
    let deadline = engine.limits().deadline;
    let start = Instant::now();
    let err = engine.decide::<Matcher>(ask("loop")).await.unwrap_err();
    let took = start.elapsed();
    println!("infinite loop stopped after {took:?} (deadline {deadline:?}, tick {EPOCH_TICK:?})");
    assert!(matches!(err, CallError::Timeout { budget_ms: 100, .. }), "{err}");
    assert!(
        err.to_string().contains("ran past its 100 ms deadline and was stopped"),
        "{err}"
    );
    assert!(took >= deadline - EPOCH_TICK, "stopped early: {took:?}");
    // Deadline + one tick, plus generous room for a loaded CI machine's scheduler.
    assert!(
        took < deadline + EPOCH_TICK + Duration::from_millis(500),
        "stopped late: {took:?}"
    );
    fails_then_recovers(&engine, "loop").await;
}

#[tokio::test]
async fn a_memory_bomb_is_stopped_at_the_cap() {
    // One limit at a time: a deadline the bomb cannot reach, so a slow machine (an unoptimised build zeroing
    // 32 MiB on a loaded core) still meets the memory cap first.
    let engine = engine_with(SandboxLimits {
        deadline: Duration::from_secs(30),
        ..test_limits()
    });
    install_hostile(&engine);
    let err = fails_then_recovers(&engine, "memory-bomb").await;
    assert!(matches!(err, CallError::MemoryExhausted { limit_mib: 32, .. }), "{err}");
    assert!(
        err.to_string().contains("tried to use more than 32 MiB of memory"),
        "{err}"
    );
}

#[tokio::test]
async fn a_trap_is_reported_as_a_crash() {
    let err = fails_then_recovers(&hostile_engine(), "trap").await;
    assert!(
        err.to_string()
            .contains("crashed: it panicked or aborted (wasm `unreachable`)"),
        "{err}"
    );
}

#[tokio::test]
async fn a_panic_is_reported_as_a_crash() {
    let err = fails_then_recovers(&hostile_engine(), "panic").await;
    assert!(matches!(err, CallError::Trap { .. }), "{err}");
    assert!(
        err.to_string().contains("hostile.wasm (sha256:"),
        "names the plugin: {err}"
    );
}

#[tokio::test]
async fn deep_recursion_is_a_stack_overflow() {
    let err = fails_then_recovers(&hostile_engine(), "recursion").await;
    assert!(err.to_string().contains("stack overflow"), "{err}");
}

#[tokio::test]
async fn a_huge_answer_is_refused() {
    let err = fails_then_recovers(&hostile_engine(), "huge-output").await;
    assert!(
        err.to_string().contains("gave an invalid answer: an answer of 2097"),
        "{err}"
    );
    assert!(err.to_string().contains("the limit is 1048576"), "{err}");
}

#[tokio::test]
async fn choosing_a_candidate_that_does_not_exist_is_invalid() {
    let err = fails_then_recovers(&hostile_engine(), "bad-index").await;
    assert!(
        err.to_string().contains("chose candidate 8, but there are only 1"),
        "{err}"
    );
}

#[tokio::test]
async fn an_answer_without_a_verdict_per_candidate_is_invalid() {
    let err = fails_then_recovers(&hostile_engine(), "missing-verdicts").await;
    assert!(err.to_string().contains("0 verdicts for 1 candidates"), "{err}");
}

#[tokio::test]
async fn a_log_flood_is_bounded_and_the_host_keeps_serving() {
    // The log pipe keeps 16 KiB and then refuses writes; Rust's println! panics on that, so the flood ends as a
    // crash of that one decision instead of growing the host's memory.
    let err = fails_then_recovers(&hostile_engine(), "log-flood").await;
    assert!(matches!(err, CallError::Trap { .. }), "{err}");
    assert!(
        err.to_string().contains("hostile.wasm (sha256:") && err.to_string().contains("crashed"),
        "{err}"
    );
}

#[tokio::test]
async fn a_plugin_sees_no_files_environment_clock_or_entropy() {
    let engine = hostile_engine();
    let first = engine.decide::<Matcher>(ask("snoop")).await.unwrap().value.reason;
    let second = engine.decide::<Matcher>(ask("snoop")).await.unwrap().value.reason;
    println!("what a plugin sees: {first}");
    assert!(first.contains("file=error:"), "read a file: {first}");
    assert!(first.contains("dir=error:"), "listed a directory: {first}");
    assert!(first.contains("env=0;"), "saw environment variables: {first}");
    assert!(first.contains("clock=0;"), "saw the real time: {first}");
    assert_eq!(first, second, "two calls must see the same (seeded) randomness");
}

#[tokio::test]
async fn a_router_answer_that_is_not_a_clean_absolute_path_is_refused() {
    let engine = engine();
    engine.install(
        engine
            .load(HOSTILE_ROUTER, "router.wasm", Some(PolicyKind::Router))
            .expect("loads"),
    );
    for (name, why) in [
        ("echo_.._admin", "'..' segment"),
        ("echorelative", "not absolute"),
        ("echo_", "whole gateway"),
    ] {
        let (svc, config) = service(name);
        let err = engine.decide::<Router>((svc, config)).await.unwrap_err();
        assert!(err.to_string().contains(why), "{name}: {err}");
    }
    let (svc, config) = service("refuse");
    let err = engine.decide::<Router>((svc, config)).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("could not decide: unsupported: this router refuses on purpose"),
        "{err}"
    );
    let (svc, config) = service("echo_fine_path");
    assert_eq!(
        engine.decide::<Router>((svc, config)).await.unwrap().value,
        "/fine/path"
    );
}

#[tokio::test]
async fn concurrent_hostile_calls_do_not_disturb_each_other() {
    let engine = hostile_engine();
    let behaviours = [
        "loop",
        "memory-bomb",
        "panic",
        "well-behaved",
        "recursion",
        "well-behaved",
        "trap",
        "well-behaved",
    ];
    let calls = behaviours.map(|b| {
        let engine = engine.clone();
        tokio::spawn(async move { (b, engine.decide::<Matcher>(ask(b)).await.is_ok()) })
    });
    for call in calls {
        let (behaviour, ok) = call.await.unwrap();
        assert_eq!(ok, behaviour == "well-behaved", "{behaviour}");
    }
    let failures = engine.metrics().failures(aim_operator::policy::PolicyKind::Matcher);
    assert_eq!(failures, 5);
}

/// The defaults `aim-operator run` uses (sized to admit a Python plugin: 32 MiB components, 64 instances) still
/// stop the hostile matcher: a loop at the 200 ms deadline, a memory bomb at 64 MiB; a component over 32 MiB is
/// refused before it is compiled.
#[tokio::test]
async fn the_default_limits_that_admit_python_still_stop_a_hostile_plugin() {
    let defaults = aim_operator::policy::SandboxLimits::default();
    let engine = PolicyEngine::new(aim_operator::policy::PolicyEngineConfig {
        limits: defaults,
        ..Default::default()
    })
    .unwrap();
    engine.install(engine.load(HOSTILE, "hostile.wasm", Some(PolicyKind::Matcher)).unwrap());
    let err = fails_then_recovers(&engine, "loop").await;
    assert!(matches!(err, CallError::Timeout { budget_ms: 200, .. }), "{err}");
    // The memory cap on its own, under a deadline the bomb cannot reach (see a_memory_bomb_is_stopped_at_the_cap).
    let roomy = support::engine_with(SandboxLimits {
        deadline: Duration::from_secs(30),
        ..defaults
    });
    install_hostile(&roomy);
    let err = fails_then_recovers(&roomy, "memory-bomb").await;
    assert!(matches!(err, CallError::MemoryExhausted { limit_mib: 64, .. }), "{err}");

    // A valid header followed by padding up to one byte over the limit.
    let mut oversized = HOSTILE.to_vec();
    oversized.resize(defaults.component_bytes + 1, 0);
    let Err(refused) = engine.load(&oversized, "oversized.wasm", Some(PolicyKind::Matcher)) else {
        panic!("a component over the limit was loaded");
    };
    assert!(
        refused.to_string().contains(&format!("the limit is {}", 32 << 20)),
        "{refused}"
    );
}
