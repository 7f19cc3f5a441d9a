//! Conditions: their types and reasons (named once, here), a [`Cond`] a plan fills in, and setting one without
//! touching an unchanged one.
//!
//! `lastTransitionTime` moves only when the status flips, so re-deriving the same conditions yields an identical
//! status and the status writer skips the write. Plans take the time as an input, so they stay pure.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;

pub(crate) mod types {
    /// Templates: model sources are known.
    pub(crate) const DISCOVERED: &str = "Discovered";
    /// Templates and template caches: every model source is cached.
    pub(crate) const CACHE_WARM: &str = "CacheWarm";
    /// Every kind: ready for use.
    pub(crate) const READY: &str = "Ready";
    /// Every kind: work is under way.
    pub(crate) const PROGRESSING: &str = "Progressing";
    /// Every kind: something failed; the reason says what.
    pub(crate) const FAILURE: &str = "Failure";
    /// Template caches and services: the template was found.
    pub(crate) const RESOLVED: &str = "Resolved";
    /// Model caches: the volume is bound.
    pub(crate) const STORAGE_READY: &str = "StorageReady";
    /// Services: the model caches are warm (or caching was not asked for).
    pub(crate) const CACHE_READY: &str = "CacheReady";
    /// Services: the KServe InferenceService is ready.
    pub(crate) const RUNTIME_READY: &str = "RuntimeReady";
    /// Services: the HTTPRoute is accepted by the gateway (or routing is off).
    pub(crate) const ROUTING_READY: &str = "RoutingReady";
}

