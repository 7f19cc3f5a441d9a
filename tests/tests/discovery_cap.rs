//! The cap on concurrent discovery Jobs, with an operator of its own (cap 2) in this test binary. The templates are
//! marked `AIM_TEST_MANUAL`, so their dry runs run until the test ends them.

use aim_operator::api::{AIMServiceTemplate, ResourceState};
use aim_tests::kubelet::{Exit, FakeKubelet, MANUAL};
use aim_tests::{operator, test_env, wait};
use k8s_openapi::api::batch::v1::Job;
use kube::api::{Api, ListParams};

const CAP: usize = 2;

fn active(jobs: &[Job]) -> usize {
    jobs.iter()
        .filter(|j| {
            let s = j.status.clone().unwrap_or_default();
            s.succeeded.unwrap_or(0) == 0 && s.failed.unwrap_or(0) == 0
        })
        .count()
}

#[tokio::test]
async fn no_more_than_the_cap_of_discovery_jobs_run_at_once_and_the_rest_wait_their_turn() {
    let env = test_env!();
    let mut config = operator::test_config();
    config.discovery.max_concurrent_jobs = CAP;
    env.start_operator(config);
    let ns = env.namespace("cap").await;
    let model = format!("m/cap-{}", std::process::id());
    let image = format!(
        "apiVersion: aim.silogen.ai/v1alpha1\nkind: AIMImage\nmetadata:\n  name: cap-{}\nspec:\n  modelId: {model}\n  image: reg/cap:1\n",
        std::process::id()
    );
    assert!(env.apply(&image, None).await.success);
    let _image = env.cleanup(&["aimimage", &format!("cap-{}", std::process::id())]);
    for i in 0..5 {
        let t = format!(
            "apiVersion: aim.silogen.ai/v1alpha1\nkind: AIMServiceTemplate\nmetadata:\n  name: t{i}\nspec:\n  modelId: {model}\n  precision: fp{}\n  env:\n  - name: {MANUAL}\n    value: \"true\"\n",
            [8, 16, 32, 8, 16][i]
        );
        assert!(
            env.apply(&t.replace("precision: fp32", "precision: bf16"), Some(&ns))
                .await
                .success
        );
    }
    let client = env.client().await;
    let all_jobs: Api<Job> = Api::all(client.clone());
    let templates: Api<AIMServiceTemplate> = Api::namespaced(client.clone(), &ns);
    let selector = ListParams::default().labels("aim.silogen.ai/component=discovery");

    // Some templates must be told to wait for a slot.
    let waiting = wait::until("templates waiting for a discovery slot", || async {
        let list = templates
            .list(&ListParams::default())
            .await
            .map_err(|e| e.to_string())?;
        let waiting = list
            .items
            .iter()
            .filter(|t| {
                t.status
                    .as_ref()
                    .is_some_and(|s| s.head.conditions.iter().any(|c| c.reason == "WaitingForDiscoverySlot"))
            })
            .count();
        if waiting >= 3 {
            Ok(waiting)
        } else {
            Err(format!("{waiting} waiting"))
        }
    })
    .await;
    // The cap holds over time, not just at one moment: with no Job finishing, none of the waiting templates
    // starts one. (Jobs of other tests' namespaces count against the cluster-wide cap too.)
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let jobs = all_jobs.list(&selector).await.unwrap().items;
    assert!(
        active(&jobs) <= CAP,
        "{} discovery Jobs run; the cap is {CAP}",
        active(&jobs)
    );
    let ours = jobs
        .iter()
        .filter(|j| j.metadata.namespace.as_deref() == Some(ns.as_str()))
        .count();
    let waiting_now = templates
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .iter()
        .filter(|t| {
            t.status
                .as_ref()
                .is_some_and(|s| s.head.conditions.iter().any(|c| c.reason == "WaitingForDiscoverySlot"))
        })
        .count();
    assert_eq!(
        ours + waiting_now,
        5,
        "each template either runs its Job or waits: {ours} Jobs, {waiting_now} waiting (first {waiting})"
    );

    // Finish Jobs one at a time; the cap holds throughout and every template ends up discovered.
    let kubelet = FakeKubelet::new(client.clone(), &ns);
    let output = r#"[{"filename": "p.yaml", "models": [{"name": "m", "source": "hf://org/cap", "size_gb": 1}]}]"#;
    let mut finished = std::collections::HashSet::new();
    while finished.len() < 5 {
        let jobs = all_jobs.list(&selector).await.unwrap().items;
        assert!(
            active(&jobs) <= CAP,
            "{} discovery Jobs active at once, the cap is {CAP}",
            active(&jobs)
        );
        let next = jobs
            .iter()
            .filter(|j| j.metadata.namespace.as_deref() == Some(ns.as_str()))
            .filter_map(|j| j.metadata.name.clone())
            .find(|n| !finished.contains(n));
        match next {
            Some(job) => {
                kubelet.finish(&job, Exit::Succeeded(output)).await;
                finished.insert(job);
            }
            None => tokio::time::sleep(std::time::Duration::from_millis(200)).await,
        }
    }
    wait::until("every template Available", || async {
        let list = templates
            .list(&ListParams::default())
            .await
            .map_err(|e| e.to_string())?;
        let available = list
            .items
            .iter()
            .filter(|t| t.status.as_ref().and_then(|s| s.head.status) == Some(ResourceState::Available))
            .count();
        if available == 5 {
            Ok(())
        } else {
            Err(format!("{available}/5 available"))
        }
    })
    .await;
}
