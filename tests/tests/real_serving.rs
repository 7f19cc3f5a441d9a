//! A real request, end to end, on a real node: a private cluster whose one node is real (the kubelet,
//! containerd, kube-proxy, a CNI bridge) and advertises an MI300X server's labels and `amd.com/gpu`, Traefik as
//! the Gateway API implementation, the operator installed from `deploy/base` (its pods on that node), and an AIM
//! model image built on the runtime stand-in (`tests/runtime-sim`: the AIM runtime's entrypoint in front of
//! llm-d-inference-sim; only the GPU is not real).
//!
//! What runs as a real container: the operator; the template's discovery (the image's `dry-run`, its log read by
//! the operator); the cache's download Job (into a ReadWriteMany volume, from a Hub on the host); the predictor
//! (the image's serving entrypoint, its probes, its reading of the weights); and each request goes
//! client → Traefik → the predictor pod. The Hub counts what it sent, so a cache the runtime never reads (as it
//! was before the cache was mounted where the runtime looks) shows as a second download.

use aim_operator::api::{AIMService, ServiceState};
use aim_tests::controlplane::ControlPlane;
use aim_tests::controlplane::real_node::NODE_NAME;
use aim_tests::hub::generated_model;
use aim_tests::real_world::{RealWorld, chat, post};
use aim_tests::wait;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};
use std::path::Path;
use std::time::Instant;

const MODEL: &str = "real-org/tiny-llama";
const CLASS: &str = "real-rwx";
const NS: &str = "team-real";

