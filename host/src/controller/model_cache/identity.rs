//! The download pod's identity: a ServiceAccount of its own per cache, whose Role lets it `get` and `patch` the
//! current attempt's Job by name and nothing else (see [`crate::download::progress`] for why the progress goes
//! there). Pure builders.

use super::names::{child_labels, identity_name, job_name};
use crate::api::ModelCache;
use crate::labels::Component;
use k8s_openapi::api::core::v1::ServiceAccount;
use k8s_openapi::api::rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::ResourceExt;

/// The ServiceAccount the download pod runs as: it exists only to report progress on its own Job.
pub(crate) fn service_account(cache: &ModelCache, owner: OwnerReference) -> ServiceAccount {
    ServiceAccount {
        metadata: identity_meta(cache, owner),
        automount_service_account_token: Some(false),
        ..Default::default()
    }
}

/// The Role of the download pod: `get` and `patch` on the current attempt's Job, by name, and nothing else
/// (see [`crate::download::progress`] for why the progress goes there).
pub(crate) fn role(cache: &ModelCache, owner: OwnerReference, attempt: i32) -> Role {
    Role {
        metadata: identity_meta(cache, owner),
        rules: Some(vec![PolicyRule {
            api_groups: Some(vec!["batch".into()]),
            resources: Some(vec!["jobs".into()]),
            resource_names: Some(vec![job_name(&cache.name_any(), attempt)]),
            verbs: vec!["get".into(), "patch".into()],
            non_resource_urls: None,
        }]),
    }
}

/// Binds [`role`] to [`service_account`].
pub(crate) fn role_binding(cache: &ModelCache, owner: OwnerReference) -> RoleBinding {
    let name = identity_name(&cache.name_any());
    RoleBinding {
        metadata: identity_meta(cache, owner),
        role_ref: RoleRef {
            api_group: Some("rbac.authorization.k8s.io".into()),
            kind: "Role".into(),
            name: name.clone(),
        },
        subjects: Some(vec![Subject {
            kind: "ServiceAccount".into(),
            name,
            namespace: cache.namespace(),
            api_group: None,
        }]),
    }
}

fn identity_meta(cache: &ModelCache, owner: OwnerReference) -> ObjectMeta {
    ObjectMeta {
        name: Some(identity_name(&cache.name_any())),
        namespace: cache.namespace(),
        labels: Some(child_labels(cache, Component::Download)),
        owner_references: Some(vec![owner]),
        ..Default::default()
    }
}
