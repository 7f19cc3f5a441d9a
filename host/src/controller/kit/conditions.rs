//! Conditions: their types and reasons (named once, here), a [`Cond`] a plan fills in, and setting one without
//! touching an unchanged one.
//!
//! `lastTransitionTime` moves only when the status flips, so re-deriving the same conditions yields an identical
//! status and the status writer skips the write. Plans take the time as an input, so they stay pure.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;

/// Condition types.
pub mod types {
    /// Templates: model sources are known.
    pub const DISCOVERED: &str = "Discovered";
    /// Templates and template caches: every model source is cached.
    pub const CACHE_WARM: &str = "CacheWarm";
    /// Every kind: ready for use.
    pub const READY: &str = "Ready";
    /// Every kind: work is under way.
    pub const PROGRESSING: &str = "Progressing";
    /// Every kind: something failed; the reason says what.
    pub const FAILURE: &str = "Failure";
    /// Template caches and services: the template was found.
    pub const RESOLVED: &str = "Resolved";
    /// Model caches: the volume is bound.
    pub const STORAGE_READY: &str = "StorageReady";
    /// Services: the model caches are warm (or caching was not asked for).
    pub const CACHE_READY: &str = "CacheReady";
    /// Services: the KServe InferenceService is ready.
    pub const RUNTIME_READY: &str = "RuntimeReady";
    /// Services: the HTTPRoute is accepted by the gateway (or routing is off).
    pub const ROUTING_READY: &str = "RoutingReady";
}

/// Condition reasons (CamelCase, stable: people and alerts match on them).
pub mod reasons {
    #![allow(missing_docs)]
    // Templates and discovery.
    pub const INLINE_MODEL_SOURCES: &str = "InlineModelSources";
    pub const PROFILES_DISCOVERED: &str = "ProfilesDiscovered";
    pub const AWAITING_DISCOVERY: &str = "AwaitingDiscovery";
    pub const DISCOVERY_RUNNING: &str = "DiscoveryRunning";
    pub const WAITING_FOR_DISCOVERY_SLOT: &str = "WaitingForDiscoverySlot";
    pub const DISCOVERY_BACKOFF: &str = "DiscoveryBackoff";
    pub const DISCOVERY_FAILED: &str = "DiscoveryFailed";
    pub const WAITING_FOR_IMAGE: &str = "WaitingForImage";
    pub const NAMESPACE_MISSING: &str = "NamespaceMissing";
    pub const MODEL_NOT_FOUND: &str = "ModelNotFound";
    pub const TEMPLATE_NOT_FOUND: &str = "TemplateNotFound";
    pub const RESOLVED: &str = "Resolved";
    // Caching.
    pub const CACHING_DISABLED: &str = "CachingDisabled";
    pub const WARMING: &str = "Warming";
    pub const WARM: &str = "Warm";
    pub const WARM_FAILED: &str = "WarmFailed";
    pub const PVC_BOUND: &str = "PVCBound";
    pub const PVC_PENDING: &str = "PVCPending";
    pub const PVC_LOST: &str = "PVCLost";
    pub const STORAGE_CLASS_MISSING: &str = "StorageClassMissing";
    pub const INSUFFICIENT_CAPACITY: &str = "InsufficientCapacity";
    pub const SIZE_UNKNOWN: &str = "SizeUnknown";
    pub const CHECKING_SIZE: &str = "CheckingSize";
    pub const DOWNLOADING: &str = "Downloading";
    pub const DOWNLOAD_FAILED: &str = "DownloadFailed";
    pub const DUPLICATE_SOURCE: &str = "DuplicateSourceUri";
    // Generic.
    pub const READY: &str = "Ready";
    pub const NOT_READY: &str = "NotReady";
    pub const NO_FAILURE: &str = "NoFailure";
    pub const IDLE: &str = "Idle";
    // Services.
    pub const NOT_RESOLVED: &str = "NotResolved";
    pub const NOT_REQUESTED: &str = "NotRequested";
    pub const CACHE_WARMING: &str = "CacheWarming";
    pub const CACHE_READY: &str = "CacheReady";
    pub const CACHE_FAILED: &str = "CacheFailed";
    pub const WAITING_FOR_TEMPLATE: &str = "WaitingForTemplate";
    pub const WAITING_FOR_CACHE: &str = "WaitingForCache";
    pub const CREATING_RUNTIME: &str = "CreatingRuntime";
    pub const RUNTIME_READY: &str = "RuntimeReady";
    pub const RUNTIME_NOT_READY: &str = "RuntimeNotReady";
    pub const UNSCHEDULABLE: &str = "Unschedulable";
    pub const ROUTING_DISABLED: &str = "RoutingDisabled";
    pub const CONFIGURING_ROUTE: &str = "ConfiguringRoute";
    pub const ROUTE_READY: &str = "RouteReady";
    pub const ROUTE_FAILED: &str = "RouteFailed";
    pub const POLICY_FAILED: &str = "PolicyFailed";
    pub const NO_MATCHING_TEMPLATE: &str = "NoMatchingTemplate";
    pub const TEMPLATE_MODEL_MISMATCH: &str = "TemplateModelMismatch";
    pub const DERIVED_NAME_TAKEN: &str = "DerivedNameTaken";
    pub const TEMPLATE_DOES_NOT_FIT: &str = "TemplateDoesNotFit";
    // Catalog kinds.
    pub const DEFAULT_TEMPLATE_FOUND: &str = "DefaultTemplateFound";
    pub const NO_DEFAULT_TEMPLATE: &str = "NoDefaultTemplate";
    pub const DEFAULT_TEMPLATE_MISSING: &str = "DefaultTemplateMissing";
    pub const DUPLICATE_MODEL: &str = "DuplicateModelId";
    pub const IN_USE: &str = "InUse";
    pub const IGNORED: &str = "Ignored";
    pub const GATEWAY_NOT_FOUND: &str = "GatewayNotFound";
}