#[tokio::test]
async fn a_service_on_the_real_node_answers_through_the_real_gateway_reading_its_weights_from_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let mut world = RealWorld::start(dir.path(), MODEL, &[NS]).await;
    let client = world.client.clone();
    let traefik_url = world.gateway.clone();
    let (hub, hub_files, image) = (&world.hub, world.hub_files.clone(), world.image.clone());
    let model_bytes: u64 = hub_files.iter().map(|f| f.bytes.len() as u64).sum();

    // The catalog and the cluster config, as a cluster admin writes them.
    aim_tests::storage::ensure_class(&client, CLASS, true).await;
    let endpoint = &hub.endpoint;
    world
        .apply(
            dir.path(),
            "catalog",
            &format!(
                "apiVersion: aim.silogen.ai/v1alpha1\nkind: AIMClusterConfig\nmetadata:\n  name: default\nspec:\n  routing:\n    \
                 gateway: {{name: public-gw, namespace: infra-gw}}\n  cacheStorageClassName: {CLASS}\n---\n\
                 apiVersion: aim.silogen.ai/v1alpha1\nkind: AIMImage\nmetadata:\n  name: tiny-llama\nspec:\n  modelId: {MODEL}\n  \
                 image: {image}\n---\n\
                 apiVersion: aim.silogen.ai/v1alpha1\nkind: AIMClusterServiceTemplate\nmetadata:\n  name: tiny-mi300x\nspec:\n  \
                 modelId: {MODEL}\n  metric: latency\n  precision: fp16\n  gpuSelector: {{count: 1, model: MI300X}}\n  env:\n  \
                 - name: HF_ENDPOINT\n    value: {endpoint}\n"
            ),
        )
        .await;

    // Discovery: the image's dry run as a real pod, its log read by the operator.
    wait::until_for(
        "the template's discovery",
        std::time::Duration::from_secs(180),
        || async {
            let t: aim_operator::api::AIMClusterServiceTemplate = Api::all(client.clone())
                .get("tiny-mi300x")
                .await
                .map_err(|e| e.to_string())?;
            let status = t.status.unwrap_or_default();
            match (&status.profile, status.model_sources.first()) {
                (Some(p), Some(source)) => Ok((p.id.clone(), source.clone())),
                _ => Err(format!("{:?}", status.head.conditions)),
            }
        },
    )
    .await;
    let t: aim_operator::api::AIMClusterServiceTemplate = Api::all(client.clone()).get("tiny-mi300x").await.unwrap();
    let status = t.status.unwrap();
    assert_eq!(status.profile.unwrap().id, "vllm-mi300x-fp16-tp1-latency");
    let source = &status.model_sources[0];
    assert_eq!(
        (source.source_uri.as_str(), source.name.as_deref()),
        (&*format!("hf://{MODEL}"), Some(MODEL))
    );
    assert!(source.size.is_some(), "the dry run asked the Hub for the size");
    assert_eq!(hub.bytes_sent(), 0, "a dry run downloads nothing");

    // A cached service: the download Job fills the volume, the predictor reads it where the runtime looks.
    let resources = "  resources: {requests: {cpu: 100m, memory: 128Mi}, limits: {memory: 1Gi}}\n";
    world
        .apply(
        dir.path(),
        "cached",
        &format!(
            "apiVersion: aim.silogen.ai/v1alpha1\nkind: AIMService\nmetadata:\n  name: cached\n  namespace: {NS}\nspec:\n  \
             aimModelId: {MODEL}\n  templateRef: tiny-mi300x\n  cacheModel: true\n{resources}"
        ),
    )
    .await;
    world.prepare_volume(NS, &format!("hf://{MODEL}")).await;
    let started = Instant::now();
    let svc = world.running(NS, "cached").await;
    println!("cached service Running {:.1?} after its volume", started.elapsed());
    let path = svc.status.as_ref().unwrap().route_path.clone().unwrap();
    let (pod, log) = world.predictor(NS, "cached").await;
    assert_eq!(pod.spec.as_ref().unwrap().node_name.as_deref(), Some(NODE_NAME));
    assert!(
        log.contains(&format!("Found local model directory: /workspace/model-cache/{MODEL}")),
        "the runtime found the cache where it looks:\n{log}"
    );
    assert!(log.contains("Loaded 1 weight files"), "{log}");
    let per_file = hub.bytes_sent_per_file();
    for file in &hub_files {
        assert_eq!(
            per_file.get(&file.path).copied().unwrap_or(0),
            file.bytes.len() as u64,
            "{} fetched exactly once, by the download Job: {per_file:?}",
            file.path
        );
    }

    // Through the gateway: a completion, and a streamed one.
    let reply = chat(&traefik_url, &path, MODEL).await;
    println!("the cached service answered: {reply:?}");
    let (status, stream) = post(
        &format!("{}{path}/v1/chat/completions", traefik_url),
        serde_json::json!({ "model": MODEL, "messages": [{ "role": "user", "content": "Count to three" }],
            "max_tokens": 6, "stream": true }),
    )
    .await;
    assert_eq!(status, 200, "{stream}");
    assert!(
        stream.lines().filter(|l| l.starts_with("data: {")).count() >= 2 && stream.contains("data: [DONE]"),
        "a stream of chunks: {stream}"
    );
    let (status, models) = post(
        &format!("{}{path}/v1/completions", traefik_url),
        serde_json::json!({
        "model": MODEL, "prompt": "Once upon", "max_tokens": 4 }),
    )
    .await;
    assert_eq!(status, 200, "{models}");
    assert_eq!(hub.bytes_sent(), model_bytes, "serving read the cache, not the Hub");

    dashboards_have_data(&world.cp, dir.path(), &traefik_url, &path).await;

    // The cold start, phase by phase, from what the real kubelet reported.
    let startup = svc.status.as_ref().unwrap().startup.clone().expect("a start record");
    let phases: Vec<(String, Option<String>)> = startup
        .phases
        .iter()
        .map(|p| (p.name.clone(), p.duration.clone()))
        .collect();
    for phase in [
        "CacheWarm",
        "PodsScheduled",
        "ImagePulled",
        "ContainersReady",
        "RouteAccepted",
    ] {
        assert!(
            phases.iter().any(|(n, d)| n == phase && d.is_some()),
            "{phase} recorded: {phases:?}"
        );
    }
    println!("cached service's start: {phases:?}");

    // The same service without caching: the runtime downloads the model itself, into its download volume.
    world
        .apply(
        dir.path(),
        "uncached",
        &format!(
            "apiVersion: aim.silogen.ai/v1alpha1\nkind: AIMService\nmetadata:\n  name: uncached\n  namespace: {NS}\nspec:\n  \
             aimModelId: {MODEL}\n  templateRef: tiny-mi300x\n{resources}"
        ),
    )
    .await;
    let svc = world.running(NS, "uncached").await;
    let path = svc.status.as_ref().unwrap().route_path.clone().unwrap();
    let (_, log) = world.predictor(NS, "uncached").await;
    assert!(
        log.contains("No local directory found") && log.contains("Loaded 1 weight files"),
        "{log}"
    );
    assert_eq!(
        hub.bytes_sent(),
        2 * model_bytes,
        "without a cache the runtime downloads the whole model at its start"
    );
    chat(&traefik_url, &path, MODEL).await;

    faults(&mut world, dir.path()).await;
    world.cp.stop().await;
}

