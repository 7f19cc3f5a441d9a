//! The `AIMClusterConfig` status controller: a config reports whether it is the one in use (only `default` is
//! read) and whether the gateway it names exists.

use crate::api::{AIMClusterConfig, AIMClusterConfigStatus, CLUSTER_CONFIG_NAME, ResourceState};
use crate::controller::kit::conditions::{self, Cond, reasons, types};
use crate::controller::kit::status::{self, WithConditions};
use crate::controller::kit::{Context, Error};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use kube::runtime::controller::Action;
use std::sync::Arc;

impl WithConditions for AIMClusterConfigStatus {
    fn conditions(&self) -> &[Condition] {
        &self.conditions
    }
    fn state(&self) -> Option<String> {
        self.status.map(|s| format!("{s:?}"))
    }
}

/// The config's status, given whether the gateway it names exists.
pub fn plan(config: &AIMClusterConfig, gateway_exists: bool, now: Timestamp) -> AIMClusterConfigStatus {
    let generation = config.metadata.generation;
    let mut next = AIMClusterConfigStatus {
        observed_generation: generation,
        ..config.status.clone().unwrap_or_default()
    };
    let (state, verdict) = if config.name_any() != CLUSTER_CONFIG_NAME {
        (
            ResourceState::Failed,
            Cond::no(
                reasons::IGNORED,
                format!("only the AIMClusterConfig named '{CLUSTER_CONFIG_NAME}' is read; this one is ignored"),
            ),
        )
    } else {
        match config.spec.routing.as_ref().and_then(|r| r.gateway.as_ref()) {
            Some(gw) if gateway_exists => (
                ResourceState::Available,
                Cond::yes(
                    reasons::IN_USE,
                    format!(
                        "in use; services are routed through Gateway {}/{}",
                        gw.namespace, gw.name
                    ),
                ),
            ),
            Some(gw) => (
                ResourceState::Degraded,
                Cond::no(
                    reasons::GATEWAY_NOT_FOUND,
                    format!(
                        "Gateway {}/{} does not exist: routes are created but no gateway will accept them",
                        gw.namespace, gw.name
                    ),
                ),
            ),
            None => (
                ResourceState::Available,
                Cond::yes(reasons::IN_USE, "in use; no gateway, so services are not routed"),
            ),
        }
    };
    let conds = &mut next.conditions;
    conditions::set(conds, types::READY, &verdict, generation, now);
    let failure = if verdict.ok {
        Cond::no(reasons::NO_FAILURE, "")
    } else {
        Cond::yes(verdict.reason, verdict.message.clone())
    };
    conditions::set(conds, types::FAILURE, &failure, generation, now);
    next.status = Some(state);
    next
}

/// One reconcile of a cluster config.
pub async fn reconcile(config: Arc<AIMClusterConfig>, ctx: Arc<Context>) -> Result<Action, Error> {
    let gateway_exists = config
        .spec
        .routing
        .as_ref()
        .and_then(|r| r.gateway.as_ref())
        .is_some_and(|gw| ctx.index.gateway(&gw.namespace, &gw.name).is_some());
    let next = plan(&config, gateway_exists, Timestamp::now());
    status::write(&ctx, config.as_ref(), next).await?;
    Ok(Action::await_change())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{AIMClusterConfigSpec, GatewayRef, RoutingConfig};

    fn config(name: &str, gateway: bool) -> AIMClusterConfig {
        AIMClusterConfig::new(
            name,
            AIMClusterConfigSpec {
                routing: gateway.then(|| RoutingConfig {
                    gateway: Some(GatewayRef {
                        name: "gw".into(),
                        namespace: "infra".into(),
                    }),
                    auto_create_route: true,
                }),
                cache_storage_class_name: None,
            },
        )
    }

    #[test]
    fn only_default_is_used_and_a_missing_gateway_degrades_it() {
        let now = Timestamp::now();
        assert_eq!(
            plan(&config("default", true), true, now).status,
            Some(ResourceState::Available)
        );
        assert_eq!(
            plan(&config("default", true), false, now).status,
            Some(ResourceState::Degraded)
        );
        assert_eq!(
            plan(&config("default", false), false, now).status,
            Some(ResourceState::Available)
        );
        let ignored = plan(&config("other", false), false, now);
        assert_eq!(ignored.status, Some(ResourceState::Failed));
        assert_eq!(
            conditions::get(&ignored.conditions, types::READY).unwrap().reason,
            reasons::IGNORED
        );
    }
}
