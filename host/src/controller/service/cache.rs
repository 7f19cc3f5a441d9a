//! On-demand caching for a service with `cacheModel: true`: the `AIMTemplateCache` of its template in its
//! namespace (an existing one is shared, whoever made it; otherwise one is created, recording no users on
//! itself), and the cache volumes to mount once it is warm. Pure: the index's objects in, the plan out.

use super::candidates::TemplateRecord;
use crate::api::{AIMService, AIMTemplateCache, AIMTemplateCacheSpec, Credentials, ModelCache, ResourceState};
use crate::controller::kit::conditions::{self, types, with_detail};
use crate::labels::{self, Component};
use kube::ResourceExt;
use kube::api::ObjectMeta;
use std::sync::Arc;

/// A mounted model cache: which directory of which claim appears where the runtime looks for the model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CacheMount {
    pub(crate) claim: String,
    /// The directory on the volume the downloader wrote the source's files to (`<org>/<model>`,
    /// `<bucket>/<prefix>`), mounted as `subPath`.
    pub(crate) directory: String,
    /// The model ID the runtime looks the files up by: they appear at
    /// `<`[`super::serving::CACHE_ROOT`]`>/<model id>`, the directory the runtime checks before it downloads.
    pub(crate) model_id: String,
}

impl CacheMount {
    /// The mount of the volume `claim` holding `source`, or `None` for a source whose URI does not parse (the
    /// API server refuses those).
    pub(crate) fn of(source: &crate::api::ModelSource, claim: String) -> Option<CacheMount> {
        let parsed = crate::download::source::Source::parse(&source.source_uri).ok()?;
        Some(CacheMount {
            claim,
            directory: parsed.directory().to_string_lossy().into_owned(),
            model_id: source.model_id()?,
        })
    }
}

/// Where the service's cache stands.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum CacheState {
    /// Warm: these volumes hold the model.
    Warm(Vec<CacheMount>),
    /// Warming; the message says what is pending.
    Warming(String),
    /// Failed; the message says why.
    Failed(String),
}

/// The service's settings over the template's: environment merged by name with the service's winning; a
/// service's non-empty list of pull secrets replaces the template's (an empty one inherits it).
pub(crate) fn merged_credentials(template: &Credentials, service: &Credentials) -> Credentials {
    let mut env = template.env.clone();
    for var in &service.env {
        match env.iter_mut().find(|e| e.name == var.name) {
            Some(existing) => *existing = var.clone(),
            None => env.push(var.clone()),
        }
    }
    let image_pull_secrets = if service.image_pull_secrets.is_empty() {
        template.image_pull_secrets.clone()
    } else {
        service.image_pull_secrets.clone()
    };
    Credentials {
        env,
        image_pull_secrets,
    }
}

/// The template cache the operator creates for services of `template` in the service's namespace.
pub(crate) fn service_cache(service: &AIMService, template: &TemplateRecord) -> AIMTemplateCache {
    AIMTemplateCache {
        metadata: ObjectMeta {
            name: Some(template.name.clone()),
            namespace: service.namespace(),
            labels: Some(labels::managed(Component::ServiceCache)),
            ..Default::default()
        },
        spec: AIMTemplateCacheSpec {
            template_ref: template.name.clone(),
            model_files: None,
            storage_class_name: None,
            credentials: merged_credentials(&template.profile.credentials, &service.spec.credentials),
        },
        status: None,
    }
}

/// Where the cache stands given the template cache of the template (`None`: there is none yet) and the model
/// cache holding each source.
pub(crate) fn state(
    cache: Option<&AIMTemplateCache>,
    template: &TemplateRecord,
    model_cache: impl Fn(&str) -> Option<Arc<ModelCache>>,
) -> CacheState {
    let Some(cache) = cache else {
        return CacheState::Warming(format!("creating AIMTemplateCache {}", template.name));
    };
    let status = cache.status.clone().unwrap_or_default();
    let detail = |t| {
        conditions::get(&status.head.conditions, t)
            .map(|c| c.message.clone())
            .unwrap_or_default()
    };
    match status.head.status {
        Some(ResourceState::Available) => CacheState::Warm(
            template
                .status
                .model_sources
                .iter()
                .filter_map(|source| {
                    let mc = model_cache(&source.source_uri)?;
                    let ready = mc.status.as_ref().and_then(|s| s.head.status) == Some(ResourceState::Available);
                    let claim = mc.status.as_ref()?.persistent_volume_claim.clone()?;
                    ready.then(|| CacheMount::of(source, claim)).flatten()
                })
                .collect(),
        ),
        Some(ResourceState::Failed) => CacheState::Failed(with_detail(
            format!("AIMTemplateCache {} failed", cache.name_any()),
            &detail(types::FAILURE),
        )),
        // The progress in steps of 10%: every service waiting for the cache writes its status when the message
        // changes, so a download changes it at most ten times. The caches' own status has the exact figures.
        _ => {
            let downloaded =
                progress_step(template, &model_cache).map_or(String::new(), |p| format!(": {p}% downloaded"));
            CacheState::Warming(format!(
                "AIMTemplateCache {} is warming{downloaded} (its status shows the progress)",
                cache.name_any()
            ))
        }
    }
}

