//! The default plugins, compiled from `plugins/*` by the build script and embedded in the binary, so a fresh
//! build works with no plugin directory.

use super::kind::PolicyKind;

/// The default matcher (MI300X / MI325X profiles).
pub const MATCHER: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/aim_plugin_matcher.wasm"));
/// The default merger.
pub const MERGER: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/aim_plugin_merger.wasm"));
/// The default router.
pub const ROUTER: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/aim_plugin_router.wasm"));

/// The built-in component of a policy.
pub fn component(kind: PolicyKind) -> &'static [u8] {
    match kind {
        PolicyKind::Matcher => MATCHER,
        PolicyKind::Merger => MERGER,
        PolicyKind::Router => ROUTER,
    }
}

/// The name built-in plugins carry in decisions.
pub fn name(kind: PolicyKind) -> String {
    format!("builtin:{kind}")
}

/// Misbehaving plugins built from `host/tests/plugins/`, for tests of the operator (feature `test-plugins`).
#[cfg(feature = "test-plugins")]
pub mod test_plugins {
    /// A matcher whose request's model ID picks a misbehaviour (`panic`, `loop`, ...); other model IDs get
    /// candidate 0.
    pub const HOSTILE_MATCHER: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/aim_test_plugin_hostile.wasm"));
}
