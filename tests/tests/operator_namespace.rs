//! Without its own namespace, the operator says so: once at start-up in its log, and on each cluster template
//! whose discovery Job would run there (reason `NamespaceMissing`, with the command that fixes it); once the
//! namespace exists, discovery goes ahead. A test binary of its own: the operator process here runs with a
//! namespace no other test uses, and must be the only operator reconciling the cluster template.

use aim_tests::replica::Replica;
use aim_tests::{test_env, wait};

#[tokio::test]
async fn a_missing_operator_namespace_is_reported_at_start_and_on_cluster_templates() {
    let env = test_env!();
    let pid = std::process::id();
    let missing = format!("aim-missing-{pid}");
    let identity = aim_tests::identity::operator_kubeconfig(
        env.kubectl_path(),
        env.kubeconfig(),
        &std::env::temp_dir().join(format!("aim-namespace-{pid}.kubeconfig")),
    )
    .await
    .expect("the operator's identity");
    let log = std::env::temp_dir().join(format!("aim-namespace-{pid}.log"));
    let _operator = Replica::start(
        &identity,
        &["--namespace", &missing, "--leader-elect=false", "--log-format=json"],
        &[],
        Some(&log),
    );
    let said = wait::until("the start-up check in the log", || async {
        let text = std::fs::read_to_string(&log).map_err(|e| e.to_string())?;
        text.lines()
            .find(|l| l.contains("does not exist") && l.contains(&missing))
            .map(str::to_string)
            .ok_or(text)
    })
    .await;
    assert!(
        said.contains("\"level\":\"ERROR\"") && said.contains(&format!("kubectl create namespace {missing}")),
        "{said}"
    );

    let name = format!("nsless-{pid}");
    let _image = env.cleanup(&["aimimage", &name]);
    let _template = env.cleanup(&["aimclusterservicetemplate", &name]);
    let _namespace = env.cleanup(&["namespace", &missing]);
    let catalog = format!(
        "apiVersion: aim.silogen.ai/v1alpha1\nkind: AIMImage\nmetadata:\n  name: {name}\nspec:\n  modelId: org/{name}\n  image: registry.test/{name}:1\n---\napiVersion: aim.silogen.ai/v1alpha1\nkind: AIMClusterServiceTemplate\nmetadata:\n  name: {name}\nspec:\n  modelId: org/{name}\n  precision: fp8\n"
    );
    let out = env.apply(&catalog, None).await;
    assert!(out.success, "{}", out.stderr);
    let discovered = |reason: &'static str| {
        let name = name.clone();
        move || {
            let name = name.clone();
            async move {
                let out = env
                    .kubectl(&[
                        "get",
                        "aimclusterservicetemplate",
                        &name,
                        "-o",
                        "jsonpath={range .status.conditions[?(@.type==\"Discovered\")]}{.reason}|{.message}{end}",
                    ])
                    .await
                    .stdout;
                match out.split_once('|') {
                    Some((r, message)) if r == reason => Ok(message.to_string()),
                    _ => Err(out),
                }
            }
        }
    };
    let message = wait::until("NamespaceMissing on the template", discovered("NamespaceMissing")).await;
    assert!(
        message.contains(&format!("operator's namespace '{missing}', which does not exist"))
            && message.contains(&format!("kubectl create namespace {missing}")),
        "{message}"
    );

    // The fix the message names: discovery runs on its next attempt (30 s later at most).
    assert!(env.kubectl(&["create", "namespace", &missing]).await.success);
    wait::until("discovery after the namespace exists", discovered("ProfilesDiscovered")).await;
}
