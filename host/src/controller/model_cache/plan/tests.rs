//! Table tests of the plan: observations in, the status and what to create out. No API server.
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
            model_files: None,
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
        downloaded_skipped: None,
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
    found.size_check = SizeCheck::Found {
        bytes: 15 << 30,
        skipped: None,
    };
    let p = plan(&mc(None), &found, &config());
    assert_eq!(p.create, Create::Claim);
    assert_eq!(p.capacity, Some(Quantity("17Gi".into())));
    assert_eq!(p.status.source_size, Some(Quantity((15u64 << 30).to_string())));
    // Once recorded, the status keeps the size even after the size-check Job is gone.
    let mut known = mc(None);
    known.status = Some(p.status.clone());
    let p = plan(&known, &observed(None, DownloadJob::Absent), &config());
    assert_eq!(p.create, Create::Claim);

    let mut unknown = observed(None, DownloadJob::Absent);
    unknown.size_check = SizeCheck::Unknown("the source lists no sizes for its files".into());
    let p = plan(&mc(None), &unknown, &config());
    let (status, reason) = cond(&p.status, types::FAILURE);
    assert_eq!((status.as_str(), reason.as_str()), ("True", reasons::SIZE_UNKNOWN));
    assert_eq!(p.create, Create::Nothing);
    assert_eq!(p.requeue, None, "a source that lists no sizes is not asked again");
}

#[test]
fn a_failed_size_check_is_tried_again_with_a_growing_wait() {
    // The first check fails (the endpoint unreachable): counted once, a retry after the backoff.
    let mut failed = observed(None, DownloadJob::Absent);
    failed.size_check = SizeCheck::Failed {
        why: "cannot reach https://huggingface.co (connection refused)".into(),
        at: Some(at(90)),
    };
    let p = plan(&mc(None), &failed, &config());
    let (status, reason) = cond(&p.status, types::FAILURE);
    assert_eq!((status.as_str(), reason.as_str()), ("True", reasons::SIZE_CHECK_FAILED));
    let message = &conditions::get(&p.status.head.conditions, types::FAILURE)
        .unwrap()
        .message;
    assert!(
        message.contains("size check attempt 1") && message.contains("checking again in"),
        "{message}"
    );
    assert!(
        !message.contains("download"),
        "the message is about the size check: {message}"
    );
    assert_eq!(p.status.size_check.as_ref().map(|s| s.failed_attempts), Some(1));
    let first_wait = p.requeue.expect("a retry is scheduled");
    // Within the wait, no new Job; after it, the next attempt's Job.
    let mut waiting = mc(None);
    waiting.status = Some(p.status.clone());
    let p = plan(&waiting, &observed(None, DownloadJob::Absent), &config());
    assert_eq!(p.create, Create::Nothing);
    assert!(p.requeue.is_some_and(|r| r <= first_wait));
    let mut later = observed(None, DownloadJob::Absent);
    later.now = at(100 + first_wait.as_secs() as i64 + 1);
    let p = plan(&waiting, &later, &config());
    assert_eq!(p.create, Create::SizeJob);
    // A second failure waits longer.
    let mut again = mc(None);
    again.status = Some(p.status.clone());
    let mut failed = observed(None, DownloadJob::Absent);
    failed.now = at(1000);
    failed.size_check = SizeCheck::Failed {
        why: "the Job ended without saying".into(),
        at: Some(at(999)),
    };
    let p = plan(&again, &failed, &config());
    assert_eq!(p.status.size_check.as_ref().map(|s| s.failed_attempts), Some(2));
    assert!(p.requeue.unwrap() > first_wait);
}

fn cond(s: &ModelCacheStatus, t: &str) -> (String, String) {
    let c = conditions::get(&s.head.conditions, t).unwrap();
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
    let message = conditions::get(&p.status.head.conditions, types::READY)
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
    assert_eq!(p.status.head.status, Some(ResourceState::Available));
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
    assert_eq!(p.status.head.status, Some(ResourceState::Failed));
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
