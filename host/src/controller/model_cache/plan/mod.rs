//! A model cache's plan, pure: from what the index shows (duplicates, the storage class, the claim and what a
//! provisioner said about it, the download Job and its progress) to the claim and Job to create and the status:
//! `StorageReady`, `Ready`, `Progressing`, `Failure`, `status.status`.
//!
//! The download Job starts as soon as the claim exists (with a `WaitForFirstConsumer` class the claim binds only
//! once the Job's pod is scheduled), but while the claim is not bound the status says the storage is what it
//! waits for, not the download.

use super::build;
use crate::api::{ModelCache, ModelCacheStatus, ModelFiles, ResourceState, SkippedFiles};
use crate::controller::kit::conditions::{self, Cond, reasons, types};
use crate::controller::kit::context::{DownloadConfig, backoff};
use crate::controller::kit::pipeline;
use crate::controller::kit::quantity;
use crate::controller::kit::writes::{Ownership, Writes};
use crate::download::failure::FailureKind;
use crate::download::human;
use crate::download::progress::Report;
use k8s_openapi::api::core::v1::PersistentVolumeClaim;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use std::time::Duration;

/// The download Job of the current attempt, as the index shows it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum DownloadJob {
    Absent,
    /// It runs; the downloader's last progress report.
    Running(Option<Report>),
    Succeeded,
    /// It failed, at `at`, for `detail`.
    Failed {
        /// The downloader's message, or the Job's reason.
        detail: String,
        /// The kind of failure, when the downloader said it.
        kind: Option<FailureKind>,
        at: Option<Timestamp>,
    },
}

/// The size-check Job of the current attempt (a cache without `spec.size`), as the index shows it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum SizeCheck {
    Absent,
    Running,
    /// It answered with the size in bytes of the files the patterns keep, and what they leave out.
    Found {
        bytes: u64,
        skipped: Option<SkippedFiles>,
    },
    /// It answered that the source lists no sizes: nothing to size the volume from, whatever is tried again.
    Unknown(String),
    /// It failed (the source unreachable or refusing, the pod gone), at `at`: tried again with a growing wait.
    Failed {
        why: String,
        at: Option<Timestamp>,
    },
}

/// What the model cache reads.
#[derive(Debug, Clone)]
pub(crate) struct Observed<'a> {
    /// Another cache of the same source in the namespace that came first.
    pub(crate) duplicate_of: Option<String>,
    /// The storage class the claim is (to be) made with: the cache's, else the cluster config's.
    pub(crate) storage_class: Option<String>,
    /// Whether that class exists (always true without one: the cluster default).
    pub(crate) class_exists: bool,
    pub(crate) claim: Option<&'a PersistentVolumeClaim>,
    /// The API server refused to create the claim for lack of quota: its message.
    pub(crate) claim_refused: Option<String>,
    /// The latest Warning a provisioner reported on the claim.
    pub(crate) claim_warning: Option<String>,
    /// The download Job of the current attempt.
    pub(crate) job: DownloadJob,
    /// The size check (only looked at without `spec.size`).
    pub(crate) size_check: SizeCheck,
    /// The size-check Job's name for the current attempt.
    pub(crate) size_job: String,
    /// What the last download said its patterns left out, once it succeeded.
    pub(crate) downloaded_skipped: Option<SkippedFiles>,
    pub(crate) now: Timestamp,
}

/// What to create next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Create {
    Nothing,
    /// The claim (of [`Plan::capacity`]).
    Claim,
    /// The download Job of the current attempt (the claim exists).
    Job,
    /// The size-check Job (no `spec.size`).
    SizeJob,
}

/// The plan.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Plan {
    pub(crate) status: ModelCacheStatus,
    pub(crate) create: Create,
    pub(crate) capacity: Option<Quantity>,
    /// The model's size in bytes (what the downloader expects).
    pub(crate) model_bytes: Option<u64>,
    /// When to reconcile again without a change.
    pub(crate) requeue: Option<Duration>,
}

