//! Status of the cluster-level kinds, in a binary of its own (it uses the cluster-wide `default` config):
//! an AIMImage says whether its default template exists, an AIMClusterConfig whether it is the one in use.

use aim_tests::{TestEnv, operator, test_env, wait};

const API: &str = "apiVersion: aim.silogen.ai/v1alpha1";

async fn status_of(env: &TestEnv, kind: &str, name: &str, want: &str) -> (String, String) {
    wait::until(&format!("{kind} {name} to be {want}"), || async {
        let out = env
            .kubectl(&["get", kind, name, "-o", "jsonpath={.status.status} {.status.conditions[?(@.type==\"Ready\")].reason}|{.status.conditions[?(@.type==\"Ready\")].message}"])
            .await
            .stdout;
        let (head, message) = out.split_once('|').unwrap_or((&out, ""));
        let (state, reason) = head.split_once(' ').unwrap_or((head, ""));
        if state == want { Ok((reason.to_string(), message.to_string())) } else { Err(out.clone()) }
    })
    .await
}

#[tokio::test]
async fn an_image_reports_whether_its_default_template_exists() {
    let env = test_env!();
    env.start_operator(operator::test_config());
    let name = format!("img-status-{}", std::process::id());
    let template = format!("{name}-default");
    let _cleanup = env.cleanup(&[
        &format!("aimimage/{name}"),
        &format!("aimclusterservicetemplate/{template}"),
    ]);
    let image = format!(
        "{API}\nkind: AIMImage\nmetadata:\n  name: {name}\nspec:\n  modelId: m/{name}\n  image: reg/x:1\n  defaultServiceTemplate: {template}\n"
    );
    assert!(env.apply(&image, None).await.success);
    let (reason, message) = status_of(env, "aimimage", &name, "Degraded").await;
    assert_eq!(reason, "DefaultTemplateMissing");
    assert!(
        message.contains(&format!(
            "defaultServiceTemplate {template} names no AIMClusterServiceTemplate"
        )),
        "{message}"
    );
    let t =
        format!("{API}\nkind: AIMClusterServiceTemplate\nmetadata:\n  name: {template}\nspec:\n  modelId: m/{name}\n");
    assert!(env.apply(&t, None).await.success);
    status_of(env, "aimimage", &name, "Available").await;
}

#[tokio::test]
async fn only_the_default_cluster_config_is_used_and_a_missing_gateway_is_reported() {
    let env = test_env!();
    env.start_operator(operator::test_config());
    let other = format!("not-default-{}", std::process::id());
    let _cleanup = env.cleanup(&[&format!("aimclusterconfig/{other}"), "aimclusterconfig/default"]);
    assert!(
        env.apply(
            &format!("{API}\nkind: AIMClusterConfig\nmetadata:\n  name: {other}\nspec: {{}}\n"),
            None
        )
        .await
        .success
    );
    let (reason, message) = status_of(env, "aimclusterconfig", &other, "Failed").await;
    assert_eq!(reason, "Ignored");
    assert!(
        message.contains("only the AIMClusterConfig named 'default' is read"),
        "{message}"
    );

    let config = format!(
        "{API}\nkind: AIMClusterConfig\nmetadata:\n  name: default\nspec:\n  routing:\n    gateway: {{name: nowhere, namespace: infra}}\n"
    );
    assert!(env.apply(&config, None).await.success);
    let (reason, message) = status_of(env, "aimclusterconfig", "default", "Degraded").await;
    assert_eq!(reason, "GatewayNotFound");
    assert!(message.contains("Gateway infra/nowhere does not exist"), "{message}");
}
