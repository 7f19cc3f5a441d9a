//! `FakeCluster`: every missing cluster component at once, for end-to-end runs (the seed test and the demo).
//! In a loop over the given namespaces it plays
//! - the kubelet: discovery pods end with a dry-run result for the template's GPU, precision and metric,
//!   download pods end successfully;
//! - a storage provisioner: pending claims get a volume;
//! - KServe: InferenceServices become Ready;
//! - a gateway controller: HTTPRoutes are Accepted by their gateway.
//!
//! It stops when dropped.

use crate::fake_kserve::{FakeGatewayController, FakeKServe};
use crate::kubelet::{Exit, FakeKubelet};
use crate::provisioner::FakeProvisioner;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::PersistentVolumeClaim;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, ListParams};
use std::time::Duration;

/// A running fake cluster; dropping it stops the loop.
pub struct FakeCluster {
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeCluster {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What an AIM image's dry-run prints for a discovery Job: one profile with one model, named after the
/// job's `AIM_*` variables, 16 GiB.
pub fn dry_run_for(job: &Job) -> String {
    let env: Vec<(String, String)> = job
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .map(|p| {
            p.containers[0]
                .env
                .iter()
                .flatten()
                .map(|e| (e.name.clone(), e.value.clone().unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default();
    let get = |k: &str, default: &str| {
        env.iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.to_lowercase())
            .unwrap_or(default.into())
    };
    let (gpu, precision, metric, count) = (
        get("AIM_GPU_MODEL", "mi300x"),
        get("AIM_PRECISION", "fp16"),
        get("AIM_METRIC", "latency"),
        get("AIM_GPU_COUNT", "1"),
    );
    format!(
        r#"[{{"filename": "vllm-{gpu}-{precision}-tp{count}-{metric}.yaml", "models": [{{"name": "meta-llama/Llama-3.1-8B-Instruct", "source": "hf://meta-llama/Llama-3.1-8B-Instruct-{precision}", "size_gb": 15.0}}]}}]"#
    )
}

impl FakeCluster {
    /// Starts playing the missing components for `namespaces`, providing `storage_classes`.
    pub fn start(client: kube::Client, namespaces: Vec<String>, storage_classes: &[&str]) -> Self {
        let classes: Vec<String> = storage_classes.iter().map(|c| c.to_string()).collect();
        let task = tokio::spawn(async move {
            for class in &classes {
                FakeProvisioner::new(client.clone()).storage_class(class).await;
            }
            loop {
                for ns in &namespaces {
                    // Each pass runs as its own task, so a helper that panics on a race ends only that pass.
                    let (client, ns) = (client.clone(), ns.clone());
                    if let Ok(Err(e)) = tokio::spawn(async move { tick(&client, &ns).await }).await {
                        tracing::debug!(error = %e, "fake cluster pass failed");
                    }
                }
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        });
        FakeCluster { task }
    }
}

async fn tick(client: &kube::Client, ns: &str) -> Result<(), kube::Error> {
    let kubelet = FakeKubelet::new(client.clone(), ns);
    let jobs: Api<Job> = Api::namespaced(client.clone(), ns);
    for job in jobs
        .list(&ListParams::default().labels("app.kubernetes.io/managed-by=aim-operator"))
        .await?
        .items
    {
        let status = job.status.clone().unwrap_or_default();
        if status.succeeded.unwrap_or(0) > 0 || status.failed.unwrap_or(0) > 0 || status.active.unwrap_or(0) == 0 {
            continue;
        }
        let name = job.metadata.name.clone().unwrap_or_default();
        let component = job
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get("aim.silogen.ai/component"))
            .cloned()
            .unwrap_or_default();
        let output = if component == "discovery" {
            dry_run_for(&job)
        } else {
            "downloaded".to_string()
        };
        kubelet.finish_if_pending(&name, Exit::Succeeded(&output)).await?;
    }
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), ns);
    for claim in claims.list(&ListParams::default()).await?.items {
        if claim.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Pending")
            && claim.spec.as_ref().and_then(|s| s.volume_name.as_ref()).is_none()
        {
            FakeProvisioner::new(client.clone())
                .create_volume(ns, &claim.metadata.name.unwrap_or_default())
                .await?;
        }
    }
    let dynamic = |group: &str, version: &str, kind: &str| -> Api<DynamicObject> {
        Api::namespaced_with(
            client.clone(),
            ns,
            &ApiResource::from_gvk(&GroupVersionKind::gvk(group, version, kind)),
        )
    };
    for isvc in dynamic("serving.kserve.io", "v1beta1", "InferenceService")
        .list(&ListParams::default())
        .await?
        .items
    {
        if isvc.data.pointer("/status/conditions").is_none() {
            FakeKServe::new(client.clone())
                .set_ready(ns, &isvc.metadata.name.unwrap_or_default(), true)
                .await;
        }
    }
    for route in dynamic("gateway.networking.k8s.io", "v1", "HTTPRoute")
        .list(&ListParams::default())
        .await?
        .items
    {
        if route.data.pointer("/status/parents").is_none()
            && let Some(parent) = route.data.pointer("/spec/parentRefs/0")
        {
            let (gw, gw_ns) = (
                parent["name"].as_str().unwrap_or_default(),
                parent["namespace"].as_str().unwrap_or(ns),
            );
            FakeGatewayController::new(client.clone())
                .set_accepted(
                    ns,
                    &route.metadata.name.unwrap_or_default(),
                    gw_ns,
                    gw,
                    true,
                    "Accepted",
                )
                .await;
        }
    }
    Ok(())
}
