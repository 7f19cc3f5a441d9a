//! `aim-operator run` as a process on the local cluster, as the `aim-operator` ServiceAccount with `deploy/base`'s
//! RBAC (the Lease included): two replicas, exactly one leads; both serve /healthz and /readyz; the leader's
//! /metrics carries reconcile and plugin figures; on SIGTERM the leader stops cleanly and hands the Lease over at
//! once.

use aim_tests::replica::Replica;
use aim_tests::{test_env, wait};
use std::time::{Duration, Instant};

#[tokio::test]
async fn two_replicas_elect_one_leader_serve_health_and_metrics_and_hand_over_on_sigterm() {
    let env = test_env!();
    let identity = aim_tests::identity::operator_kubeconfig(
        env.kubectl_path(),
        env.kubeconfig(),
        &std::env::temp_dir().join(format!("aim-process-{}.kubeconfig", std::process::id())),
    )
    .await
    .expect("the operator's identity");
    // The operator's own pod, as the Deployment makes it: the download Jobs run its image.
    let own_pod = format!("aim-operator-process-{}", std::process::id());
    let _own_pod = env.cleanup(&["pod", &own_pod, "-n", "aim-system"]);
    let pod = format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {own_pod}\n  namespace: aim-system\nspec:\n  securityContext: {{runAsNonRoot: true, runAsUser: 65532, seccompProfile: {{type: RuntimeDefault}}}}\n  containers:\n  - name: operator\n    image: registry.example/aim-operator:9.9.9\n    securityContext: {{allowPrivilegeEscalation: false, capabilities: {{drop: [ALL]}}}}\n"
    );
    assert!(env.apply(&pod, None).await.success);
    let replica = |name: &str| {
        Replica::start(
            &identity,
            &["--namespace", "aim-system", "--identity", name, "--log-format", "json"],
            &[("POD_NAME", own_pod.as_str())],
            None,
        )
    };
    let mut a = replica("replica-a");
    let mut b = replica("replica-b");
    for r in [&a, &b] {
        wait::until("readyz", || async {
            if r.get("/readyz").await.map(|(c, _)| c) == Some(200) {
                Ok(())
            } else {
                Err("not ready".into())
            }
        })
        .await;
        assert_eq!(r.get("/healthz").await, Some((200, "ok".into())));
    }
    let a_leads = wait::until("one leader", || async {
        match (a.leads().await, b.leads().await) {
            (true, false) => Ok(true),
            (false, true) => Ok(false),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    let (leader, standby) = if a_leads { (&mut a, &mut b) } else { (&mut b, &mut a) };
    // Work for the leader: a template with inline sources becomes Available only if the process reconciles.
    let ns = env.namespace("process").await;
    let template = "apiVersion: aim.silogen.ai/v1alpha1\nkind: AIMServiceTemplate\nmetadata:\n  name: t\nspec:\n  modelId: m/process\n  modelSources:\n  - sourceUri: hf://org/process\n    size: 1Gi\n";
    assert!(env.apply(template, Some(&ns)).await.success);
    wait::until("the leader to reconcile the template", || async {
        let out = env
            .kubectl(&[
                "get",
                "aimservicetemplate",
                "t",
                "-n",
                &ns,
                "-o",
                "jsonpath={.status.status}",
            ])
            .await
            .stdout;
        if out == "Available" { Ok(()) } else { Err(out) }
    })
    .await;
    let metrics = wait::until("reconcile metrics", || async {
        let (_, body) = leader.get("/metrics").await.ok_or("no metrics")?;
        if body.contains("aim_reconcile_total{controller=") {
            Ok(body)
        } else {
            Err("no reconciles yet".to_string())
        }
    })
    .await;
    for series in [
        "aim_policy_calls_total{policy=\"matcher\"}",
        "aim_policy_plugin_info{policy=\"router\",plugin=\"builtin:router\"",
        "aim_policy_reloads_total{policy=\"merger\",result=\"refused\"}",
    ] {
        assert!(metrics.contains(series), "metrics lack {series}:\n{metrics}");
    }
    assert!(!standby.leads().await);

    // Without --downloader-image, download Jobs run the operator pod's own image.
    let cache = "apiVersion: aim.silogen.ai/v1alpha1\nkind: ModelCache\nmetadata:\n  name: weights\nspec:\n  sourceUri: hf://org/process-weights\n  size: 1Gi\n";
    assert!(env.apply(cache, Some(&ns)).await.success);
    let job = aim_operator::testing::job_name("weights", 0);
    let image = wait::until("the download Job", || async {
        let out = env
            .kubectl(&[
                "get",
                "job",
                &job,
                "-n",
                &ns,
                "-o",
                "jsonpath={.spec.template.spec.containers[0].image}",
            ])
            .await;
        if out.success { Ok(out.stdout) } else { Err(out.stderr) }
    })
    .await;
    assert_eq!(image, "registry.example/aim-operator:9.9.9");

    let status = leader.terminate();
    assert!(status.success(), "graceful shutdown exits 0: {status}");
    let start = Instant::now();
    wait::until("the standby to take over", || async {
        if standby.leads().await {
            Ok(())
        } else {
            Err("still standby".into())
        }
    })
    .await;
    println!("handover took {:?} after the leader exited", start.elapsed());
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "the released lease should not have to expire"
    );
    assert!(standby.terminate().success());
}
