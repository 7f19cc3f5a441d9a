//! The `ModelCache` controller: one ReadWriteMany volume per source URI and a download Job that fills it.
//!
//! Per reconcile: observe (the index: other caches of the source, the storage class — the cache's, else
//! `AIMClusterConfig.spec.cacheStorageClassName`, else the cluster default —, the claim and a provisioner's
//! warnings about it, the size check without `spec.size`, the download Job and the progress the downloader
//! writes on it) → [`plan`] (pure) → create the size-check Job, the claim, or the download pod's identity and
//! its Job → status. A cache the operator made for a template cache is collected once no template cache in the
//! namespace has needed its source for the grace period.

pub mod build;
pub mod plan;

use crate::api::{AIMTemplateCache, ModelCache, ModelCacheStatus};
use crate::controller::kit::apply::{self, owner_ref};
use crate::controller::kit::sharing::Usage;
use crate::controller::kit::status::{self, WithConditions};
use crate::controller::kit::{Context, Error};
use crate::download::failure::parse_last_line;
use crate::download::progress;
use crate::index::Index;
use crate::labels::Component;
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use kube::runtime::controller::Action;
use plan::{Create, DownloadJob, SizeCheck};
use std::sync::Arc;

impl WithConditions for ModelCacheStatus {
    fn conditions(&self) -> &[k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition] {
        &self.conditions
    }
    fn state(&self) -> Option<String> {
        self.status.map(|s| format!("{s:?}"))
    }
}

/// Template caches in `namespace` whose template needs `source_uri`.
pub fn users(index: &Index, namespace: &str, source_uri: &str) -> usize {
    index
        .template_caches_in(namespace)
        .iter()
        .filter(|tc: &&Arc<AIMTemplateCache>| {
            tc.metadata.deletion_timestamp.is_none()
                && index
                    .template(namespace, &tc.spec.template_ref)
                    .is_some_and(|t| t.status().model_sources.iter().any(|s| s.source_uri == source_uri))
        })
        .count()
}

/// The termination message of `job`'s finished container, if its pod is in the index.
fn last_words(index: &Index, namespace: &str, job: &str) -> Option<String> {
    index.pods_of_job(namespace, job).iter().find_map(|p| {
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
        terminated
            .message
            .filter(|m| !m.trim().is_empty())
            .or(terminated.reason)
    })
}

fn download_job(index: &Index, mc: &ModelCache, namespace: &str) -> DownloadJob {
    let attempt = mc
        .status
        .as_ref()
        .and_then(|s| s.download.as_ref())
        .map_or(0, |d| d.failed_attempts);
    let name = build::job_name(&mc.name_any(), attempt);
    let Some(job) = index.job(namespace, &name) else {
        return DownloadJob::Absent;
    };
    let status = job.status.clone().unwrap_or_default();
    if status.succeeded.unwrap_or(0) > 0 {
        return DownloadJob::Succeeded;
    }
    if let Some(failed) = status
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == "Failed" && c.status == "True")
    {
        // The downloader's last line names the kind of failure; another image's output is shown as it is.
        let words = last_words(index, namespace, &name);
        let (detail, kind) = match words.as_deref().and_then(parse_last_line) {
            Some(Err(failure)) => (failure.message, Some(failure.kind)),
            _ => (
                words
                    .map(|w| w.trim().lines().last().unwrap_or_default().to_string())
                    .unwrap_or_else(|| failed.message.clone().unwrap_or_default()),
                None,
            ),
        };
        return DownloadJob::Failed {
            detail,
            kind,
            at: failed.last_transition_time.as_ref().map(|t| t.0),
        };
    }
    DownloadJob::Running(
        job.annotations()
            .get(progress::ANNOTATION)
            .and_then(|v| progress::parse(v)),
    )
}

/// The size check of the current spec, for a cache without `spec.size`.
fn size_check(index: &Index, mc: &ModelCache, namespace: &str, name: &str) -> SizeCheck {
    if mc.spec.size.is_some() {
        return SizeCheck::Absent;
    }
    let Some(job) = index.job(namespace, name) else {
        return SizeCheck::Absent;
    };
    let status = job.status.clone().unwrap_or_default();
    let failed = status
        .conditions
        .iter()
        .flatten()
        .any(|c| c.type_ == "Failed" && c.status == "True");
    if status.succeeded.unwrap_or(0) == 0 && !failed {
        return SizeCheck::Running;
    }
    let words = last_words(index, namespace, name).unwrap_or_default();
    match parse_size_line(&words) {
        Some(bytes) if bytes > 0 => SizeCheck::Found(bytes),
        Some(_) => SizeCheck::Failed("the source reports no sizes for its files".into()),
        None => SizeCheck::Failed(match parse_last_line(&words) {
            Some(Err(failure)) => failure.message,
            _ if words.trim().is_empty() => "the Job ended without saying".into(),
            _ => words.trim().lines().last().unwrap_or_default().to_string(),
        }),
    }
}

