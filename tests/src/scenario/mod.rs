//! Scenario helpers for the integration tests: the steps many tests repeat, written once.
//!
//! - [`services`]: a catalog of ready templates, services, and waiting on their status and children.
//! - [`caches`]: waiting on a model cache.
//! - [`discovery`]: a template whose dry run the test ends itself (its image, its Job, the kubelet's answer).

pub mod caches;
pub mod discovery;
pub mod services;

pub use services::*;
