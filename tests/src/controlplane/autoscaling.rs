//! Real autoscaling on a cluster with a real node, as a cluster admin installs it: metrics-server (the pods' CPU
//! and memory, for a HorizontalPodAutoscaler), KEDA's operator and metrics adapter (ScaledObjects: activation
//! from and to zero, and the external metrics an HPA scales on between one and many), and KEDA's HTTP add-on
//! (the interceptor that holds a request while its backend wakes from zero, and the scaler that tells KEDA how
//! many requests it holds). Each is built from its pinned module and runs unchanged:
//!
//! - metrics-server, the KEDA operator, its adapter and the add-on's scaler run as host processes with the
//!   admin's kubeconfig, as the control plane's own components do. The API server reaches the two metrics
//!   APIs through their APIServices, at Services whose EndpointSlices name the host (the aggregation layer
//!   routes to endpoints); the adapter and the operator talk mutual TLS with the cluster's add-on certificate.
//! - the interceptor runs as a pod on the real node, as in the add-on's chart: it dials a route's backend as
//!   `<service>.<namespace>:<port>`, which only the cluster DNS answers (CoreDNS, with the real node).
//!
//! Prometheus, which KEDA reads request metrics from, is the test's ([`crate::monitoring::Prometheus`]).

use super::{ControlPlane, ControlPlaneError, as_strs, binaries, free_port, io, upstream_crds, versions};
use serde_json::json;
use std::time::{Duration, Instant};

/// The namespace of KEDA and its add-on.
pub const KEDA_NAMESPACE: &str = "keda";
/// The interceptor's proxy Service (what a route sends a scale-to-zero service's requests to) and its port.
pub const INTERCEPTOR_PROXY: (&str, u16) = ("keda-add-ons-http-interceptor-proxy", 8080);
/// The interceptor's admin Service (where the scaler reads the requests it holds) and its port.
const INTERCEPTOR_ADMIN: (&str, u16) = ("keda-add-ons-http-interceptor-admin", 9090);
/// The interceptor's Deployment.
const INTERCEPTOR: &str = "keda-add-ons-http-interceptor";
/// The interceptor's image, as the node runs it.
const INTERCEPTOR_IMAGE: &str = "localhost/keda-http-interceptor";

/// Where the running autoscaling reaches its parts.
#[derive(Debug, Clone)]
pub struct Autoscaling {
    /// The address KEDA dials the HTTP add-on's scaler at (`host:port`), for a ScaledObject's `external-push`
    /// trigger: `AIMClusterConfig` `spec.autoScaling.wake.scaler`.
    pub http_scaler: String,
}