impl Plan {
    /// The writes that carry out [`Plan::create`] for `mc`, owned by `owner`, with the downloader of `config`.
    pub(crate) fn writes(
        self,
        mc: &ModelCache,
        owner: &OwnerReference,
        config: &DownloadConfig,
    ) -> pipeline::Plan<ModelCacheStatus> {
        let mut writes = Writes::new();
        match self.create {
            Create::Nothing => {}
            Create::Claim => {
                let claim = build::pvc(
                    mc,
                    owner.clone(),
                    self.status.storage_class_name.clone(),
                    self.capacity.clone().unwrap_or_default(),
                );
                writes.create_once(&claim, None);
            }
            Create::Job => {
                let attempt = self.status.download.as_ref().map_or(0, |d| d.failed_attempts);
                // The pod's identity first: it may patch this attempt's Job, and nothing else.
                writes.ensure(
                    &super::identity::service_account(mc, owner.clone()),
                    None,
                    Ownership::Owned,
                );
                writes.ensure(
                    &super::identity::role(mc, owner.clone(), attempt),
                    None,
                    Ownership::Owned,
                );
                writes.ensure(
                    &super::identity::role_binding(mc, owner.clone()),
                    None,
                    Ownership::Owned,
                );
                writes.create_once(&build::download_job(mc, owner.clone(), config, attempt), None);
            }
            Create::SizeJob => {
                let attempt = self.status.size_check.as_ref().map_or(0, |s| s.failed_attempts);
                writes.create_once(&build::size_job(mc, owner.clone(), config, attempt), None);
            }
        }
        pipeline::Plan {
            writes,
            status: self.status,
            requeue: self.requeue,
        }
    }
}

pub(super) enum Outcome {
    Ready,
    Progressing(Cond),
    Failed(Cond, Option<Duration>),
}

/// Counts the failed attempt that ended `at` (once: one the record already counted is not counted again) and
/// returns the wait before the next attempt, for the download and the size check alike.
pub(super) fn count_failure(
    attempts: &mut i32,
    last: &mut Option<Time>,
    at: Option<Timestamp>,
    now: Timestamp,
    config: &DownloadConfig,
) -> Duration {
    let counted = matches!((last.as_ref(), at), (Some(last), Some(at)) if last.0 >= at);
    if !counted {
        *attempts += 1;
        *last = Some(Time(now));
    }
    backoff(config.backoff_base, config.backoff_max, *attempts as u32)
}

/// While the backoff after `attempts` failed attempts (the last counted at `last`) runs: the failure message the
/// status shows, and the time left.
pub(super) fn still_waiting(
    attempts: i32,
    last: Option<&Time>,
    next: &ModelCacheStatus,
    now: Timestamp,
    config: &DownloadConfig,
) -> Option<(String, Duration)> {
    let wait = backoff(config.backoff_base, config.backoff_max, attempts as u32);
    let elapsed = since(last?, now);
    (attempts > 0 && elapsed < wait).then(|| {
        let previous = conditions::get(&next.head.conditions, types::FAILURE)
            .map(|c| c.message.clone())
            .unwrap_or_default();
        (previous, wait - elapsed)
    })
}

pub(super) fn since(t: &Time, now: Timestamp) -> Duration {
    Duration::from_millis((now.as_millisecond() - t.0.as_millisecond()).max(0) as u64)
}

/// The plan for `mc`.
pub(crate) fn plan(mc: &ModelCache, o: &Observed<'_>, config: &DownloadConfig) -> Plan {
    let generation = mc.metadata.generation;
    let current = mc.status.clone().unwrap_or_default();
    let mut next = current.clone();
    next.head.observed_generation = generation;
    next.model_files = Some(ModelFiles::effective(mc.spec.model_files.as_ref()));
    if let Some(skipped) = &o.downloaded_skipped {
        next.skipped = Some(skipped.clone());
    }
    let mut plan = Plan {
        status: ModelCacheStatus::default(),
        create: Create::Nothing,
        capacity: None,
        model_bytes: None,
        requeue: None,
    };
    let (storage, outcome) = advance(mc, o, config, &mut next, &mut plan);
    let set = |next: &mut ModelCacheStatus, t: &str, c: &Cond| {
        conditions::set(&mut next.head.conditions, t, c, generation, o.now)
    };
    if let Some(storage) = &storage {
        set(&mut next, types::STORAGE_READY, storage);
    }
    let retrying = next.download.as_ref().is_some_and(|d| d.failed_attempts > 0);
    match outcome {
        Outcome::Ready => {
            let message = format!(
                "{} is downloaded into {}",
                mc.spec.source_uri,
                next.persistent_volume_claim.clone().unwrap_or_default()
            );
            set(&mut next, types::READY, &Cond::yes(reasons::READY, message));
            set(&mut next, types::PROGRESSING, &Cond::no(reasons::IDLE, ""));
            set(&mut next, types::FAILURE, &Cond::no(reasons::NO_FAILURE, ""));
            next.head.status = Some(ResourceState::Available);
        }
        Outcome::Progressing(c) => {
            set(&mut next, types::READY, &Cond::no(c.reason, c.message.clone()));
            set(&mut next, types::PROGRESSING, &Cond::yes(c.reason, c.message.clone()));
            // While a retry runs, the last failure stays visible until an attempt succeeds.
            let last = conditions::get(&current.head.conditions, types::FAILURE)
                .filter(|c| retrying && c.status == "True" && c.reason == reasons::DOWNLOAD_FAILED)
                .map(|c| format!("{} (retrying)", c.message.trim_end_matches(" (retrying)")));
            let failure = match last {
                Some(message) => Cond::yes(reasons::DOWNLOAD_FAILED, message),
                None => Cond::no(reasons::NO_FAILURE, ""),
            };
            set(&mut next, types::FAILURE, &failure);
            next.head.status = Some(ResourceState::Progressing);
        }
        Outcome::Failed(c, retry) => {
            set(&mut next, types::READY, &Cond::no(c.reason, c.message.clone()));
            set(&mut next, types::PROGRESSING, &Cond::no(reasons::IDLE, ""));
            set(&mut next, types::FAILURE, &Cond::yes(c.reason, c.message.clone()));
            next.head.status = Some(ResourceState::Failed);
            plan.requeue = plan.requeue.or(retry);
        }
    }
    plan.status = next;
    plan
}

