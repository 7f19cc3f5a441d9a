//! `FakeKubelet`: for the few pods a test decides the fate of itself. kwok plays the kubelet of the local cluster's
//! nodes and ends Job pods on its own (`controlplane/kwok/pod-stages.yaml`); a pod whose container has
//! `AIM_TEST_MANUAL=true` in its environment is only started, and the test ends it here, writing the status a
//! kubelet writes when a container ends (the real Job controller then completes or fails the Job). It can also
//! report a running pod as no longer ready, as a kubelet does when a readiness probe fails.

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams, Patch, PatchParams};
use serde_json::json;
use std::time::{Duration, Instant};

/// The environment variable that keeps kwok from ending a pod: the test ends it.
pub const MANUAL: &str = "AIM_TEST_MANUAL";

/// How a container ended.
pub enum Exit<'a> {
    /// Exit code 0, with this termination message.
    Succeeded(&'a str),
    /// Exit code 1, with this termination message.
    Failed(&'a str),
}

/// Ends containers for one namespace.
pub struct FakeKubelet {
    pods: Api<Pod>,
}

fn running(p: &Pod) -> bool {
    p.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .is_none_or(|ph| ph == "Pending" || ph == "Running")
}

impl FakeKubelet {
    /// The kubelet of `namespace`.
    pub fn new(client: kube::Client, namespace: &str) -> Self {
        FakeKubelet {
            pods: Api::namespaced(client, namespace),
        }
    }

    /// Waits for a pod of Job `job` that has not ended and returns its name.
    pub async fn pod_of(&self, job: &str) -> String {
        let start = Instant::now();
        loop {
            let list = self
                .pods
                .list(&ListParams::default().labels(&format!("batch.kubernetes.io/job-name={job}")))
                .await
                .expect("list pods");
            if let Some(pod) = list.items.into_iter().find(running) {
                return pod.metadata.name.expect("pod name");
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "the Job controller created no pod for {job}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Ends the only container of Job `job`'s pod, as a kubelet reports it, waiting for the pod to exist.
    pub async fn finish(&self, job: &str, exit: Exit<'_>) {
        let pod = self.pod_of(job).await;
        self.end(&pod, exit).await.expect("write pod status");
    }

    async fn end(&self, pod: &str, exit: Exit<'_>) -> Result<(), kube::Error> {
        let current = self.pods.get(pod).await?;
        let container = current.spec.as_ref().expect("pod spec").containers[0].name.clone();
        let (phase, code, message) = match exit {
            Exit::Succeeded(m) => ("Succeeded", 0, m),
            Exit::Failed(m) => ("Failed", 1, m),
        };
        let now = k8s_openapi::jiff::Timestamp::now().to_string();
        let status = json!({ "status": {
            "phase": phase,
            "conditions": [{ "type": "Ready", "status": "False", "reason": "PodCompleted", "lastTransitionTime": now }],
            "containerStatuses": [{
                "name": container,
                "image": current.spec.as_ref().unwrap().containers[0].image.clone().unwrap_or_default(),
                "imageID": "",
                "ready": false,
                "restartCount": 0,
                "state": { "terminated": {
                    "exitCode": code,
                    "reason": if code == 0 { "Completed" } else { "Error" },
                    "message": message,
                    "startedAt": now,
                    "finishedAt": now,
                }},
            }],
        }});
        self.pods
            .patch_status(pod, &PatchParams::default(), &Patch::Merge(&status))
            .await
            .map(drop)
    }

    /// Reports every pod matching `selector` as running but not ready, as a kubelet does when a readiness probe
    /// fails.
    pub async fn fail_readiness(&self, selector: &str) {
        let now = k8s_openapi::jiff::Timestamp::now().to_string();
        for pod in self
            .pods
            .list(&ListParams::default().labels(selector))
            .await
            .expect("list pods")
            .items
        {
            let status = json!({ "status": { "conditions": [
                { "type": "Ready", "status": "False", "reason": "ReadinessProbeFailed", "lastTransitionTime": now },
                { "type": "ContainersReady", "status": "False", "reason": "ReadinessProbeFailed", "lastTransitionTime": now },
            ] } });
            // Strategic merge: conditions merge by type, so the others (PodScheduled, Initialized) stay.
            self.pods
                .patch_status(
                    pod.metadata.name.as_deref().unwrap_or_default(),
                    &PatchParams::default(),
                    &Patch::Strategic(&status),
                )
                .await
                .expect("write pod status");
        }
    }
}
