//! Policy plugins: template matching, override merging and routing, as sandboxed WebAssembly components.
//!
//! - [`bindings`]: the host side of `wit/aim-policy.wit`.
//! - [`loader`]: checks and compiles a component (header, contract version, import allowlist, type check,
//!   smoke test) into a [`plugin::LoadedPlugin`].
//! - [`sandbox`]: the shared engine and the per-call store (CPU deadline, memory cap, WASI granting nothing).
//! - [`policies`]: the three policies as one trait; [`call`] + [`validate`]: one decision, and the checks on
//!   its answer.
//! - [`engine`]: the current plugin of each policy, built-in defaults, atomic swaps, concurrency limit; its
//!   [`memo`] of decisions and its [`metrics`].
//! - [`reload`]: loading a directory's plugin files where they changed; [`watch`]: hot reload when it changes; [`ledger`]: which plugin is in use since when, and the last
//!   refusal, for the admin.
//!
//! A broken or hostile plugin never takes the operator down: every failure is a [`error::LoadError`] (the
//! last good plugin stays) or a [`error::CallError`] (that decision fails, the next call starts clean).

pub mod artifact_cache;
pub mod bindings;
pub mod builtin;
pub mod call;
pub mod engine;
pub mod error;
pub mod golden;
pub mod kind;
pub mod ledger;
pub mod limits;
pub mod loader;
pub mod memo;
pub mod metrics;
pub mod plugin;
pub mod policies;
pub mod reload;
pub mod sandbox;
pub mod validate;
pub mod watch;

pub use engine::{Decided, PolicyEngine, PolicyEngineConfig};
pub use error::{CallError, LoadError};
pub use kind::{PolicyKind, Provenance, ReloadEvent};
pub use limits::SandboxLimits;
pub use policies::{Matcher, Merger, Policy, Router};