/// A real Prometheus scraping the operator's pods and the runtime's, as an admin's would: every panel of the
/// shipped dashboards returns data (the service's for the cached service), and every alert rule evaluates.
async fn dashboards_have_data(cp: &ControlPlane, dir: &Path, gateway: &str, path: &str) {
    let prometheus = aim_tests::monitoring::Prometheus::start(dir).await;
    let client = cp.client().await.unwrap();
    wait::until_for(
        "Prometheus scraping the operator and the runtime",
        std::time::Duration::from_secs(60),
        || async {
            prometheus.discover(&client).await;
            let up = prometheus.targets_up().await;
            let operator = up.iter().any(|t| t.starts_with("aim-system/aim-operator-"));
            let runtime = up.iter().any(|t| t.starts_with(&format!("{NS}/cached-predictor-")));
            if operator && runtime {
                Ok(())
            } else {
                Err(format!("{up:?}"))
            }
        },
    )
    .await;
    // Requests while Prometheus watches, so the rates and histograms have samples either side.
    for _ in 0..3 {
        chat(gateway, path, MODEL).await;
        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    }
    for dashboard in aim_tests::monitoring::dashboards() {
        for (title, expr) in &dashboard.queries {
            let query = expr.replace("$namespace", NS).replace("$service", "cached");
            let series = wait::until_for(
                &format!("{} / {title}: {query}", dashboard.uid),
                std::time::Duration::from_secs(60),
                || async {
                    match prometheus.query(&query).await {
                        Ok(series) if !series.is_empty() => Ok(series),
                        Ok(_) => Err("no data".to_string()),
                        Err(e) => Err(e),
                    }
                },
            )
            .await;
            println!("{} / {title}: {} series", dashboard.uid, series.len());
        }
    }
    wait::until("every alert rule evaluated", || async {
        let rules = prometheus.rule_health().await;
        if rules.len() == 10 && rules.iter().all(|(_, health)| health == "ok") {
            Ok(())
        } else {
            Err(format!("{rules:?}"))
        }
    })
    .await;
}

