//! Traefik, the Gateway API implementation of a cluster with a real node: a host process (built from its pinned
//! module, `build-traefik.sh`) whose `kubernetesGateway` provider watches the cluster as its own ServiceAccount
//! (the RBAC its chart grants) and writes the status of the Gateways of its class and of their routes
//! (`Accepted`, `ResolvedRefs`), and whose proxy serves those routes on the host: a request to
//! `http://<host>:<port>/<path>` reaches the pods behind the route's backend Service by their addresses on the
//! node's pod network (the host routes that subnet to the node's bridge).
//!
//! A Gateway of class [`GATEWAY_CLASS`] listens on the one HTTP entry point, so its listener's port is
//! [`Traefik::port`] ([`gateway_yaml`] writes it so).

use serde_json::json;

/// The GatewayClass Traefik runs.
pub const GATEWAY_CLASS: &str = "traefik";
/// The controller name Traefik claims GatewayClasses and writes route status by.
pub const CONTROLLER_NAME: &str = "traefik.io/gateway-controller";
/// Its namespace and ServiceAccount.
pub const NAMESPACE: &str = "traefik";

/// Where the running Traefik serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Traefik {
    /// Its HTTP entry point (and a Gateway listener's port).
    pub port: u16,
    /// Its ping endpoint (`/ping` answers `OK` once it runs).
    pub ping_port: u16,
}

impl Traefik {
    /// `http://127.0.0.1:<port>`: the gateway as a client on the host reaches it.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Traefik's arguments: the Kubernetes Gateway provider against `server` with the token in `token_file`
    /// and the CA in `ca_file`, the entry points, a ping endpoint, JSON access logs to stdout.
    pub fn args(&self, server: &str, token_file: &str, ca_file: &str) -> Vec<String> {
        vec![
            format!("--entryPoints.web.address=:{}", self.port),
            format!("--entryPoints.traefik.address=127.0.0.1:{}", self.ping_port),
            "--ping=true".into(),
            "--ping.entryPoint=traefik".into(),
            "--providers.kubernetesgateway=true".into(),
            format!("--providers.kubernetesgateway.endpoint={server}"),
            format!("--providers.kubernetesgateway.token={token_file}"),
            format!("--providers.kubernetesgateway.certAuthFilePath={ca_file}"),
            "--log.level=INFO".into(),
            "--accesslog=true".into(),
        ]
    }
}

/// Traefik's namespace, ServiceAccount and the cluster-wide read (and status write) its Gateway provider needs,
/// and its GatewayClass, as one List.
pub fn install_manifest() -> serde_json::Value {
    let read = ["get", "list", "watch"];
    json!({ "apiVersion": "v1", "kind": "List", "items": [
        { "apiVersion": "v1", "kind": "Namespace", "metadata": { "name": NAMESPACE } },
        { "apiVersion": "v1", "kind": "ServiceAccount", "metadata": { "name": "traefik", "namespace": NAMESPACE } },
        { "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": { "name": "traefik" },
          "rules": [
            { "apiGroups": [""], "resources": ["services", "namespaces", "secrets", "configmaps", "nodes"], "verbs": read },
            { "apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": read },
            { "apiGroups": ["gateway.networking.k8s.io"], "resources": [
                "gatewayclasses", "gateways", "httproutes", "grpcroutes", "referencegrants", "backendtlspolicies",
                "tlsroutes", "tcproutes", "listenersets"], "verbs": read },
            { "apiGroups": ["gateway.networking.k8s.io"], "resources": [
                "gatewayclasses/status", "gateways/status", "httproutes/status", "grpcroutes/status",
                "backendtlspolicies/status", "tlsroutes/status", "tcproutes/status", "listenersets/status"],
              "verbs": ["update", "patch"] },
          ] },
        { "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": { "name": "traefik" },
          "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "traefik" },
          "subjects": [{ "kind": "ServiceAccount", "name": "traefik", "namespace": NAMESPACE }] },
        { "apiVersion": "gateway.networking.k8s.io/v1", "kind": "GatewayClass", "metadata": { "name": GATEWAY_CLASS },
          "spec": { "controllerName": CONTROLLER_NAME } },
    ] })
}

/// A Gateway `name` in `namespace` of Traefik's class, listening on `port` for routes from every namespace.
pub fn gateway_yaml(namespace: &str, name: &str, port: u16) -> String {
    format!(
        "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata:\n  name: {name}\n  namespace: {namespace}\n\
         spec:\n  gatewayClassName: {GATEWAY_CLASS}\n  listeners:\n  - name: http\n    protocol: HTTP\n    port: {port}\n    \
         allowedRoutes:\n      namespaces:\n        from: All\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gateway_listens_on_traefiks_entry_point() {
        let t = Traefik {
            port: 18080,
            ping_port: 18081,
        };
        let args = t.args("https://127.0.0.1:6443", "/tmp/token", "/tmp/ca.crt");
        assert!(args.contains(&"--entryPoints.web.address=:18080".to_string()));
        let gw: serde_json::Value = serde_saphyr::from_str(&gateway_yaml("infra", "gw", 18080)).unwrap();
        assert_eq!(gw["spec"]["listeners"][0]["port"], 18080);
        assert_eq!(gw["spec"]["gatewayClassName"], GATEWAY_CLASS);
    }
}
