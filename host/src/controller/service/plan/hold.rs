//! The hold on a running service's status while its InferenceService, deleted by someone, is put back: the
//! status stays Running for a moment instead of flapping to Degraded and back.

use super::Observed;
use crate::api::{AIMServiceStatus, ServiceState};
use crate::controller::kit::conditions::{self, reasons, types};
use std::time::Duration;

/// How long a running service keeps its status while its InferenceService, deleted by someone, is put back.
pub(crate) const RESTORE_HOLD: Duration = Duration::from_secs(3);

/// The rest of the hold, when `next` would call a running service Degraded only because its InferenceService
/// is being put back (absent now, or made less than [`RESTORE_HOLD`] ago and not ready yet).
pub(super) fn held(current: &AIMServiceStatus, next: &AIMServiceStatus, o: &Observed) -> Option<Duration> {
    let was_running = current.head.status == Some(ServiceState::Running);
    let now_degraded = next.head.status == Some(ServiceState::Degraded);
    let runtime = conditions::get(&next.head.conditions, types::RUNTIME_READY)?;
    let restoring = [reasons::CREATING_RUNTIME, reasons::RUNTIME_NOT_READY].contains(&runtime.reason.as_str());
    if !(was_running && now_degraded && restoring) || o.runtime_blocked.is_some() {
        return None;
    }
    let age = match o.isvc.as_deref() {
        None => Duration::ZERO,
        Some(isvc) => {
            let made = isvc.metadata.creation_timestamp.as_ref()?.0;
            Duration::from_millis((o.now.as_millisecond() - made.as_millisecond()).max(0) as u64)
        }
    };
    RESTORE_HOLD.checked_sub(age).filter(|left| !left.is_zero())
}
