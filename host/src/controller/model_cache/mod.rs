//! The `ModelCache` controller: one ReadWriteMany volume per source URI and a download Job that fills it.
//!
//! Pipeline: duplicate check (a second cache of the same `sourceUri` in a namespace fails and names the
//! first) → storage class (the cache's, else `AIMClusterConfig.spec.cacheStorageClassName`, else the cluster
//! default) → size (`spec.size` plus headroom) → volume claim (`StorageReady`: `PVCPending`,
//! `StorageClassMissing`, `InsufficientCapacity`) → download Job (progress from the downloader, retries with
//! backoff, `DownloadFailed`) → status.

pub mod build;

use crate::api::{AIMClusterConfig, CLUSTER_CONFIG_NAME, DownloadStatus, ModelCache, ModelCacheStatus, ResourceState};
use crate::controller::apply::{create_once, owner_ref};
use crate::controller::conditions::{self, reasons, types};
use crate::controller::context::{Context, backoff};
use crate::controller::error::{Error, kube_err};
use crate::controller::labels;
use crate::controller::status::{self, WithConditions};
use futures::StreamExt;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Event as CoreEvent, PersistentVolumeClaim, Pod};
use k8s_openapi::api::storage::v1::StorageClass;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, ListParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Resource, ResourceExt};
use std::sync::Arc;
use std::time::Duration;

impl WithConditions for ModelCacheStatus {
    fn conditions(&self) -> &[k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition] {
        &self.conditions
    }
}

/// Where a cache stands after one reconcile.
enum Outcome {
    Ready,
    Progressing {
        reason: &'static str,
        message: String,
        retry: Option<Duration>,
    },
    Failed {
        reason: &'static str,
        message: String,
        retry: Option<Duration>,
    },
}

/// One reconcile of a model cache.
#[tracing::instrument(skip_all, fields(name = %mc.name_any(), namespace = mc.namespace().unwrap_or_default()))]
pub async fn reconcile(mc: Arc<ModelCache>, ctx: Arc<Context>) -> Result<Action, Error> {
    let namespace = mc
        .namespace()
        .ok_or_else(|| Error::Invariant("ModelCache without namespace".into()))?;
    let generation = mc.meta().generation;
    let current = mc.status.clone().unwrap_or_default();
    let mut next = ModelCacheStatus {
        observed_generation: generation,
        ..current.clone()
    };
    let (storage, outcome) = advance(&ctx, &mc, &namespace, &mut next).await?;

    let retrying = next.download.as_ref().is_some_and(|d| d.failed_attempts > 0);
    let conds = &mut next.conditions;
    match &storage {
        Some((true, reason, message)) => {
            conditions::set(conds, types::STORAGE_READY, true, reason, message.clone(), generation)
        }
        Some((false, reason, message)) => {
            conditions::set(conds, types::STORAGE_READY, false, reason, message.clone(), generation)
        }
        None => {}
    }
    let retry = match &outcome {
        Outcome::Ready => {
            conditions::set(
                conds,
                types::READY,
                true,
                reasons::READY,
                format!(
                    "{} is downloaded into {}",
                    mc.spec.source_uri,
                    next.persistent_volume_claim.clone().unwrap_or_default()
                ),
                generation,
            );
            conditions::set(conds, types::PROGRESSING, false, reasons::IDLE, "", generation);
            conditions::set(conds, types::FAILURE, false, reasons::NO_FAILURE, "", generation);
            next.status = Some(ResourceState::Available);
            None
        }
        Outcome::Progressing { reason, message, retry } => {
            conditions::set(conds, types::READY, false, reason, message.clone(), generation);
            conditions::set(conds, types::PROGRESSING, true, reason, message.clone(), generation);
            // While a retry runs, the last failure stays visible until an attempt succeeds.
            let last = conditions::get(&current.conditions, types::FAILURE)
                .filter(|c| retrying && c.status == "True" && c.reason == reasons::DOWNLOAD_FAILED)
                .map(|c| format!("{} (retrying)", c.message.trim_end_matches(" (retrying)")));
            match last {
                Some(message) => conditions::set(
                    conds,
                    types::FAILURE,
                    true,
                    reasons::DOWNLOAD_FAILED,
                    message,
                    generation,
                ),
                None => conditions::set(conds, types::FAILURE, false, reasons::NO_FAILURE, "", generation),
            }
            next.status = Some(ResourceState::Progressing);
            *retry
        }
        Outcome::Failed { reason, message, retry } => {
            conditions::set(conds, types::READY, false, reason, message.clone(), generation);
            conditions::set(conds, types::PROGRESSING, false, reasons::IDLE, "", generation);
            conditions::set(conds, types::FAILURE, true, reason, message.clone(), generation);
            next.status = Some(ResourceState::Failed);
            *retry
        }
    };
    status::write(
        &ctx,
        &Api::namespaced(ctx.client.clone(), &namespace),
        mc.as_ref(),
        next,
    )
    .await?;
    Ok(retry.map_or(Action::await_change(), Action::requeue))
}

