//! One kind's watch, started for each row of [`super::kinds`]: its events are decoded one object at a time
//! ([`Readable`]: one the operator's types cannot read is reported and skipped), stored, and then handed on.
//! Our own children are watched by the `managed-by` label, Warning Events only for volume claims, everything
//! else whole ([`Select`]).

use super::Index;
use super::informer::{self, Change};
use super::readable::{Readable, Unreadable};
use super::served;
use crate::labels;
use futures::StreamExt;
use k8s_openapi::api::core::v1::ObjectReference;
use kube::Resource;
use kube::api::Api;
use kube::runtime::WatchStreamExt;
use kube::runtime::events::{Event, EventType, Recorder};
use kube::runtime::reflector::store::Writer;
use kube::runtime::watcher;
use serde::de::DeserializeOwned;
use std::fmt::Debug;
use std::sync::Arc;

/// What a kind's watch selects.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Select {
    /// Every object of the kind.
    All,
    /// Only the operator's own (the `managed-by` label).
    Ours,
    /// Objects matching a field selector.
    Fields(&'static str),
}

impl Select {
    pub(super) fn config(self) -> watcher::Config {
        match self {
            Select::All => watcher::Config::default(),
            Select::Ours => watcher::Config::default().labels(&labels::managed_selector()),
            Select::Fields(fields) => watcher::Config::default().fields(fields),
        }
    }
}

/// The reason of the Warning Event on an object the operator cannot read.
pub(crate) const UNDECODABLE: &str = "CannotRead";

/// Starts the watch of `K`, which selects `select` and drops `slim` before storing; each change is stored in
/// `writer`, then handed to `route`. An `optional` kind's watch waits until the kind is served
/// ([`served`]).
#[allow(clippy::too_many_arguments)]
pub(super) fn spawn<K>(
    client: &kube::Client,
    index: &Arc<Index>,
    recorder: &Recorder,
    name: &'static str,
    select: Select,
    slim: fn(&mut K),
    optional: bool,
    writer: Writer<K>,
    route: impl Fn(&Index, &Change<K>) + Send + 'static,
) -> tokio::task::JoinHandle<()>
where
    K: Resource<DynamicType = ()> + Clone + PartialEq + Debug + DeserializeOwned + Send + Sync + 'static,
{
    let api: Api<Readable<K>> = Api::all(client.clone());
    let watch = move || watcher::watcher(api.clone(), select.config()).default_backoff().boxed();
    let health = index.health.clone();
    let events = if optional {
        let definition = format!("{}.{}", K::plural(&()), K::group(&()));
        served::once_served(client, health.clone(), name, definition, watch)
    } else {
        watch()
    };
    let index_for_change = index.clone();
    let kind = K::kind(&()).into_owned();
    let report = undecodable_reporter::<K>(name, recorder.clone());
    tokio::spawn(informer::run(
        name,
        events,
        writer,
        (),
        slim,
        move |change| {
            let meta = change.latest().meta();
            index_for_change.pending.seen(
                &kind,
                meta.namespace.as_deref().unwrap_or_default(),
                meta.name.as_deref().unwrap_or_default(),
            );
            // What the index keeps did not change (only fields slimmed away, or nothing): no one to wake.
            let unchanged = change.unchanged();
            index_for_change.health.delivered(name, unchanged);
            if !unchanged {
                route(&index_for_change, &change)
            }
        },
        report,
        health,
    ))
}

/// Says, once per version, that an object cannot be read: a log line, and a Warning Event on the object (the
/// metric is the index health's). The Event is sent off the watch's path: a slow API server must not hold up
/// the index.
fn undecodable_reporter<K: Resource<DynamicType = ()>>(
    kind: &'static str,
    recorder: Recorder,
) -> impl FnMut(&Unreadable) + Send + 'static {
    let (api_version, type_name) = (K::api_version(&()).into_owned(), K::kind(&()).into_owned());
    move |invalid: &Unreadable| {
        let meta = &invalid.metadata;
        let name = meta.name.clone().unwrap_or_default();
        tracing::warn!(
            kind,
            namespace = meta.namespace.as_deref().unwrap_or_default(),
            name,
            error = %invalid.error,
            "an object the operator cannot read is skipped until it is fixed"
        );
        let reference = ObjectReference {
            api_version: Some(api_version.clone()),
            kind: Some(type_name.clone()),
            name: Some(name),
            namespace: meta.namespace.clone(),
            uid: meta.uid.clone(),
            resource_version: meta.resource_version.clone(),
            field_path: None,
        };
        let event = Event {
            type_: EventType::Warning,
            reason: UNDECODABLE.into(),
            note: Some(crate::events::note(&format!(
                "the operator cannot read this {type_name}: {}. It is skipped (as it was last read, if it ever \
                 was) until it is fixed; the other objects of its kind are reconciled as usual",
                invalid.error
            ))),
            action: "Read".into(),
            secondary: None,
        };
        let recorder = recorder.clone();
        tokio::spawn(async move {
            if let Err(e) = recorder.publish(&event, &reference).await {
                tracing::debug!(error = %e, "could not record the Event on an unreadable object");
            }
        });
    }
}
