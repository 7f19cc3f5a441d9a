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
use aim_tests::controlplane::nodes::GpuNodes;
use aim_tests::controlplane::real_node::{NODE_NAME, host_ip};
use aim_tests::hub::{HubServer, generated_model};
use aim_tests::{runtime_image, wait};
use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim, Pod};
use kube::api::{Api, ListParams};
use std::path::{Path, PathBuf};
use std::time::Instant;

const MODEL: &str = "real-org/tiny-llama";
const CLASS: &str = "real-rwx";
const NS: &str = "team-real";

fn repo(path: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(path)
        .display()
        .to_string()
}

async fn apply(cp: &ControlPlane, dir: &Path, name: &str, yaml: &str) {
    let file = dir.join(format!("{name}.yaml"));
    std::fs::write(&file, yaml).unwrap();
    cp.kubectl(&["apply", "--server-side", "-f", &file.display().to_string()])
        .await
        .unwrap_or_else(|e| panic!("applying {name}: {e}\n{yaml}"));
}

/// What an NFS-style provisioner does for a ReadWriteMany volume: a directory anyone in the pod may write to
/// (the kubelet applies `fsGroup` to block and CSI volumes, not to kwok's hostPath ones). The volume of the
/// cache of `source`.
async fn prepare_volume(client: &kube::Client, source: &str) {
    use aim_operator::testing::{model_cache_name, pvc_name};
    let claim = pvc_name(&model_cache_name(source, &Default::default()));
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), NS);
    let volume = wait::until_for("the cache's volume", std::time::Duration::from_secs(180), || async {
        claims
            .get_opt(&claim)
            .await
            .map_err(|e| e.to_string())?
            .and_then(|c| c.spec?.volume_name)
            .ok_or_else(|| format!("{claim} not bound yet"))
    })
    .await;
    make_writable(client, &volume).await;
}

async fn running(client: &kube::Client, name: &str) -> AIMService {
    let api: Api<AIMService> = Api::namespaced(client.clone(), NS);
    wait::until_for(
        &format!("service {name} to run"),
        std::time::Duration::from_secs(300),
        || async {
            let s = api.get(name).await.map_err(|e| e.to_string())?;
            let status = s.status.clone().unwrap_or_default();
            match status.head.status {
                Some(ServiceState::Running) if status.route_path.is_some() => Ok(s),
                other => Err(format!(
                    "{other:?}: {:?}",
                    status
                        .head
                        .conditions
                        .iter()
                        .map(|c| (&c.type_, &c.reason, &c.message))
                        .collect::<Vec<_>>()
                )),
            }
        },
    )
    .await
}

/// The predictor pod of service `name` and the log of its serving container.
async fn predictor(cp: &ControlPlane, client: &kube::Client, name: &str) -> (Pod, String) {
    let pods: Api<Pod> = Api::namespaced(client.clone(), NS);
    let pod = pods
        .list(&ListParams::default().labels(&format!("serving.kserve.io/inferenceservice={name}")))
        .await
        .unwrap()
        .items
        .into_iter()
        .find(|p| p.metadata.deletion_timestamp.is_none())
        .expect("a predictor pod");
    let log = cp
        .kubectl(&[
            "logs",
            "-n",
            NS,
            pod.metadata.name.as_deref().unwrap(),
            "-c",
            "kserve-container",
        ])
        .await
        .unwrap();
    (pod, log)
}

/// POSTs `body` to `url`; the status and the body's text.
async fn post(url: &str, body: serde_json::Value) -> (u16, String) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let response = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

