//! Policy plugins under a running operator, in a test binary of its own (it swaps the operator's matcher): a
//! failing plugin fails only its own decision, a hot-swapped matcher changes later decisions while resolved
//! services keep theirs, a swap decides failed services again at once, and the `aim.silogen.ai/redecide`
//! annotation asks for a new decision for one service.

use aim_operator::api::ServiceState;
use aim_operator::policy::PolicyKind;
use aim_operator::policy::artifact_cache::digest;
use aim_operator::policy::builtin::test_plugins::HOSTILE_MATCHER;
use aim_tests::scenario::*;
use aim_tests::{operator, test_env, wait};

#[tokio::test]
async fn a_swapped_matcher_changes_later_decisions_and_a_failing_one_fails_only_its_decision() {
    let env = test_env!();
    let running = env.start_operator(operator::test_config());
    let ns = env.namespace("svc-plugins").await;
    // The default matcher prefers fewer GPUs (b-small); the hostile one always takes candidate 0 (a-big).
    let catalog = catalog(
        env,
        "swap",
        &[
            Profile {
                name: "a-big",
                precision: "fp8",
                gpus: 2,
                gpu: "MI300X",
            },
            Profile {
                name: "b-small",
                precision: "fp8",
                gpus: 1,
                gpu: "MI300X",
            },
        ],
        None,
    )
    .await;
    assert!(
        env.apply(&service("before", &catalog.model, ""), Some(&ns))
            .await
            .success
    );
    let before = resolved(env, &ns, "before").await;
    assert_eq!(before.resolved_template.unwrap().name, catalog.template("b-small"));
    assert_eq!(before.decision.unwrap().plugin, "builtin:matcher");

    running.swap_plugin(PolicyKind::Matcher, HOSTILE_MATCHER).await;

    assert!(
        env.apply(&service("after", &catalog.model, ""), Some(&ns))
            .await
            .success
    );
    let after = resolved(env, &ns, "after").await;
    assert_eq!(
        after.resolved_template.unwrap().name,
        catalog.template("a-big"),
        "the new matcher decided"
    );
    let decision = after.decision.unwrap();
    assert_eq!(
        (decision.plugin.as_str(), decision.digest.as_str()),
        ("matcher.wasm", digest(HOSTILE_MATCHER).as_str())
    );
    let kept = status(env, &ns, "before").await;
    assert_eq!(
        kept.resolved_template.unwrap().name,
        catalog.template("b-small"),
        "a resolved service keeps its template"
    );

    // The hostile matcher panics for model "panic": that decision fails, named, and nothing else does.
    let image = format!(
        "{API}\nkind: AIMImage\nmetadata:\n  name: panic-{pid}\nspec:\n  modelId: panic\n  image: reg/panic:1\n",
        pid = std::process::id()
    );
    let _image = env.cleanup(&["aimimage", &format!("panic-{}", std::process::id())]);
    assert!(env.apply(&image, None).await.success);
    assert!(env.apply(&service("doomed", "panic", ""), Some(&ns)).await.success);
    let doomed = wait_for(
        env,
        &ns,
        "doomed",
        "PolicyFailed",
        condition("Resolved", "False", "PolicyFailed"),
    )
    .await;
    let failure = message(&doomed, "Failure");
    assert!(
        failure.contains("matcher plugin matcher.wasm (sha256:") && failure.contains("crashed"),
        "{failure}"
    );
    assert_eq!(doomed.head.status, Some(ServiceState::Failed));
    let events = env
        .kubectl(&[
            "get",
            "events",
            "-n",
            &ns,
            "--field-selector",
            "involvedObject.name=doomed",
            "-o",
            "jsonpath={range .items[*]}{.type}/{.reason};{end}",
        ])
        .await;
    assert!(events.stdout.contains("Warning/PolicyFailed"), "{}", events.stdout);

    assert!(
        env.apply(&service("still-served", &catalog.model, ""), Some(&ns))
            .await
            .success
    );
    resolved(env, &ns, "still-served").await;

    // Back to the built-in matcher: the failed decision is made again at once (not on its 60 s retry timer);
    // with the built-in matcher, model "panic" simply has no template.
    let swapped = std::time::Instant::now();
    std::fs::remove_file(running.plugin_dir.join("matcher.wasm")).unwrap();
    let redone = wait_for(
        env,
        &ns,
        "doomed",
        "decided again by the built-in matcher",
        condition("Resolved", "False", "NoMatchingTemplate"),
    )
    .await;
    let waited = swapped.elapsed();
    assert!(
        waited < std::time::Duration::from_secs(30),
        "re-decided {waited:?} after the swap: that is the retry timer, not the swap"
    );
    assert_eq!(redone.decision.unwrap().plugin, "builtin:matcher");
    assert_eq!(
        status(env, &ns, "after").await.resolved_template.unwrap().name,
        catalog.template("a-big"),
        "a successful decision stays after a swap"
    );

    // A user asks for a new decision for one service with the annotation.
    let asked = env
        .kubectl(&[
            "annotate",
            "aimservice",
            "after",
            "-n",
            &ns,
            "aim.silogen.ai/redecide=1",
        ])
        .await;
    assert!(asked.success, "{}", asked.stderr);
    let redecided = wait::until("the asked-for decision", || async {
        let s = status(env, &ns, "after").await;
        match (&s.redecided, &s.resolved_template) {
            (Some(v), Some(t)) if v == "1" => Ok(t.name.clone()),
            _ => Err(format!("{:?} {:?}", s.redecided, s.resolved_template)),
        }
    })
    .await;
    assert_eq!(
        redecided,
        catalog.template("b-small"),
        "the built-in matcher decided again"
    );
}

