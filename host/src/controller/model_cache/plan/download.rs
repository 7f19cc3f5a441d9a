//! The download step of a model cache's plan: the Job of the current attempt, its progress, a failure counted once
//! with its backoff, and when the next attempt starts.

use super::*;

pub(super) fn download(
    mc: &ModelCache,
    o: &Observed<'_>,
    config: &DownloadConfig,
    next: &mut ModelCacheStatus,
    plan: &mut Plan,
    model_bytes: u64,
) -> Outcome {
    let mut record = next.download.clone().unwrap_or_default();
    let name = crate::controller::model_cache::names::job_name(&mc.name_any(), record.failed_attempts);
    record.job = Some(name.clone());
    let outcome = match &o.job {
        DownloadJob::Succeeded => {
            record.percent = Some(100);
            record.progress = Some("100%".into());
            record.downloaded_bytes = record.total_bytes.or(Some(model_bytes as i64));
            Outcome::Ready
        }
        DownloadJob::Failed { detail, kind, at } => {
            let wait = count_failure(
                &mut record.failed_attempts,
                &mut record.last_attempt_time,
                *at,
                o.now,
                config,
            );
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
                record.progress = Some(format!("{}% {}/s", report.percent(), human(report.bytes_per_second)));
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
            match still_waiting(
                record.failed_attempts,
                record.last_attempt_time.as_ref(),
                next,
                o.now,
                config,
            ) {
                Some((previous, left)) => Outcome::Failed(Cond::no(reasons::DOWNLOAD_FAILED, previous), Some(left)),
                None => {
                    plan.create = Create::Job;
                    Outcome::Progressing(Cond::no(reasons::DOWNLOADING, format!("download Job {name} started")))
                }
            }
        }
    };
    next.download = Some(record);
    outcome
}
