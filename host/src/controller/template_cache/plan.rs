//! A template cache's plan, pure: the `ModelCache` each model source needs (created where none exists; one that
//! exists is used whoever made it), and the status: `Resolved`, `CacheWarm`, `Ready`, `Progressing`, `Failure`
//! and `status.resolvedTemplateKind`.

use crate::api::{
    AIMTemplateCache, AIMTemplateCacheStatus, ModelCache, ModelCacheSpec, ModelFiles, ModelSource, ResourceState,
    TemplateKind, TemplateScope,
};
use crate::controller::kit::conditions::{self, Cond, reasons, types};
use crate::controller::kit::names::{hashed_name, short_hash};
use crate::controller::kit::pipeline;
use crate::controller::kit::writes::Writes;
use crate::labels::{self, Component};
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use kube::api::ObjectMeta;
use std::sync::Arc;

/// The name the operator gives the `ModelCache` of `files` of a source: readable, unique per URI and patterns, a
/// DNS label. The default patterns keep the name a cache of the whole source had before patterns existed.
pub fn model_cache_name(source_uri: &str, files: &ModelFiles) -> String {
    let files = ModelFiles::effective(Some(files));
    if files.is_default() {
        return hashed_name(source_uri, &short_hash(&[source_uri]), 63);
    }
    let (include, exclude) = (files.include.join(","), files.exclude.join(","));
    hashed_name(
        source_uri,
        &short_hash(&[source_uri, "include", &include, "exclude", &exclude]),
        63,
    )
}

