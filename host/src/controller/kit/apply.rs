//! Carrying out a plan's [`Writes`]: server-side apply under the operator's one field manager, creation of
//! what is made once, deletion with a uid precondition. The plan decided what differs; this loop adds two
//! guards that need the API server or shared state:
//!
//! - the index lags the API server by one watch event, so each write is remembered in the index's
//!   [`crate::index::pending::PendingWrites`] until the index sees the object change, and a write still on its
//!   way is not made again;
//! - an answer the plan can explain to a person (a quota that refuses a claim, a namespace that does not exist,
//!   no free discovery slot) is not an error: it comes back as a [`Refusal`], and the reconcile plans again
//!   knowing it (see [`super::pipeline`]).

use super::context::{Context, FIELD_MANAGER};
use super::error::Error;
use super::writes::{Guard, Ownership, Target, Write, fingerprint};
use crate::index::pending::Key;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams, PostParams, Preconditions};
use kube::{Resource, ResourceExt};
use serde_json::Value;

/// Why the API server (or the discovery cap) refused a write, in terms a plan can turn into a condition.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Refusal {
    /// A ResourceQuota refused it; the API server's message.
    Quota(Target, String),
    /// Its namespace does not exist.
    NamespaceMissing(Target),
    /// No discovery slot is free (the cap on discovery Jobs running at once).
    NoSlot(Target),
    /// The API server or an admission webhook refused the object itself (422 Invalid, 400 denied): the
    /// message says what about it.
    Invalid(Target, String),
}

impl Refusal {
    pub(crate) fn target(&self) -> &Target {
        match self {
            Refusal::Quota(t, _) | Refusal::NamespaceMissing(t) | Refusal::NoSlot(t) | Refusal::Invalid(t, _) => t,
        }
    }
}

/// Kinds whose plan turns a refusal of the object itself into a condition (the service's `RuntimeReady`); for
/// the others it stays an error, logged and retried with backoff.
const INVALID_EXPLAINED: [&str; 1] = ["InferenceService"];

fn key_of(write: &Write) -> Key {
    let target = write.target();
    Key {
        kind: target.resource.kind.clone(),
        namespace: target.namespace.clone().unwrap_or_default(),
        name: target.name.clone(),
        what: write.what(),
    }
}

fn api(ctx: &Context, target: &Target) -> Api<DynamicObject> {
    match &target.namespace {
        Some(ns) => Api::namespaced_with(ctx.client.clone(), ns, &target.resource),
        None => Api::all_with(ctx.client.clone(), &target.resource),
    }
}

/// Carries out `writes` in order; returns the refusals. Any other failure stops the loop and is returned (the
/// reconcile is retried).
pub(crate) async fn carry_out(ctx: &Context, writes: &[Write]) -> Result<Vec<Refusal>, Error> {
    let mut refused = Vec::new();
    for write in writes {
        if let Some(refusal) = carry_out_one(ctx, write).await? {
            refused.push(refusal);
        }
    }
    Ok(refused)
}

async fn carry_out_one(ctx: &Context, write: &Write) -> Result<Option<Refusal>, Error> {
    let key = key_of(write);
    let target = write.target();
    let (based_on, print) = match write {
        Write::Apply { body, based_on, .. } => (based_on.clone(), fingerprint(body)),
        Write::Create { body, .. } => (None, fingerprint(body)),
        Write::Delete { based_on, .. } => (based_on.clone(), 0),
    };
    if !ctx.index.pending.claim(&key, based_on.as_deref(), print) {
        return Ok(None);
    }
    let api = api(ctx, target);
    let kind = target.resource.kind.clone();
    let (verb, result) = match write {
        Write::Apply {
            body,
            ownership,
            based_on,
            ..
        } => {
            let mut body = body.clone();
            if *ownership == Ownership::Shared
                && let Some(rv) = based_on
            {
                body["metadata"]["resourceVersion"] = Value::String(rv.clone());
            }
            let params = PatchParams::apply(FIELD_MANAGER).force();
            (
                "apply",
                api.patch(&target.name, &params, &Patch::Apply(&body)).await.map(drop),
            )
        }
        Write::Create { body, guard, .. } => {
            let _slot = match guard {
                Guard::None => None,
                Guard::DiscoverySlot => {
                    let slot = ctx.discovery_slots.lock().await;
                    if ctx.discovery_slots.running(&ctx.index) >= ctx.config.discovery.max_concurrent_jobs {
                        ctx.index.pending.release(&key);
                        return Ok(Some(Refusal::NoSlot(target.clone())));
                    }
                    Some(slot)
                }
            };
            let object: DynamicObject = serde_json::from_value(body.clone())
                .unwrap_or_else(|_| DynamicObject::new(&target.name, &target.resource));
            let created = api.create(&PostParams::default(), &object).await.map(drop);
            let created = match created {
                // Made already (a write the index has not shown yet, or a restart): nothing to do.
                Err(kube::Error::Api(s)) if s.code == 409 => Ok(()),
                other => other,
            };
            if created.is_ok() && *guard == Guard::DiscoverySlot {
                ctx.discovery_slots
                    .started(target.namespace.as_deref().unwrap_or_default(), &target.name);
            }
            ("create", created)
        }
        Write::Delete { uid, .. } => {
            let params = DeleteParams {
                preconditions: Some(Preconditions {
                    uid: uid.clone(),
                    resource_version: None,
                }),
                ..DeleteParams::background()
            };
            let deleted = match api.delete(&target.name, &params).await.map(drop) {
                // Gone already, or replaced by another object of the name: nothing of ours to delete.
                Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => Ok(()),
                other => other,
            };
            ("delete", deleted)
        }
    };
    ctx.metrics.write(&kind, verb, result.as_ref().err());
    let result = match result {
        // Recorded again: the index may have shown an older event of the object while the write was on its way.
        Ok(()) => {
            ctx.index.pending.record(key, based_on, print);
            return Ok(None);
        }
        Err(e) => {
            ctx.index.pending.release(&key);
            e
        }
    };
    match result {
        kube::Error::Api(s) if s.code == 403 && s.message.contains("exceeded quota") => {
            Ok(Some(Refusal::Quota(target.clone(), s.message.clone())))
        }
        kube::Error::Api(s) if s.code == 404 && !matches!(write, Write::Delete { .. }) => {
            Ok(Some(Refusal::NamespaceMissing(target.clone())))
        }
        kube::Error::Api(s)
            if (s.code == 422 || s.code == 400)
                && !matches!(write, Write::Delete { .. })
                && INVALID_EXPLAINED.contains(&kind.as_str()) =>
        {
            Ok(Some(Refusal::Invalid(target.clone(), s.message.clone())))
        }
        source => Err(match write {
            Write::Delete { .. } => Error::Delete {
                what: target.describe(),
                source,
            },
            _ => Error::Apply {
                what: target.describe(),
                source,
            },
        }),
    }
}

/// An owner reference to `owner`; `controller` marks the single managing owner.
pub(crate) fn owner_ref<K: Resource<DynamicType = ()>>(owner: &K, controller: bool) -> Result<OwnerReference, Error> {
    let meta = owner.meta();
    Ok(OwnerReference {
        api_version: K::api_version(&()).into_owned(),
        kind: K::kind(&()).into_owned(),
        name: owner.name_any(),
        uid: meta
            .uid
            .clone()
            .ok_or_else(|| Error::Invariant(format!("{} {} has no uid", K::kind(&()), owner.name_any())))?,
        controller: Some(controller),
        block_owner_deletion: Some(true),
    })
}
