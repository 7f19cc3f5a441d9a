//! The world of the tests that serve real requests on the real node: a private cluster whose one node is real
//! and advertises an MI300X server (`amd.com/gpu`), Traefik as its gateway, the operator installed from
//! `deploy/base` (its pods on that node), a Hub on the host serving a generated model, and that model's AIM
//! image built on the runtime stand-in (`tests/runtime-sim`: the AIM runtime's entrypoint in front of
//! llm-d-inference-sim); plus what a client of it does (requests through the gateway) and what a test waits
//! for (a service's state).

use crate::controlplane::ControlPlane;
use crate::controlplane::nodes::GpuNodes;
use crate::controlplane::real_node::host_ip;
use crate::hub::{HubServer, ModelFile, generated_model};
use crate::{runtime_image, wait};
use aim_operator::api::{AIMService, ServiceState};
use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim, Pod};
use kube::api::{Api, ListParams};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The gateway every world's routes attach to: `infra-gw/public-gw`.
pub const GATEWAY: (&str, &str) = ("infra-gw", "public-gw");

/// A running world.
pub struct RealWorld {
    /// The cluster.
    pub cp: ControlPlane,
    /// Its admin client.
    pub client: kube::Client,
    /// The Hub the model is served from.
    pub hub: HubServer,
    /// The model's files on the Hub.
    pub hub_files: Vec<ModelFile>,
    /// The model's AIM image.
    pub image: String,
    /// Where the gateway serves clients (`http://127.0.0.1:<port>`).
    pub gateway: String,
}

fn repo(path: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(path)
        .display()
        .to_string()
}

impl RealWorld {
    /// Starts the world in `dir` for `model`, its namespaces `namespaces` created; the operator is Available
    /// (no catalog yet: [`Self::apply`] it).
    pub async fn start(dir: &Path, model: &str, namespaces: &[&str]) -> RealWorld {
        crate::pod_container::require_image(&crate::pod_container::operator_image()).await;
        let started = Instant::now();
        let cp = ControlPlane::start_with_real_node(dir, GpuNodes::none())
            .await
            .expect("a private control plane with a real node and Traefik");
        println!("cluster with a real node up in {:.0?}", started.elapsed());
        let client = cp.client().await.unwrap();
        let node = cp.real_node().expect("the real node");
        let traefik = cp.traefik().expect("Traefik runs where the real node does");
        let image = runtime_image::model_image(model, dir).await.unwrap();
        node.import(&image).await.unwrap();
        node.advertise_gpus("74a1", "AMD_Instinct_MI300X_OAM", 8).await.unwrap();
        let hub_files = generated_model(8);
        let hub = HubServer::start_on(host_ip().unwrap().into(), model, hub_files.clone()).await;
        cp.kubectl(&["apply", "--server-side", "-k", &repo("deploy/base")])
            .await
            .unwrap();
        cp.kubectl(&["create", "namespace", GATEWAY.0]).await.unwrap();
        for ns in namespaces {
            cp.kubectl(&["create", "namespace", ns]).await.unwrap();
        }
        let world = RealWorld {
            gateway: traefik.url(),
            cp,
            client,
            hub,
            hub_files,
            image,
        };
        world
            .apply(
                dir,
                "gateway",
                &crate::controlplane::traefik::gateway_yaml(GATEWAY.0, GATEWAY.1, traefik.port),
            )
            .await;
        world
            .cp
            .kubectl(&[
                "wait",
                "--for=condition=Available",
                "--timeout=180s",
                "deployment/aim-operator",
                "-n",
                "aim-system",
            ])
            .await
            .unwrap();
        world
    }

    /// Applies `yaml` (saved as `<dir>/<name>.yaml`) server-side.
    pub async fn apply(&self, dir: &Path, name: &str, yaml: &str) {
        apply(&self.cp, dir, name, yaml).await
    }

