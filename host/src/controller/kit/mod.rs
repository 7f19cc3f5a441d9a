//! The machinery every controller shares: the reconcile's one shape ([`pipeline`]), the writes a plan asks for
//! ([`writes`]) and the loop that makes them ([`apply`]), status and Events ([`status`]), conditions and their
//! reasons, deterministic names, shared-object lifetimes ([`sharing`]), the operator's Jobs ([`jobs`]), errors
//! and metrics, and the loop that runs a controller's reconciles from its queue ([`runner`]).

pub mod apply;
pub mod conditions;
pub mod context;
pub mod error;
pub mod jobs;
pub mod metrics;
pub mod names;
pub mod pipeline;
pub mod quantity;
pub mod runner;
pub mod settle;
pub mod sharing;
pub mod slots;
pub mod status;
pub mod writes;

pub(crate) use conditions::reasons;
pub use context::{Context, OperatorConfig};
pub(crate) use error::Error;
