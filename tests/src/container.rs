//! `JobContainer`: the container runtime for a download Job's pod. kwok runs no containers, so where a test or the
//! demo wants the download itself, this runs the Job's own command line as a local process, with the Job's
//! environment and its ServiceAccount's identity (a kubeconfig holding that account's token, as the pod would
//! mount), writing into a local directory that stands for the cache volume. When the process exits,
//! [`FakeKubelet`] reports it on the pod (its last line as the termination message), and the real Job controller
//! completes or fails the Job. The Job must carry `AIM_TEST_MANUAL=true` so kwok leaves its pod to us.

use crate::kubelet::{Exit, FakeKubelet};
use k8s_openapi::api::batch::v1::Job;
use kube::ResourceExt;
use std::path::Path;
use std::process::Stdio;

/// A download Job's container, running as a process.
pub struct JobContainer {
    job: String,
    namespace: String,
    child: tokio::process::Child,
}

/// How the container ended.
pub struct Exited {
    /// Exit code 0.
    pub ok: bool,
    /// Everything it printed on stdout.
    pub stdout: String,
    /// Everything it printed on stderr.
    pub stderr: String,
}

impl JobContainer {
    /// Starts `job`'s only container: `aim-operator` from the workspace runs the Job's arguments with the Job's
    /// env, `AIM_DOWNLOAD_DIR` pointing at `cache_dir` instead of the volume's mount path, as the Job's
    /// ServiceAccount of the cluster of admin `kubeconfig`.
    pub async fn start(kubectl: &Path, kubeconfig: &Path, job: &Job, cache_dir: &Path) -> JobContainer {
        let namespace = job.namespace().expect("a namespaced Job");
        let pod = job
            .spec
            .as_ref()
            .and_then(|s| s.template.spec.as_ref())
            .expect("pod template");
        let container = &pod.containers[0];
        let command = container.command.clone().expect("the Job names its command");
        assert_eq!(command[0], "aim-operator", "a download Job runs the operator's binary");
        let account = pod
            .service_account_name
            .clone()
            .expect("the Job names its ServiceAccount");
        std::fs::create_dir_all(cache_dir).expect("cache directory");
        let identity = crate::identity::service_account_kubeconfig(
            kubectl,
            kubeconfig,
            &namespace,
            &account,
            &cache_dir.with_extension("kubeconfig"),
        )
        .await
        .expect("a kubeconfig for the Job's ServiceAccount");
        let mut process = tokio::process::Command::new(crate::replica::operator_binary());
        process
            .args(&command[1..])
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("KUBECONFIG", &identity)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for var in container.env.clone().unwrap_or_default() {
            process.env(&var.name, var.value.unwrap_or_default());
        }
        process.env("AIM_DOWNLOAD_DIR", cache_dir);
        JobContainer {
            job: job.name_any(),
            namespace,
            child: process.spawn().expect("start the downloader"),
        }
    }

    /// Waits for the process to end and reports its end on the Job's pod as the kubelet would.
    pub async fn exit(self, client: kube::Client) -> Exited {
        let out = self.child.wait_with_output().await.expect("wait for the downloader");
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        let last = stdout.lines().last().unwrap_or_default().to_string();
        let kubelet = FakeKubelet::new(client, &self.namespace);
        let exit = if out.status.success() {
            Exit::Succeeded(&last)
        } else {
            Exit::Failed(&last)
        };
        kubelet.finish(&self.job, exit).await;
        Exited {
            ok: out.status.success(),
            stdout,
            stderr: String::from_utf8_lossy(&out.stderr).to_string(),
        }
    }
}
