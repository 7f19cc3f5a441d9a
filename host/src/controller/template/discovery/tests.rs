//! Table tests of the discovery step: the index's view in, the next step and the Job action out.
use super::*;

const OUTPUT: &str = r#"[{"filename": "p.yaml", "models": [{"name": "m", "source": "hf://org/m", "size_gb": 1}]}]"#;

fn config() -> DiscoveryConfig {
    DiscoveryConfig {
        max_concurrent_jobs: 2,
        backoff_base: Duration::from_secs(10),
        backoff_max: Duration::from_secs(60),
        image_grace: Duration::from_secs(30),
    }
}

fn at(seconds: i64) -> Timestamp {
    Timestamp::from_second(1_700_000_000 + seconds).unwrap()
}

fn observed<'a>(status: &'a TemplateStatus, job: JobState) -> Observed<'a> {
    Observed {
        status,
        image: Some("reg/aim:1"),
        model: "m/x",
        asked: "2 × MI300X, fp8, latency".into(),
        created: Some(at(0)),
        hash: "h1".into(),
        job_name: "ns/discover-t-h1".into(),
        job,
        running: (0, 2),
        refused: None,
        now: at(100),
    }
}

#[test]
fn a_template_without_a_job_starts_one_when_a_slot_is_free_and_waits_when_none_is() {
    let status = TemplateStatus::default();
    let p = plan(&observed(&status, JobState::Absent), &config());
    assert_eq!(p.job, JobAction::Create);
    assert_eq!(
        p.step,
        Step::Running {
            job: "discover-t-h1".into()
        }
    );
    let mut full = observed(&status, JobState::Absent);
    full.running = (2, 2);
    let p = plan(&full, &config());
    assert_eq!(p.job, JobAction::Keep);
    assert!(matches!(
        p.step,
        Step::Waiting {
            reason: reasons::WAITING_FOR_DISCOVERY_SLOT,
            ..
        }
    ));
}

#[test]
fn a_succeeded_job_gives_the_sources_and_a_current_result_is_kept_without_a_job() {
    let status = TemplateStatus::default();
    let p = plan(&observed(&status, JobState::Succeeded(Ok(OUTPUT.into()))), &config());
    let Step::Done { sources, profile } = &p.step else {
        panic!("{:?}", p.step)
    };
    assert_eq!(
        (sources[0].source_uri.as_str(), profile.as_ref().map(|p| p.id.as_str())),
        ("hf://org/m", Some("p"))
    );
    let done = TemplateStatus {
        model_sources: sources.clone(),
        discovery: p.record.clone(),
        profile: profile.as_deref().cloned(),
        ..Default::default()
    };
    let again = plan(&observed(&done, JobState::Absent), &config());
    assert!(
        matches!(&again.step, Step::Done { profile: Some(p), .. } if p.id == "p") && again.job == JobAction::Keep,
        "{again:?}"
    );
}

#[test]
fn a_failure_is_counted_once_backs_off_and_then_retries() {
    let status = TemplateStatus::default();
    let failed = JobState::Failed {
        detail: "boom".into(),
        at: Some(at(90)),
    };
    let p = plan(&observed(&status, failed.clone()), &config());
    assert_eq!(p.job, JobAction::Delete);
    assert!(
        matches!(&p.step, Step::Failed { message, .. } if message.contains("attempt 1: boom")),
        "{p:?}"
    );
    let after = TemplateStatus {
        discovery: p.record.clone(),
        ..Default::default()
    };
    // The Job is still in the index until its deletion arrives: not a second failure.
    let again = plan(&observed(&after, failed), &config());
    assert_eq!(again.record.as_ref().unwrap().failed_attempts, 1);
    assert_eq!(again.job, JobAction::Delete);
    // Gone, within the backoff: wait.
    let mut waiting = observed(&after, JobState::Absent);
    waiting.now = at(105);
    assert!(matches!(
        plan(&waiting, &config()).step,
        Step::Waiting {
            reason: reasons::DISCOVERY_BACKOFF,
            ..
        }
    ));
    // After it: start again.
    waiting.now = at(111);
    assert_eq!(plan(&waiting, &config()).job, JobAction::Create);
}

#[test]
fn bad_output_is_a_failure_that_says_what_was_wrong() {
    let status = TemplateStatus::default();
    let p = plan(
        &observed(&status, JobState::Succeeded(Ok("Traceback".into()))),
        &config(),
    );
    assert!(
        matches!(&p.step, Step::Failed { reason: reasons::DISCOVERY_FAILED, message, retry: Some(_) }
        if message.contains("holds no JSON list")),
        "{p:?}"
    );
}

#[test]
fn an_empty_answer_says_what_was_asked_and_is_not_asked_again() {
    let status = TemplateStatus::default();
    let log = "x - aim_runtime.aim_runtime - WARNING - No compatible profile found or error occurred: No compatible \
               profile found for AIM m/x. Profile breakdown: 14 gpu_mismatch\n[]\n";
    let p = plan(&observed(&status, JobState::Succeeded(Ok(log.into()))), &config());
    let Step::Failed { reason, message, retry } = &p.step else {
        panic!("{p:?}")
    };
    assert_eq!((*reason, *retry), (reasons::NO_RUNTIME_PROFILE, None));
    assert!(
        message.contains("no runtime profile for 2 × MI300X, fp8, latency")
            && message.contains("Profile breakdown: 14 gpu_mismatch"),
        "{message}"
    );
    assert_eq!(p.job, JobAction::Delete, "the finished Job goes");
    // The Job gone, the answer stands: no new Job for the same spec.
    let after = TemplateStatus {
        discovery: p.record.clone(),
        ..Default::default()
    };
    let again = plan(&observed(&after, JobState::Absent), &config());
    assert_eq!(again.job, JobAction::Keep);
    assert!(matches!(
        again.step,
        Step::Failed {
            reason: reasons::NO_RUNTIME_PROFILE,
            ..
        }
    ));
    // A new spec (another hash) asks again.
    let mut changed = observed(&after, JobState::Absent);
    changed.hash = "h2".into();
    assert_eq!(plan(&changed, &config()).job, JobAction::Create);
}

#[test]
fn a_missing_image_is_waited_for_quietly_then_reported() {
    let status = TemplateStatus::default();
    let mut o = observed(&status, JobState::Absent);
    o.image = None;
    o.now = at(5);
    assert!(matches!(
        plan(&o, &config()).step,
        Step::Waiting {
            reason: reasons::WAITING_FOR_IMAGE,
            ..
        }
    ));
    o.now = at(31);
    assert!(matches!(
        plan(&o, &config()).step,
        Step::Failed {
            reason: reasons::MODEL_NOT_FOUND,
            ..
        }
    ));
}