/// A chat completion through the gateway at `path`; the reply's text.
async fn chat(gateway: &str, path: &str, model: &str) -> String {
    let url = format!("{gateway}{path}/v1/chat/completions");
    let (status, body) = post(
        &url,
        serde_json::json!({ "model": model, "messages": [{ "role": "user", "content": "Say hello" }], "max_tokens": 8 }),
    )
    .await;
    assert_eq!(status, 200, "{url}: {body}");
    let reply: serde_json::Value = serde_json::from_str(&body).unwrap();
    let text = reply["choices"][0]["message"]["content"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(!text.is_empty(), "a completion: {body}");
    text
}

#[tokio::test]
async fn a_service_on_the_real_node_answers_through_the_real_gateway_reading_its_weights_from_the_cache() {
    aim_tests::pod_container::require_image(&aim_tests::pod_container::operator_image()).await;
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let mut cp = ControlPlane::start_with_real_node(dir.path(), GpuNodes::none())
        .await
        .expect("a private control plane with a real node and Traefik");
    println!("cluster with a real node up in {:.0?}", started.elapsed());
    let client = cp.client().await.unwrap();
    let node = cp.real_node().expect("the real node");
    let traefik = cp.traefik().expect("Traefik runs where the real node does");
    let image = runtime_image::model_image(MODEL, dir.path()).await.unwrap();
    node.import(&image).await.unwrap();
    node.advertise_gpus("74a1", "AMD_Instinct_MI300X_OAM", 8).await.unwrap();
    let hub_files = generated_model(8);
    let model_bytes: u64 = hub_files.iter().map(|f| f.bytes.len() as u64).sum();
    let hub = HubServer::start_on(host_ip().unwrap().into(), MODEL, hub_files.clone()).await;

    // The operator as a cluster admin installs it; the catalog, the cluster config and the Gateway.
    cp.kubectl(&["apply", "--server-side", "-k", &repo("deploy/base")])
        .await
        .unwrap();
    aim_tests::storage::ensure_class(&client, CLASS, true).await;
    cp.kubectl(&["create", "namespace", "infra-gw"]).await.unwrap();
    cp.kubectl(&["create", "namespace", NS]).await.unwrap();
    apply(
        &cp,
        dir.path(),
        "gateway",
        &aim_tests::controlplane::traefik::gateway_yaml("infra-gw", "public-gw", traefik.port),
    )
    .await;
    let endpoint = &hub.endpoint;
    apply(
        &cp,
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
    cp.kubectl(&[
        "wait",
        "--for=condition=Available",
        "--timeout=180s",
        "deployment/aim-operator",
        "-n",
        "aim-system",
    ])
    .await
    .unwrap();

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
    apply(
        &cp,
        dir.path(),
        "cached",
        &format!(
            "apiVersion: aim.silogen.ai/v1alpha1\nkind: AIMService\nmetadata:\n  name: cached\n  namespace: {NS}\nspec:\n  \
             aimModelId: {MODEL}\n  templateRef: tiny-mi300x\n  cacheModel: true\n{resources}"
        ),
    )
    .await;
    prepare_volume(&client, &format!("hf://{MODEL}")).await;
    let started = Instant::now();
    let svc = running(&client, "cached").await;
    println!("cached service Running {:.1?} after its volume", started.elapsed());
    let path = svc.status.as_ref().unwrap().route_path.clone().unwrap();
    let (pod, log) = predictor(&cp, &client, "cached").await;
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
    let reply = chat(&traefik.url(), &path, MODEL).await;
    println!("the cached service answered: {reply:?}");
    let (status, stream) = post(
        &format!("{}{path}/v1/chat/completions", traefik.url()),
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
        &format!("{}{path}/v1/completions", traefik.url()),
        serde_json::json!({
        "model": MODEL, "prompt": "Once upon", "max_tokens": 4 }),
    )
    .await;
    assert_eq!(status, 200, "{models}");
    assert_eq!(hub.bytes_sent(), model_bytes, "serving read the cache, not the Hub");

    dashboards_have_data(&cp, dir.path(), &traefik.url(), &path).await;

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
    apply(
        &cp,
        dir.path(),
        "uncached",
        &format!(
            "apiVersion: aim.silogen.ai/v1alpha1\nkind: AIMService\nmetadata:\n  name: uncached\n  namespace: {NS}\nspec:\n  \
             aimModelId: {MODEL}\n  templateRef: tiny-mi300x\n{resources}"
        ),
    )
    .await;
    let svc = running(&client, "uncached").await;
    let path = svc.status.as_ref().unwrap().route_path.clone().unwrap();
    let (_, log) = predictor(&cp, &client, "uncached").await;
    assert!(
        log.contains("No local directory found") && log.contains("Loaded 1 weight files"),
        "{log}"
    );
    assert_eq!(
        hub.bytes_sent(),
        2 * model_bytes,
        "without a cache the runtime downloads the whole model at its start"
    );
    chat(&traefik.url(), &path, MODEL).await;

    faults(&mut cp, &client, dir.path(), &hub).await;
    cp.stop().await;
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
async fn faults(cp: &mut ControlPlane, client: &kube::Client, dir: &Path, hub: &HubServer) {
    let traefik = cp.traefik().unwrap();
    let api: Api<AIMService> = Api::namespaced(client.clone(), NS);
    let path = api.get("cached").await.unwrap().status.unwrap().route_path.unwrap();

    // The runtime's pod killed while serving: KServe's Deployment replaces it; the service says it lost its
    // replica, then serves again at the same path.
    let (pod, _) = predictor(cp, client, "cached").await;
    let name = pod.metadata.name.clone().unwrap();
    cp.kubectl(&["delete", "pod", "-n", NS, &name, "--grace-period=1", "--wait=false"])
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
    let back = running(client, "cached").await;
    assert_eq!(
        back.status.unwrap().route_path.as_deref(),
        Some(path.as_str()),
        "the route keeps its path"
    );
    let (replaced, _) = predictor(cp, client, "cached").await;
    assert_ne!(
        replaced.metadata.name.as_deref(),
        Some(name.as_str()),
        "a new pod serves"
    );
    chat(&traefik.url(), &path, MODEL).await;

    // A download pod killed mid-file: the next attempt continues the file (a second cache of the same source,
    // with every file, so it downloads again; the Hub slowed so the kill lands mid-file).
    let weights = "model.safetensors";
    let before = hub.bytes_sent_per_file().get(weights).copied().unwrap_or(0);
    hub.set(aim_tests::hub::Behaviour {
        rate: Some(1 << 20),
        ..Default::default()
    });
    let endpoint = &hub.endpoint;
    apply(
        cp,
        dir,
        "resume",
        &format!(
            "apiVersion: aim.silogen.ai/v1alpha1\nkind: ModelCache\nmetadata:\n  name: resume\n  namespace: {NS}\nspec:\n  \
             sourceUri: hf://{MODEL}\n  size: 1Gi\n  storageClassName: {CLASS}\n  modelFiles: {{include: [\"**\"]}}\n  env:\n  \
             - name: HF_ENDPOINT\n    value: {endpoint}\n"
        ),
    )
    .await;
    prepare_claim(client, "resume-cache").await;
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
    cp.kubectl(&["delete", "pod", "-n", NS, &first, "--grace-period=0", "--force"])
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
    cp.stop_component("traefik").await;
    cp.start_component("traefik").await.unwrap();
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
        &cp.kubectl(&["get", "httproute", "cached", "-n", NS, "-o", "json"])
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

/// [`prepare_volume`] for a claim named `claim`.
async fn prepare_claim(client: &kube::Client, claim: &str) {
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), NS);
    let volume = wait::until("the claim's volume", || async {
        claims
            .get_opt(claim)
            .await
            .map_err(|e| e.to_string())?
            .and_then(|c| c.spec?.volume_name)
            .ok_or_else(|| format!("{claim} not bound yet"))
    })
    .await;
    make_writable(client, &volume).await;
}

async fn make_writable(client: &kube::Client, volume: &str) {
    let pv = Api::<PersistentVolume>::all(client.clone()).get(volume).await.unwrap();
    let path = pv.spec.unwrap().host_path.unwrap().path;
    std::fs::create_dir_all(&path).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o777)).unwrap();
}
