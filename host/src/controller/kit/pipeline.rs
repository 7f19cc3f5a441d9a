//! The one shape of every reconcile, after its kind's observe and plan steps:
//!
//! 1. [`prelude`]: an object being deleted is left to the garbage collector; a shared object the operator made
//!    (derived template, template cache, model cache) is collected once it has had no users for the grace
//!    period ([`super::sharing`]).
//! 2. observe (the kind's own): read the index, and the policy plugins where the product says so.
//! 3. plan (the kind's own, pure): the writes, the status and when to look again, as a [`Plan`].
//! 4. [`finish`]: the writes but deletions, the status (only when it differs), then the deletions (after the
//!    status that explains them); a write refused for a reason a person can act on is handed back to the plan
//!    once, which then says why.

use super::apply::{self, Refusal};
use super::context::Context;
use super::error::Error;
use super::sharing::Usage;
use super::status::{self, WithConditions};
use super::writes::Writes;
use kube::core::object::HasStatus;
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType};
use kube::{Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fmt::Debug;
use std::time::Duration;

/// What a plan asks for.
#[derive(Debug, Clone)]
pub(crate) struct Plan<S> {
    /// The writes, in order.
    pub(crate) writes: Writes,
    pub(crate) status: S,
    /// When to reconcile again without a change (`None`: on the next change).
    pub(crate) requeue: Option<Duration>,
}

impl<S> Plan<S> {
    /// A plan of `status` and no writes.
    pub(crate) fn status(status: S) -> Self {
        Plan {
            writes: Writes::new(),
            status,
            requeue: None,
        }
    }
}

/// How a reconcile starts.
pub(crate) enum Prelude {
    /// Go on; look again after this at the latest (a shared object waiting out its grace period).
    Reconcile(Option<Duration>),
    /// Done: the object is being deleted, or was collected.
    Done,
}

/// The start every reconcile shares. `users` is `Some(n)` for a shared object the operator made, with `n` users
/// as the index's relations count them.
pub(crate) async fn prelude<K>(ctx: &Context, obj: &K, users: Option<usize>) -> Result<Prelude, Error>
where
    K: Resource<DynamicType = ()>,
{
    if obj.meta().deletion_timestamp.is_some() {
        return Ok(Prelude::Done);
    }
    let Some(users) = users else {
        return Ok(Prelude::Reconcile(None));
    };
    let uid = obj.meta().uid.clone().unwrap_or_default();
    match ctx.unused.judge(&uid, users, ctx.config.unused_grace) {
        Usage::InUse => Ok(Prelude::Reconcile(None)),
        Usage::Unused(left) => Ok(Prelude::Reconcile(Some(left))),
        Usage::Collect => {
            tracing::info!(kind = %K::kind(&()), name = %obj.meta().name.as_deref().unwrap_or_default(), "deleting an object the operator made that nothing uses");
            let mut writes = Writes::new();
            writes.delete(Some(obj));
            let (_, deletions) = writes.split_deletions();
            apply::carry_out(ctx, &deletions).await?;
            ctx.unused.forget(&uid);
            Ok(Prelude::Done)
        }
    }
}

/// Carries out `planned` for `obj`. `replan` makes the plan again knowing what the API server refused; its
/// writes are carried out without the refused ones. `waited` (from the prelude) bounds the requeue.
pub(crate) async fn finish<K>(
    ctx: &Context,
    obj: &K,
    planned: Plan<K::Status>,
    waited: Option<Duration>,
    replan: impl FnOnce(&[Refusal]) -> Plan<K::Status>,
) -> Result<Action, Error>
where
    K: Resource<DynamicType = ()> + HasStatus + Clone + Debug + DeserializeOwned + Serialize,
    K::Status: PartialEq + Serialize + WithConditions,
{
    let restored = planned.writes.restorations();
    let (writes, deletions) = planned.writes.split_deletions();
    let refused = apply::carry_out(ctx, &writes).await?;
    // Say what was put back: an admin should see that someone's change to a child did not stick, and why. A
    // deletion has a reason of its own: Events of one reason on one object within minutes become a series that
    // keeps the first note.
    let events = restored
        .into_iter()
        .map(|(object, repair)| Event {
            type_: EventType::Normal,
            reason: repair.reason().into(),
            note: Some(crate::events::note(&format!(
                "{object}: {}; restored as the spec says",
                repair.what()
            ))),
            // Events with the same action and reason about one object within minutes become one series that
            // keeps the first note: the action names the object and the field, so each repair is its own.
            action: repair.action(&object),
            secondary: None,
        })
        .collect();
    status::publish(ctx, obj, events).await;
    let (status, requeue, deletions) = if refused.is_empty() {
        (planned.status, planned.requeue, deletions)
    } else {
        tracing::debug!(name = %obj.name_any(), ?refused, "writes refused; planning again");
        let again = replan(&refused);
        let (writes, deletions) = again.writes.split_deletions();
        let rest: Vec<_> = writes
            .into_iter()
            .filter(|w| !refused.iter().any(|r| r.target() == w.target()))
            .collect();
        apply::carry_out(ctx, &rest).await?;
        (again.status, again.requeue, deletions)
    };
    let look_again = status::write(ctx, obj, status).await?.look_again();
    apply::carry_out(ctx, &deletions).await?;
    let requeue = [waited, requeue, look_again].into_iter().flatten().min();
    Ok(requeue.map_or(Action::await_change(), Action::requeue))
}
