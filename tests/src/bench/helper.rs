//! Plays the kubelet and a storage provisioner for the benchmark's caches, until those run for real in the
//! local cluster: a pending volume claim in the namespace gets a volume, and a running download Job's pod ends
//! successfully. Nothing else is touched (InferenceServices stay as the operator made them).

use crate::kubelet::{Exit, FakeKubelet};
use crate::provisioner::FakeProvisioner;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::PersistentVolumeClaim;
use kube::api::{Api, ListParams};
use std::time::Duration;

/// The running helper; stops when dropped.
pub struct CacheHelper {
    task: tokio::task::JoinHandle<()>,
}

impl Drop for CacheHelper {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl CacheHelper {
    /// Starts playing both for `namespace`.
    pub fn start(client: kube::Client, namespace: String) -> Self {
        let task = tokio::spawn(async move {
            loop {
                let _ = tick(&client, &namespace).await;
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        });
        CacheHelper { task }
    }
}

async fn tick(client: &kube::Client, ns: &str) -> Result<(), kube::Error> {
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), ns);
    for claim in claims.list(&ListParams::default()).await?.items {
        if claim.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Pending") {
            FakeProvisioner::new(client.clone())
                .create_volume(ns, &claim.metadata.name.unwrap_or_default())
                .await?;
        }
    }
    let jobs: Api<Job> = Api::namespaced(client.clone(), ns);
    let kubelet = FakeKubelet::new(client.clone(), ns);
    for job in jobs
        .list(&ListParams::default().labels("aim.silogen.ai/component=download"))
        .await?
        .items
    {
        let s = job.status.clone().unwrap_or_default();
        if s.active.unwrap_or(0) > 0 {
            kubelet
                .finish_if_pending(&job.metadata.name.unwrap_or_default(), Exit::Succeeded("downloaded"))
                .await?;
        }
    }
    Ok(())
}
