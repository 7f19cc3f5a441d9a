//! The default AIM router policy: every service is served at `/<namespace>/<service uid>`.
//!
//! The UID keeps paths unique and stable across renames of nothing: a service re-created under the same name
//! gets a new path, so clients of the old one cannot reach the new one by accident.

#![cfg_attr(not(target_arch = "wasm32"), forbid(unsafe_code))]

/// The path of a service.
pub fn route_path(namespace: &str, uid: &str) -> String {
    format!("/{namespace}/{uid}")
}

// The canonical-ABI glue wit-bindgen generates is unsafe by nature; it stays inside this module.
#[cfg(target_arch = "wasm32")]
#[allow(unsafe_code)]
mod component {
    wit_bindgen::generate!({ path: "../../wit", world: "router-policy" });

    use aim::policy::types::PolicyError;
    use exports::aim::policy::router::{Guest, RoutingConfig, ServiceIdentity};

    struct Router;

    impl Guest for Router {
        fn route_path(service: ServiceIdentity, _config: RoutingConfig) -> Result<String, PolicyError> {
            if service.namespace.is_empty() || service.uid.is_empty() {
                return Err(PolicyError::InvalidInput(
                    "the service has no namespace or uid yet".into(),
                ));
            }
            Ok(super::route_path(&service.namespace, &service.uid))
        }
    }

    export!(Router);
}

#[cfg(test)]
mod tests {
    #[test]
    fn paths_are_namespace_then_uid() {
        assert_eq!(super::route_path("team-a", "0b1c-42"), "/team-a/0b1c-42");
    }
}
