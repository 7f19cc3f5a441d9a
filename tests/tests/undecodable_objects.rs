//! A stored object the operator's types cannot read (stored before a schema change, written by a newer operator)
//! is reported and skipped: the operator starts, its other objects reconcile, the unreadable one gets a Warning
//! Event, a log line and `aim_index_undecodable_objects`, and once fixed it reconciles like the rest.
//!
//! On a private control plane: to store such an object, this test loosens the `AIMService` CRD's schema to accept
//! any spec (the shared cluster's schema must stay as shipped), then stores `aimModelId: 5`.

use aim_operator::api::{AIMService, ServiceState};
use aim_tests::controlplane::{ControlPlane, OUR_CRDS_DIR};
use aim_tests::replica::Replica;
use aim_tests::wait;
use k8s_openapi::api::core::v1::Event;
use kube::api::{Api, ListParams};
use serde_json::{Value, json};
use std::time::Duration;

const API: &str = "apiVersion: aim.silogen.ai/v1alpha1";
const MODEL: &str = "undecodable/llama";
const NS: &str = "undecodable";

async fn apply(cp: &ControlPlane, name: &str, body: &str) {
    let file = cp.dir().join(format!("{name}.yaml"));
    std::fs::write(&file, body).unwrap();
    cp.kubectl(&[
        "apply",
        "--server-side",
        "--force-conflicts",
        "-f",
        &file.display().to_string(),
    ])
    .await
    .expect("apply");
}

/// The AIMService CRD as shipped, but with a spec of any shape.
fn loosened_service_crd() -> String {
    let shipped = std::fs::read_to_string(format!("{OUR_CRDS_DIR}/aimservices.aim.silogen.ai.yaml")).unwrap();
    let mut crd: Value = serde_saphyr::from_str(&shipped).unwrap();
    for version in crd["spec"]["versions"].as_array_mut().unwrap() {
        version["schema"]["openAPIV3Schema"]["properties"]["spec"] =
            json!({ "type": "object", "x-kubernetes-preserve-unknown-fields": true });
    }
    serde_json::to_string(&crd).unwrap()
}

fn service(name: &str, model: &str) -> String {
    format!("{API}\nkind: AIMService\nmetadata:\n  name: {name}\n  namespace: {NS}\nspec:\n  aimModelId: {model}\n")
}

async fn state(services: &Api<AIMService>, name: &str) -> Result<(), String> {
    // A get, not a list: the test's own types cannot read the unreadable one either.
    let svc = services.get_opt(name).await.map_err(|e| e.to_string())?;
    let state = svc.and_then(|s| s.status?.head.status);
    if state == Some(ServiceState::Running) {
        Ok(())
    } else {
        Err(format!("{name} is {state:?}"))
    }
}

#[tokio::test]
async fn an_unreadable_service_is_reported_and_skipped_and_the_others_reconcile() {
    let dir = tempfile::tempdir().unwrap();
    let cp = ControlPlane::start(dir.path()).await.expect("a private control plane");
    let identity = aim_tests::identity::operator_kubeconfig(cp.kubectl_path(), cp.kubeconfig(), &dir.path().join("sa"))
        .await
        .expect("the operator's identity");
    cp.kubectl(&["create", "namespace", NS]).await.unwrap();
    apply(&cp, "crd", &loosened_service_crd()).await;
    apply(
        &cp,
        "catalog",
        &format!(
            "{API}\nkind: AIMImage\nmetadata:\n  name: undecodable\nspec:\n  modelId: {MODEL}\n  image: reg/llama:1\n  defaultServiceTemplate: undecodable-one\n---\n{API}\nkind: AIMClusterServiceTemplate\nmetadata:\n  name: undecodable-one\nspec:\n  modelId: {MODEL}\n  metric: latency\n  precision: fp8\n  gpuSelector: {{count: 1, model: MI300X}}\n  modelSources:\n  - sourceUri: hf://undecodable/llama\n    size: 16Gi\n"
        ),
    )
    .await;
    // Stored before the operator starts: its first list meets it.
    apply(&cp, "bad", &service("unreadable", "5")).await;
    apply(&cp, "good", &service("readable", MODEL)).await;

    let mut operator = Replica::start(
        &identity,
        &["--namespace", "aim-system", "--identity", "undecodable"],
        &[],
        Some(&dir.path().join("operator.log")),
    );
    let client = cp.client().await.unwrap();
    let services: Api<AIMService> = Api::namespaced(client.clone(), NS);
    wait::until("the readable service to run", || state(&services, "readable")).await;

    let events: Api<Event> = Api::namespaced(client, NS);
    let warning = wait::until("a Warning Event on the unreadable service", || async {
        let list = events.list(&ListParams::default()).await.map_err(|e| e.to_string())?;
        list.items
            .into_iter()
            .find(|e| {
                e.involved_object.name.as_deref() == Some("unreadable") && e.reason.as_deref() == Some("CannotRead")
            })
            .ok_or_else(|| "no CannotRead Event yet".to_string())
    })
    .await;
    let message = warning.message.unwrap_or_default();
    println!("Event on the unreadable service: {message}");
    assert_eq!(warning.type_.as_deref(), Some("Warning"));
    assert!(
        message.contains("cannot read this AIMService") && message.contains("aimModelId"),
        "{message}"
    );
    let (code, metrics) = operator.get("/metrics").await.expect("/metrics answers");
    assert_eq!(code, 200);
    assert!(
        metrics
            .lines()
            .any(|l| l == r#"aim_index_undecodable_objects{kind="aimservices"} 1"#),
        "the gauge counts it: {}",
        metrics
            .lines()
            .filter(|l| l.contains("undecodable"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    // One unreadable object does not make the operator unready. Waited for, not read once: on a loaded machine a
    // watch of any kind may break and resume for a moment (then `/readyz` says which, and that is right), but a
    // kind held unready by the unreadable object would never come back.
    wait::until("/readyz to answer 200 with the unreadable object stored", || async {
        match operator.get("/readyz").await {
            Some((200, _)) => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    let log = std::fs::read_to_string(dir.path().join("operator.log")).unwrap();
    assert!(log.contains("cannot read is skipped"), "logged");

    // Fixed: it reconciles like any other, and the gauge goes back to 0.
    apply(&cp, "fixed", &service("unreadable", MODEL)).await;
    wait::until("the fixed service to run", || state(&services, "unreadable")).await;
    wait::until("the gauge to go back to 0", || async {
        let (_, metrics) = operator.get("/metrics").await.ok_or("no /metrics")?;
        metrics
            .lines()
            .any(|l| l == r#"aim_index_undecodable_objects{kind="aimservices"} 0"#)
            .then_some(())
            .ok_or_else(|| "still counted".to_string())
    })
    .await;
    assert!(operator.exits_within(Duration::ZERO).await.is_none(), "still running");
    operator.terminate();
    cp.stop().await;
}