#[tokio::test]
async fn the_config_in_use_lists_each_policys_plugin_and_a_refused_file_with_a_warning() {
    let env = test_env!();
    let running = env.start_operator(operator::test_config());
    let _config = env.cleanup(&["aimclusterconfig", "default"]);
    let config = format!("{API}\nkind: AIMClusterConfig\nmetadata:\n  name: default\nspec: {{}}\n");
    assert!(env.apply(&config, None).await.success);

    // Not a component at all: refused, and the built-in merger stays.
    let file = running.plugin_dir.join("merger.wasm");
    std::fs::write(&file, b"not a wasm component").unwrap();
    let configs: kube::Api<aim_operator::api::AIMClusterConfig> = kube::Api::all(env.client().await);
    let plugins = wait::until("the refusal in the config's status", || async {
        let status = configs.get("default").await.map_err(|e| e.to_string())?.status;
        let plugins = status.map(|s| s.plugins).unwrap_or_default();
        let merger = plugins.iter().find(|p| p.policy == "merger");
        match merger.and_then(|m| m.last_refusal.as_ref()) {
            Some(_) => Ok(plugins),
            None => Err(format!("{plugins:?}")),
        }
    })
    .await;
    let policies: Vec<&str> = plugins.iter().map(|p| p.policy.as_str()).collect();
    assert_eq!(policies, ["matcher", "merger", "router"]);
    let merger = plugins.iter().find(|p| p.policy == "merger").unwrap();
    assert_eq!(
        merger.plugin, "builtin:merger",
        "a refused file does not replace the plugin"
    );
    assert_eq!(
        merger.digest,
        digest(aim_operator::policy::builtin::component(PolicyKind::Merger))
    );
    let refusal = merger.last_refusal.as_ref().unwrap();
    assert!(refusal.file.ends_with("merger.wasm"), "{refusal:?}");
    assert!(!refusal.reason.is_empty(), "{refusal:?}");
    let router = plugins.iter().find(|p| p.policy == "router").unwrap();
    assert!(
        router.plugin == "builtin:router" && router.last_refusal.is_none(),
        "{router:?}"
    );

    let events = wait::until("the PluginRefused Warning", || async {
        let out = env
            .kubectl(&[
                "get",
                "events",
                "-n",
                "default",
                "--field-selector",
                "involvedObject.kind=AIMClusterConfig,involvedObject.name=default,reason=PluginRefused",
                "-o",
                "jsonpath={range .items[*]}{.type}|{.message};{end}",
            ])
            .await
            .stdout;
        if out.is_empty() {
            Err("none yet".to_string())
        } else {
            Ok(out)
        }
    })
    .await;
    assert!(
        events.starts_with("Warning|merger plugin file") && events.contains("still using builtin:merger"),
        "{events}"
    );
    std::fs::remove_file(&file).unwrap();
}