/// Condition reasons (CamelCase, stable: people and alerts match on them).
pub(crate) mod reasons {
    #![allow(missing_docs)]
    // Templates and discovery.
    pub(crate) const INLINE_MODEL_SOURCES: &str = "InlineModelSources";
    pub(crate) const PROFILES_DISCOVERED: &str = "ProfilesDiscovered";
    pub(crate) const AWAITING_DISCOVERY: &str = "AwaitingDiscovery";
    pub(crate) const DISCOVERY_RUNNING: &str = "DiscoveryRunning";
    pub(crate) const WAITING_FOR_DISCOVERY_SLOT: &str = "WaitingForDiscoverySlot";
    pub(crate) const DISCOVERY_BACKOFF: &str = "DiscoveryBackoff";
    pub(crate) const DISCOVERY_FAILED: &str = "DiscoveryFailed";
    pub(crate) const NO_RUNTIME_PROFILE: &str = "NoRuntimeProfile";
    pub(crate) const WAITING_FOR_IMAGE: &str = "WaitingForImage";
    pub(crate) const NAMESPACE_MISSING: &str = "NamespaceMissing";
    pub(crate) const MODEL_NOT_FOUND: &str = "ModelNotFound";
    pub(crate) const TEMPLATE_NOT_FOUND: &str = "TemplateNotFound";
    pub(crate) const RESOLVED: &str = "Resolved";
    // Caching.
    pub(crate) const CACHING_DISABLED: &str = "CachingDisabled";
    pub(crate) const WARMING: &str = "Warming";
    pub(crate) const WARM: &str = "Warm";
    pub(crate) const WARM_FAILED: &str = "WarmFailed";
    pub(crate) const PVC_BOUND: &str = "PVCBound";
    pub(crate) const PVC_PENDING: &str = "PVCPending";
    pub(crate) const PVC_LOST: &str = "PVCLost";
    pub(crate) const STORAGE_CLASS_MISSING: &str = "StorageClassMissing";
    pub(crate) const INSUFFICIENT_CAPACITY: &str = "InsufficientCapacity";
    pub(crate) const SIZE_UNKNOWN: &str = "SizeUnknown";
    pub(crate) const SIZE_CHECK_FAILED: &str = "SizeCheckFailed";
    pub(crate) const CHECKING_SIZE: &str = "CheckingSize";
    pub(crate) const DOWNLOADING: &str = "Downloading";
    pub(crate) const DOWNLOAD_FAILED: &str = "DownloadFailed";
    pub(crate) const DUPLICATE_SOURCE: &str = "DuplicateSourceUri";
    // Generic.
    pub(crate) const READY: &str = "Ready";
    pub(crate) const NOT_READY: &str = "NotReady";
    pub(crate) const NO_FAILURE: &str = "NoFailure";
    pub(crate) const IDLE: &str = "Idle";
    // Services.
    pub(crate) const NOT_RESOLVED: &str = "NotResolved";
    pub(crate) const NOT_REQUESTED: &str = "NotRequested";
    pub(crate) const CACHE_WARMING: &str = "CacheWarming";
    pub(crate) const CACHE_READY: &str = "CacheReady";
    pub(crate) const CACHE_FAILED: &str = "CacheFailed";
    pub(crate) const WAITING_FOR_TEMPLATE: &str = "WaitingForTemplate";
    pub(crate) const WAITING_FOR_CACHE: &str = "WaitingForCache";
    pub(crate) const CREATING_RUNTIME: &str = "CreatingRuntime";
    pub(crate) const RUNTIME_READY: &str = "RuntimeReady";
    pub(crate) const RUNTIME_NOT_READY: &str = "RuntimeNotReady";
    pub(crate) const LOADING_MODEL: &str = "LoadingModel";
    pub(crate) const RUNTIME_STUCK: &str = "RuntimeStuck";
    pub(crate) const PODS_REJECTED: &str = "PodsRejected";
    pub(crate) const KSERVE_UNSUPPORTED: &str = "KServeUnsupported";
    pub(crate) const RUNTIME_REJECTED: &str = "RuntimeRejected";
    pub(crate) const UNSCHEDULABLE: &str = "Unschedulable";
    pub(crate) const REPLICAS_WAITING: &str = "ReplicasWaiting";
    pub(crate) const SCALING: &str = "Scaling";
    pub(crate) const SCALING_UNSUPPORTED: &str = "ScalingUnsupported";
    pub(crate) const SCALED_TO_ZERO: &str = "ScaledToZero";
    pub(crate) const WAKING: &str = "Waking";
    pub(crate) const WAKE_UNAVAILABLE: &str = "WakeUnavailable";
    pub(crate) const ROUTING_DISABLED: &str = "RoutingDisabled";
    pub(crate) const CONFIGURING_ROUTE: &str = "ConfiguringRoute";
    pub(crate) const WAITING_FOR_RUNTIME: &str = "WaitingForRuntime";
    pub(crate) const ROUTE_READY: &str = "RouteReady";
    pub(crate) const ROUTE_FAILED: &str = "RouteFailed";
    pub(crate) const POLICY_FAILED: &str = "PolicyFailed";
    pub(crate) const NO_MATCHING_TEMPLATE: &str = "NoMatchingTemplate";
    pub(crate) const TEMPLATE_MODEL_MISMATCH: &str = "TemplateModelMismatch";
    pub(crate) const DERIVED_NAME_TAKEN: &str = "DerivedNameTaken";
    pub(crate) const TEMPLATE_DOES_NOT_FIT: &str = "TemplateDoesNotFit";
    pub(crate) const INCOMPLETE_OVERRIDES: &str = "IncompleteOverrides";
    // Catalog kinds.
    pub(crate) const DEFAULT_TEMPLATE_FOUND: &str = "DefaultTemplateFound";
    pub(crate) const NO_DEFAULT_TEMPLATE: &str = "NoDefaultTemplate";
    pub(crate) const DEFAULT_TEMPLATE_MISSING: &str = "DefaultTemplateMissing";
    pub(crate) const DUPLICATE_MODEL: &str = "DuplicateModelId";
    pub(crate) const IN_USE: &str = "InUse";
    pub(crate) const IGNORED: &str = "Ignored";
    pub(crate) const GATEWAY_NOT_FOUND: &str = "GatewayNotFound";
}

/// One condition as a plan decides it: whether it holds, why (a reason constant) and what a person should know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Cond {
    pub(crate) ok: bool,
    pub(crate) reason: &'static str,
    /// A sentence for the person reading `kubectl describe`.
    pub(crate) message: String,
}

impl Cond {
    /// A condition that holds.
    pub(crate) fn yes(reason: &'static str, message: impl Into<String>) -> Self {
        Cond {
            ok: true,
            reason,
            message: message.into(),
        }
    }

    /// A condition that does not hold.
    pub(crate) fn no(reason: &'static str, message: impl Into<String>) -> Self {
        Cond {
            ok: false,
            reason,
            message: message.into(),
        }
    }
}

pub(crate) fn status_word(value: bool) -> &'static str {
    if value { "True" } else { "False" }
}

/// Sets condition `type_` to `cond` at `now`. The transition time is kept when the status is unchanged.
pub(crate) fn set(conditions: &mut Vec<Condition>, type_: &str, cond: &Cond, generation: Option<i64>, now: Timestamp) {
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
pub(crate) fn get<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

/// True when condition `type_` is set to `True`.
pub(crate) fn is_true(conditions: &[Condition], type_: &str) -> bool {
    get(conditions, type_).is_some_and(|c| c.status == "True")
}

/// `head: detail`, or just `head` when there is no detail: a message never ends in a dangling colon.
pub(crate) fn with_detail(head: impl Into<String>, detail: &str) -> String {
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