type Storage = Option<(bool, &'static str, String)>;

async fn advance(
    ctx: &Context,
    mc: &ModelCache,
    namespace: &str,
    next: &mut ModelCacheStatus,
) -> Result<(Storage, Outcome), Error> {
    let caches: Api<ModelCache> = Api::namespaced(ctx.client.clone(), namespace);
    if let Some(first) = first_with_same_source(&caches, mc).await? {
        let message = format!(
            "sourceUri {} is already cached by ModelCache {first} in this namespace; use {first} or delete this one",
            mc.spec.source_uri
        );
        return Ok((
            None,
            Outcome::Failed {
                reason: reasons::DUPLICATE_SOURCE,
                message,
                retry: None,
            },
        ));
    }

    let storage_class = match &mc.spec.storage_class_name {
        Some(class) => Some(class.clone()),
        None => cluster_storage_class(ctx).await?,
    };
    next.storage_class_name = storage_class.clone();
    if let Some(class) = &storage_class {
        let classes: Api<StorageClass> = Api::all(ctx.client.clone());
        if classes
            .get_opt(class)
            .await
            .map_err(kube_err(format!("read StorageClass {class}")))?
            .is_none()
        {
            let message = format!(
                "StorageClass {class} does not exist: create it, or name another in the ModelCache or AIMClusterConfig"
            );
            let storage = Some((false, reasons::STORAGE_CLASS_MISSING, message.clone()));
            return Ok((
                storage,
                Outcome::Failed {
                    reason: reasons::STORAGE_CLASS_MISSING,
                    message,
                    retry: Some(Duration::from_secs(30)),
                },
            ));
        }
    }

    let Some(model_bytes) = mc.spec.size.as_ref().and_then(build::bytes) else {
        let message =
            "the model's size is unknown: set spec.size (templates report sizes when discovery finds them)".to_string();
        let storage = Some((false, reasons::SIZE_UNKNOWN, message.clone()));
        return Ok((
            storage,
            Outcome::Failed {
                reason: reasons::SIZE_UNKNOWN,
                message,
                retry: None,
            },
        ));
    };
    let size = build::volume_size(model_bytes, ctx.config.download.headroom_percent);
    next.capacity = Some(size.clone());

    let owner = owner_ref(mc, true)?;
    let pvcs: Api<PersistentVolumeClaim> = Api::namespaced(ctx.client.clone(), namespace);
    let desired = build::pvc(mc, owner.clone(), storage_class.clone(), size.clone());
    let pvc = match create_once(&pvcs, &desired).await {
        Ok(pvc) => pvc,
        Err(Error::Kube {
            source: kube::Error::Api(status),
            ..
        }) if status.code == 403 && status.message.contains("exceeded quota") => {
            let message = format!("no room for a {} volume: {}", size.0, status.message);
            let storage = Some((false, reasons::INSUFFICIENT_CAPACITY, message.clone()));
            return Ok((
                storage,
                Outcome::Failed {
                    reason: reasons::INSUFFICIENT_CAPACITY,
                    message,
                    retry: Some(Duration::from_secs(60)),
                },
            ));
        }
        Err(e) => return Err(e),
    };
    next.persistent_volume_claim = pvc.metadata.name.clone();
    let storage = storage_state(ctx, namespace, &pvc, storage_class.as_deref()).await?;
    if storage.1 == reasons::INSUFFICIENT_CAPACITY {
        let message = storage.2.clone();
        return Ok((
            Some(storage),
            Outcome::Failed {
                reason: reasons::INSUFFICIENT_CAPACITY,
                message,
                retry: Some(Duration::from_secs(60)),
            },
        ));
    }
    let outcome = download(ctx, mc, namespace, owner, model_bytes, next).await?;
    Ok((Some(storage), outcome))
}

/// The oldest other cache of the same source, if this one is a duplicate.
async fn first_with_same_source(caches: &Api<ModelCache>, mc: &ModelCache) -> Result<Option<String>, Error> {
    let mut same: Vec<ModelCache> = caches
        .list(&ListParams::default())
        .await
        .map_err(kube_err("list ModelCaches"))?
        .items
        .into_iter()
        .filter(|m| m.spec.source_uri == mc.spec.source_uri)
        .collect();
    same.sort_by(|a, b| {
        (&a.metadata.creation_timestamp, &a.metadata.name).cmp(&(&b.metadata.creation_timestamp, &b.metadata.name))
    });
    Ok(same
        .first()
        .map(ResourceExt::name_any)
        .filter(|first| *first != mc.name_any()))
}

async fn cluster_storage_class(ctx: &Context) -> Result<Option<String>, Error> {
    let configs: Api<AIMClusterConfig> = Api::all(ctx.client.clone());
    Ok(configs
        .get_opt(CLUSTER_CONFIG_NAME)
        .await
        .map_err(kube_err("read AIMClusterConfig default"))?
        .and_then(|c| c.spec.cache_storage_class_name)
        .filter(|c| !c.is_empty()))
}

async fn storage_state(
    ctx: &Context,
    namespace: &str,
    pvc: &PersistentVolumeClaim,
    class: Option<&str>,
) -> Result<(bool, &'static str, String), Error> {
    let name = pvc.name_any();
    match pvc.status.as_ref().and_then(|s| s.phase.as_deref()) {
        Some("Bound") => Ok((true, reasons::PVC_BOUND, format!("volume claim {name} is bound"))),
        Some("Lost") => Ok((
            false,
            reasons::PVC_LOST,
            format!("volume claim {name} lost its volume; delete the ModelCache to start over"),
        )),
        _ => {
            // A provisioner that cannot find room says so in an Event on the claim.
            let events: Api<CoreEvent> = Api::namespaced(ctx.client.clone(), namespace);
            let selector = format!("involvedObject.kind=PersistentVolumeClaim,involvedObject.name={name}");
            let latest = events
                .list(&ListParams::default().fields(&selector))
                .await
                .map_err(kube_err(format!("list Events of {name}")))?
                .items
                .into_iter()
                .filter(|e| e.type_.as_deref() == Some("Warning"))
                .max_by(|a, b| a.last_timestamp.cmp(&b.last_timestamp));
            if let Some(event) = latest {
                let message = event.message.unwrap_or_default();
                let lower = message.to_lowercase();
                if lower.contains("insufficient") || lower.contains("capacity") || lower.contains("quota") {
                    return Ok((
                        false,
                        reasons::INSUFFICIENT_CAPACITY,
                        format!("the volume for {name} cannot be provisioned: {message}"),
                    ));
                }
                return Ok((
                    false,
                    reasons::PVC_PENDING,
                    format!("volume claim {name} is pending: {message}"),
                ));
            }
            let class = class.map_or("the cluster's default storage class".to_string(), |c| {
                format!("storage class {c}")
            });
            Ok((
                false,
                reasons::PVC_PENDING,
                format!("volume claim {name} is waiting for a volume from {class}"),
            ))
        }
    }
}

async fn download(
    ctx: &Context,
    mc: &ModelCache,
    namespace: &str,
    owner: k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference,
    model_bytes: u64,
    next: &mut ModelCacheStatus,
) -> Result<Outcome, Error> {
    if conditions::is_true(&next.conditions, types::READY) {
        return Ok(Outcome::Ready);
    }
    let mut record = next.download.clone().unwrap_or_default();
    let jobs: Api<Job> = Api::namespaced(ctx.client.clone(), namespace);
    let name = build::job_name(&mc.name_any(), record.failed_attempts);
    record.job = Some(name.clone());
    let outcome = match jobs
        .get_opt(&name)
        .await
        .map_err(kube_err(format!("read Job {name}")))?
    {
        Some(job) => {
            let status = job.status.clone().unwrap_or_default();
            let failed = status
                .conditions
                .iter()
                .flatten()
                .find(|c| c.type_ == "Failed" && c.status == "True");
            if status.succeeded.unwrap_or(0) > 0 {
                record.percent = Some(100);
                record.downloaded_bytes = record.total_bytes.or(Some(model_bytes as i64));
                Outcome::Ready
            } else if let Some(condition) = failed {
                let detail = pod_failure(ctx, namespace, &name)
                    .await
                    .unwrap_or_else(|| condition.message.clone().unwrap_or_default());
                record.failed_attempts += 1;
                record.last_attempt_time = Some(Time(Timestamp::now()));
                let wait = backoff(
                    ctx.config.download.backoff_base,
                    ctx.config.download.backoff_max,
                    record.failed_attempts as u32,
                );
                Outcome::Failed {
                    reason: reasons::DOWNLOAD_FAILED,
                    message: format!(
                        "download attempt {} failed: {detail}; retrying in {}s",
                        record.failed_attempts,
                        wait.as_secs()
                    ),
                    retry: Some(wait),
                }
            } else {
                read_progress(ctx, namespace, &name, &mut record).await?;
                let progress = record.percent.map_or(String::new(), |p| format!(" ({p}%)"));
                Outcome::Progressing {
                    reason: reasons::DOWNLOADING,
                    message: format!("downloading {}{progress}", mc.spec.source_uri),
                    retry: None,
                }
            }
        }
        None => {
            let since = record.last_attempt_time.as_ref().map(|t| {
                Duration::from_millis((Timestamp::now().as_millisecond() - t.0.as_millisecond()).max(0) as u64)
            });
            let wait = backoff(
                ctx.config.download.backoff_base,
                ctx.config.download.backoff_max,
                record.failed_attempts as u32,
            );
            match since {
                Some(since) if record.failed_attempts > 0 && since < wait => {
                    let previous = conditions::get(&next.conditions, types::FAILURE)
                        .map(|c| c.message.clone())
                        .unwrap_or_default();
                    Outcome::Failed {
                        reason: reasons::DOWNLOAD_FAILED,
                        message: previous,
                        retry: Some(wait - since),
                    }
                }
                _ => {
                    create_once(
                        &jobs,
                        &build::download_job(
                            mc,
                            owner,
                            &ctx.config.download.image,
                            record.failed_attempts,
                            model_bytes,
                        ),
                    )
                    .await?;
                    Outcome::Progressing {
                        reason: reasons::DOWNLOADING,
                        message: format!("download Job {name} started"),
                        retry: None,
                    }
                }
            }
        }
    };
    next.download = Some(record);
    Ok(outcome)
}

/// Why the download pod failed, from its termination message (its last log lines when it failed).
async fn pod_failure(ctx: &Context, namespace: &str, job: &str) -> Option<String> {
    let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), namespace);
    let list = pods
        .list(&ListParams::default().labels(&format!("batch.kubernetes.io/job-name={job}")))
        .await
        .ok()?;
    list.items.iter().find_map(|p| {
        let terminated = p
            .status
            .as_ref()?
            .container_statuses
            .as_ref()?
            .iter()
            .find(|c| c.name == build::CONTAINER)?
            .state
            .as_ref()?
            .terminated
            .clone()?;
        let text = terminated
            .message
            .filter(|m| !m.trim().is_empty())
            .or(terminated.reason)?;
        Some(text.trim().lines().last().unwrap_or_default().to_string())
    })
}

