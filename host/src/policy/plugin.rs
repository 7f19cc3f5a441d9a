//! A plugin that passed every check at load: its policy, provenance, contract and the type-checked
//! `InstancePre` every call instantiates from.

use super::bindings::{matcher, merger, router};
use super::kind::{PolicyKind, Provenance};
use super::sandbox::HostState;

/// The type-checked, ready-to-instantiate form of a plugin (what [`super::Policy`] impls instantiate).
#[doc(hidden)]
pub enum Pre {
    Matcher(matcher::MatcherPolicyPre<HostState>),
    Merger(merger::MergerPolicyPre<HostState>),
    Router(router::RouterPolicyPre<HostState>),
}

/// A plugin that passed every check.
pub struct LoadedPlugin {
    /// Its policy.
    pub kind: PolicyKind,
    /// Its name and digest, recorded with each decision.
    pub provenance: Provenance,
    /// The contract it was built against, e.g. `aim:policy@0.1.0`.
    pub contract: String,
    /// What it imports (all within the allowlist).
    pub imports: Vec<String>,
    pub(crate) pre: Pre,
}
