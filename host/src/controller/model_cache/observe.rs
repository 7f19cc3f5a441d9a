//! What a model cache's plan reads from the index: another cache of the same source that came first, the
//! storage class (the cache's, else `AIMClusterConfig.spec.cacheStorageClassName`, else the cluster default),
//! the claim and a provisioner's warnings about it, the size check (without `spec.size`), and the download Job
//! with the progress the downloader writes on it.

use super::plan::{DownloadJob, Observed, SizeCheck};
use super::{build, names};
use crate::api::{ModelCache, ModelFiles, SkippedFiles};
use crate::controller::kit::jobs::{self, JobRun};
use crate::download::failure::parse_last_line;
use crate::download::progress;
use crate::index::Index;
use k8s_openapi::api::core::v1::PersistentVolumeClaim;
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use std::sync::Arc;

/// Everything the plan of `mc` reads, with the claim it holds on to (the plan borrows it).
pub(crate) fn observe<'a>(
    index: &Index,
    mc: &ModelCache,
    claim: &'a Option<Arc<PersistentVolumeClaim>>,
) -> Observed<'a> {
    let namespace = mc.namespace().unwrap_or_default();
    let duplicate_of = index
        .model_caches_holding(
            &namespace,
            &mc.spec.source_uri,
            &ModelFiles::effective(mc.spec.model_files.as_ref()),
        )
        .first()
        .map(|first| first.name_any())
        .filter(|first| *first != mc.name_any());
    let storage_class = mc.spec.storage_class_name.clone().or_else(|| {
        index
            .cluster_config()
            .and_then(|c| c.spec.cache_storage_class_name.clone())
            .filter(|c| !c.is_empty())
    });
    let claim_name = names::pvc_name(&mc.name_any());
    let size_attempt = mc
        .status
        .as_ref()
        .and_then(|s| s.size_check.as_ref())
        .map_or(0, |s| s.failed_attempts);
    let size_job = names::size_job_name(mc, size_attempt);
    Observed {
        duplicate_of,
        class_exists: storage_class.as_deref().is_none_or(|c| index.storage_class_exists(c)),
        storage_class,
        claim: claim.as_deref(),
        claim_refused: None,
        claim_warning: index
            .claim_warnings(&namespace, &claim_name)
            .first()
            .and_then(|e| e.message.clone()),
        job: download_job(index, mc, &namespace),
        downloaded_skipped: downloaded_skipped(index, mc, &namespace),
        size_check: size_check(index, mc, &namespace, &size_job),
        size_job,
        now: Timestamp::now(),
    }
}

/// The claim of `mc`, as the index shows it.
pub(crate) fn claim(index: &Index, mc: &ModelCache) -> Option<Arc<PersistentVolumeClaim>> {
    index.claim(&mc.namespace().unwrap_or_default(), &names::pvc_name(&mc.name_any()))
}

fn download_job(index: &Index, mc: &ModelCache, namespace: &str) -> DownloadJob {
    let attempt = mc
        .status
        .as_ref()
        .and_then(|s| s.download.as_ref())
        .map_or(0, |d| d.failed_attempts);
    let name = names::job_name(&mc.name_any(), attempt);
    match jobs::observe(index, namespace, &name, build::CONTAINER) {
        JobRun::Absent => DownloadJob::Absent,
        JobRun::Succeeded { .. } => DownloadJob::Succeeded,
        JobRun::Failed {
            message,
            job_message,
            at,
            ..
        } => {
            // The downloader's last line names the kind of failure; another image's output is shown as it is.
            let (detail, kind) = match message.as_deref().and_then(parse_last_line) {
                Some(Err(failure)) => (failure.message, Some(failure.kind)),
                _ => (
                    message
                        .map(|w| w.trim().lines().last().unwrap_or_default().to_string())
                        .unwrap_or(job_message),
                    None,
                ),
            };
            DownloadJob::Failed { detail, kind, at }
        }
        JobRun::Running => DownloadJob::Running(index.job(namespace, &name).and_then(|job| {
            job.annotations()
                .get(progress::ANNOTATION)
                .and_then(|v| progress::parse(v))
        })),
    }
}

/// The size check of the current attempt, for a cache without `spec.size`.
fn size_check(index: &Index, mc: &ModelCache, namespace: &str, name: &str) -> SizeCheck {
    if mc.spec.size.is_some() {
        return SizeCheck::Absent;
    }
    let (words, at) = match jobs::observe(index, namespace, name, build::CONTAINER) {
        JobRun::Absent => return SizeCheck::Absent,
        JobRun::Running => return SizeCheck::Running,
        JobRun::Succeeded { message, .. } => (message.unwrap_or_default(), None),
        JobRun::Failed {
            message,
            job_message,
            at,
        } => (message.unwrap_or(job_message), at),
    };
    match last_line(&words, "size") {
        Some(line) => match line.get("bytes").and_then(serde_json::Value::as_u64) {
            Some(bytes) if bytes > 0 => SizeCheck::Found {
                bytes,
                skipped: skipped(&line),
            },
            _ => SizeCheck::Unknown("the source lists no sizes for its files".into()),
        },
        None => SizeCheck::Failed {
            why: match parse_last_line(&words) {
                Some(Err(failure)) => failure.message,
                _ if words.trim().is_empty() => "the Job ended without saying".into(),
                _ => words.trim().lines().last().unwrap_or_default().to_string(),
            },
            at,
        },
    }
}

/// What the download of the current attempt left out, once it succeeded (its last line says).
fn downloaded_skipped(index: &Index, mc: &ModelCache, namespace: &str) -> Option<SkippedFiles> {
    let attempt = mc.status.as_ref()?.download.as_ref().map_or(0, |d| d.failed_attempts);
    match jobs::observe(
        index,
        namespace,
        &names::job_name(&mc.name_any(), attempt),
        build::CONTAINER,
    ) {
        JobRun::Succeeded { message, .. } => skipped(&last_line(&message?, "ok")?),
        _ => None,
    }
}

/// The downloader's last line when it is `{"result":<result>,…}`.
fn last_line(text: &str, result: &str) -> Option<serde_json::Value> {
    let value: serde_json::Value = serde_json::from_str(text.trim().lines().last()?).ok()?;
    (value.get("result")?.as_str()? == result).then_some(value)
}

/// The `skipped` entry of a downloader line, when the patterns left anything out.
fn skipped(line: &serde_json::Value) -> Option<SkippedFiles> {
    let s = line.get("skipped")?;
    let files = s.get("files")?.as_i64()?;
    Some(SkippedFiles {
        files,
        bytes: s.get("bytes")?.as_i64()?,
    })
}
