//! The `AIMClusterConfig` status controller: a config reports whether it is the one in use (only `default` is
//! read) and whether the gateway it names exists; the one in use also lists the policy plugins the operator
//! runs (each policy's plugin, digest and since when, and the last file refused), and records a Warning Event
//! `PluginRefused` when a refusal appears there. Plugin reloads wake it.

use crate::api::{
    AIMClusterConfig, AIMClusterConfigStatus, CLUSTER_CONFIG_NAME, PluginRefusal, PolicyPluginStatus, ResourceState,
};
use crate::controller::kit::conditions::{self, Cond, reasons, types};
use crate::controller::kit::status;
use crate::controller::kit::{Context, Error};
use crate::policy::ledger::PluginState;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType};
use std::sync::Arc;
use std::time::SystemTime;

/// The config's status, given whether the gateway it names exists and the plugins in use.
pub(crate) fn plan(
    config: &AIMClusterConfig,
    gateway_exists: bool,
    plugins: &[PolicyPluginStatus],
    now: Timestamp,
) -> AIMClusterConfigStatus {
    let generation = config.metadata.generation;
    let mut next = config.status.clone().unwrap_or_default();
    next.head.observed_generation = generation;
    let in_use = config.name_any() == CLUSTER_CONFIG_NAME;
    next.plugins = if in_use {
        carried_over(&next.plugins, plugins)
    } else {
        Vec::new()
    };
    let (state, verdict) = if !in_use {
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
    let conds = &mut next.head.conditions;
    conditions::set(conds, types::READY, &verdict, generation, now);
    let failure = if verdict.ok {
        Cond::no(reasons::NO_FAILURE, "")
    } else {
        Cond::yes(verdict.reason, verdict.message.clone())
    };
    conditions::set(conds, types::FAILURE, &failure, generation, now);
    next.head.status = Some(state);
    next
}

/// The engine's plugin entries over what the status recorded: a plugin of the same digest keeps its `since`
/// (the engine only knows since when this process runs it, and a restart is not a change), and the last refusal
/// the status recorded stays until the engine reports a newer one (the engine forgets it on restart).
pub(crate) fn carried_over(recorded: &[PolicyPluginStatus], engine: &[PolicyPluginStatus]) -> Vec<PolicyPluginStatus> {
    engine
        .iter()
        .map(|p| {
            let Some(before) = recorded.iter().find(|r| r.policy == p.policy) else {
                return p.clone();
            };
            let same = before.plugin == p.plugin && before.digest == p.digest;
            PolicyPluginStatus {
                since: if same { before.since.clone() } else { p.since.clone() },
                last_refusal: p.last_refusal.clone().or_else(|| before.last_refusal.clone()),
                ..p.clone()
            }
        })
        .collect()
}

/// One reconcile of a cluster config.
pub(crate) async fn reconcile(config: Arc<AIMClusterConfig>, ctx: Arc<Context>) -> Result<Action, Error> {
    let gateway_exists = config
        .spec
        .routing
        .as_ref()
        .and_then(|r| r.gateway.as_ref())
        .is_some_and(|gw| ctx.index.gateway(&gw.namespace, &gw.name).is_some());
    let plugins = plugin_statuses(&ctx.policy.plugin_states());
    let next = plan(&config, gateway_exists, &plugins, Timestamp::now());
    let events = refusal_events(
        config.status.as_ref().map(|s| s.plugins.as_slice()).unwrap_or_default(),
        &next.plugins,
    );
    if status::write(&ctx, config.as_ref(), next).await? == status::Written::Yes {
        status::publish(&ctx, config.as_ref(), events).await;
    }
    Ok(Action::await_change())
}

/// The engine's plugin states as status entries (times to the second, as the API server stores them, so an
/// unchanged state compares equal).
pub(crate) fn plugin_statuses(states: &[PluginState]) -> Vec<PolicyPluginStatus> {
    states
        .iter()
        .map(|s| PolicyPluginStatus {
            policy: s.kind.name().to_string(),
            plugin: s.provenance.plugin.clone(),
            digest: s.provenance.digest.clone(),
            since: to_time(s.since),
            last_refusal: s.last_refusal.as_ref().map(|r| PluginRefusal {
                file: r.file.clone(),
                reason: r.error.clone(),
                at: to_time(r.at),
            }),
        })
        .collect()
}

fn to_time(t: SystemTime) -> Time {
    let seconds = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default();
    Time(Timestamp::from_second(seconds).unwrap_or(Timestamp::UNIX_EPOCH))
}

/// A Warning for each refusal in `new` that `old` did not show.
pub(crate) fn refusal_events(old: &[PolicyPluginStatus], new: &[PolicyPluginStatus]) -> Vec<Event> {
    new.iter()
        .filter_map(|p| {
            let refusal = p.last_refusal.as_ref()?;
            let before = old.iter().find(|o| o.policy == p.policy);
            if before.and_then(|o| o.last_refusal.as_ref()) == Some(refusal) {
                return None;
            }
            Some(Event {
                type_: EventType::Warning,
                reason: "PluginRefused".into(),
                note: Some(crate::events::note(&format!(
                    "{} plugin file {} refused; still using {} ({}): {}",
                    p.policy, refusal.file, p.plugin, p.digest, refusal.reason
                ))),
                action: "Reload".into(),
                secondary: None,
            })
        })
        .collect()
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
                    route_annotations: Default::default(),
                }),
                ..Default::default()
            },
        )
    }

    fn plugins(refusal: Option<&str>) -> Vec<PolicyPluginStatus> {
        let at = Time(Timestamp::from_second(1_800_000_000).unwrap());
        vec![PolicyPluginStatus {
            policy: "merger".into(),
            plugin: "builtin:merger".into(),
            digest: "sha256:ab".into(),
            since: at.clone(),
            last_refusal: refusal.map(|reason| PluginRefusal {
                file: "/plugins/merger.wasm".into(),
                reason: reason.into(),
                at,
            }),
        }]
    }

    #[test]
    fn a_restart_keeps_since_and_the_last_refusal_of_the_same_plugin() {
        let recorded = plugins(Some("too big"));
        // After a restart the engine says: the same digest, installed now, no refusal known.
        let mut engine = plugins(None);
        engine[0].since = Time(Timestamp::from_second(1_900_000_000).unwrap());
        let kept = carried_over(&recorded, &engine);
        assert_eq!(kept, recorded, "nothing changed, so nothing to write");
        // Another digest is another plugin: its own since; the last refusal is still the last one.
        engine[0].digest = "sha256:cd".into();
        let replaced = carried_over(&recorded, &engine);
        assert_eq!(replaced[0].since, engine[0].since);
        assert_eq!(replaced[0].last_refusal, recorded[0].last_refusal);
        // A newer refusal the engine reports wins.
        let newer = carried_over(&recorded, &plugins(Some("no export")));
        assert_eq!(newer[0].last_refusal.as_ref().unwrap().reason, "no export");
    }

    #[test]
    fn a_new_refusal_is_one_warning_and_an_unchanged_one_is_none() {
        let events = refusal_events(&plugins(None), &plugins(Some("imports wasi:sockets")));
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].reason, "PluginRefused");
        assert_eq!(events[0].type_, EventType::Warning);
        let note = events[0].note.clone().unwrap();
        assert!(
            note.contains("/plugins/merger.wasm refused; still using builtin:merger")
                && note.ends_with("imports wasi:sockets"),
            "{note}"
        );
        let again = plugins(Some("imports wasi:sockets"));
        assert!(refusal_events(&again, &again).is_empty());
        assert_eq!(refusal_events(&again, &plugins(Some("too big"))).len(), 1);
    }

    #[test]
    fn only_default_is_used_and_a_missing_gateway_degrades_it() {
        let now = Timestamp::now();
        assert_eq!(
            plan(&config("default", true), true, &[], now).head.status,
            Some(ResourceState::Available)
        );
        assert_eq!(
            plan(&config("default", true), false, &[], now).head.status,
            Some(ResourceState::Degraded)
        );
        assert_eq!(
            plan(&config("default", false), false, &[], now).head.status,
            Some(ResourceState::Available)
        );
        let ignored = plan(&config("other", false), false, &plugins(None), now);
        assert!(ignored.plugins.is_empty(), "only the config in use lists the plugins");
        assert_eq!(
            plan(&config("default", false), false, &plugins(None), now)
                .plugins
                .len(),
            1
        );
        assert_eq!(ignored.head.status, Some(ResourceState::Failed));
        assert_eq!(
            conditions::get(&ignored.head.conditions, types::READY).unwrap().reason,
            reasons::IGNORED
        );
    }
}
