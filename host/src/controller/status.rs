//! Writing status: only when it differs from what the object already has, with server-side apply under the
//! operator's field manager, and an Event for every condition that changed status or reason.

use super::context::{Context, FIELD_MANAGER};
use super::error::Error;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::api::{Api, Patch, PatchParams};
use kube::core::object::HasStatus;
use kube::runtime::events::{Event, EventType};
use kube::{Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fmt::Debug;

/// A status with standard conditions.
pub trait WithConditions {
    /// The conditions.
    fn conditions(&self) -> &[Condition];
}

/// Conditions whose transitions are not worth an Event (they change on every step of long work).
const QUIET: [&str; 1] = [super::conditions::types::PROGRESSING];

/// Applies `status` if it differs from the object's; returns whether it wrote.
pub async fn write<K>(ctx: &Context, api: &Api<K>, obj: &K, status: K::Status) -> Result<bool, Error>
where
    K: Resource<DynamicType = ()> + HasStatus + Clone + Debug + DeserializeOwned + Serialize,
    K::Status: PartialEq + Serialize + WithConditions,
{
    let old = obj.status();
    if old == Some(&status) {
        return Ok(false);
    }
    let patch = serde_json::json!({
        "apiVersion": K::api_version(&()),
        "kind": K::kind(&()),
        "status": status,
    });
    api.patch_status(
        &obj.name_any(),
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&patch),
    )
    .await
    .map_err(|source| Error::Kube {
        action: format!("write the status of {} {}", K::kind(&()), obj.name_any()),
        source,
    })?;
    publish_transitions(
        ctx,
        obj,
        old.map(WithConditions::conditions).unwrap_or_default(),
        status.conditions(),
    )
    .await;
    Ok(true)
}

async fn publish_transitions<K: Resource<DynamicType = ()>>(
    ctx: &Context,
    obj: &K,
    old: &[Condition],
    new: &[Condition],
) {
    for condition in new.iter().filter(|c| !QUIET.contains(&c.type_.as_str())) {
        let before = old.iter().find(|c| c.type_ == condition.type_);
        if before.is_some_and(|b| b.status == condition.status && b.reason == condition.reason) {
            continue;
        }
        let failure = condition.type_ == super::conditions::types::FAILURE && condition.status == "True";
        let not_ready = condition.status == "False" && condition.type_ != super::conditions::types::FAILURE;
        // A condition first reported as not-ready on a new object is the normal start, not a warning.
        let warning = failure || (not_ready && before.is_some_and(|b| b.status == "True"));
        if condition.type_ == super::conditions::types::FAILURE && condition.status != "True" && before.is_none() {
            continue;
        }
        let event = Event {
            type_: if warning { EventType::Warning } else { EventType::Normal },
            reason: condition.reason.clone(),
            note: Some(truncate(
                &format!("{}={}: {}", condition.type_, condition.status, condition.message),
                1000,
            )),
            action: format!("Set{}", condition.type_),
            secondary: None,
        };
        if let Err(e) = ctx.recorder.publish(&event, &obj.object_ref(&())).await {
            tracing::warn!(error = %e, "failed to publish an event");
        }
    }
}

fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}