impl ControlPlane {
    /// Starts metrics-server, KEDA and its HTTP add-on on this cluster (it needs a real node); returns once
    /// both metrics APIs are available and the interceptor serves.
    pub async fn start_autoscaling(&mut self) -> Result<Autoscaling, ControlPlaneError> {
        let node_ip = self
            .node_ip
            .ok_or_else(|| ControlPlaneError::RealNode("autoscaling runs on a cluster with a real node".into()))?;
        let (keda, add_on, metrics_server) = tokio::task::spawn_blocking(|| {
            Ok::<_, binaries::BuildError>((binaries::keda()?, binaries::http_add_on()?, binaries::metrics_server()?))
        })
        .await
        .expect("build task panicked")?;
        self.install_keda_crds().await?;
        let certs = self.pki.addon_certs.clone();
        let ca = std::fs::read_to_string(certs.join("ca.crt")).map_err(io("reading the cluster CA"))?;
        let kubeconfig = self.kubeconfig.display().to_string();
        let cert = |f: &str| certs.join(f).display().to_string();

        // metrics-server: the real node's pods (kwok's nodes run no kubelet to read).
        let metrics_port = free_port()?;
        let metrics_args: Vec<String> = vec![
            format!("--secure-port={metrics_port}"),
            format!("--bind-address={node_ip}"),
            format!("--tls-cert-file={}", cert("tls.crt")),
            format!("--tls-private-key-file={}", cert("tls.key")),
            format!("--kubeconfig={kubeconfig}"),
            format!("--authentication-kubeconfig={kubeconfig}"),
            format!("--authorization-kubeconfig={kubeconfig}"),
            "--kubelet-insecure-tls".into(),
            "--kubelet-preferred-address-types=InternalIP".into(),
            "--kubelet-use-node-status-port".into(),
            format!("--node-selector={}=true", super::real_node::NODE_LABEL),
            "--metric-resolution=15s".into(),
            "--kubelet-request-timeout=5s".into(),
        ];
        self.spawn("metrics-server", &metrics_server, &as_strs(&metrics_args))?;

        // KEDA: the operator serves the adapter its triggers' values over gRPC (mutual TLS).
        let grpc_port = free_port()?;
        let keda_env = |extra: &[(&'static str, String)]| {
            let mut env = vec![
                ("KUBECONFIG", kubeconfig.clone()),
                ("POD_NAMESPACE", KEDA_NAMESPACE.to_string()),
                ("KEDA_CLUSTER_OBJECT_NAMESPACE", KEDA_NAMESPACE.to_string()),
                ("WATCH_NAMESPACE", String::new()),
            ];
            env.extend(extra.iter().cloned());
            env
        };
        let operator_args: Vec<String> = vec![
            "--leader-elect=false".into(),
            "--enable-cert-rotation=false".into(),
            format!("--cert-dir={}", certs.display()),
            format!("--metrics-bind-address=127.0.0.1:{}", free_port()?),
            format!("--health-probe-bind-address=127.0.0.1:{}", free_port()?),
            format!("--metrics-service-bind-address=127.0.0.1:{grpc_port}"),
            "--zap-log-level=info".into(),
        ];
        self.spawn_with_env(
            "keda-operator",
            &keda.join("keda-operator"),
            &as_strs(&operator_args),
            &keda_env(&[]),
        )?;
        let adapter_port = free_port()?;
        let adapter_args: Vec<String> = vec![
            format!("--secure-port={adapter_port}"),
            format!("--bind-address={node_ip}"),
            format!("--cert-dir={}", certs.display()),
            format!("--tls-cert-file={}", cert("tls.crt")),
            format!("--tls-private-key-file={}", cert("tls.key")),
            format!("--kubeconfig={kubeconfig}"),
            format!("--authentication-kubeconfig={kubeconfig}"),
            format!("--authorization-kubeconfig={kubeconfig}"),
            format!("--lister-kubeconfig={kubeconfig}"),
            format!("--metrics-service-address=127.0.0.1:{grpc_port}"),
            format!("--port={}", free_port()?),
            "--zap-log-level=info".into(),
        ];
        self.spawn_with_env(
            "keda-adapter",
            &keda.join("keda-adapter"),
            &as_strs(&adapter_args),
            &keda_env(&[]),
        )?;

        // The add-on's scaler, on the node's address: KEDA's operator dials it for every waking ScaledObject.
        let scaler_port = free_port()?;
        self.spawn_with_env(
            "keda-http-scaler",
            &add_on.join("keda-http-scaler"),
            &[],
            &keda_env(&[
                ("KEDA_HTTP_SCALER_PORT", scaler_port.to_string()),
                ("KEDA_HTTP_SCALER_TARGET_ADMIN_NAMESPACE", KEDA_NAMESPACE.into()),
                ("KEDA_HTTP_SCALER_TARGET_ADMIN_SERVICE", INTERCEPTOR_ADMIN.0.into()),
                ("KEDA_HTTP_SCALER_TARGET_ADMIN_DEPLOYMENT", INTERCEPTOR.into()),
                ("KEDA_HTTP_SCALER_TARGET_ADMIN_PORT", INTERCEPTOR_ADMIN.1.to_string()),
            ]),
        )?;

        let version = versions::Versions::pinned().http_add_on;
        let image = format!("{INTERCEPTOR_IMAGE}:{version}");
        let node = self.real_node().expect("a cluster with a node address has a real node");
        node.import_binary(
            &image,
            &format!("keda-http-interceptor-{version}"),
            &add_on.join("keda-http-interceptor"),
            "65532:65532",
        )
        .await?;

        let manifest = self.dir.join("autoscaling.json");
        let objects = manifest_objects(node_ip, metrics_port, adapter_port, &ca, &image);
        std::fs::write(&manifest, objects.to_string()).map_err(io("writing the autoscaling manifest"))?;
        self.kubectl(&["apply", "--server-side", "-f", &manifest.display().to_string()])
            .await?;
        self.wait_autoscaling().await?;
        Ok(Autoscaling {
            http_scaler: format!("{node_ip}:{scaler_port}"),
        })
    }

    /// KEDA's CRDs (its operator watches every one) and the add-on's.
    async fn install_keda_crds(&self) -> Result<(), ControlPlaneError> {
        let v = versions::Versions::pinned();
        let files = tokio::task::spawn_blocking(move || upstream_crds::keda_crd_files(&v))
            .await
            .expect("download task panicked")?;
        let mut args = vec!["apply".to_string(), "--server-side".into(), "--force-conflicts".into()];
        for f in files {
            args.extend(["-f".into(), f.display().to_string()]);
        }
        self.kubectl(&as_strs(&args)).await?;
        self.kubectl(&["wait", "--for=condition=Established", "--timeout=60s", "crd", "--all"])
            .await
            .map(|_| ())
    }

    /// Waits until both metrics APIs are available and the interceptor is ready.
    async fn wait_autoscaling(&mut self) -> Result<(), ControlPlaneError> {
        let start = Instant::now();
        let checks: [(&str, [&str; 6]); 3] = [
            (
                "metrics-server",
                [
                    "wait",
                    "--for=condition=Available",
                    "--timeout=5s",
                    "apiservice",
                    "v1beta1.metrics.k8s.io",
                    "-o=name",
                ],
            ),
            (
                "keda-adapter",
                [
                    "wait",
                    "--for=condition=Available",
                    "--timeout=5s",
                    "apiservice",
                    "v1beta1.external.metrics.k8s.io",
                    "-o=name",
                ],
            ),
            (
                "keda-http-scaler",
                [
                    "wait",
                    "--for=condition=Available",
                    "--timeout=5s",
                    "-n",
                    KEDA_NAMESPACE,
                    "deployment/keda-add-ons-http-interceptor",
                ],
            ),
        ];
        for (component, args) in checks {
            while self.kubectl(&args).await.is_err() {
                if let Some(exited) = self.exited() {
                    return Err(ControlPlaneError::RealNode(exited));
                }
                if start.elapsed() > Duration::from_secs(180) {
                    return Err(self.not_ready(
                        component,
                        start,
                        &format!("`kubectl {}` never succeeded", args.join(" ")),
                    ));
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
        Ok(())
    }
}

/// A Service without a selector and its EndpointSlice naming `ip:port`: how the API server reaches an
/// aggregated API served by a host process.
fn host_service(namespace: &str, name: &str, ip: std::net::Ipv4Addr, port: u16) -> [serde_json::Value; 2] {
    [
        json!({ "apiVersion": "v1", "kind": "Service", "metadata": { "name": name, "namespace": namespace },
            "spec": { "ports": [{ "name": "https", "port": 443, "targetPort": port }] } }),
        json!({ "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": { "name": format!("{name}-host"), "namespace": namespace,
                "labels": { "kubernetes.io/service-name": name } },
            "addressType": "IPv4",
            "ports": [{ "name": "https", "port": port, "protocol": "TCP" }],
            "endpoints": [{ "addresses": [ip.to_string()], "conditions": { "ready": true } }] }),
    ]
}

fn api_service(group: &str, namespace: &str, service: &str, ca: &str) -> serde_json::Value {
    use base64::Engine as _;
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    json!({ "apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
        "metadata": { "name": format!("v1beta1.{group}") },
        "spec": { "group": group, "version": "v1beta1", "groupPriorityMinimum": 100, "versionPriority": 100,
            "service": { "name": service, "namespace": namespace, "port": 443 }, "caBundle": b64(ca.as_bytes()) } })
}

/// Everything the autoscalers need in the cluster: the `keda` namespace, the two metrics APIs at the host's
/// processes, and the interceptor (its RBAC, Deployment and Services), as one List.
fn manifest_objects(
    node_ip: std::net::Ipv4Addr,
    metrics_port: u16,
    adapter_port: u16,
    ca: &str,
    interceptor_image: &str,
) -> serde_json::Value {
    let read = ["get", "list", "watch"];
    let mut items = vec![json!({ "apiVersion": "v1", "kind": "Namespace", "metadata": { "name": KEDA_NAMESPACE } })];
    items.extend(host_service("kube-system", "metrics-server", node_ip, metrics_port));
    items.push(api_service("metrics.k8s.io", "kube-system", "metrics-server", ca));
    items.extend(host_service(
        KEDA_NAMESPACE,
        "keda-metrics-apiserver",
        node_ip,
        adapter_port,
    ));
    items.push(api_service(
        "external.metrics.k8s.io",
        KEDA_NAMESPACE,
        "keda-metrics-apiserver",
        ca,
    ));
    // The HPA controller reads external metrics as the controller-manager; KEDA's chart grants it this.
    items.push(json!({ "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": { "name": "keda-external-metrics-reader" },
        "rules": [{ "apiGroups": ["external.metrics.k8s.io"], "resources": ["*"], "verbs": ["get", "list", "watch"] }] }));
    items.push(json!({ "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
        "metadata": { "name": "keda-hpa-controller-external-metrics" },
        "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "keda-external-metrics-reader" },
        "subjects": [{ "kind": "ServiceAccount", "name": "horizontal-pod-autoscaler", "namespace": "kube-system" }] }));
    // The interceptor, as the add-on's chart installs it.
    items.push(json!({ "apiVersion": "v1", "kind": "ServiceAccount",
        "metadata": { "name": INTERCEPTOR, "namespace": KEDA_NAMESPACE } }));
    items.push(
        json!({ "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": { "name": INTERCEPTOR },
        "rules": [
            { "apiGroups": [""], "resources": ["services", "endpoints", "configmaps"], "verbs": read },
            { "apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": read },
            { "apiGroups": ["http.keda.sh"], "resources": ["httpscaledobjects", "interceptorroutes"], "verbs": read },
        ] }),
    );
    items.push(
        json!({ "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
        "metadata": { "name": INTERCEPTOR },
        "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": INTERCEPTOR },
        "subjects": [{ "kind": "ServiceAccount", "name": INTERCEPTOR, "namespace": KEDA_NAMESPACE }] }),
    );
    let selector = json!({ "app.kubernetes.io/name": INTERCEPTOR });
    items.push(json!({ "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": { "name": INTERCEPTOR, "namespace": KEDA_NAMESPACE },
        "spec": { "replicas": 1, "selector": { "matchLabels": selector },
            "template": { "metadata": { "labels": selector },
                "spec": { "serviceAccountName": INTERCEPTOR,
                    "nodeSelector": { super::real_node::NODE_LABEL: "true" },
                    "tolerations": [{ "key": super::real_node::NODE_LABEL, "operator": "Exists" }],
                    "containers": [{ "name": "interceptor", "image": interceptor_image, "imagePullPolicy": "IfNotPresent",
                        "env": [
                            { "name": "KEDA_HTTP_PROXY_PORT", "value": INTERCEPTOR_PROXY.1.to_string() },
                            { "name": "KEDA_HTTP_ADMIN_PORT", "value": INTERCEPTOR_ADMIN.1.to_string() },
                            { "name": "KEDA_HTTP_WATCH_NAMESPACE", "value": "" },
                        ],
                        "ports": [
                            { "name": "proxy", "containerPort": INTERCEPTOR_PROXY.1 },
                            { "name": "admin", "containerPort": INTERCEPTOR_ADMIN.1 },
                        ],
                        "readinessProbe": { "httpGet": { "path": "/readyz", "port": "admin" }, "periodSeconds": 2 },
                        "resources": { "requests": { "cpu": "50m", "memory": "64Mi" } } }] } } } }));
    for (name, port, target) in [
        (INTERCEPTOR_PROXY.0, INTERCEPTOR_PROXY.1, "proxy"),
        (INTERCEPTOR_ADMIN.0, INTERCEPTOR_ADMIN.1, "admin"),
    ] {
        items.push(
            json!({ "apiVersion": "v1", "kind": "Service", "metadata": { "name": name, "namespace": KEDA_NAMESPACE },
            "spec": { "selector": selector, "ports": [{ "name": target, "port": port, "targetPort": target }] } }),
        );
    }
    json!({ "apiVersion": "v1", "kind": "List", "items": items })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_metrics_apis_point_at_the_hosts_processes() {
        let ip = std::net::Ipv4Addr::new(10, 0, 0, 5);
        let list = manifest_objects(ip, 4443, 6443, "CA", "img:1");
        let items = list["items"].as_array().unwrap();
        let slice = items
            .iter()
            .find(|o| o["metadata"]["name"] == "keda-metrics-apiserver-host")
            .unwrap();
        assert_eq!(slice["endpoints"][0]["addresses"][0], "10.0.0.5");
        assert_eq!(slice["ports"][0]["port"], 6443);
        let api = items
            .iter()
            .find(|o| o["metadata"]["name"] == "v1beta1.external.metrics.k8s.io")
            .unwrap();
        assert_eq!(api["spec"]["service"]["name"], "keda-metrics-apiserver");
    }
}
