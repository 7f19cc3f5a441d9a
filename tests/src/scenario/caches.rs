//! Model caches: waiting on their conditions and their download Jobs.

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
            .head
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

/// The first download Job of ModelCache `cache` in `namespace`, once the operator has made it.
pub async fn download_job(client: kube::Client, namespace: &str, cache: &str) -> k8s_openapi::api::batch::v1::Job {
    let jobs: Api<k8s_openapi::api::batch::v1::Job> = Api::namespaced(client, namespace);
    let name = aim_operator::testing::job_name(cache, 0);
    wait::until(&format!("the download Job of {cache}"), || async {
        jobs.get_opt(&name)
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| "not yet".to_string())
    })
    .await
}
