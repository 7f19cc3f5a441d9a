//! What the integration tests and tools need from the operator's internals, and nothing else: the names the
//! operator gives its children (so a test finds them), and the GPU facts of the local cluster's nodes. The rest
//! of the crate's public surface is the product's: the API types, the controllers' entry points, the policy host,
//! the downloader and the operator process.

pub use crate::controller::model_cache::names::{identity_name, job_name, pvc_name};
pub use crate::controller::template_cache::plan::model_cache_name;
pub use crate::upstream::gpu::model_of;

/// The serialized size of `object` (a Pod, Job, InferenceService, Deployment or Node as the API server returns
/// it) before and after the index slims it, in bytes: what the benchmark reports as the index's bytes per
/// object. `None` for another kind.
pub fn slimmed_sizes(object: &serde_json::Value) -> Option<(usize, usize)> {
    fn sized<K: serde::de::DeserializeOwned + serde::Serialize>(
        object: &serde_json::Value,
        slim: fn(&mut K),
    ) -> Option<(usize, usize)> {
        let mut typed: K = serde_json::from_value(object.clone()).ok()?;
        let before = serde_json::to_vec(&typed).ok()?.len();
        slim(&mut typed);
        Some((before, serde_json::to_vec(&typed).ok()?.len()))
    }
    use crate::index::slim;
    match object.get("kind")?.as_str()? {
        "Pod" => sized(object, slim::pod),
        "Job" => sized(object, slim::job),
        "Deployment" => sized(object, slim::deployment),
        "Node" => sized(object, slim::node),
        "InferenceService" => sized(object, slim::inference_service),
        "HTTPRoute" => sized::<crate::upstream::HttpRoute>(object, slim::common),
        "AIMService" => sized::<crate::api::AIMService>(object, slim::common),
        _ => None,
    }
}
