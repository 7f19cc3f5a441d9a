//! Real autoscaling on the real node ([`aim_tests::real_world`]): metrics-server, KEDA's operator and metrics
//! adapter, KEDA's HTTP add-on and a Prometheus scraping the runtime's pods, as a cluster admin installs them
//! (`ControlPlane::start_autoscaling`); load driven through the gateway (Traefik) at services the operator made.
//!
//! - Replicas follow load: a queue of waiting requests (vLLM's `vllm:num_requests_waiting`, through KEDA), a
//!   custom PromQL query (through KEDA), CPU use (through a HorizontalPodAutoscaler and metrics-server), up to
//!   `maxReplicas` and back when the load stops.
//! - A service with `minReplicas: 0` goes idle when no request comes, and the request that wakes it is held by
//!   the add-on's interceptor until a replica answers it (streamed too); past its wait it gets a 504.
//!
//! Each prints what it measured (the figures BENCHMARKS.md quotes).

use aim_operator::api::{AIMService, ServiceState};
use aim_tests::controlplane::autoscaling::Autoscaling;
use aim_tests::monitoring::Prometheus;
use aim_tests::real_world::{GATEWAY, RealWorld, chat, post};
use aim_tests::{audit, wait};
use kube::api::Api;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

const MODEL: &str = "scale-org/tiny-llama";
const CLASS: &str = "scale-rwx";

/// The world, its autoscalers, and a Prometheus that follows the pods as they come and go.
struct Scaling {
    world: RealWorld,
    prometheus: Arc<Prometheus>,
    discovery: tokio::task::JoinHandle<()>,
}

impl Drop for Scaling {
    fn drop(&mut self) {
        self.discovery.abort();
    }
}

/// A world with autoscaling, its catalog and cluster config (request metrics from the test's Prometheus;
/// waking requests held by the HTTP add-on); `namespaces` created.
async fn scaling_world(dir: &Path, namespaces: &[&str]) -> Scaling {
    let mut world = RealWorld::start(dir, MODEL, namespaces).await;
    let started = Instant::now();
    let Autoscaling { http_scaler } = world.cp.start_autoscaling().await.expect("the autoscalers");
    println!(
        "metrics-server, KEDA and its HTTP add-on up in {:.0?}",
        started.elapsed()
    );
    let prometheus_dir = dir.join("prometheus");
    std::fs::create_dir_all(&prometheus_dir).unwrap();
    let prometheus = Arc::new(Prometheus::start(&prometheus_dir).await);
    let discovery = prometheus.discover_continuously(world.client.clone());
    aim_tests::storage::ensure_class(&world.client, CLASS, true).await;
    let (endpoint, image, url) = (&world.hub.endpoint, &world.image, &prometheus.url);
    world
        .apply(
            dir,
            "catalog",
            &format!(
                "apiVersion: aim.silogen.ai/v1alpha1\nkind: AIMClusterConfig\nmetadata:\n  name: default\nspec:\n  routing:\n    \
                 gateway: {{name: {gw}, namespace: {gw_ns}}}\n  cacheStorageClassName: {CLASS}\n  autoScaling:\n    \
                 prometheus: {url}\n    wake: {{scaler: \"{http_scaler}\"}}\n---\n\
                 apiVersion: aim.silogen.ai/v1alpha1\nkind: AIMImage\nmetadata:\n  name: tiny-llama\nspec:\n  modelId: {MODEL}\n  \
                 image: {image}\n---\n\
                 apiVersion: aim.silogen.ai/v1alpha1\nkind: AIMClusterServiceTemplate\nmetadata:\n  name: tiny-mi300x\nspec:\n  \
                 modelId: {MODEL}\n  metric: latency\n  precision: fp16\n  gpuSelector: {{count: 1, model: MI300X}}\n  env:\n  \
                 - name: HF_ENDPOINT\n    value: {endpoint}\n",
                gw = GATEWAY.1,
                gw_ns = GATEWAY.0,
            ),
        )
        .await;
    Scaling {
        world,
        prometheus,
        discovery,
    }
}