    /// The predictor pods of service `name` in `namespace` that are not being deleted.
    pub async fn predictors(&self, namespace: &str, name: &str) -> Vec<Pod> {
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), namespace);
        pods.list(&ListParams::default().labels(&format!("serving.kserve.io/inferenceservice={name}")))
            .await
            .unwrap()
            .items
            .into_iter()
            .filter(|p| p.metadata.deletion_timestamp.is_none())
            .collect()
    }

    /// The predictor pod of service `name` and the log of its serving container.
    pub async fn predictor(&self, namespace: &str, name: &str) -> (Pod, String) {
        let pod = self
            .predictors(namespace, name)
            .await
            .into_iter()
            .next()
            .expect("a predictor pod");
        let log = self
            .cp
            .kubectl(&[
                "logs",
                "-n",
                namespace,
                pod.metadata.name.as_deref().unwrap(),
                "-c",
                "kserve-container",
            ])
            .await
            .unwrap();
        (pod, log)
    }

    /// Waits (up to `limit`) until service `name` in `namespace` is in `state`, and returns it.
    pub async fn state(&self, namespace: &str, name: &str, state: ServiceState, limit: Duration) -> AIMService {
        let api: Api<AIMService> = Api::namespaced(self.client.clone(), namespace);
        wait::until_for(&format!("service {name} to be {state:?}"), limit, || async {
            let s = api.get(name).await.map_err(|e| e.to_string())?;
            let status = s.status.clone().unwrap_or_default();
            if status.head.status == Some(state) {
                return Ok(s);
            }
            Err(format!(
                "{:?} {:?}: {:?}",
                status.head.status,
                status.replicas.as_ref().map(|r| &r.summary),
                status
                    .head
                    .conditions
                    .iter()
                    .map(|c| (&c.type_, &c.reason, &c.message))
                    .collect::<Vec<_>>()
            ))
        })
        .await
    }

    /// Waits until service `name` in `namespace` runs and has a route; returns it.
    pub async fn running(&self, namespace: &str, name: &str) -> AIMService {
        let api: Api<AIMService> = Api::namespaced(self.client.clone(), namespace);
        wait::until_for(&format!("service {name} to run"), Duration::from_secs(300), || async {
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
        })
        .await
    }

    /// Makes the volume claim `claim` in `namespace` writable once bound, as an NFS-style provisioner's
    /// ReadWriteMany volume is (the kubelet applies `fsGroup` to block and CSI volumes, not to kwok's hostPath
    /// ones).
    pub async fn prepare_claim(&self, namespace: &str, claim: &str) {
        let claims: Api<PersistentVolumeClaim> = Api::namespaced(self.client.clone(), namespace);
        let volume = wait::until_for("the claim's volume", Duration::from_secs(180), || async {
            claims
                .get_opt(claim)
                .await
                .map_err(|e| e.to_string())?
                .and_then(|c| c.spec?.volume_name)
                .ok_or_else(|| format!("{claim} not bound yet"))
        })
        .await;
        let pv = Api::<PersistentVolume>::all(self.client.clone())
            .get(&volume)
            .await
            .unwrap();
        let path = pv.spec.unwrap().host_path.unwrap().path;
        std::fs::create_dir_all(&path).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o777)).unwrap();
    }

    /// [`Self::prepare_claim`] for the volume of the cache of `source` in `namespace`.
    pub async fn prepare_volume(&self, namespace: &str, source: &str) {
        use aim_operator::testing::{model_cache_name, pvc_name};
        let claim = pvc_name(&model_cache_name(source, &Default::default()));
        self.prepare_claim(namespace, &claim).await;
    }
}

/// Applies `yaml` (saved as `<dir>/<name>.yaml`) server-side to `cp`.
pub async fn apply(cp: &ControlPlane, dir: &Path, name: &str, yaml: &str) {
    let file = dir.join(format!("{name}.yaml"));
    std::fs::write(&file, yaml).unwrap();
    cp.kubectl(&["apply", "--server-side", "-f", &file.display().to_string()])
        .await
        .unwrap_or_else(|e| panic!("applying {name}: {e}\n{yaml}"));
}

/// POSTs `body` to `url`; the status and the body's text.
pub async fn post(url: &str, body: serde_json::Value) -> (u16, String) {
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

/// How long the gateway may still answer 503 for a service that reads Running: Traefik programs a new ready
/// endpoint after its provider's throttle (2 s) once the EndpointSlice says ready, which no status the operator
/// can read reports.
const GATEWAY_CATCH_UP: Duration = Duration::from_secs(10);

/// A chat completion through the gateway at `path`; the reply's text. A 503 from the gateway is asked again
/// for up to [`GATEWAY_CATCH_UP`] (and said), anything else but 200 fails at once.
pub async fn chat(gateway: &str, path: &str, model: &str) -> String {
    let url = format!("{gateway}{path}/v1/chat/completions");
    let ask = serde_json::json!({ "model": model, "messages": [{ "role": "user", "content": "Say hello" }], "max_tokens": 8 });
    let started = Instant::now();
    let (status, body) = loop {
        let (status, body) = post(&url, ask.clone()).await;
        if status != 503 || started.elapsed() > GATEWAY_CATCH_UP {
            break (status, body);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    if started.elapsed() > Duration::from_millis(200) {
        println!(
            "the gateway answered 503 for {:.1?} before serving {path}",
            started.elapsed()
        );
    }
    assert_eq!(status, 200, "{url}: {body}");
    let reply: serde_json::Value = serde_json::from_str(&body).unwrap();
    let text = reply["choices"][0]["message"]["content"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(!text.is_empty(), "a completion: {body}");
    text
}
