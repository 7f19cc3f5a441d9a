//! A model cache's plan, pure: from what the index shows (duplicates, the storage class, the claim and what a
//! provisioner said about it, the download Job and its progress) to the claim and Job to create and the status:
//! `StorageReady`, `Ready`, `Progressing`, `Failure`, `status.status`.
//!
//! The download Job starts as soon as the claim exists (with a `WaitForFirstConsumer` class the claim binds only
//! once the Job's pod is scheduled), but while the claim is not bound the status says the storage is what it
//! waits for, not the download.

use crate::api::{ModelCache, ModelCacheStatus, ResourceState};
use crate::controller::kit::conditions::{self, Cond, reasons, types};
use crate::controller::kit::context::{DownloadConfig, backoff};
use crate::controller::kit::quantity;
use k8s_openapi::api::core::v1::PersistentVolumeClaim;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use std::time::Duration;

/// The download Job of the current attempt, as the index shows it.
#[derive(Debug, Clone, PartialEq)]
pub enum DownloadJob {
    /// There is none.
    Absent,
    /// It runs; the downloader's last progress report (bytes done, total, percent).
    Running(Option<(i64, i64, i32)>),
    /// It succeeded.
    Succeeded,
    /// It failed, at `at`, for `detail`.
    Failed {
        /// The downloader's last line, or the Job's reason.
        detail: String,
        /// When.
        at: Option<Timestamp>,
    },
}

/// What the model cache reads.
#[derive(Debug, Clone)]
pub struct Observed<'a> {
    /// Another cache of the same source in the namespace that came first.
    pub duplicate_of: Option<String>,
    /// The storage class the claim is (to be) made with: the cache's, else the cluster config's.
    pub storage_class: Option<String>,
    /// Whether that class exists (always true without one: the cluster default).
    pub class_exists: bool,
    /// The claim.
    pub claim: Option<&'a PersistentVolumeClaim>,
    /// The API server refused to create the claim for lack of quota: its message.
    pub claim_refused: Option<String>,
    /// The latest Warning a provisioner reported on the claim.
    pub claim_warning: Option<String>,
    /// The download Job of the current attempt.
    pub job: DownloadJob,
    /// The time.
    pub now: Timestamp,
}

/// What to create next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Create {
    /// Nothing.
    Nothing,
    /// The claim (of [`Plan::capacity`]).
    Claim,
    /// The download Job of the current attempt (the claim exists).
    Job,
}

/// The plan.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The status.
    pub status: ModelCacheStatus,
    /// What to create.
    pub create: Create,
    /// The claim's size.
    pub capacity: Option<Quantity>,
    /// The model's size in bytes (what the downloader expects).
    pub model_bytes: Option<u64>,
    /// When to reconcile again without a change.
    pub requeue: Option<Duration>,
}

enum Outcome {
    Ready,
    Progressing(Cond),
    Failed(Cond, Option<Duration>),
}

fn since(t: &Time, now: Timestamp) -> Duration {
    Duration::from_millis((now.as_millisecond() - t.0.as_millisecond()).max(0) as u64)
}

