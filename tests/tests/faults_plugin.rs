//! A hostile matcher swapped in mid-rollout, then the built-in one back (a test binary of its own: it swaps the
//! operator's matcher): only the decisions made while it was in place fail (`PolicyFailed`), the services
//! decided before keep running untouched, and the failed ones are decided again as soon as the good plugin
//! returns and reach Running.

use aim_operator::api::ServiceState;
use aim_operator::policy::PolicyKind;
use aim_operator::policy::builtin::test_plugins::HOSTILE_MATCHER;
use aim_tests::scenario::*;
use aim_tests::{operator, test_env};

const API: &str = "apiVersion: aim.silogen.ai/v1alpha1";
/// The hostile matcher traps on this model ID (`host/tests/plugins/hostile`); the built-in matcher serves it.
const MODEL: &str = "trap";
const EACH: usize = 4;

#[tokio::test]
async fn a_hostile_matcher_mid_rollout_fails_only_its_own_decisions_which_are_redone_when_it_goes() {
    let env = test_env!();
    let running = env.start_operator(operator::test_config());
    let ns = env.namespace("faults-plugin").await;
    let pid = std::process::id();
    let _image = env.cleanup(&["aimimage", &format!("trap-{pid}")]);
    let _template = env.cleanup(&["aimclusterservicetemplate", &format!("trap-{pid}")]);
    let catalog = format!(
        "{API}\nkind: AIMImage\nmetadata:\n  name: trap-{pid}\nspec:\n  modelId: {MODEL}\n  image: reg/trap:1\n---\n{API}\nkind: AIMClusterServiceTemplate\nmetadata:\n  name: trap-{pid}\nspec:\n  modelId: {MODEL}\n  metric: latency\n  precision: fp8\n  gpuSelector: {{count: 1, model: MI300X}}\n  modelSources:\n  - sourceUri: hf://org/trap-{pid}\n    size: 16Gi\n"
    );
    assert!(env.apply(&catalog, None).await.success);

    create_many(env, &ns, "before", EACH, MODEL).await;
    all_running(env, &ns, "before", EACH).await;
    let mut before = Vec::new();
    for i in 0..EACH {
        before.push(status(env, &ns, &format!("before-{i}")).await);
    }

    running.swap_plugin(PolicyKind::Matcher, HOSTILE_MATCHER).await;
    create_many(env, &ns, "during", EACH, MODEL).await;
    for i in 0..EACH {
        let failed = wait_for(
            env,
            &ns,
            &format!("during-{i}"),
            "failed by the hostile plugin",
            condition("Resolved", "False", "PolicyFailed"),
        )
        .await;
        assert!(
            message(&failed, "Resolved").contains("matcher.wasm"),
            "names the plugin"
        );
    }
    // What was decided before is untouched: same template, same decision, still Running.
    for (i, was) in before.iter().enumerate() {
        let now = status(env, &ns, &format!("before-{i}")).await;
        assert_eq!(now.head.status, Some(ServiceState::Running));
        assert_eq!(now.resolved_template, was.resolved_template);
        assert_eq!(now.decision, was.decision);
    }

    std::fs::remove_file(running.plugin_dir.join("matcher.wasm")).unwrap();
    running.uses_plugin(PolicyKind::Matcher, "builtin:matcher").await;
    all_running(env, &ns, "during", EACH).await;
    for i in 0..EACH {
        let redone = status(env, &ns, &format!("during-{i}")).await;
        assert_eq!(redone.decision.unwrap().plugin, "builtin:matcher");
    }
}
