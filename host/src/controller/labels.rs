//! Labels the operator puts on what it creates, so people and the operator can find them.

use std::collections::BTreeMap;

/// `app.kubernetes.io/managed-by`.
pub const MANAGED_BY: &str = "app.kubernetes.io/managed-by";
/// Its value on everything the operator creates.
pub const MANAGED_BY_VALUE: &str = "aim-operator";
/// Which part of the operator created the object: `discovery`, `download`, `cache`, `derived-template`, ...
pub const COMPONENT: &str = "aim.silogen.ai/component";
/// The template an object belongs to.
pub const TEMPLATE: &str = "aim.silogen.ai/template";
/// The model cache an object belongs to.
pub const MODEL_CACHE: &str = "aim.silogen.ai/model-cache";
/// The service an object belongs to.
pub const SERVICE: &str = "aim.silogen.ai/service";
/// Pod annotation a downloader sets to report progress: `<downloaded bytes>/<total bytes>`.
pub const DOWNLOAD_PROGRESS: &str = "aim.silogen.ai/download-progress";

/// The standard labels plus the component.
pub fn managed(component: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (MANAGED_BY.to_string(), MANAGED_BY_VALUE.to_string()),
        (COMPONENT.to_string(), component.to_string()),
    ])
}

/// True for objects the operator created.
pub fn is_managed(labels: &BTreeMap<String, String>) -> bool {
    labels.get(MANAGED_BY).is_some_and(|v| v == MANAGED_BY_VALUE)
}