fn advance(
    mc: &ModelCache,
    o: &Observed<'_>,
    config: &DownloadConfig,
    next: &mut ModelCacheStatus,
    plan: &mut Plan,
) -> (Option<Cond>, Outcome) {
    if let Some(first) = &o.duplicate_of {
        let message = format!(
            "sourceUri {} is already cached by ModelCache {first} in this namespace; use {first} or delete this one",
            mc.spec.source_uri
        );
        return (
            None,
            Outcome::Failed(Cond::no(reasons::DUPLICATE_SOURCE, message), None),
        );
    }
    next.storage_class_name = o.storage_class.clone();
    if let Some(class) = &o.storage_class
        && !o.class_exists
        && o.claim.is_none()
    {
        let message = format!(
            "StorageClass {class} does not exist: create it, or name another in the ModelCache or AIMClusterConfig"
        );
        let c = Cond::no(reasons::STORAGE_CLASS_MISSING, message);
        return (Some(c.clone()), Outcome::Failed(c, None));
    }
    let model_bytes = match mc.spec.size.as_ref() {
        Some(size) => match quantity::bytes(size) {
            Some(b) => b,
            None => {
                let c = Cond::no(reasons::SIZE_UNKNOWN, format!("spec.size '{}' is not a size", size.0));
                return (Some(c.clone()), Outcome::Failed(c, None));
            }
        },
        None => match sized(o, config, next, plan) {
            Ok(bytes) => bytes,
            Err((storage, outcome)) => return (Some(storage), outcome),
        },
    };
    let size = quantity::volume_size(model_bytes, config.headroom_percent);
    next.capacity = Some(size.clone());
    plan.capacity = Some(size.clone());
    plan.model_bytes = Some(model_bytes);
    if let Some(refusal) = &o.claim_refused {
        let c = Cond::no(
            reasons::INSUFFICIENT_CAPACITY,
            format!("no room for a {} volume: {refusal}", size.0),
        );
        return (Some(c.clone()), Outcome::Failed(c, Some(Duration::from_secs(60))));
    }
    let Some(claim) = o.claim else {
        plan.create = Create::Claim;
        let c = Cond::no(
            reasons::PVC_PENDING,
            format!(
                "volume claim {} is waiting for a volume from {}",
                super::names::pvc_name(&mc.name_any()),
                class_words(o.storage_class.as_deref())
            ),
        );
        return (Some(c.clone()), Outcome::Progressing(c));
    };
    let claim_name = claim.name_any();
    next.persistent_volume_claim = Some(claim_name.clone());
    let storage = storage_state(claim, o);
    if storage.reason == reasons::INSUFFICIENT_CAPACITY {
        return (
            Some(storage.clone()),
            Outcome::Failed(storage, Some(Duration::from_secs(60))),
        );
    }
    if storage.reason == reasons::PVC_LOST {
        return (Some(storage.clone()), Outcome::Failed(storage, None));
    }
    if conditions::is_true(&next.head.conditions, types::READY) {
        return (Some(storage), Outcome::Ready);
    }
    let outcome = download(mc, o, config, next, plan, model_bytes);
    // Until the claim is bound, the storage is what the cache waits for, whatever the Job does meanwhile.
    let outcome = match outcome {
        Outcome::Progressing(_) if !storage.ok => Outcome::Progressing(storage.clone()),
        other => other,
    };
    (Some(storage), outcome)
}

mod download;
mod storage;

use download::download;
use storage::{class_words, sized, storage_state};

#[cfg(test)]
mod tests;
