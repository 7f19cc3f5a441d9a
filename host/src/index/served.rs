//! The watch of an optional kind (an add-on's: KEDA's ScaledObject, its HTTP add-on's InterceptorRoute, Gateway
//! API's ReferenceGrant) asks nothing of the API server while the add-on is not installed. Listing the kind again
//! on a backoff would cost one failing request per kind every 30 s for as long as the operator runs; instead its
//! CustomResourceDefinition is watched by name (one open watch, no requests), and the kind's own watch starts
//! once that definition is established. Should the kind stop being served (the add-on was removed), the gate
//! goes back to waiting for the definition.
//!
//! Contract with [`super::informer::run`]: the stream carries the kind's own watch events, never the error that
//! the kind is not served; while it is not, [`WatchHealth::absent`] says so (the index counts the kind as
//! listed and empty). Without the right to
//! read the definition (a ClusterRole older than this operator), the kind's watch runs alone, as before: it
//! lists on its backoff until the kind is served.

use super::health::WatchHealth;
use futures::StreamExt;
use futures::stream::BoxStream;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::Api;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use std::sync::Arc;
use std::time::Duration;

/// The first pause before the kind's watch starts again after its definition said established but the kind was
/// not served (discovery may lag a new definition by a moment); it doubles up to [`LONGEST_PAUSE`].
const FIRST_PAUSE: Duration = Duration::from_secs(1);
const LONGEST_PAUSE: Duration = Duration::from_secs(30);

/// A stream of a kind's watch events.
pub(super) type Events<T> = BoxStream<'static, Result<watcher::Event<T>, watcher::Error>>;

/// The events of `watch()` (the kind's own watch), started only while `definition` (`<plural>.<group>`) is an
/// established CustomResourceDefinition.
pub(super) fn once_served<T: Send + 'static>(
    client: &kube::Client,
    health: Arc<WatchHealth>,
    kind: &'static str,
    definition: String,
    watch: impl Fn() -> Events<T> + Send + 'static,
) -> Events<T> {
    let definitions: Api<CustomResourceDefinition> = Api::all(client.clone());
    // Unbounded would let a slow index grow it without limit; the kind's watch waits for the index instead.
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    tokio::spawn(async move {
        let mut pause = FIRST_PAUSE;
        loop {
            if let Err(error) = established(&definitions, &definition, || health.absent(kind)).await {
                tracing::warn!(
                    kind,
                    definition,
                    %error,
                    "cannot watch the kind's CustomResourceDefinition (give the operator get, list and watch on \
                     it, as its ClusterRole does); listing the kind on a backoff instead"
                );
                forward(watch(), &tx, &health, kind, false).await;
                return;
            }
            match forward(watch(), &tx, &health, kind, true).await {
                Forwarded::ReceiverGone => return,
                Forwarded::NotServed { was_served } => {
                    pause = if was_served {
                        FIRST_PAUSE
                    } else {
                        (pause * 2).min(LONGEST_PAUSE)
                    };
                    tokio::time::sleep(pause).await;
                }
            }
        }
    });
    tokio_stream::wrappers::ReceiverStream::new(rx).boxed()
}

/// How forwarding a kind's watch ended.
enum Forwarded {
    /// The index is gone (the operator is stopping).
    ReceiverGone,
    /// The kind is not served (any more); `was_served`: some event came before.
    NotServed { was_served: bool },
}

/// Hands `events` on to `tx` until the index is gone or, if `until_not_served`, the kind is not served. That the
/// kind is not served is no failure of its watch: it goes to `health` as absent, not on to the index.
async fn forward<T>(
    mut events: Events<T>,
    tx: &tokio::sync::mpsc::Sender<Result<watcher::Event<T>, watcher::Error>>,
    health: &WatchHealth,
    kind: &'static str,
    until_not_served: bool,
) -> Forwarded {
    let mut was_served = false;
    while let Some(event) = events.next().await {
        if matches!(&event, Err(error) if not_served(error)) {
            health.absent(kind);
            if until_not_served {
                return Forwarded::NotServed { was_served };
            }
            continue;
        }
        was_served |= event.is_ok();
        if tx.send(event).await.is_err() {
            return Forwarded::ReceiverGone;
        }
    }
    Forwarded::ReceiverGone
}

/// Returns once the CustomResourceDefinition `name` is established; calls `absent` each time a full list shows
/// it is not. Errors only when the operator may not read it (403): anything else is retried on a backoff.
async fn established(
    definitions: &Api<CustomResourceDefinition>,
    name: &str,
    absent: impl Fn(),
) -> Result<(), watcher::Error> {
    let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
    let mut events = watcher::watcher(definitions.clone(), config).default_backoff().boxed();
    while let Some(event) = events.next().await {
        match event {
            Ok(Event::Apply(crd) | Event::InitApply(crd)) if is_established(&crd) => return Ok(()),
            Ok(Event::InitDone) => absent(),
            Ok(_) => {}
            Err(error) if forbidden(&error) => return Err(error),
            Err(error) => tracing::debug!(name, %error, "watching the CustomResourceDefinition; retrying"),
        }
    }
    Ok(())
}

fn is_established(crd: &CustomResourceDefinition) -> bool {
    let conditions = crd
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_deref())
        .unwrap_or_default();
    conditions
        .iter()
        .any(|c| c.type_ == "Established" && c.status == "True")
}

/// True when `error` says the API server does not serve the kind at all (404: its CRD is not installed).
fn not_served(error: &watcher::Error) -> bool {
    match error {
        watcher::Error::InitialListFailed(kube::Error::Api(s))
        | watcher::Error::WatchStartFailed(kube::Error::Api(s))
        | watcher::Error::WatchFailed(kube::Error::Api(s)) => s.code == 404,
        _ => false,
    }
}

fn forbidden(error: &watcher::Error) -> bool {
    match error {
        watcher::Error::InitialListFailed(kube::Error::Api(s))
        | watcher::Error::WatchStartFailed(kube::Error::Api(s))
        | watcher::Error::WatchFailed(kube::Error::Api(s)) => s.code == 403,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
        CustomResourceDefinitionCondition, CustomResourceDefinitionStatus,
    };

    fn with_condition(type_: &str, status: &str) -> CustomResourceDefinition {
        CustomResourceDefinition {
            status: Some(CustomResourceDefinitionStatus {
                conditions: Some(vec![CustomResourceDefinitionCondition {
                    type_: type_.into(),
                    status: status.into(),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn the_cluster_role_lets_the_operator_watch_every_optional_kinds_definition() {
        let roles = [
            include_str!("../../../deploy/base/rbac.yaml"),
            include_str!("../../../deploy/helm/aim-operator/templates/rbac.yaml"),
        ];
        let definitions = super::super::kinds::optional_definitions();
        assert_eq!(definitions.len(), super::super::OPTIONAL_KINDS.len());
        for role in roles {
            let line = role
                .lines()
                .find(|l| l.contains("resourceNames:") && l.contains(".keda.sh"))
                .expect("a rule naming the add-ons' definitions");
            for definition in &definitions {
                assert!(
                    line.contains(definition.as_str()),
                    "{definition} is missing from: {line}"
                );
            }
        }
    }

    #[test]
    fn only_an_established_definition_opens_the_gate() {
        assert!(is_established(&with_condition("Established", "True")));
        assert!(!is_established(&with_condition("Established", "False")));
        assert!(!is_established(&with_condition("NamesAccepted", "True")));
        assert!(!is_established(&CustomResourceDefinition::default()));
    }
}
