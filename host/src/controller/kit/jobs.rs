//! The operator's Jobs (template discovery, model downloads and size checks): the one skeleton they are built
//! from (one container, no retries of their own — the operator retries with its own backoff and keeps count in
//! status —, the container's last log lines as its termination message when it fails, the Pod Security
//! "restricted" profile), and the one way their outcome is read back from the index ([`observe`]).

use crate::index::Index;
use k8s_openapi::api::batch::v1::{Job, JobSpec};
use k8s_openapi::api::core::v1::{
    Capabilities, Container, LocalObjectReference, PodSecurityContext, PodSpec, PodTemplateSpec, SeccompProfile,
    SecurityContext, Volume,
};
use k8s_openapi::api::core::v1::{ContainerStateTerminated, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use k8s_openapi::jiff::Timestamp;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The user and group every Job container runs as (the operator image's non-root user).
pub(crate) const RUN_AS: i64 = 65532;

/// What differs between the operator's Jobs.
pub(crate) struct JobInputs {
    pub(crate) name: String,
    pub(crate) namespace: String,
    /// Labels of the Job and its pod.
    pub(crate) labels: BTreeMap<String, String>,
    /// The owner (deleting it deletes the Job).
    pub(crate) owner: OwnerReference,
    /// The one container; its security context is set here.
    pub(crate) container: Container,
    /// Volumes of the pod.
    pub(crate) volumes: Vec<Volume>,
    /// Pull secrets for the container image.
    pub(crate) image_pull_secrets: Vec<LocalObjectReference>,
    /// The longest the pod may run.
    pub(crate) active_deadline_seconds: Option<i64>,
    /// The pod's ServiceAccount, when it talks to the API server; without one no token is mounted.
    pub(crate) service_account: Option<String>,
    /// The container's root filesystem is read-only: true for the operator's own image, which writes only to its
    /// volumes; an AIM image's dry run is left as its image was built.
    pub(crate) read_only_root: bool,
}

/// No privilege escalation and no capabilities.
pub(crate) fn restricted_container() -> SecurityContext {
    SecurityContext {
        allow_privilege_escalation: Some(false),
        capabilities: Some(Capabilities {
            drop: Some(vec!["ALL".into()]),
            add: None,
        }),
        ..Default::default()
    }
}

/// Non-root with the runtime's default seccomp profile; volumes writable by the group.
pub(crate) fn restricted_pod() -> PodSecurityContext {
    PodSecurityContext {
        run_as_non_root: Some(true),
        run_as_user: Some(RUN_AS),
        run_as_group: Some(RUN_AS),
        fs_group: Some(RUN_AS),
        seccomp_profile: Some(SeccompProfile {
            type_: "RuntimeDefault".into(),
            localhost_profile: None,
        }),
        ..Default::default()
    }
}

pub(crate) fn build(inputs: JobInputs) -> Job {
    let container = Container {
        // When the container fails, its last log lines become the termination message the operator reports.
        termination_message_policy: Some("FallbackToLogsOnError".into()),
        security_context: Some(SecurityContext {
            read_only_root_filesystem: Some(inputs.read_only_root).filter(|r| *r),
            ..restricted_container()
        }),
        ..inputs.container
    };
    Job {
        metadata: ObjectMeta {
            name: Some(inputs.name),
            namespace: Some(inputs.namespace),
            labels: Some(inputs.labels.clone()),
            owner_references: Some(vec![inputs.owner]),
            ..Default::default()
        },
        spec: Some(JobSpec {
            backoff_limit: Some(0),
            active_deadline_seconds: inputs.active_deadline_seconds,
            ttl_seconds_after_finished: Some(3600),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(inputs.labels),
                    ..Default::default()
                }),
                spec: Some(PodSpec {
                    restart_policy: Some("Never".into()),
                    containers: vec![container],
                    volumes: Some(inputs.volumes).filter(|v| !v.is_empty()),
                    image_pull_secrets: Some(inputs.image_pull_secrets).filter(|s| !s.is_empty()),
                    security_context: Some(restricted_pod()),
                    automount_service_account_token: Some(inputs.service_account.is_some()),
                    service_account_name: inputs.service_account,
                    ..Default::default()
                }),
            },
            ..Default::default()
        }),
        status: None,
    }
}

/// A Job of the operator's, as the index shows it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum JobRun {
    Absent,
    /// It runs, or waits to.
    Running,
    Succeeded {
        /// Its container's termination message (what the operator's own commands print last).
        message: Option<String>,
        /// The pod that succeeded, if the index still has it (to read its log when it left no message).
        pod: Option<Arc<Pod>>,
    },
    Failed {
        /// Its container's termination message (the last log lines, with `FallbackToLogsOnError`), else the reason
        /// it ended.
        message: Option<String>,
        /// The Job's own failure message (a deadline, a pod that could not start).
        job_message: String,
        at: Option<Timestamp>,
    },
}

/// Job `name` in `namespace` and the outcome of its container `container`.
pub(crate) fn observe(index: &Index, namespace: &str, name: &str, container: &str) -> JobRun {
    let Some(job) = index.job(namespace, name) else {
        return JobRun::Absent;
    };
    let status = job.status.clone().unwrap_or_default();
    let pods = index.pods_of_job(namespace, name);
    let ended = |phase: &str| {
        pods.iter()
            .find(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some(phase))
            .cloned()
    };
    if status.succeeded.unwrap_or(0) > 0 {
        let pod = ended("Succeeded");
        return JobRun::Succeeded {
            message: pod.as_deref().and_then(|p| termination_message(p, container)),
            pod,
        };
    }
    let failed = status
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == "Failed" && c.status == "True");
    match failed {
        Some(condition) => JobRun::Failed {
            message: ended("Failed").or_else(|| pods.first().cloned()).and_then(|p| {
                let terminated = terminated(&p, container)?;
                terminated
                    .message
                    .filter(|m| !m.trim().is_empty())
                    .or(terminated.reason)
            }),
            job_message: condition.message.clone().unwrap_or_default(),
            at: condition.last_transition_time.as_ref().map(|t| t.0),
        },
        None => JobRun::Running,
    }
}

/// The termination message container `container` of `pod` left, if it ended with one.
pub(crate) fn termination_message(pod: &Pod, container: &str) -> Option<String> {
    terminated(pod, container)?.message.filter(|m| !m.trim().is_empty())
}

fn terminated(pod: &Pod, container: &str) -> Option<ContainerStateTerminated> {
    pod.status
        .as_ref()?
        .container_statuses
        .as_ref()?
        .iter()
        .find(|c| c.name == container)?
        .state
        .as_ref()?
        .terminated
        .clone()
}
