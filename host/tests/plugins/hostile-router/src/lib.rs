//! A router that answers whatever path a service named `echo<path>` spells (`_` for `/`), so tests can feed the
//! host any answer, including paths it must refuse. Other services get `/<namespace>/<uid>`.

#![cfg(target_arch = "wasm32")]
#![allow(unsafe_code, missing_docs)]

wit_bindgen::generate!({ path: "../../../../wit", world: "router-policy" });

use aim::policy::types::PolicyError;
use exports::aim::policy::router::{Guest, RoutingConfig, ServiceIdentity};

struct Echo;

impl Guest for Echo {
    fn route_path(service: ServiceIdentity, _config: RoutingConfig) -> Result<String, PolicyError> {
        if service.name == "refuse" {
            return Err(PolicyError::Unsupported("this router refuses on purpose".into()));
        }
        match service.name.strip_prefix("echo") {
            Some(path) => Ok(path.replace('_', "/")),
            None => Ok(format!("/{}/{}", service.namespace, service.uid)),
        }
    }
}

export!(Echo);
