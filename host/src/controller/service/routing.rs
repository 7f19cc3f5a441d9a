//! The route a service should have: none without a gateway in `AIMClusterConfig default` (or with automatic
//! routes off); otherwise one at the path the router plugin chose. The path is recorded in the service's status
//! and kept from then on, so a router plugin swap does not move running services (clients depend on their URL);
//! new services get the new plugin's path, and `aim.silogen.ai/redecide` moves an existing one.

use super::resolve::redecide_requested;
use crate::api::{AIMService, GatewayRef};
use crate::controller::kit::Context;
use crate::policy::Router;
use crate::policy::bindings::{RoutingConfig, ServiceIdentity};
use kube::ResourceExt;

/// The route a service should have.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Routing {
    /// No gateway is configured (or automatic routes are off).
    Off,
    /// A route at `path` on `gateway`, the path chosen by `decided_by`.
    On {
        gateway: GatewayRef,
        path: String,
        /// The router plugin and digest that chose it.
        decided_by: String,
    },
    /// The router plugin failed to choose a path.
    PolicyFailed { gateway: GatewayRef, message: String },
}

/// Decides the service's route.
pub(crate) async fn decide(ctx: &Context, svc: &AIMService) -> Routing {
    let gateway = ctx
        .index
        .cluster_config()
        .and_then(|c| c.spec.routing.clone())
        .filter(|r| r.auto_create_route)
        .and_then(|r| r.gateway);
    let Some(gateway) = gateway else {
        return Routing::Off;
    };
    let status = svc.status.as_ref();
    if let (Some(path), Some(decided_by)) = (
        status.and_then(|s| s.route_path.clone()),
        status.and_then(|s| s.route_decided_by.clone()),
    ) && !redecide_requested(svc)
    {
        return Routing::On {
            gateway,
            path,
            decided_by,
        };
    }
    let identity = ServiceIdentity {
        namespace: svc.namespace().unwrap_or_default(),
        name: svc.name_any(),
        uid: svc.metadata.uid.clone().unwrap_or_default(),
        model_id: svc.spec.aim_model_id.clone(),
    };
    let config = RoutingConfig {
        gateway_namespace: gateway.namespace.clone(),
        gateway_name: gateway.name.clone(),
    };
    match ctx.policy.decide::<Router>((identity, config)).await {
        Ok(decided) => Routing::On {
            gateway,
            path: decided.value,
            decided_by: decided.provenance.to_string(),
        },
        Err(e) => Routing::PolicyFailed {
            gateway,
            message: e.to_string(),
        },
    }
}
