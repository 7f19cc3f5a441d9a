//! The names and labels of a model cache's children, one place for both the builders and the tests that look
//! them up: deterministic, so a restart finds what it made.

use crate::api::ModelCache;
use crate::controller::kit::names::hashed_name;
use crate::labels::{self, Component};
use kube::ResourceExt;
use std::collections::BTreeMap;

/// The volume claim's name.
pub fn pvc_name(cache: &str) -> String {
    let mut name = format!("{cache}-cache");
    name.truncate(253);
    name
}

/// The download Job's name for attempt `attempt` (counting failed attempts from 0).
pub fn job_name(cache: &str, attempt: i32) -> String {
    hashed_name(&format!("{cache}-download"), &format!("a{attempt}"), 63)
}

/// The size-check Job's name for `attempt` (failed attempts so far, from 0, as the download Job counts) at the
/// cache's `generation` (a new spec is checked again): `<cache>-size-g<generation>-a<attempt>`.
pub(crate) fn size_job_name(cache: &ModelCache, attempt: i32) -> String {
    let generation = cache.metadata.generation.unwrap_or_default();
    hashed_name(
        &format!("{}-size-g{generation}", cache.name_any()),
        &format!("a{attempt}"),
        63,
    )
}

/// The download Job's ServiceAccount, Role and RoleBinding: one name per cache.
pub fn identity_name(cache: &str) -> String {
    hashed_name(&format!("{cache}-downloader"), "dl", 253)
}

/// The labels of a child of `cache` made by `component`.
pub(super) fn child_labels(cache: &ModelCache, component: Component) -> BTreeMap<String, String> {
    let mut labels = labels::managed(component);
    labels.insert(labels::MODEL_CACHE.into(), labels::value(&cache.name_any()));
    labels
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_caches_jobs_count_attempts_alike() {
        let mut cache = crate::fixtures::model_cache();
        cache.metadata.name = Some("weights".into());
        cache.metadata.generation = Some(2);
        assert_eq!(job_name("weights", 0), "weights-download-a0");
        assert_eq!(size_job_name(&cache, 0), "weights-size-g2-a0");
        assert_eq!(size_job_name(&cache, 1), "weights-size-g2-a1");
    }
}
