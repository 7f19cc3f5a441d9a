//! The security context every container the operator starts runs with (Pod Security "restricted").

use k8s_openapi::api::core::v1::{Capabilities, SecurityContext};

/// No privilege escalation and no capabilities.
pub fn restricted_container() -> SecurityContext {
    SecurityContext {
        allow_privilege_escalation: Some(false),
        capabilities: Some(Capabilities {
            drop: Some(vec!["ALL".into()]),
            add: None,
        }),
        ..Default::default()
    }
}