/// One condition as a plan decides it: whether it holds, why (a reason constant) and what a person should know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cond {
    /// `True` or `False`.
    pub ok: bool,
    /// CamelCase reason.
    pub reason: &'static str,
    /// A sentence for the person reading `kubectl describe`.
    pub message: String,
}

impl Cond {
    /// A condition that holds.
    pub fn yes(reason: &'static str, message: impl Into<String>) -> Self {
        Cond {
            ok: true,
            reason,
            message: message.into(),
        }
    }

    /// A condition that does not hold.
    pub fn no(reason: &'static str, message: impl Into<String>) -> Self {
        Cond {
            ok: false,
            reason,
            message: message.into(),
        }
    }
}

/// `True` or `False`.
pub fn status_word(value: bool) -> &'static str {
    if value { "True" } else { "False" }
}

/// Sets condition `type_` to `cond` at `now`. The transition time is kept when the status is unchanged.
pub fn set(conditions: &mut Vec<Condition>, type_: &str, cond: &Cond, generation: Option<i64>, now: Timestamp) {
    let status = status_word(cond.ok).to_string();
    match conditions.iter_mut().find(|c| c.type_ == type_) {
        Some(existing) => {
            if existing.status != status {
                existing.last_transition_time = Time(now);
            }
            existing.status = status;
            existing.reason = cond.reason.to_string();
            existing.message = cond.message.clone();
            existing.observed_generation = generation;
        }
        None => conditions.push(Condition {
            type_: type_.to_string(),
            status,
            reason: cond.reason.to_string(),
            message: cond.message.clone(),
            observed_generation: generation,
            last_transition_time: Time(now),
        }),
    }
}

/// The condition of `type_`, if set.
pub fn get<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

/// True when condition `type_` is set to `True`.
pub fn is_true(conditions: &[Condition], type_: &str) -> bool {
    get(conditions, type_).is_some_and(|c| c.status == "True")
}

/// `head: detail`, or just `head` when there is no detail: a message never ends in a dangling colon.
pub fn with_detail(head: impl Into<String>, detail: &str) -> String {
    let head = head.into();
    let detail = detail.trim();
    if detail.is_empty() {
        head
    } else {
        format!("{head}: {detail}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_transition_time_moves_only_when_the_status_flips() {
        let t0 = Timestamp::from_second(1_000).unwrap();
        let t1 = Timestamp::from_second(2_000).unwrap();
        let t2 = Timestamp::from_second(3_000).unwrap();
        let mut conditions = Vec::new();
        set(
            &mut conditions,
            types::READY,
            &Cond::no(reasons::NOT_READY, "waiting"),
            Some(1),
            t0,
        );
        set(
            &mut conditions,
            types::READY,
            &Cond::no(reasons::NOT_READY, "still waiting"),
            Some(2),
            t1,
        );
        assert_eq!(conditions[0].last_transition_time, Time(t0));
        assert_eq!(conditions[0].message, "still waiting");
        set(
            &mut conditions,
            types::READY,
            &Cond::yes(reasons::READY, "ready"),
            Some(2),
            t2,
        );
        assert_eq!(conditions[0].last_transition_time, Time(t2));
        assert_eq!(conditions.len(), 1);
    }

    #[test]
    fn messages_without_detail_end_cleanly() {
        assert_eq!(with_detail("warming", ""), "warming");
        assert_eq!(with_detail("warming", " 1/2 ready "), "warming: 1/2 ready");
    }
}
