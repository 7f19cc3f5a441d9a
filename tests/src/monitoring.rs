//! The shipped dashboards (`deploy/monitoring/dashboards`) read as their panels' queries, and a real Prometheus
//! (Debian's, `controlplane/fetch-prometheus.sh`) scraping a cluster's pods as a cluster admin's would: every pod
//! annotated `prometheus.io/scrape`, labelled with its namespace, its pod name and the AIM service it serves
//! (`aim_service`, from the pod label `aim.silogen.ai/service`), the shipped alert rules loaded. Debian's build
//! has no Kubernetes discovery: the test lists the pods and hands them over as a file.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn repo(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

/// A dashboard: its uid, panel titles and every query (`(panel title, expr)`), variables unsubstituted.
pub struct Dashboard {
    /// Its uid.
    pub uid: String,
    /// Its panels' titles.
    pub panels: Vec<String>,
    /// Every query: (the panel's title, the PromQL).
    pub queries: Vec<(String, String)>,
}

/// The shipped dashboards.
pub fn dashboards() -> Vec<Dashboard> {
    ["aim-operator", "aim-fleet", "aim-service"]
        .into_iter()
        .map(|name| {
            let text = std::fs::read_to_string(repo(&format!("deploy/monitoring/dashboards/{name}.json")))
                .expect("a shipped dashboard");
            let json: serde_json::Value = serde_json::from_str(&text).expect("dashboard JSON");
            let panels = json["panels"].as_array().cloned().unwrap_or_default();
            Dashboard {
                uid: json["uid"].as_str().unwrap_or_default().to_string(),
                panels: panels
                    .iter()
                    .map(|p| p["title"].as_str().unwrap_or_default().to_string())
                    .collect(),
                queries: panels
                    .iter()
                    .flat_map(|p| {
                        let title = p["title"].as_str().unwrap_or_default().to_string();
                        p["targets"]
                            .as_array()
                            .cloned()
                            .unwrap_or_default()
                            .into_iter()
                            .map(move |t| (title.clone(), t["expr"].as_str().unwrap_or_default().to_string()))
                    })
                    .collect(),
            }
        })
        .collect()
}

