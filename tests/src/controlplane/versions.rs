//! The pinned upstream versions, read from `controlplane/versions.env` (shared with the build script).

/// Versions of everything the local control plane runs or installs.
#[derive(Debug, Clone)]
pub struct Versions {
    /// `k8s.io/kubernetes` tag, e.g. `v1.37.2`.
    pub kubernetes: String,
    /// `go.etcd.io/etcd/server/v3` tag.
    pub etcd: String,
    /// `github.com/kserve/kserve` tag; its CRDs are installed and its controller manager runs (`AIM_KSERVE_VERSION`
    /// names another for one run).
    pub kserve: String,
    /// `sigs.k8s.io/kwok` tag: the kubelet of the fake GPU nodes.
    pub kwok: String,
    /// `sigs.k8s.io/gateway-api` tag; its Gateway, GatewayClass and HTTPRoute CRDs are installed.
    pub gateway_api: String,
    /// `github.com/kedacore/keda/v2` tag: its ScaledObject CRD on every cluster; its operator and metrics
    /// adapter, and the rest of its CRDs, where a test starts autoscaling.
    pub keda: String,
    /// `github.com/kedacore/http-add-on` tag: the interceptor and scaler, with autoscaling.
    pub http_add_on: String,
}

const VERSIONS_ENV: &str = include_str!("../../controlplane/versions.env");

impl Versions {
    /// The pinned versions.
    pub fn pinned() -> Self {
        let get = |key: &str| {
            VERSIONS_ENV
                .lines()
                .filter_map(|l| l.split_once('='))
                .find(|(k, _)| k.trim() == key)
                .map(|(_, v)| v.trim().to_string())
                .unwrap_or_else(|| panic!("controlplane/versions.env has no {key}"))
        };
        Versions {
            kubernetes: get("KUBE_VERSION"),
            etcd: get("ETCD_VERSION"),
            // `scripts/kserve-compat` runs the suite against another supported KServe.
            kserve: std::env::var("AIM_KSERVE_VERSION")
                .ok()
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| get("KSERVE_VERSION")),
            kwok: get("KWOK_VERSION"),
            gateway_api: get("GATEWAY_API_VERSION"),
            keda: get("KEDA_VERSION"),
            http_add_on: get("HTTP_ADD_ON_VERSION"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_pinned_version_is_an_exact_tag() {
        let v = Versions::pinned();
        for tag in [
            &v.kubernetes,
            &v.etcd,
            &v.kserve,
            &v.gateway_api,
            &v.kwok,
            &v.keda,
            &v.http_add_on,
        ] {
            assert!(
                tag.starts_with('v') && tag.split('.').count() == 3,
                "not an exact tag: {tag}"
            );
        }
    }
}

#[cfg(test)]
mod openapi_match {
    use super::Versions;

    #[test]
    fn the_kubernetes_minor_matches_the_k8s_openapi_feature() {
        let minor = Versions::pinned()
            .kubernetes
            .split('.')
            .nth(1)
            .expect("vMAJOR.MINOR.PATCH")
            .to_string();
        let workspace = include_str!("../../../Cargo.toml");
        assert!(
            workspace.contains(&format!("\"v1_{minor}\"")),
            "Cargo.toml must enable k8s-openapi feature v1_{minor} to match the control plane"
        );
    }
}