/// A service of the model in `namespace`, small enough for the node's two cores: `extra` is YAML under `spec`.
fn service_yaml(namespace: &str, name: &str, extra: &str) -> String {
    format!(
        "apiVersion: aim.silogen.ai/v1alpha1\nkind: AIMService\nmetadata:\n  name: {name}\n  namespace: {namespace}\nspec:\n  \
         aimModelId: {MODEL}\n  templateRef: tiny-mi300x\n  resources: {{requests: {{cpu: 50m, memory: 96Mi}}, limits: {{memory: 1Gi}}}}\n{extra}"
    )
}

/// Requests through the gateway at `path`, `concurrency` at a time, each asking for `tokens` tokens, until
/// the returned flag is set; counts the answers.
fn load(gateway: &str, path: &str, concurrency: usize, tokens: u32) -> (Arc<AtomicBool>, Arc<AtomicU64>) {
    let stop = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicU64::new(0));
    let url = format!("{gateway}{path}/v1/chat/completions");
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::new();
    for _ in 0..concurrency {
        let (stop, answered, url, client) = (stop.clone(), answered.clone(), url.clone(), client.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let body = serde_json::json!({ "model": MODEL, "max_tokens": tokens,
                    "messages": [{ "role": "user", "content": "Tell me a long story" }] });
                let sent = client
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(body.to_string())
                    .send()
                    .await;
                match sent {
                    Ok(r) if r.status().is_success() => {
                        let _ = r.bytes().await;
                        answered.fetch_add(1, Ordering::Relaxed);
                    }
                    _ => tokio::time::sleep(Duration::from_millis(200)).await,
                }
            }
        });
    }
    (stop, answered)
}

/// Every `RuntimeReady` reason service `name` is written with from now on, in order (a watch sees each written
/// status, however briefly it stood: a scale-up with a 2 s startup probe can be over before a poll looks).
fn runtime_reasons(
    world: &RealWorld,
    namespace: &str,
    name: &str,
) -> (tokio::task::JoinHandle<()>, Arc<std::sync::Mutex<Vec<String>>>) {
    use futures::StreamExt;
    use kube::runtime::{WatchStreamExt, watcher};
    let api: Api<AIMService> = Api::namespaced(world.client.clone(), namespace);
    let trail = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
    let seen = trail.clone();
    let task = tokio::spawn(async move {
        let mut services = std::pin::pin!(watcher(api, config).default_backoff().applied_objects());
        while let Some(Ok(svc)) = services.next().await {
            let status = svc.status.unwrap_or_default();
            if let Some(c) = status.head.conditions.iter().find(|c| c.type_ == "RuntimeReady") {
                let mut seen = seen.lock().unwrap();
                if seen.last() != Some(&c.reason) {
                    seen.push(c.reason.clone());
                }
            }
        }
    });
    (task, trail)
}

/// Waits until service `name`'s replica summary reads `summary` (`3/3 (1-3)`), recording every `RuntimeReady`
/// reason it passed through; returns them.
async fn summary(world: &RealWorld, namespace: &str, name: &str, summary: &str, limit: Duration) -> Vec<String> {
    let api: Api<AIMService> = Api::namespaced(world.client.clone(), namespace);
    let seen = std::sync::Mutex::new(Vec::<String>::new());
    wait::until_for(&format!("{name} at {summary}"), limit, || async {
        let s = api
            .get(name)
            .await
            .map_err(|e| e.to_string())?
            .status
            .unwrap_or_default();
        let runtime = s.head.conditions.iter().find(|c| c.type_ == "RuntimeReady");
        if let Some(c) = runtime {
            let mut seen = seen.lock().unwrap();
            if seen.last() != Some(&c.reason) {
                seen.push(c.reason.clone());
            }
        }
        let now = s.replicas.as_ref().map(|r| r.summary.clone()).unwrap_or_default();
        if now == summary && s.head.status == Some(ServiceState::Running) {
            Ok(())
        } else {
            Err(format!("{:?} {now}: {:?}", s.head.status, runtime.map(|c| &c.message)))
        }
    })
    .await;
    seen.into_inner().unwrap()
}

