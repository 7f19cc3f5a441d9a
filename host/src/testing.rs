//! What the integration tests and tools need from the operator's internals, and nothing else: the names the
//! operator gives its children (so a test finds them), and the GPU facts of the local cluster's nodes. The rest
//! of the crate's public surface is the product's: the API types, the controllers' entry points, the policy host,
//! the downloader and the operator process.

pub use crate::controller::model_cache::names::{identity_name, job_name, pvc_name};
pub use crate::controller::template_cache::plan::model_cache_name;
pub use crate::upstream::gpu::model_of;