/// A running Prometheus; stops when dropped.
pub struct Prometheus {
    /// Where it serves its API.
    pub url: String,
    /// The file of targets it scrapes.
    targets: PathBuf,
    child: tokio::process::Child,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

impl Prometheus {
    /// Starts Prometheus in `dir`, scraping every 2 s the targets [`Prometheus::discover`] writes, with the
    /// shipped alert rules. (Debian builds Prometheus without its Kubernetes discovery, so the test discovers the
    /// pods itself and hands them over as a file, with the labels an admin's relabelling gives them.)
    pub async fn start(dir: &Path) -> Prometheus {
        let bin = tokio::task::spawn_blocking(crate::controlplane::binaries::prometheus)
            .await
            .expect("fetch task")
            .expect("Debian's prometheus package");
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
            l.local_addr().expect("address").port()
        };
        let targets = dir.join("targets.json");
        std::fs::write(&targets, "[]").expect("write targets.json");
        let yaml = format!(
            "global: {{scrape_interval: 2s, evaluation_interval: 2s}}
rule_files: [{rules}]
scrape_configs:
- job_name: pods
  file_sd_configs:
  - files: [{targets}]
  relabel_configs:
  - {{source_labels: [__metrics_path], regex: '(.+)', target_label: __metrics_path__}}
",
            rules = repo("deploy/monitoring/aim-operator.rules.yaml").display(),
            targets = targets.display(),
        );
        let config_file = dir.join("prometheus.yml");
        std::fs::write(&config_file, yaml).expect("write prometheus.yml");
        let log = std::fs::File::create(dir.join("prometheus.log")).expect("log");
        let child = tokio::process::Command::new(bin.join("prometheus"))
            .arg(format!("--config.file={}", config_file.display()))
            .arg(format!("--storage.tsdb.path={}", dir.join("tsdb").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .expect("start prometheus");
        let prometheus = Prometheus {
            url: format!("http://127.0.0.1:{port}"),
            targets,
            child,
        };
        let start = Instant::now();
        while prometheus.get("/-/ready").await.is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "Prometheus did not start: {}",
                std::fs::read_to_string(dir.join("prometheus.log")).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        prometheus
    }

    /// Hands Prometheus the running pods annotated `prometheus.io/scrape: "true"`, each labelled as a
    /// Kubernetes-discovering Prometheus relabels them: `namespace`, `pod`, and `aim_service` (the pod label
    /// `aim.silogen.ai/service`), at its address and the annotated port and path.
    pub async fn discover(&self, client: &kube::Client) {
        use k8s_openapi::api::core::v1::Pod;
        let pods = kube::Api::<Pod>::all(client.clone())
            .list(&Default::default())
            .await
            .map(|l| l.items)
            .unwrap_or_default();
        let groups: Vec<serde_json::Value> = pods
            .iter()
            .filter_map(|pod| {
                let annotations = pod.metadata.annotations.clone().unwrap_or_default();
                if annotations.get("prometheus.io/scrape").map(String::as_str) != Some("true") {
                    return None;
                }
                let status = pod.status.as_ref()?;
                if status.phase.as_deref() != Some("Running") {
                    return None;
                }
                let ip = status.pod_ip.clone()?;
                let port = annotations.get("prometheus.io/port")?;
                let mut labels = serde_json::json!({
                    "namespace": pod.metadata.namespace.clone().unwrap_or_default(),
                    "pod": pod.metadata.name.clone().unwrap_or_default(),
                    "__metrics_path": annotations.get("prometheus.io/path").cloned().unwrap_or("/metrics".into()),
                });
                if let Some(service) = pod
                    .metadata
                    .labels
                    .as_ref()
                    .and_then(|l| l.get("aim.silogen.ai/service"))
                {
                    labels["aim_service"] = serde_json::json!(service);
                }
                Some(serde_json::json!({ "targets": [format!("{ip}:{port}")], "labels": labels }))
            })
            .collect();
        let partial = self.targets.with_extension("partial");
        std::fs::write(&partial, serde_json::Value::from(groups).to_string()).expect("write targets");
        std::fs::rename(&partial, &self.targets).expect("publish targets");
    }

    /// Keeps the targets current ([`Self::discover`] every 2 s, as Kubernetes discovery would) until the
    /// returned task is aborted: replicas that come and go are scraped while they run.
    pub fn discover_continuously(self: &std::sync::Arc<Self>, client: kube::Client) -> tokio::task::JoinHandle<()> {
        let prometheus = self.clone();
        tokio::spawn(async move {
            loop {
                prometheus.discover(&client).await;
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
        })
    }

    async fn get(&self, path: &str) -> Result<String, String> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let r = reqwest::get(format!("{}{path}", self.url))
            .await
            .map_err(|e| e.to_string())?;
        let ok = r.status().is_success();
        let text = r.text().await.map_err(|e| e.to_string())?;
        if ok { Ok(text) } else { Err(text) }
    }

    /// The series `expr` returns now (an instant query), or what Prometheus said was wrong.
    pub async fn query(&self, expr: &str) -> Result<Vec<serde_json::Value>, String> {
        let mut url = reqwest::Url::parse(&format!("{}/api/v1/query", self.url)).map_err(|e| e.to_string())?;
        url.query_pairs_mut().append_pair("query", expr);
        let text = self
            .get(&format!("{}?{}", url.path(), url.query().unwrap_or_default()))
            .await?;
        let answer: serde_json::Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
        if answer["status"] != "success" {
            return Err(text);
        }
        Ok(answer["data"]["result"].as_array().cloned().unwrap_or_default())
    }

    /// The scrape targets that are up, as `namespace/pod`.
    pub async fn targets_up(&self) -> Vec<String> {
        self.query("up == 1")
            .await
            .unwrap_or_default()
            .iter()
            .map(|s| {
                format!(
                    "{}/{}",
                    s["metric"]["namespace"].as_str().unwrap_or_default(),
                    s["metric"]["pod"].as_str().unwrap_or_default()
                )
            })
            .collect()
    }

    /// The alert rules Prometheus evaluates, with their health (`ok`, or an error).
    pub async fn rule_health(&self) -> Vec<(String, String)> {
        let text = self.get("/api/v1/rules").await.unwrap_or_default();
        let answer: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        answer["data"]["groups"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|g| g["rules"].as_array().cloned().unwrap_or_default())
            .map(|r| {
                (
                    r["name"].as_str().unwrap_or_default().to_string(),
                    r["health"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect()
    }
}
