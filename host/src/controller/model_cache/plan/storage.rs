//! The storage steps of a model cache's plan: the source's size (from `spec.size` or the size check) and what the
//! claim and a provisioner say about the volume.

use super::*;

/// The source's size from the size check (recorded in status once found), or what the cache waits for. A check
/// that failed is tried again with the downloads' backoff; only a source that lists no sizes is final.
pub(super) fn sized(
    o: &Observed<'_>,
    config: &DownloadConfig,
    next: &mut ModelCacheStatus,
    plan: &mut Plan,
) -> Result<u64, (Cond, Outcome)> {
    if let Some(found) = next.source_size.as_ref().and_then(quantity::bytes) {
        return Ok(found);
    }
    let mut record = next.size_check.clone().unwrap_or_default();
    let checking = |job: &str| {
        let c = Cond::no(
            reasons::CHECKING_SIZE,
            format!("checking the source's size (Job {job}) to size the volume"),
        );
        Err((c.clone(), Outcome::Progressing(c)))
    };
    match &o.size_check {
        SizeCheck::Found { bytes, skipped } => {
            next.source_size = Some(Quantity(bytes.to_string()));
            next.skipped = skipped.clone();
            Ok(*bytes)
        }
        SizeCheck::Running => checking(&o.size_job),
        SizeCheck::Absent => {
            match still_waiting(
                record.failed_attempts,
                record.last_attempt_time.as_ref(),
                next,
                o.now,
                config,
            ) {
                Some((previous, left)) => {
                    let c = Cond::no(reasons::SIZE_CHECK_FAILED, previous);
                    Err((c.clone(), Outcome::Failed(c, Some(left))))
                }
                None => {
                    plan.create = Create::SizeJob;
                    checking(&o.size_job)
                }
            }
        }
        SizeCheck::Unknown(why) => {
            let c = Cond::no(
                reasons::SIZE_UNKNOWN,
                format!(
                    "the size check (Job {}) cannot size the volume: {why}. Set spec.size to the model's size",
                    o.size_job
                ),
            );
            Err((c.clone(), Outcome::Failed(c, None)))
        }
        SizeCheck::Failed { why, at } => {
            let wait = count_failure(
                &mut record.failed_attempts,
                &mut record.last_attempt_time,
                *at,
                o.now,
                config,
            );
            let c = Cond::no(
                reasons::SIZE_CHECK_FAILED,
                format!(
                    "size check attempt {} (Job {}) failed: {why}; checking again in {}s (or set spec.size)",
                    record.failed_attempts,
                    o.size_job,
                    wait.as_secs()
                ),
            );
            next.size_check = Some(record);
            Err((c.clone(), Outcome::Failed(c, Some(wait))))
        }
    }
}

pub(super) fn class_words(class: Option<&str>) -> String {
    class.map_or("the cluster's default storage class".to_string(), |c| {
        format!("storage class {c}")
    })
}

pub(super) fn storage_state(claim: &PersistentVolumeClaim, o: &Observed<'_>) -> Cond {
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