/// The sum of `metric` over service `name`'s pods, as Prometheus has it now.
async fn summed(prometheus: &Prometheus, metric: &str, namespace: &str, name: &str) -> f64 {
    let query = format!("sum({metric}{{namespace=\"{namespace}\",pod=~\"{name}-predictor-.*\"}})");
    prometheus
        .query(&query)
        .await
        .ok()
        .and_then(|series| series.first()?.pointer("/value/1")?.as_str()?.parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test]
async fn replicas_follow_a_queue_a_custom_query_and_cpu_up_to_the_bound_and_back() {
    const NS: &str = "team-scale";
    let dir = tempfile::tempdir().unwrap();
    let s = scaling_world(dir.path(), &[NS]).await;
    let world = &s.world;

    // A queue: two requests served at a time per replica, the rest wait; scale on 2 waiting per replica.
    world
        .apply(
            dir.path(),
            "queue",
            &service_yaml(
                NS,
                "queue",
                "  minReplicas: 1\n  maxReplicas: 3\n  autoScaling: {metric: waitingRequests, target: 2, scaleDownDelaySeconds: 20}\n  \
                 env:\n  - {name: AIM_SIM_MAX_NUM_SEQS, value: \"2\"}\n  - {name: AIM_SIM_INTER_TOKEN_LATENCY, value: 100ms}\n",
            ),
        )
        .await;
    let svc = world.running(NS, "queue").await;
    let path = svc.status.unwrap().route_path.unwrap();
    assert_eq!(
        world
            .cp
            .kubectl(&[
                "get",
                "aimsvc",
                "queue",
                "-n",
                NS,
                "-o",
                "jsonpath={.status.replicas.summary}"
            ])
            .await
            .unwrap(),
        "1/1 (1-3)"
    );
    let log = world.cp.audit_log();
    let from = audit::offset(&log);
    let (watching, trail) = runtime_reasons(world, NS, "queue");
    // Twelve requests of 50 tokens (5 s each) at a time: at three replicas six are served and six wait.
    let (stop, answered) = load(&world.gateway, &path, 12, 50);
    let started = Instant::now();
    let crossed = wait::until_for("the queue to cross the target", Duration::from_secs(60), || async {
        let waiting = summed(&s.prometheus, "vllm:num_requests_waiting", NS, "queue").await;
        if waiting > 2.0 {
            Ok(started.elapsed())
        } else {
            Err(format!("{waiting} waiting"))
        }
    })
    .await;
    let second = wait::until_for("a second replica serving", Duration::from_secs(180), || async {
        let ready = world
            .predictors(NS, "queue")
            .await
            .iter()
            .filter(|p| {
                p.status
                    .as_ref()
                    .and_then(|s| s.conditions.as_ref())
                    .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
            })
            .count();
        if ready >= 2 {
            Ok(started.elapsed())
        } else {
            Err(format!("{ready} ready"))
        }
    })
    .await;
    summary(world, NS, "queue", "3/3 (1-3)", Duration::from_secs(240)).await;
    let all = started.elapsed();
    watching.abort();
    let reasons = trail.lock().unwrap().clone();
    println!(
        "waitingRequests: queue crossed the target {crossed:.0?} after the load began; a second replica served \
         {:.0?} after that; 3/3 after {:.0?}; RuntimeReady went {reasons:?}",
        second - crossed,
        all - crossed
    );
    assert!(
        reasons.iter().any(|r| r == "Scaling"),
        "the service said it was scaling: {reasons:?}"
    );
    stop.store(true, Ordering::Relaxed);
    let answers = answered.load(Ordering::Relaxed);
    assert!(answers > 0, "the load was answered");
    let stopped = Instant::now();
    summary(world, NS, "queue", "1/1 (1-3)", Duration::from_secs(240)).await;
    println!(
        "waitingRequests: back to 1/1 {:.0?} after the load stopped ({answers} answers under load)",
        stopped.elapsed()
    );
    let writes = audit::count_in(&log, from, audit::offset(&log), NS);
    println!(
        "status writes of the scale up and down: {} ({:?})",
        writes
            .writes_by_resource
            .get("aimservices/status")
            .copied()
            .unwrap_or(0),
        writes.writes_by_resource
    );

    // A custom query: its value divided by the target is the replicas wanted.
    world
        .apply(
            dir.path(),
            "custom",
            &service_yaml(
                NS,
                "custom",
                "  minReplicas: 1\n  maxReplicas: 3\n  autoScaling: {metric: custom, query: \"vector(3)\", target: 1, scaleDownDelaySeconds: 10}\n",
            ),
        )
        .await;
    summary(world, NS, "custom", "3/3 (1-3)", Duration::from_secs(300)).await;
    world
        .apply(
            dir.path(),
            "custom",
            &service_yaml(
                NS,
                "custom",
                "  minReplicas: 1\n  maxReplicas: 3\n  autoScaling: {metric: custom, query: \"vector(1)\", target: 1, scaleDownDelaySeconds: 10}\n",
            ),
        )
        .await;
    summary(world, NS, "custom", "1/1 (1-3)", Duration::from_secs(240)).await;
    world
        .cp
        .kubectl(&["delete", "aimsvc", "custom", "queue", "-n", NS])
        .await
        .unwrap();

    // CPU: a HorizontalPodAutoscaler on metrics-server's figures, 50 % of a replica's 50m.
    world
        .apply(
            dir.path(),
            "cpu",
            &service_yaml(
                NS,
                "cpu",
                "  minReplicas: 1\n  maxReplicas: 2\n  autoScaling: {metric: cpu, target: 50}\n  env:\n  \
                 - {name: AIM_SIM_INTER_TOKEN_LATENCY, value: 0ms}\n  - {name: AIM_SIM_TIME_TO_FIRST_TOKEN, value: 0ms}\n",
            ),
        )
        .await;
    let svc = world.running(NS, "cpu").await;
    let path = svc.status.unwrap().route_path.unwrap();
    let (stop, _) = load(&world.gateway, &path, 16, 1);
    let started = Instant::now();
    summary(world, NS, "cpu", "2/2 (1-2)", Duration::from_secs(300)).await;
    println!("cpu: 2/2 {:.0?} after the load began", started.elapsed());
    stop.store(true, Ordering::Relaxed);
    let stopped = Instant::now();
    summary(world, NS, "cpu", "1/1 (1-2)", Duration::from_secs(300)).await;
    println!("cpu: back to 1/1 {:.0?} after the load stopped", stopped.elapsed());
    drop(s);
}

/// The first streamed chunk of a chat completion through the gateway at `path`, and how long it took.
async fn first_token(gateway: &str, path: &str) -> (u16, Duration, String) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let started = Instant::now();
    let mut response = reqwest::Client::new()
        .post(format!("{gateway}{path}/v1/chat/completions"))
        .header("content-type", "application/json")
        .body(
            serde_json::json!({ "model": MODEL, "stream": true, "max_tokens": 8,
                "messages": [{ "role": "user", "content": "Good morning" }] })
            .to_string(),
        )
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let first = response.chunk().await.unwrap().unwrap_or_default();
    let took = started.elapsed();
    let mut body = String::from_utf8_lossy(&first).into_owned();
    while let Ok(Some(more)) = response.chunk().await {
        body.push_str(&String::from_utf8_lossy(&more));
    }
    (status, took, body)
}