/// The plan for `mc`.
pub fn plan(mc: &ModelCache, o: &Observed<'_>, config: &DownloadConfig) -> Plan {
    let generation = mc.metadata.generation;
    let current = mc.status.clone().unwrap_or_default();
    let mut next = ModelCacheStatus {
        observed_generation: generation,
        ..current.clone()
    };
    let mut plan = Plan {
        status: ModelCacheStatus::default(),
        create: Create::Nothing,
        capacity: None,
        model_bytes: None,
        requeue: None,
    };
    let (storage, outcome) = advance(mc, o, config, &mut next, &mut plan);
    let set =
        |next: &mut ModelCacheStatus, t: &str, c: &Cond| conditions::set(&mut next.conditions, t, c, generation, o.now);
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
            next.status = Some(ResourceState::Available);
        }
        Outcome::Progressing(c) => {
            set(&mut next, types::READY, &Cond::no(c.reason, c.message.clone()));
            set(&mut next, types::PROGRESSING, &Cond::yes(c.reason, c.message.clone()));
            // While a retry runs, the last failure stays visible until an attempt succeeds.
            let last = conditions::get(&current.conditions, types::FAILURE)
                .filter(|c| retrying && c.status == "True" && c.reason == reasons::DOWNLOAD_FAILED)
                .map(|c| format!("{} (retrying)", c.message.trim_end_matches(" (retrying)")));
            let failure = match last {
                Some(message) => Cond::yes(reasons::DOWNLOAD_FAILED, message),
                None => Cond::no(reasons::NO_FAILURE, ""),
            };
            set(&mut next, types::FAILURE, &failure);
            next.status = Some(ResourceState::Progressing);
        }
        Outcome::Failed(c, retry) => {
            set(&mut next, types::READY, &Cond::no(c.reason, c.message.clone()));
            set(&mut next, types::PROGRESSING, &Cond::no(reasons::IDLE, ""));
            set(&mut next, types::FAILURE, &Cond::yes(c.reason, c.message.clone()));
            next.status = Some(ResourceState::Failed);
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
    let Some(model_bytes) = mc.spec.size.as_ref().and_then(quantity::bytes) else {
        let message =
            "the model's size is unknown: set spec.size (templates report sizes when discovery finds them)".to_string();
        let c = Cond::no(reasons::SIZE_UNKNOWN, message);
        return (Some(c.clone()), Outcome::Failed(c, None));
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
                super::build::pvc_name(&mc.name_any()),
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
    if conditions::is_true(&next.conditions, types::READY) {
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

fn class_words(class: Option<&str>) -> String {
    class.map_or("the cluster's default storage class".to_string(), |c| {
        format!("storage class {c}")
    })
}

fn storage_state(claim: &PersistentVolumeClaim, o: &Observed<'_>) -> Cond {
    let name = claim.name_any();
    match claim.status.as_ref().and_then(|s| s.phase.as_deref()) {
        Some("Bound") => Cond::yes(reasons::PVC_BOUND, format!("volume claim {name} is bound")),
        Some("Lost") => Cond::no(
            reasons::PVC_LOST,
            format!("volume claim {name} lost its volume; delete the ModelCache to start over"),
        ),
        _ => match &o.claim_warning {
            Some(message) => {
                let lower = message.to_lowercase();
                if lower.contains("insufficient") || lower.contains("capacity") || lower.contains("quota") {
                    Cond::no(
                        reasons::INSUFFICIENT_CAPACITY,
                        format!("the volume for {name} cannot be provisioned: {message}"),
                    )
                } else {
                    Cond::no(
                        reasons::PVC_PENDING,
                        format!("volume claim {name} is pending: {message}"),
                    )
                }
            }
            None => Cond::no(
                reasons::PVC_PENDING,
                format!(
                    "volume claim {name} is waiting for a volume from {}",
                    class_words(o.storage_class.as_deref())
                ),
            ),
        },
    }
}

fn download(
    mc: &ModelCache,
    o: &Observed<'_>,
    config: &DownloadConfig,
    next: &mut ModelCacheStatus,
    plan: &mut Plan,
    model_bytes: u64,
) -> Outcome {
    let mut record = next.download.clone().unwrap_or_default();
    let name = super::build::job_name(&mc.name_any(), record.failed_attempts);
    record.job = Some(name.clone());
    let outcome = match &o.job {
        DownloadJob::Succeeded => {
            record.percent = Some(100);
            record.downloaded_bytes = record.total_bytes.or(Some(model_bytes as i64));
            Outcome::Ready
        }
        DownloadJob::Failed { detail, at } => {
            let counted = match (&record.last_attempt_time, at) {
                (Some(last), Some(at)) => last.0 >= *at,
                _ => false,
            };
            if !counted {
                record.failed_attempts += 1;
                record.last_attempt_time = Some(Time(o.now));
            }
            let wait = backoff(config.backoff_base, config.backoff_max, record.failed_attempts as u32);
            Outcome::Failed(
                Cond::no(
                    reasons::DOWNLOAD_FAILED,
                    format!(
                        "download attempt {} failed: {detail}; retrying in {}s",
                        record.failed_attempts,
                        wait.as_secs()
                    ),
                ),
                Some(wait),
            )
        }
        DownloadJob::Running(progress) => {
            if let Some((done, total, percent)) = progress {
                record.downloaded_bytes = Some(*done);
                record.total_bytes = Some(*total);
                record.percent = Some(*percent);
            }
            let shown = record.percent.map_or(String::new(), |p| format!(" ({p}%)"));
            Outcome::Progressing(Cond::no(
                reasons::DOWNLOADING,
                format!("downloading {}{shown}", mc.spec.source_uri),
            ))
        }
        DownloadJob::Absent => {
            let wait = backoff(config.backoff_base, config.backoff_max, record.failed_attempts as u32);
            let elapsed = record.last_attempt_time.as_ref().map(|t| since(t, o.now));
            match elapsed {
                Some(elapsed) if record.failed_attempts > 0 && elapsed < wait => {
                    let previous = conditions::get(&next.conditions, types::FAILURE)
                        .map(|c| c.message.clone())
                        .unwrap_or_default();
                    Outcome::Failed(Cond::no(reasons::DOWNLOAD_FAILED, previous), Some(wait - elapsed))
                }
                _ => {
                    plan.create = Create::Job;
                    Outcome::Progressing(Cond::no(reasons::DOWNLOADING, format!("download Job {name} started")))
                }
            }
        }
    };
    next.download = Some(record);
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{Credentials, ModelCacheSpec};
    use k8s_openapi::api::core::v1::PersistentVolumeClaimStatus;

    fn config() -> DownloadConfig {
        DownloadConfig {
            image: "dl:1".into(),
            backoff_base: Duration::from_secs(10),
            backoff_max: Duration::from_secs(60),
            headroom_percent: 10,
        }
    }

    fn mc(size: Option<&str>) -> ModelCache {
        let mut mc = ModelCache::new(
            "weights",
            ModelCacheSpec {
                source_uri: "hf://org/model".into(),
                storage_class_name: None,
                size: size.map(|s| Quantity(s.into())),
                credentials: Credentials::default(),
            },
        );
        mc.metadata.namespace = Some("team".into());
        mc
    }

    fn claim(phase: &str) -> PersistentVolumeClaim {
        let mut c = PersistentVolumeClaim::default();
        c.metadata.name = Some("weights-cache".into());
        c.status = Some(PersistentVolumeClaimStatus {
            phase: Some(phase.into()),
            ..Default::default()
        });
        c
    }

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(1_700_000_000 + seconds).unwrap()
    }

    fn observed(claim: Option<&PersistentVolumeClaim>, job: DownloadJob) -> Observed<'_> {
        Observed {
            duplicate_of: None,
            storage_class: Some("rwx".into()),
            class_exists: true,
            claim,
            claim_refused: None,
            claim_warning: None,
            job,
            now: at(100),
        }
    }

    fn cond(s: &ModelCacheStatus, t: &str) -> (String, String) {
        let c = conditions::get(&s.conditions, t).unwrap();
        (c.status.clone(), c.reason.clone())
    }

    #[test]
    fn a_new_cache_makes_its_claim_with_headroom_then_its_job() {
        let p = plan(&mc(Some("15Gi")), &observed(None, DownloadJob::Absent), &config());
        assert_eq!(p.create, Create::Claim);
        assert_eq!(p.capacity, Some(Quantity("17Gi".into())));
        let pending = claim("Pending");
        let p = plan(
            &mc(Some("15Gi")),
            &observed(Some(&pending), DownloadJob::Absent),
            &config(),
        );
        assert_eq!(
            p.create,
            Create::Job,
            "the Job starts while the claim waits for its first consumer"
        );
        assert_eq!(
            cond(&p.status, types::READY),
            ("False".into(), reasons::PVC_PENDING.into()),
            "the storage is what it waits for"
        );
    }

    #[test]
    fn a_bound_claim_and_a_running_job_report_progress_and_success_is_ready() {
        let bound = claim("Bound");
        let p = plan(
            &mc(Some("1Gi")),
            &observed(Some(&bound), DownloadJob::Running(Some((512, 2048, 25)))),
            &config(),
        );
        assert_eq!(
            cond(&p.status, types::PROGRESSING),
            ("True".into(), reasons::DOWNLOADING.into())
        );
        assert_eq!(p.status.download.as_ref().unwrap().percent, Some(25));
        let p = plan(
            &mc(Some("1Gi")),
            &observed(Some(&bound), DownloadJob::Succeeded),
            &config(),
        );
        assert_eq!(p.status.status, Some(ResourceState::Available));
        assert_eq!(
            cond(&p.status, types::STORAGE_READY),
            ("True".into(), reasons::PVC_BOUND.into())
        );
    }

    #[test]
    fn a_failed_download_counts_once_and_backs_off() {
        let bound = claim("Bound");
        let failed = DownloadJob::Failed {
            detail: "401 Unauthorized".into(),
            at: Some(at(90)),
        };
        let p = plan(&mc(Some("1Gi")), &observed(Some(&bound), failed.clone()), &config());
        assert_eq!(p.status.status, Some(ResourceState::Failed));
        assert_eq!(p.status.download.as_ref().unwrap().failed_attempts, 1);
        assert_eq!(p.requeue, Some(Duration::from_secs(10)));
        let mut again = mc(Some("1Gi"));
        again.status = Some(p.status.clone());
        let p2 = plan(&again, &observed(Some(&bound), failed), &config());
        assert_eq!(p2.status.download.as_ref().unwrap().failed_attempts, 1, "counted once");
    }

    #[test]
    fn what_stops_a_cache_is_named() {
        let mut dup = observed(None, DownloadJob::Absent);
        dup.duplicate_of = Some("first".into());
        let p = plan(&mc(Some("1Gi")), &dup, &config());
        assert_eq!(
            cond(&p.status, types::FAILURE),
            ("True".into(), reasons::DUPLICATE_SOURCE.into())
        );
        let mut missing = observed(None, DownloadJob::Absent);
        missing.class_exists = false;
        let p = plan(&mc(Some("1Gi")), &missing, &config());
        assert_eq!(
            cond(&p.status, types::STORAGE_READY),
            ("False".into(), reasons::STORAGE_CLASS_MISSING.into())
        );
        let p = plan(&mc(None), &observed(None, DownloadJob::Absent), &config());
        assert_eq!(
            cond(&p.status, types::FAILURE),
            ("True".into(), reasons::SIZE_UNKNOWN.into())
        );
        let mut quota = observed(None, DownloadJob::Absent);
        quota.claim_refused = Some("exceeded quota: requests.storage".into());
        let p = plan(&mc(Some("1Gi")), &quota, &config());
        assert_eq!(
            cond(&p.status, types::FAILURE),
            ("True".into(), reasons::INSUFFICIENT_CAPACITY.into())
        );
        assert_eq!(p.create, Create::Nothing);
    }
}
