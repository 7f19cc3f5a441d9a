//! The demo's last step: a real request. An AIM image of a small model, built on the runtime stand-in
//! (`scripts/runtime-image`), runs on the cluster's real node (the service tolerates its taint and selects it):
//! its serving container downloads the model from the Hugging Face mirror on the host, loads it and answers; a
//! chat request goes through Traefik at the service's path, and the reply is printed. The template names its
//! model source inline, so no discovery pod runs (kwok, not the image, would answer one on a GPU server; the
//! real dry run is in `tests/tests/real_serving.rs`).

use aim_operator::api::{AIMService, ServiceState};
use aim_tests::controlplane::ControlPlane;
use aim_tests::controlplane::real_node::NODE_LABEL;
use aim_tests::controlplane::traefik::Traefik;
use anyhow::Context;
use kube::api::Api;
use std::time::{Duration, Instant};

/// The service the request goes to.
pub const SERVICE: &str = "tiny-chat";
const NS: &str = "team-a";
const MODEL: &str = "demo-org/tiny-chat";

/// Runs the step on `cp`, whose mirror is `hub` and whose gateway is `traefik`.
pub async fn run(cp: &ControlPlane, client: &kube::Client, hub: &str, traefik: &Traefik) -> anyhow::Result<()> {
    println!("\n== a real request: an AIM image on the real node, through the gateway");
    let node = cp.real_node().context("the demo's cluster has a real node")?;
    let image = aim_tests::runtime_image::model_image(MODEL, cp.dir())
        .await
        .map_err(anyhow::Error::msg)?;
    node.import(&image).await?;
    node.advertise_gpus("74a1", "AMD_Instinct_MI300X_OAM", 1).await?;
    println!(
        "   built {image} (the AIM runtime stand-in with AIM_ID={MODEL}) and imported it into the node's containerd"
    );
    println!("   the real node now advertises amd.com/gpu: 1 and an MI300X's AMD labels (device ID 74a1)");
    let manifest = format!(
        "apiVersion: aim.silogen.ai/v1alpha1\nkind: AIMImage\nmetadata:\n  name: tiny-chat\nspec:\n  modelId: {MODEL}\n  image: {image}\n---\n\
         apiVersion: aim.silogen.ai/v1alpha1\nkind: AIMServiceTemplate\nmetadata:\n  name: tiny-chat-mi300x\n  namespace: {NS}\nspec:\n  \
         modelId: {MODEL}\n  metric: latency\n  precision: fp16\n  gpuSelector: {{count: 1, model: MI300X}}\n  \
         modelSources:\n  - sourceUri: hf://{MODEL}\n    size: 100Mi\n  env:\n  - name: HF_ENDPOINT\n    value: {hub}\n---\n\
         apiVersion: aim.silogen.ai/v1alpha1\nkind: AIMService\nmetadata:\n  name: {SERVICE}\n  namespace: {NS}\nspec:\n  \
         aimModelId: {MODEL}\n  templateRef: tiny-chat-mi300x\n  nodeSelector: {{{NODE_LABEL}: \"true\"}}\n  \
         tolerations: [{{key: {NODE_LABEL}, operator: Exists, effect: NoSchedule}}]\n  \
         resources: {{requests: {{cpu: 100m, memory: 128Mi}}, limits: {{memory: 1Gi}}}}\n"
    );
    let file = cp.dir().join("demo-request.yaml");
    std::fs::write(&file, &manifest)?;
    print!(
        "{}",
        cp.kubectl(&[
            "apply",
            "--server-side",
            "--field-manager=aim-demo",
            "-f",
            &file.display().to_string()
        ])
        .await?
    );
    let api: Api<AIMService> = Api::namespaced(client.clone(), NS);
    let start = Instant::now();
    let path = loop {
        let status = api.get(SERVICE).await?.status.unwrap_or_default();
        if status.head.status == Some(ServiceState::Running)
            && let Some(path) = status.route_path.clone()
        {
            break path;
        }
        if start.elapsed() > Duration::from_secs(240) {
            anyhow::bail!("{SERVICE} did not run within 4 minutes: {:?}", status.head.conditions);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    println!(
        "   {SERVICE} Running after {:.0?}: image, model download, load and probes on the real node",
        start.elapsed()
    );
    print!(
        "{}",
        cp.kubectl(&["get", "aimservice", SERVICE, "-n", NS, "-o", "wide"])
            .await?
    );
    let url = format!("{}{path}/v1/chat/completions", traefik.url());
    let body = serde_json::json!({
        "model": MODEL,
        "messages": [{ "role": "user", "content": "Hello! Who are you?" }],
        "max_tokens": 16,
    });
    println!("\n$ curl -s {url} -d '{body}'");
    let _ = rustls::crypto::ring::default_provider().install_default();
    let reply = reqwest::Client::new()
        .post(&url)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await?;
    let status = reply.status();
    let text = reply.text().await?;
    anyhow::ensure!(status.is_success(), "the gateway answered {status}: {text}");
    let answer: serde_json::Value = serde_json::from_str(&text)?;
    println!("{}", serde_json::to_string_pretty(&answer)?);
    println!(
        "\n   the reply: {:?}",
        answer["choices"][0]["message"]["content"].as_str().unwrap_or_default()
    );
    Ok(())
}