/// Waits for service `name` to go idle; checks what a person sees of it then.
async fn idle(world: &RealWorld, namespace: &str, name: &str, bounds: &str) -> Duration {
    let started = Instant::now();
    let svc = world
        .state(namespace, name, ServiceState::Idle, Duration::from_secs(180))
        .await;
    let status = svc.status.unwrap();
    assert_eq!(status.replicas.unwrap().summary, format!("0/0 ({bounds})"));
    let ready = status.head.conditions.iter().find(|c| c.type_ == "Ready").unwrap();
    assert_eq!((ready.status.as_str(), ready.reason.as_str()), ("True", "ScaledToZero"));
    assert!(
        ready.message.contains("the next request through its route wakes it"),
        "{}",
        ready.message
    );
    assert!(world.predictors(namespace, name).await.is_empty(), "no replica runs");
    println!("{namespace}/{name} idle: {}", ready.message);
    started.elapsed()
}

#[tokio::test]
async fn an_idle_service_wakes_on_a_request_through_the_gateway_and_answers_it() {
    const WARM: &str = "team-wake";
    const COLD: &str = "team-wake-dl";
    let dir = tempfile::tempdir().unwrap();
    let s = scaling_world(dir.path(), &[WARM, COLD]).await;
    let world = &s.world;
    let sleepy =
        "  minReplicas: 0\n  maxReplicas: 2\n  autoScaling: {metric: waitingRequests, target: 2, idleSeconds: 15}\n";

    // One caching its model (a wake reads the cache), one downloading it at every start.
    world
        .apply(
            dir.path(),
            "warm",
            &service_yaml(WARM, "chat", &format!("  cacheModel: true\n{sleepy}")),
        )
        .await;
    world
        .apply(dir.path(), "cold", &service_yaml(COLD, "chat", sleepy))
        .await;
    world.prepare_volume(WARM, &format!("hf://{MODEL}")).await;
    let warm = world.running(WARM, "chat").await;
    let cold = world.running(COLD, "chat").await;
    let (warm_path, cold_path) = (
        warm.status.unwrap().route_path.unwrap(),
        cold.status.unwrap().route_path.unwrap(),
    );
    // The route goes through the add-on's interceptor, marked with the service.
    let route: serde_json::Value = serde_json::from_str(
        &world
            .cp
            .kubectl(&["get", "httproute", "chat", "-n", WARM, "-o", "json"])
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        route["spec"]["rules"][0]["backendRefs"][0]["name"],
        aim_tests::controlplane::autoscaling::INTERCEPTOR_PROXY.0
    );
    chat(&world.gateway, &warm_path, MODEL).await;

    for (ns, path, label) in [(WARM, &warm_path, "warm cache"), (COLD, &cold_path, "no cache")] {
        let log = world.cp.audit_log();
        let from = audit::offset(&log);
        let went_idle = idle(world, ns, "chat", "0-2").await;
        let listing = world.cp.kubectl(&["get", "aimsvc", "-n", ns]).await.unwrap();
        println!("{label}: idle {went_idle:.0?} after last checked\n{listing}");
        assert!(listing.contains("Idle") && listing.contains("0/0 (0-2)"), "{listing}");

        // The waking request, streamed: held while a replica starts, then answered.
        let (status, took, body) = first_token(&world.gateway, path).await;
        assert_eq!(status, 200, "{body}");
        assert!(
            body.contains("data: {") && body.contains("[DONE]"),
            "a streamed answer: {body}"
        );
        let svc = world.running(ns, "chat").await;
        let status = svc.status.unwrap();
        let wake = status.last_wake.expect("the wake is recorded");
        let phases: Vec<(String, Option<String>)> = wake
            .phases
            .iter()
            .map(|p| (p.name.clone(), p.duration.clone()))
            .collect();
        println!(
            "{label}: the waking request's first token after {took:.1?}; the wake as recorded: {:?} {phases:?}",
            wake.time_to_ready
        );
        for phase in ["PodsScheduled", "ImagePulled", "ContainersReady"] {
            assert!(
                phases.iter().any(|(n, d)| n == phase && d.is_some()),
                "{phase}: {phases:?}"
            );
        }
        let ready = status.head.conditions.iter().find(|c| c.type_ == "Ready").unwrap();
        assert!(
            ready.message.starts_with("serving; woke from zero in"),
            "{}",
            ready.message
        );
        println!("{label}: Ready says {:?}", ready.message);
        let writes = audit::count_in(&log, from, audit::offset(&log), ns);
        println!(
            "{label}: status writes from running, through idle, to woken: {} ({:?})",
            writes
                .writes_by_resource
                .get("aimservices/status")
                .copied()
                .unwrap_or(0),
            writes.writes_by_resource
        );
    }

    // Past its wait, a waking request gets the interceptor's 504; the replica it asked for still starts.
    world
        .apply(
            dir.path(),
            "cold",
            &service_yaml(
                COLD,
                "chat",
                "  minReplicas: 0\n  maxReplicas: 2\n  autoScaling: {metric: waitingRequests, target: 2, idleSeconds: 15, wakeTimeoutSeconds: 1}\n",
            ),
        )
        .await;
    idle(world, COLD, "chat", "0-2").await;
    let started = Instant::now();
    let (status, body) = post(
        &format!("{}{cold_path}/v1/chat/completions", world.gateway),
        serde_json::json!({ "model": MODEL, "messages": [{ "role": "user", "content": "hi" }], "max_tokens": 4 }),
    )
    .await;
    println!("past its 1 s wait: {status} after {:.1?}: {body}", started.elapsed());
    assert_eq!(status, 504, "{body}");
    world.running(COLD, "chat").await;
    chat(&world.gateway, &cold_path, MODEL).await;
    drop(s);
}