/// `{"result":"size","bytes":N}` from the size check's last line.
fn parse_size_line(text: &str) -> Option<u64> {
    let value: serde_json::Value = serde_json::from_str(text.trim().lines().last()?).ok()?;
    (value.get("result")?.as_str()? == "size").then(|| value.get("bytes")?.as_u64())?
}

/// One reconcile of a model cache.
#[tracing::instrument(skip_all, fields(name = %mc.name_any(), namespace = mc.namespace().unwrap_or_default()))]
pub async fn reconcile(mc: Arc<ModelCache>, ctx: Arc<Context>) -> Result<Action, Error> {
    let namespace = mc
        .namespace()
        .ok_or_else(|| Error::Invariant("ModelCache without namespace".into()))?;
    if mc.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let index = &ctx.index;
    let mut requeue = None;
    if Component::of(mc.labels()) == Some(Component::ModelCache) {
        let uid = mc.uid().unwrap_or_default();
        match ctx.unused.judge(
            &uid,
            users(index, &namespace, &mc.spec.source_uri),
            ctx.config.unused_grace,
        ) {
            Usage::Collect => {
                tracing::info!("deleting a model cache no template cache uses");
                apply::delete(&ctx, mc.as_ref()).await?;
                ctx.unused.forget(&uid);
                return Ok(Action::await_change());
            }
            Usage::Unused(left) => requeue = Some(left),
            Usage::InUse => {}
        }
    }
    let duplicate_of = index
        .model_caches_of_source(&namespace, &mc.spec.source_uri)
        .first()
        .map(|first| first.name_any())
        .filter(|first| *first != mc.name_any());
    let storage_class = mc.spec.storage_class_name.clone().or_else(|| {
        index
            .cluster_config()
            .and_then(|c| c.spec.cache_storage_class_name.clone())
            .filter(|c| !c.is_empty())
    });
    let claim_name = build::pvc_name(&mc.name_any());
    let size_job = build::size_job_name(&mc.name_any(), mc.metadata.generation.unwrap_or_default() as i32);
    let claim = index.claim(&namespace, &claim_name);
    let mut observed = plan::Observed {
        duplicate_of,
        class_exists: storage_class.as_deref().is_none_or(|c| index.storage_class_exists(c)),
        storage_class,
        claim: claim.as_deref(),
        claim_refused: None,
        claim_warning: index
            .claim_warnings(&namespace, &claim_name)
            .first()
            .and_then(|e| e.message.clone()),
        job: download_job(index, &mc, &namespace),
        size_check: size_check(index, &mc, &namespace, &size_job),
        size_job: size_job.clone(),
        now: Timestamp::now(),
    };
    let mut planned = plan::plan(&mc, &observed, &ctx.config.download);
    match planned.create {
        Create::Nothing => {}
        Create::Claim => {
            let desired = build::pvc(
                &mc,
                owner_ref(mc.as_ref(), true)?,
                observed.storage_class.clone(),
                planned.capacity.clone().unwrap_or_default(),
            );
            match apply::create_once(&ctx, None, &desired).await {
                Ok(()) => {}
                Err(Error::Apply {
                    source: kube::Error::Api(status),
                    ..
                }) if status.code == 403 && status.message.contains("exceeded quota") => {
                    observed.claim_refused = Some(status.message.clone());
                    planned = plan::plan(&mc, &observed, &ctx.config.download);
                }
                Err(e) => return Err(e),
            }
        }
        Create::Job => {
            let attempt = planned.status.download.as_ref().map_or(0, |d| d.failed_attempts);
            let owner = owner_ref(mc.as_ref(), true)?;
            // The pod's identity first: it may patch this attempt's Job, and nothing else.
            apply::apply(
                &ctx,
                None,
                &build::service_account(&mc, owner.clone()),
                |_| false,
                false,
            )
            .await?;
            apply::apply(&ctx, None, &build::role(&mc, owner.clone(), attempt), |_| false, false).await?;
            apply::apply(&ctx, None, &build::role_binding(&mc, owner.clone()), |_| false, false).await?;
            let desired = build::download_job(&mc, owner, &ctx.config.download, attempt);
            let existing = index.job(&namespace, &desired.name_any());
            apply::create_once(&ctx, existing.as_deref(), &desired).await?;
        }
        Create::SizeJob => {
            let desired = build::size_job(
                &mc,
                owner_ref(mc.as_ref(), true)?,
                &ctx.config.download,
                mc.metadata.generation.unwrap_or_default() as i32,
            );
            apply::create_once(&ctx, index.job(&namespace, &size_job).as_deref(), &desired).await?;
        }
    }
    status::write(&ctx, mc.as_ref(), planned.status).await?;
    let requeue = [requeue, planned.requeue].into_iter().flatten().min();
    Ok(requeue.map_or(Action::await_change(), Action::requeue))
}
