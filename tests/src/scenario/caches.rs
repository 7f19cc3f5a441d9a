//! Model caches: waiting on their conditions.

use crate::wait;
use aim_operator::api::ModelCache;
use kube::api::Api;

/// Waits until ModelCache `name` in `namespace` is Ready.
pub async fn model_cache_ready(client: kube::Client, namespace: &str, name: &str) {
    let caches: Api<ModelCache> = Api::namespaced(client, namespace);
    wait::until(&format!("ModelCache {name} to be Ready"), || async {
        let mc = caches.get(name).await.map_err(|e| e.to_string())?;
        let ready = mc
            .status
            .unwrap_or_default()
            .conditions
            .into_iter()
            .find(|c| c.type_ == "Ready");
        match ready {
            Some(c) if c.status == "True" => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await
}