/// Faults on the real path: the serving pod killed, a download pod killed mid-file, the gateway restarted.
async fn faults(world: &mut RealWorld, dir: &Path) {
    let client = &world.client.clone();
    let traefik = world.cp.traefik().unwrap();
    let api: Api<AIMService> = Api::namespaced(client.clone(), NS);
    let path = api.get("cached").await.unwrap().status.unwrap().route_path.unwrap();

    // The runtime's pod killed while serving: KServe's Deployment replaces it; the service says it lost its
    // replica, then serves again at the same path.
    let (pod, _) = world.predictor(NS, "cached").await;
    let name = pod.metadata.name.clone().unwrap();
    world
        .cp
        .kubectl(&["delete", "pod", "-n", NS, &name, "--grace-period=1", "--wait=false"])
        .await
        .unwrap();
    wait::until_for(
        "the service to say it lost its replica",
        std::time::Duration::from_secs(120),
        || async {
            let state = api
                .get("cached")
                .await
                .map_err(|e| e.to_string())?
                .status
                .unwrap_or_default();
            match state.head.status {
                Some(ServiceState::Degraded) => Ok(()),
                other => Err(format!("{other:?}")),
            }
        },
    )
    .await;
    let back = world.running(NS, "cached").await;
    assert_eq!(
        back.status.unwrap().route_path.as_deref(),
        Some(path.as_str()),
        "the route keeps its path"
    );
    let (replaced, _) = world.predictor(NS, "cached").await;
    assert_ne!(
        replaced.metadata.name.as_deref(),
        Some(name.as_str()),
        "a new pod serves"
    );
    chat(&traefik.url(), &path, MODEL).await;

    // A download pod killed mid-file: the next attempt continues the file (a second cache of the same source,
    // with every file, so it downloads again; the Hub slowed so the kill lands mid-file).
    let weights = "model.safetensors";
    let hub = &world.hub;
    let before = hub.bytes_sent_per_file().get(weights).copied().unwrap_or(0);
    hub.set(aim_tests::hub::Behaviour {
        rate: Some(1 << 20),
        ..Default::default()
    });
    let endpoint = &hub.endpoint;
    world
        .apply(
        dir,
        "resume",
        &format!(
            "apiVersion: aim.silogen.ai/v1alpha1\nkind: ModelCache\nmetadata:\n  name: resume\n  namespace: {NS}\nspec:\n  \
             sourceUri: hf://{MODEL}\n  size: 1Gi\n  storageClassName: {CLASS}\n  modelFiles: {{include: [\"**\"]}}\n  env:\n  \
             - name: HF_ENDPOINT\n    value: {endpoint}\n"
        ),
    )
    .await;
    world.prepare_claim(NS, "resume-cache").await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), NS);
    let first = wait::until_for(
        "a download pod mid-file",
        std::time::Duration::from_secs(120),
        || async {
            let sent = hub.bytes_sent_per_file().get(weights).copied().unwrap_or(0) - before;
            let list = pods
                .list(&ListParams::default().labels("aim.silogen.ai/component=download"))
                .await
                .map_err(|e| e.to_string())?;
            let running = list.items.into_iter().find(|p| {
                p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running")
                    && p.metadata.name.as_deref().is_some_and(|n| n.starts_with("resume"))
            });
            match running {
                Some(p) if sent >= 2 << 20 => Ok(p.metadata.name.unwrap()),
                _ => Err(format!("{sent} bytes of {weights} sent")),
            }
        },
    )
    .await;
    world
        .cp
        .kubectl(&["delete", "pod", "-n", NS, &first, "--grace-period=0", "--force"])
        .await
        .unwrap();
    hub.set(aim_tests::hub::Behaviour::default());
    aim_tests::scenario::caches::model_cache_ready(client.clone(), NS, "resume").await;
    let size = generated_model(8)
        .into_iter()
        .find(|f| f.path == weights)
        .map(|f| f.bytes.len() as u64)
        .unwrap();
    let sent = hub.bytes_sent_per_file().get(weights).copied().unwrap_or(0) - before;
    assert!(
        sent < size + size / 2,
        "the second attempt continued the file: {sent} bytes sent for a file of {size}"
    );

    // The gateway restarted: it reads the routes again and serves them.
    world.cp.stop_component("traefik").await;
    world.cp.start_component("traefik").await.unwrap();
    wait::until_for(
        "the gateway to serve again",
        std::time::Duration::from_secs(60),
        || async {
            let url = format!("{}{path}/v1/models", traefik.url());
            let _ = rustls::crypto::ring::default_provider().install_default();
            match reqwest::get(&url).await {
                Ok(r) if r.status().is_success() => Ok(()),
                Ok(r) => Err(format!("{}", r.status())),
                Err(e) => Err(e.to_string()),
            }
        },
    )
    .await;
    chat(&traefik.url(), &path, MODEL).await;
    let route: serde_json::Value = serde_json::from_str(
        &world
            .cp
            .kubectl(&["get", "httproute", "cached", "-n", NS, "-o", "json"])
            .await
            .unwrap(),
    )
    .unwrap();
    let parent = &route["status"]["parents"][0];
    assert_eq!(
        parent["controllerName"],
        aim_tests::controlplane::traefik::CONTROLLER_NAME
    );
    let accepted = parent["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "Accepted")
        .unwrap();
    assert_eq!(accepted["status"], "True", "{route}");
}
