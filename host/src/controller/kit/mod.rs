//! The machinery every controller shares: reading status and writing only differences, conditions and their
//! reasons, deterministic names, shared-object lifetimes, the one Job skeleton, errors and metrics, and the
//! loop that runs a controller's reconciles from its queue.

pub mod apply;
pub mod conditions;
pub mod context;
pub mod error;
pub mod jobs;
pub mod metrics;
pub mod names;
pub mod quantity;
pub mod runner;
pub mod sharing;
pub mod status;

pub use conditions::{Cond, reasons, types};
pub use context::{Context, OperatorConfig};
pub use error::Error;
