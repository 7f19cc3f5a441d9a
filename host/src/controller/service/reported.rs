//! What other controllers report on a service's children: a condition by type from a child's status (KServe's
//! `Ready` on the InferenceService, KEDA's on a ScaledObject) and a gateway's `Accepted` on the route, read from
//! the JSON the index keeps of them.

use crate::api::GatewayRef;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde_json::Value;

/// A condition another controller reports on a child (KServe's `Ready`, a gateway's `Accepted`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Reported {
    /// `True`, `False` or `Unknown`.
    pub(crate) status: String,
    pub(crate) reason: String,
    pub(crate) message: String,
    /// When it last changed, as the reporter says.
    pub(crate) since: Option<Time>,
}

impl Reported {
    /// True when the status is `True`.
    pub(crate) fn is_true(&self) -> bool {
        self.status == "True"
    }
}

/// The condition `type_` in the list at `pointer` of a child's status.
pub(crate) fn reported(status: &Value, pointer: &str, type_: &str) -> Option<Reported> {
    let c = status
        .pointer(pointer)?
        .as_array()?
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some(type_))?;
    let field = |k: &str| c.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
    Some(Reported {
        status: field("status"),
        reason: field("reason"),
        message: field("message"),
        since: field("lastTransitionTime").parse().ok().map(Time),
    })
}

/// The route's `Accepted` condition from the parent entry of `gateway` in the route's status.
pub(crate) fn accepted(status: &Value, gateway: &GatewayRef) -> Option<Reported> {
    let parents = status.pointer("/parents")?.as_array()?;
    let index = parents.iter().position(|p| {
        p.pointer("/parentRef/name").and_then(Value::as_str) == Some(gateway.name.as_str())
            && p.pointer("/parentRef/namespace")
                .and_then(Value::as_str)
                .is_none_or(|ns| ns == gateway.namespace)
    })?;
    reported(status, &format!("/parents/{index}/conditions"), "Accepted")
}
