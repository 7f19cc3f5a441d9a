//! The storage steps of a model cache's plan: the source's size (from `spec.size` or the size check) and what the
//! claim and a provisioner say about the volume.

use super::*;

/// The source's size from the size check (recorded in status once found), or what the cache waits for.
pub(super) fn sized(o: &Observed<'_>, next: &mut ModelCacheStatus, plan: &mut Plan) -> Result<u64, (Cond, Outcome)> {
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
