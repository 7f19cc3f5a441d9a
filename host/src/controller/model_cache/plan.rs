//! A model cache's plan, pure: from what the index shows (duplicates, the storage class, the claim and what a
//! provisioner said about it, the download Job and its progress) to the claim and Job to create and the status:
//! `StorageReady`, `Ready`, `Progressing`, `Failure`, `status.status`.
//!
//! The download Job starts as soon as the claim exists (with a `WaitForFirstConsumer` class the claim binds only
//! once the Job's pod is scheduled), but while the claim is not bound the status says the storage is what it
//! waits for, not the download.

use super::build;
use crate::api::{ModelCache, ModelCacheStatus, ResourceState};
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

/// The size-check Job of the current spec (a cache without `spec.size`), as the index shows it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum SizeCheck {
    Absent,
    Running,
    /// It answered with the source's size in bytes.
    Found(u64),
    /// It failed, or answered something else: what it said.
    Failed(String),
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
    /// The size-check Job's name for the current spec.
    pub(crate) size_job: String,
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
                writes.ensure(&build::service_account(mc, owner.clone()), None, Ownership::Owned);
                writes.ensure(&build::role(mc, owner.clone(), attempt), None, Ownership::Owned);
                writes.ensure(&build::role_binding(mc, owner.clone()), None, Ownership::Owned);
                writes.create_once(&build::download_job(mc, owner.clone(), config, attempt), None);
            }
            Create::SizeJob => {
                let generation = mc.metadata.generation.unwrap_or_default() as i32;
                writes.create_once(&build::size_job(mc, owner.clone(), config, generation), None);
            }
        }
        pipeline::Plan {
            writes,
            status: self.status,
            requeue: self.requeue,
        }
    }
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
pub(crate) fn plan(mc: &ModelCache, o: &Observed<'_>, config: &DownloadConfig) -> Plan {
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
    let model_bytes = match mc.spec.size.as_ref() {
        Some(size) => match quantity::bytes(size) {
            Some(b) => b,
            None => {
                let c = Cond::no(reasons::SIZE_UNKNOWN, format!("spec.size '{}' is not a size", size.0));
                return (Some(c.clone()), Outcome::Failed(c, None));
            }
        },
        None => match sized(o, next, plan) {
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

/// The source's size from the size check (recorded in status once found), or what the cache waits for.
fn sized(o: &Observed<'_>, next: &mut ModelCacheStatus, plan: &mut Plan) -> Result<u64, (Cond, Outcome)> {
    if let Some(found) = next.source_size.as_ref().and_then(quantity::bytes) {
        return Ok(found);
    }
    match &o.size_check {
        SizeCheck::Found(bytes) => {
            next.source_size = Some(Quantity(bytes.to_string()));
            Ok(*bytes)
        }
        SizeCheck::Absent | SizeCheck::Running => {
            if o.size_check == SizeCheck::Absent {
                plan.create = Create::SizeJob;
            }
            let c = Cond::no(
                reasons::CHECKING_SIZE,
                format!("checking the source's size (Job {}) to size the volume", o.size_job),
            );
            Err((c.clone(), Outcome::Progressing(c)))
        }
        SizeCheck::Failed(why) => {
            let c = Cond::no(
                reasons::SIZE_UNKNOWN,
                format!(
                    "the size check (Job {}) could not tell the source's size: {why}. Set spec.size, or fix the cause \
                     and edit the spec to check again",
                    o.size_job
                ),
            );
            Err((c.clone(), Outcome::Failed(c, None)))
        }
    }
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
        DownloadJob::Failed { detail, kind, at } => {
            let counted = match (&record.last_attempt_time, at) {
                (Some(last), Some(at)) => last.0 >= *at,
                _ => false,
            };
            if !counted {
                record.failed_attempts += 1;
                record.last_attempt_time = Some(Time(o.now));
            }
            let wait = backoff(config.backoff_base, config.backoff_max, record.failed_attempts as u32);
            let reason = if *kind == Some(FailureKind::DiskFull) {
                reasons::INSUFFICIENT_CAPACITY
            } else {
                reasons::DOWNLOAD_FAILED
            };
            Outcome::Failed(
                Cond::no(
                    reason,
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
            if let Some(report) = progress {
                record.downloaded_bytes = Some(report.done as i64);
                record.total_bytes = Some(report.total as i64);
                record.percent = Some(report.percent());
                record.bytes_per_second = Some(report.bytes_per_second as i64);
            }
            let shown = match progress {
                Some(r) => format!(
                    ": {} of {} ({}%), {}/s",
                    human(r.done),
                    human(r.total),
                    r.percent(),
                    human(r.bytes_per_second)
                ),
                None => String::new(),
            };
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
    use crate::download::failure::FailureKind;
    use k8s_openapi::api::core::v1::PersistentVolumeClaimStatus;

    fn config() -> DownloadConfig {
        DownloadConfig {
            image: "dl:1".into(),
            backoff_base: Duration::from_secs(10),
            backoff_max: Duration::from_secs(60),
            headroom_percent: 10,
            ca_bundle: None,
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
            size_check: SizeCheck::Absent,
            size_job: "weights-size-a1".into(),
            now: at(100),
        }
    }

    fn bound_claim() -> PersistentVolumeClaim {
        claim("Bound")
    }

    #[test]
    fn without_a_size_the_size_check_runs_first_and_its_answer_sizes_the_volume() {
        let p = plan(&mc(None), &observed(None, DownloadJob::Absent), &config());
        assert_eq!(p.create, Create::SizeJob);
        assert_eq!(
            cond(&p.status, types::READY),
            ("False".into(), reasons::CHECKING_SIZE.into())
        );
        let mut found = observed(None, DownloadJob::Absent);
        found.size_check = SizeCheck::Found(15 << 30);
        let p = plan(&mc(None), &found, &config());
        assert_eq!(p.create, Create::Claim);
        assert_eq!(p.capacity, Some(Quantity("17Gi".into())));
        assert_eq!(p.status.source_size, Some(Quantity((15u64 << 30).to_string())));
        // Once recorded, the status keeps the size even after the size-check Job is gone.
        let mut known = mc(None);
        known.status = Some(p.status.clone());
        let p = plan(&known, &observed(None, DownloadJob::Absent), &config());
        assert_eq!(p.create, Create::Claim);

        let mut failed = observed(None, DownloadJob::Absent);
        failed.size_check = SizeCheck::Failed("hf://org/model needs credentials".into());
        let p = plan(&mc(None), &failed, &config());
        let (status, reason) = cond(&p.status, types::FAILURE);
        assert_eq!((status.as_str(), reason.as_str()), ("True", reasons::SIZE_UNKNOWN));
        assert_eq!(p.create, Create::Nothing);
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
            &observed(
                Some(&bound),
                DownloadJob::Running(Some(Report {
                    done: 512 << 20,
                    total: 2048 << 20,
                    bytes_per_second: 100 << 20,
                })),
            ),
            &config(),
        );
        assert_eq!(
            cond(&p.status, types::PROGRESSING),
            ("True".into(), reasons::DOWNLOADING.into())
        );
        let download = p.status.download.as_ref().unwrap();
        assert_eq!(download.percent, Some(25));
        assert_eq!(download.bytes_per_second, Some(100 << 20));
        let message = conditions::get(&p.status.conditions, types::READY)
            .unwrap()
            .message
            .clone();
        assert_eq!(
            message,
            "downloading hf://org/model: 512.0 MiB of 2.0 GiB (25%), 100.0 MiB/s"
        );
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
            kind: Some(FailureKind::Unauthorized),
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
        let bound = bound_claim();
        let mut full = observed(Some(&bound), DownloadJob::Absent);
        full.job = DownloadJob::Failed {
            detail: "the cache volume is full".into(),
            kind: Some(FailureKind::DiskFull),
            at: Some(at(90)),
        };
        let p = plan(&mc(Some("1Gi")), &full, &config());
        assert_eq!(
            cond(&p.status, types::FAILURE),
            ("True".into(), reasons::INSUFFICIENT_CAPACITY.into()),
            "a full disk is a capacity problem, not a download one"
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
