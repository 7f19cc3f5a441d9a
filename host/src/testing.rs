//! What the integration tests and tools need from the operator's internals, and nothing else: the names the
//! operator gives its children (so a test finds them), and the GPU facts of the local cluster's nodes. The rest
//! of the crate's public surface is the product's: the API types, the controllers' entry points, the policy host,
//! the downloader and the operator process.

pub use crate::controller::model_cache::names::{identity_name, job_name, pvc_name};
pub use crate::controller::template_cache::plan::model_cache_name;
pub use crate::upstream::gpu::{model_of, model_of_node};

/// An object as the index keeps it, for the benchmark's bytes per object.
pub struct Kept {
    /// Serialized bytes as the API server returned it.
    pub listed: usize,
    /// Serialized bytes as the index keeps it.
    pub kept: usize,
    /// The kept object itself (its heap is what the index pays per object).
    pub object: Box<dyn std::any::Any + Send>,
}

/// `text` (a Pod, Job, Deployment, Node, InferenceService, HTTPRoute or AIMService as the API server returns it)
/// decoded as the index's watch decodes it and slimmed as the index slims it. `None` for another kind.
pub fn keep(text: &str) -> Option<Kept> {
    fn kept<K: serde::de::DeserializeOwned + serde::Serialize + Send + 'static>(
        text: &str,
        slim: fn(&mut K),
    ) -> Option<Kept> {
        let mut typed: K = serde_json::from_str(text).ok()?;
        slim(&mut typed);
        Some(Kept {
            listed: text.len(),
            kept: serde_json::to_vec(&typed).ok()?.len(),
            object: Box::new(typed),
        })
    }
    use crate::index::slim;
    #[derive(serde::Deserialize)]
    struct Kind<'a> {
        kind: &'a str,
    }
    match serde_json::from_str::<Kind>(text).ok()?.kind {
        "Pod" => kept(text, slim::pod),
        "Job" => kept(text, slim::job),
        "Deployment" => kept(text, slim::deployment),
        "Node" => kept(text, slim::node),
        "InferenceService" => kept(text, slim::inference_service),
        "HTTPRoute" => kept::<crate::upstream::HttpRoute>(text, slim::common),
        "AIMService" => kept::<crate::api::AIMService>(text, slim::common),
        _ => None,
    }
}