/// Bytes done and in all, and the rate, of the download of the template's sources, once any is known (a source
/// not reporting yet counts its size as still to come).
struct Progress {
    done: i64,
    total: i64,
    rate: i64,
}

fn progress(template: &TemplateRecord, model_cache: &impl Fn(&str) -> Option<Arc<ModelCache>>) -> Option<Progress> {
    let (mut p, mut known) = (
        Progress {
            done: 0,
            total: 0,
            rate: 0,
        },
        false,
    );
    for source in &template.status.model_sources {
        let download = model_cache(&source.source_uri).and_then(|m| m.status.clone()?.download);
        if let Some(d) = download.filter(|d| d.downloaded_bytes.is_some() && d.total_bytes.is_some()) {
            p.done += d.downloaded_bytes.unwrap_or_default();
            p.total += d.total_bytes.unwrap_or_default();
            p.rate += d.bytes_per_second.unwrap_or_default();
            known = true;
        } else if let Some(size) = source.size.as_ref().and_then(crate::controller::kit::quantity::bytes) {
            p.total += size as i64;
        }
    }
    (known && p.total > 0).then_some(p)
}

/// The download progress over the template's sources, rounded down to a multiple of 10, once any is known.
fn progress_step(template: &TemplateRecord, model_cache: &impl Fn(&str) -> Option<Arc<ModelCache>>) -> Option<i64> {
    progress(template, model_cache).map(|p| (p.done.min(p.total) * 10 / p.total) * 10)
}

/// Where the download of the template's sources stands, for a person: `34.0 MiB of 96.0 MiB (35%), 16.9 MiB/s,
/// about 4s left`, once any source reports.
pub(crate) fn download_detail(
    template: &TemplateRecord,
    model_cache: impl Fn(&str) -> Option<Arc<ModelCache>>,
) -> Option<String> {
    use crate::download::human;
    let p = progress(template, &model_cache)?;
    let done = p.done.min(p.total);
    let mut detail = format!(
        "{} of {} ({}%)",
        human(done as u64),
        human(p.total as u64),
        done * 100 / p.total
    );
    if p.rate > 0 {
        let left = (p.total - done) / p.rate;
        detail.push_str(&format!(
            ", {}/s, about {} left",
            human(p.rate as u64),
            super::startup::duration(left)
        ));
    }
    Some(detail)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{EnvVar, LocalObjectReference};

    fn creds(env: &[(&str, &str)], secrets: &[&str]) -> Credentials {
        Credentials {
            env: env
                .iter()
                .map(|(k, v)| EnvVar {
                    name: k.to_string(),
                    value: Some(v.to_string()),
                    value_from: None,
                })
                .collect(),
            image_pull_secrets: secrets
                .iter()
                .map(|s| LocalObjectReference { name: s.to_string() })
                .collect(),
        }
    }

    #[test]
    fn services_see_download_progress_in_steps_of_ten_percent() {
        use crate::api::{DownloadStatus, ModelCacheSpec, ModelCacheStatus, ModelSource, TemplateScope};
        use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
        let source = |uri: &str| ModelSource {
            source_uri: uri.into(),
            size: Some(Quantity("1Gi".into())),
            name: None,
        };
        let template = crate::fixtures::template_record(
            "t",
            TemplateScope::Namespace,
            crate::api::TemplateStatus {
                model_sources: vec![source("hf://a/b"), source("hf://a/c")],
                ..Default::default()
            },
        );
        let cache = |done: i64| {
            let mut mc = ModelCache::new(
                "mc",
                ModelCacheSpec {
                    source_uri: "hf://a/b".into(),
                    model_files: None,
                    storage_class_name: None,
                    size: None,
                    credentials: Default::default(),
                },
            );
            mc.status = Some(ModelCacheStatus {
                download: Some(DownloadStatus {
                    downloaded_bytes: Some(done),
                    total_bytes: Some(1 << 30),
                    ..Default::default()
                }),
                ..Default::default()
            });
            Arc::new(mc)
        };
        // Half of the first of two equal sources: a quarter of the whole, shown as 20%.
        let half = cache(1 << 29);
        let lookup = |uri: &str| (uri == "hf://a/b").then(|| half.clone());
        assert_eq!(progress_step(&template, &lookup), Some(20));
        assert_eq!(progress_step(&template, &|_: &str| None), None, "nothing known yet");
    }

    #[test]
    fn the_services_settings_win_env_by_name_and_pull_secrets_as_a_list() {
        let merged = merged_credentials(&creds(&[("A", "t"), ("B", "t")], &["a"]), &creds(&[("B", "s")], &["b"]));
        let env: Vec<(String, String)> = merged
            .env
            .iter()
            .map(|e| (e.name.clone(), e.value.clone().unwrap()))
            .collect();
        assert_eq!(env, vec![("A".into(), "t".into()), ("B".into(), "s".into())]);
        assert_eq!(
            merged.image_pull_secrets,
            creds(&[], &["b"]).image_pull_secrets,
            "the service's list replaces"
        );
        let inherited = merged_credentials(&creds(&[], &["a"]), &creds(&[], &[]));
        assert_eq!(
            inherited.image_pull_secrets,
            creds(&[], &["a"]).image_pull_secrets,
            "an empty list inherits"
        );
    }
}