async fn read_progress(ctx: &Context, namespace: &str, job: &str, record: &mut DownloadStatus) -> Result<(), Error> {
    let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), namespace);
    let list = pods
        .list(&ListParams::default().labels(&format!("batch.kubernetes.io/job-name={job}")))
        .await
        .map_err(kube_err(format!("list the pods of {job}")))?;
    if let Some((done, total, percent)) = list
        .items
        .iter()
        .find_map(|p| build::parse_progress(p.annotations().get(labels::DOWNLOAD_PROGRESS)?))
    {
        record.downloaded_bytes = Some(done);
        record.total_bytes = Some(total);
        record.percent = Some(percent);
    }
    Ok(())
}

fn error_policy(_mc: Arc<ModelCache>, error: &Error, _ctx: Arc<Context>) -> Action {
    tracing::warn!(%error, "model cache reconcile failed; retrying");
    Action::requeue(Duration::from_secs(5))
}

/// Runs the controller until `shutdown`.
pub async fn run(ctx: Arc<Context>, shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static) {
    let client = ctx.client.clone();
    let controller = Controller::new(Api::<ModelCache>::all(client.clone()), watcher::Config::default());
    let store = controller.store();
    let by_source = store.clone();
    let labelled = |c| watcher::Config::default().labels(&format!("{}={c}", labels::COMPONENT));
    controller
        .owns(
            Api::<PersistentVolumeClaim>::all(client.clone()),
            labelled("model-cache"),
        )
        .owns(Api::<Job>::all(client.clone()), labelled("download"))
        // Download progress arrives as an annotation on the Job's pod.
        .watches(Api::<Pod>::all(client.clone()), labelled("download"), |pod| {
            let name = pod.labels().get(labels::MODEL_CACHE).cloned();
            name.map(|n| ObjectRef::<ModelCache>::new(&n).within(&pod.namespace().unwrap_or_default()))
        })
        // Deleting the first cache of a source unblocks a duplicate.
        .watches(Api::<ModelCache>::all(client), watcher::Config::default(), move |mc| {
            let (ns, uri) = (mc.namespace(), mc.spec.source_uri.clone());
            by_source
                .state()
                .into_iter()
                .filter(move |other| other.namespace() == ns && other.spec.source_uri == uri)
                .map(|other| ObjectRef::from_obj(other.as_ref()))
                .collect::<Vec<_>>()
        })
        .graceful_shutdown_on(shutdown)
        .run(
            crate::controller::metrics::metered("modelcache", reconcile),
            error_policy,
            ctx,
        )
        .for_each(|_| async {})
        .await;
}