/// What the template cache reads from the index.
pub(crate) struct Observed<'a> {
    /// The template `spec.templateRef` resolves to: its scope and its model sources (`None`: no such template).
    pub(crate) template: Option<(TemplateScope, &'a [ModelSource])>,
    /// For each model source, the model cache holding it (the oldest, with duplicates), if any.
    pub(crate) caches: Vec<(&'a ModelSource, Option<Arc<ModelCache>>)>,
    /// The file patterns in effect: the template cache's, else the template's, else the default.
    pub(crate) files: ModelFiles,
    pub(crate) now: Timestamp,
}

/// The plan: the model caches to create, and the status.
pub(crate) type Plan = pipeline::Plan<AIMTemplateCacheStatus>;

/// The model cache the operator makes for `files` of `source`: no owners (template caches share it; it is
/// collected when none uses it), the template cache's storage class and credentials. The default patterns are
/// left unset, so the cache reads as one of the whole source.
pub(crate) fn model_cache_for(tc: &AIMTemplateCache, source: &ModelSource, files: &ModelFiles) -> ModelCache {
    ModelCache {
        metadata: ObjectMeta {
            name: Some(model_cache_name(&source.source_uri, files)),
            namespace: tc.namespace(),
            labels: Some(labels::managed(Component::ModelCache)),
            ..Default::default()
        },
        spec: ModelCacheSpec {
            source_uri: source.source_uri.clone(),
            model_files: (!ModelFiles::effective(Some(files)).is_default()).then(|| files.clone()),
            storage_class_name: tc.spec.storage_class_name.clone(),
            size: source.size.clone(),
            credentials: tc.spec.credentials.clone(),
        },
        status: None,
    }
}

/// The plan for `tc`.
pub(crate) fn plan(tc: &AIMTemplateCache, o: &Observed<'_>) -> Plan {
    let generation = tc.metadata.generation;
    let current = tc.status.clone().unwrap_or_default();
    let mut next = current;
    next.head.observed_generation = generation;
    let set = |next: &mut AIMTemplateCacheStatus, t: &str, c: &Cond| {
        conditions::set(&mut next.head.conditions, t, c, generation, o.now)
    };
    let template_ref = &tc.spec.template_ref;
    let namespace = tc.namespace().unwrap_or_default();
    let Some((scope, sources)) = o.template else {
        let message = format!(
            "no AIMServiceTemplate '{template_ref}' in namespace {namespace} and no AIMClusterServiceTemplate '{template_ref}'"
        );
        next.resolved_template_kind = None;
        set(
            &mut next,
            types::RESOLVED,
            &Cond::no(reasons::TEMPLATE_NOT_FOUND, message.clone()),
        );
        let nothing = Cond::no(reasons::TEMPLATE_NOT_FOUND, "nothing to warm until the template exists");
        set(&mut next, types::CACHE_WARM, &nothing);
        set(
            &mut next,
            types::FAILURE,
            &Cond::yes(reasons::TEMPLATE_NOT_FOUND, message.clone()),
        );
        set(&mut next, types::READY, &Cond::no(reasons::TEMPLATE_NOT_FOUND, message));
        set(&mut next, types::PROGRESSING, &Cond::no(reasons::IDLE, ""));
        next.head.status = Some(ResourceState::Failed);
        return Plan::status(next);
    };
    let (kind, kind_word) = match scope {
        TemplateScope::Namespace => (TemplateKind::AIMServiceTemplate, "namespace template"),
        TemplateScope::Cluster => (TemplateKind::AIMClusterServiceTemplate, "cluster template"),
    };
    next.resolved_template_kind = Some(kind);
    set(
        &mut next,
        types::RESOLVED,
        &Cond::yes(reasons::RESOLVED, format!("{kind_word} {template_ref}")),
    );
    let mut writes = Writes::new();
    for (source, found) in &o.caches {
        writes.create_once(&model_cache_for(tc, source, &o.files), found.as_deref());
    }
    let cache = if sources.is_empty() {
        Summary {
            warm: false,
            failed: false,
            reason: reasons::AWAITING_DISCOVERY,
            message: format!("waiting for the {kind_word}'s model sources to be discovered"),
        }
    } else {
        summarize(&o.caches, &o.files)
    };
    set(
        &mut next,
        types::CACHE_WARM,
        &Cond {
            ok: cache.warm,
            reason: cache.reason,
            message: cache.message.clone(),
        },
    );
    let failure = if cache.failed {
        Cond::yes(reasons::WARM_FAILED, cache.message.clone())
    } else {
        Cond::no(reasons::NO_FAILURE, "")
    };
    set(&mut next, types::FAILURE, &failure);
    let ready = Cond {
        ok: cache.warm,
        reason: if cache.warm { reasons::READY } else { cache.reason },
        message: cache.message.clone(),
    };
    set(&mut next, types::READY, &ready);
    let progressing = if cache.warm || cache.failed {
        Cond::no(reasons::IDLE, "")
    } else {
        Cond::yes(cache.reason, cache.message.clone())
    };
    set(&mut next, types::PROGRESSING, &progressing);
    next.head.status = Some(if cache.warm {
        ResourceState::Available
    } else if cache.failed {
        ResourceState::Failed
    } else {
        ResourceState::Progressing
    });
    Plan {
        writes,
        status: next,
        requeue: None,
    }
}

struct Summary {
    warm: bool,
    failed: bool,
    reason: &'static str,
    message: String,
}

/// Warm when every cache is Available; failed when one failed; otherwise warming, naming what is pending.
fn summarize(caches: &[(&ModelSource, Option<Arc<ModelCache>>)], files: &ModelFiles) -> Summary {
    let state = |m: &ModelCache| m.status.as_ref().and_then(|s| s.head.status).unwrap_or_default();
    let found: Vec<&ModelCache> = caches.iter().filter_map(|(_, m)| m.as_deref()).collect();
    let ready = found.iter().filter(|m| state(m) == ResourceState::Available).count();
    if let Some(failed) = found.iter().find(|m| state(m) == ResourceState::Failed) {
        let why = failed
            .status
            .as_ref()
            .and_then(|s| {
                conditions::get(&s.head.conditions, types::FAILURE).map(|c| format!(" ({}: {})", c.reason, c.message))
            })
            .unwrap_or_default();
        return Summary {
            warm: false,
            failed: true,
            reason: reasons::WARM_FAILED,
            message: format!("ModelCache {} failed{why}", failed.name_any()),
        };
    }
    if ready == caches.len() {
        return Summary {
            warm: true,
            failed: false,
            reason: reasons::WARM,
            message: format!("all {ready} model caches are ready"),
        };
    }
    let pending: Vec<String> = caches
        .iter()
        .filter(|(_, m)| m.as_deref().is_none_or(|m| state(m) != ResourceState::Available))
        .map(|(source, m)| match m {
            None => format!("{} (being created)", model_cache_name(&source.source_uri, files)),
            Some(m) => match m.status.as_ref().and_then(|s| s.download.as_ref()?.percent) {
                Some(p) => format!("{} ({p}%)", m.name_any()),
                None => m.name_any(),
            },
        })
        .collect();
    Summary {
        warm: false,
        failed: false,
        reason: reasons::WARMING,
        message: format!(
            "{ready}/{} model caches ready; waiting for {}",
            caches.len(),
            pending.join(", ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{AIMTemplateCacheSpec, Credentials, ModelCacheStatus};
    use crate::fixtures::now;

    fn tc() -> AIMTemplateCache {
        let mut tc = AIMTemplateCache::new(
            "t",
            AIMTemplateCacheSpec {
                template_ref: "t".into(),
                model_files: None,
                storage_class_name: Some("rwx".into()),
                credentials: Credentials::default(),
            },
        );
        tc.metadata.namespace = Some("team".into());
        tc
    }

    fn source(uri: &str) -> ModelSource {
        ModelSource {
            source_uri: uri.into(),
            size: None,
            name: None,
        }
    }

    fn cache(uri: &str, state: ResourceState) -> Arc<ModelCache> {
        let mut mc = model_cache_for(&tc(), &source(uri), &ModelFiles::default());
        mc.status = Some(ModelCacheStatus {
            head: crate::api::StatusHead::in_state(state),
            ..Default::default()
        });
        Arc::new(mc)
    }

    #[test]
    fn sources_without_a_cache_get_one_and_the_cache_is_warm_when_all_are_ready() {
        let sources = [source("hf://a/b"), source("hf://c/d")];
        let plan1 = plan(
            &tc(),
            &Observed {
                template: Some((TemplateScope::Cluster, &sources)),
                caches: vec![
                    (&sources[0], Some(cache("hf://a/b", ResourceState::Available))),
                    (&sources[1], None),
                ],
                files: ModelFiles::default(),
                now: now(),
            },
        );
        let created = plan1.writes.objects::<ModelCache>();
        assert_eq!(created.len(), 1);
        let created = &created[0];
        assert_eq!(created.spec.source_uri, "hf://c/d");
        assert_eq!(created.spec.storage_class_name.as_deref(), Some("rwx"));
        assert!(
            created.metadata.owner_references.is_none(),
            "shared caches record no users on themselves"
        );
        assert_eq!(plan1.status.head.status, Some(ResourceState::Progressing));
        assert_eq!(
            plan1.status.resolved_template_kind,
            Some(TemplateKind::AIMClusterServiceTemplate)
        );
        let warm = plan(
            &tc(),
            &Observed {
                template: Some((TemplateScope::Namespace, &sources)),
                caches: vec![
                    (&sources[0], Some(cache("hf://a/b", ResourceState::Available))),
                    (&sources[1], Some(cache("hf://c/d", ResourceState::Available))),
                ],
                files: ModelFiles::default(),
                now: now(),
            },
        );
        assert!(warm.writes.objects::<ModelCache>().is_empty());
        assert_eq!(warm.status.head.status, Some(ResourceState::Available));
    }

    #[test]
    fn a_failed_model_cache_fails_the_template_cache_and_a_missing_template_is_template_not_found() {
        let sources = [source("hf://a/b")];
        let failed = plan(
            &tc(),
            &Observed {
                template: Some((TemplateScope::Cluster, &sources)),
                caches: vec![(&sources[0], Some(cache("hf://a/b", ResourceState::Failed)))],
                files: ModelFiles::default(),
                now: now(),
            },
        );
        assert_eq!(failed.status.head.status, Some(ResourceState::Failed));
        let missing = plan(
            &tc(),
            &Observed {
                template: None,
                caches: vec![],
                files: ModelFiles::default(),
                now: now(),
            },
        );
        let resolved = conditions::get(&missing.status.head.conditions, types::RESOLVED).unwrap();
        assert_eq!(resolved.reason, reasons::TEMPLATE_NOT_FOUND);
        assert_eq!(missing.status.head.status, Some(ResourceState::Failed));
    }
}
