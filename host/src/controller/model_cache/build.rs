//! The children of a `ModelCache`, as pure builders: its ReadWriteMany volume claim, the size-check Job (without
//! `spec.size`) and the download Job; the download pod's identity is [`super::identity`]'s.

use super::names::{child_labels, identity_name, job_name, pvc_name, size_job_name};
use crate::api::{ModelCache, ModelFiles};
use crate::controller::kit::context::DownloadConfig;
use crate::controller::kit::jobs::{self, JobInputs};
use crate::labels::Component;
use crate::upstream::aim::var;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{
    ConfigMapVolumeSource, Container, EnvVar, KeyToPath, PersistentVolumeClaim, PersistentVolumeClaimSpec,
    PersistentVolumeClaimVolumeSource, Volume, VolumeMount, VolumeResourceRequirements,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::ResourceExt;
use std::collections::BTreeMap;

/// Where the volume is mounted in the download Job (and in inference pods).
pub(crate) const MOUNT_PATH: &str = "/cache";
/// The download container's name.
pub(crate) const CONTAINER: &str = "download";

/// The claim: ReadWriteMany so every replica can mount it; never changed after creation.
pub(crate) fn pvc(
    cache: &ModelCache,
    owner: OwnerReference,
    storage_class: Option<String>,
    size: Quantity,
) -> PersistentVolumeClaim {
    PersistentVolumeClaim {
        metadata: ObjectMeta {
            name: Some(pvc_name(&cache.name_any())),
            namespace: cache.namespace(),
            labels: Some(child_labels(cache, Component::CacheVolume)),
            owner_references: Some(vec![owner]),
            ..Default::default()
        },
        spec: Some(PersistentVolumeClaimSpec {
            access_modes: Some(vec!["ReadWriteMany".into()]),
            storage_class_name: storage_class,
            resources: Some(VolumeResourceRequirements {
                requests: Some(BTreeMap::from([("storage".into(), size)])),
                limits: None,
            }),
            ..Default::default()
        }),
        status: None,
    }
}

/// Where the CA bundle's ConfigMap is mounted in the download and size-check Jobs.
pub(crate) const CA_DIR: &str = "/etc/aim/ca";
/// The file in [`CA_DIR`] the downloader reads (`AIM_EXTRA_CA_FILE`).
pub(crate) const CA_FILE: &str = "ca.crt";

/// The CA bundle's volume, mount and environment (nothing without one). The ConfigMap is optional: a namespace
/// without it still runs the Job, and the downloader says which file is missing.
fn ca_bundle(download: &DownloadConfig) -> (Vec<Volume>, Vec<VolumeMount>, Vec<EnvVar>) {
    let Some(bundle) = &download.ca_bundle else {
        return Default::default();
    };
    let volume = Volume {
        name: "ca-bundle".into(),
        config_map: Some(ConfigMapVolumeSource {
            name: bundle.config_map.clone(),
            items: Some(vec![KeyToPath {
                key: bundle.key.clone(),
                path: CA_FILE.into(),
                ..Default::default()
            }]),
            optional: Some(true),
            ..Default::default()
        }),
        ..Default::default()
    };
    let mount = VolumeMount {
        name: "ca-bundle".into(),
        mount_path: CA_DIR.into(),
        read_only: Some(true),
        ..Default::default()
    };
    (
        vec![volume],
        vec![mount],
        vec![var("AIM_EXTRA_CA_FILE", format!("{CA_DIR}/{CA_FILE}"))],
    )
}

/// The cache's file patterns for the downloader (`AIM_DOWNLOAD_INCLUDE` / `AIM_DOWNLOAD_EXCLUDE`, comma-separated;
/// the schema keeps commas out of patterns), always the ones in effect so the Job says what it fetches.
fn file_patterns(cache: &ModelCache) -> Vec<EnvVar> {
    let files = ModelFiles::effective(cache.spec.model_files.as_ref());
    vec![
        var("AIM_DOWNLOAD_INCLUDE", files.include.join(",")),
        var("AIM_DOWNLOAD_EXCLUDE", files.exclude.join(",")),
    ]
}

/// The download Job: the downloader image (the operator's own by default) runs `aim-operator download
/// <sourceUri>` into the volume at `/cache`, reporting progress on this Job, with the cache's credentials in its
/// environment and the CA bundle, if one is configured.
pub(crate) fn download_job(cache: &ModelCache, owner: OwnerReference, download: &DownloadConfig, attempt: i32) -> Job {
    let name = job_name(&cache.name_any(), attempt);
    let namespace = cache.namespace().unwrap_or_default();
    let (ca_volumes, ca_mounts, ca_env) = ca_bundle(download);
    let mut env = vec![
        var("AIM_DOWNLOAD_DIR", MOUNT_PATH),
        var("AIM_PROGRESS_JOB", format!("{namespace}/{name}")),
    ];
    env.extend(file_patterns(cache));
    env.extend(ca_env);
    env.extend(cache.spec.credentials.env.iter().cloned());
    let mut mounts = vec![VolumeMount {
        name: "cache".into(),
        mount_path: MOUNT_PATH.into(),
        ..Default::default()
    }];
    mounts.extend(ca_mounts);
    let mut volumes = vec![Volume {
        name: "cache".into(),
        persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
            claim_name: pvc_name(&cache.name_any()),
            read_only: None,
        }),
        ..Default::default()
    }];
    volumes.extend(ca_volumes);
    jobs::build(JobInputs {
        name,
        namespace,
        labels: child_labels(cache, Component::Download),
        owner,
        container: Container {
            name: CONTAINER.into(),
            image: Some(download.image.clone()),
            command: Some(download_command(&cache.spec.source_uri)),
            env: Some(env),
            volume_mounts: Some(mounts),
            ..Default::default()
        },
        volumes,
        image_pull_secrets: cache.spec.credentials.image_pull_secrets.clone(),
        active_deadline_seconds: None,
        service_account: Some(identity_name(&cache.name_any())),
        read_only_root: true,
    })
}

/// The download command line: what the Job runs, and what `aim-operator download` takes.
pub(crate) fn download_command(source_uri: &str) -> Vec<String> {
    vec!["aim-operator".into(), "download".into(), source_uri.into()]
}

/// The size-check Job of a cache without `spec.size`: `aim-operator download <sourceUri> --size-only`, which
/// prints the total as its termination message. It needs no volume and no API access.
pub(crate) fn size_job(cache: &ModelCache, owner: OwnerReference, download: &DownloadConfig, attempt: i32) -> Job {
    let mut command = download_command(&cache.spec.source_uri);
    command.push("--size-only".into());
    let (volumes, mounts, ca_env) = ca_bundle(download);
    let mut env = file_patterns(cache);
    env.extend(ca_env);
    env.extend(cache.spec.credentials.env.iter().cloned());
    jobs::build(JobInputs {
        name: size_job_name(cache, attempt),
        namespace: cache.namespace().unwrap_or_default(),
        labels: child_labels(cache, Component::SizeCheck),
        owner,
        container: Container {
            name: CONTAINER.into(),
            image: Some(download.image.clone()),
            command: Some(command),
            env: Some(env),
            volume_mounts: Some(mounts).filter(|m| !m.is_empty()),
            ..Default::default()
        },
        volumes,
        image_pull_secrets: cache.spec.credentials.image_pull_secrets.clone(),
        active_deadline_seconds: Some(600),
        service_account: None,
        read_only_root: true,
    })
}

#[cfg(test)]
mod tests {
    use super::super::identity::*;
    use super::*;
    use crate::fixtures;

    fn downloader(ca_bundle: Option<&str>) -> DownloadConfig {
        DownloadConfig {
            image: "dl:1".into(),
            ca_bundle: ca_bundle.and_then(crate::controller::kit::context::CaBundle::parse),
            ..crate::controller::OperatorConfig::default().download
        }
    }

    fn cache() -> ModelCache {
        fixtures::model_cache()
    }

    fn owner() -> OwnerReference {
        fixtures::owner("ModelCache", "llama-weights")
    }

    #[test]
    fn the_claim_is_read_write_many_with_the_class_and_size() {
        let pvc =
            serde_json::to_value(pvc(&cache(), owner(), Some("fast-rwx".into()), Quantity("17Gi".into()))).unwrap();
        assert_eq!(pvc["metadata"]["name"], "llama-weights-cache");
        assert_eq!(pvc["spec"]["accessModes"], serde_json::json!(["ReadWriteMany"]));
        assert_eq!(pvc["spec"]["storageClassName"], "fast-rwx");
        assert_eq!(pvc["spec"]["resources"]["requests"]["storage"], "17Gi");
        assert_eq!(pvc["metadata"]["ownerReferences"][0]["kind"], "ModelCache");
    }

    #[test]
    fn the_download_job_mounts_the_claim_and_gets_the_source_and_credentials() {
        let job = serde_json::to_value(download_job(&cache(), owner(), &downloader(None), 2)).unwrap();
        assert_eq!(job["metadata"]["name"], "llama-weights-download-a2");
        let pod = &job["spec"]["template"]["spec"];
        assert_eq!(
            pod["volumes"][0]["persistentVolumeClaim"]["claimName"],
            "llama-weights-cache"
        );
        let c = &pod["containers"][0];
        assert_eq!(c["image"], "dl:1");
        assert_eq!(
            c["command"],
            serde_json::json!(["aim-operator", "download", "hf://meta-llama/Llama-3.1-8B-Instruct"])
        );
        assert_eq!(pod["serviceAccountName"], identity_name("llama-weights"));
        assert_eq!(pod["automountServiceAccountToken"], true);
        assert_eq!(c["volumeMounts"][0]["mountPath"], "/cache");
        let names: Vec<&str> = c["env"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["name"].as_str().unwrap())
            .collect();
        assert!(
            names.contains(&"HF_TOKEN") && names.contains(&"AIM_PROGRESS_JOB"),
            "{names:?}"
        );
    }

    #[test]
    fn a_ca_bundle_is_mounted_into_both_jobs_and_named_to_the_downloader() {
        for job in [
            download_job(&cache(), owner(), &downloader(Some("corp-ca:root.pem")), 0),
            size_job(&cache(), owner(), &downloader(Some("corp-ca:root.pem")), 0),
        ] {
            let job = serde_json::to_value(job).unwrap();
            let pod = &job["spec"]["template"]["spec"];
            let volume = pod["volumes"]
                .as_array()
                .unwrap()
                .iter()
                .find(|v| v["name"] == "ca-bundle")
                .expect("the bundle's volume");
            assert_eq!(
                volume["configMap"],
                serde_json::json!({ "name": "corp-ca", "items": [{ "key": "root.pem", "path": "ca.crt" }], "optional": true })
            );
            let c = &pod["containers"][0];
            assert!(
                c["volumeMounts"].as_array().unwrap().contains(
                    &serde_json::json!({ "name": "ca-bundle", "mountPath": "/etc/aim/ca", "readOnly": true })
                ),
                "{}",
                c["volumeMounts"]
            );
            assert!(
                c["env"]
                    .as_array()
                    .unwrap()
                    .contains(&serde_json::json!({ "name": "AIM_EXTRA_CA_FILE", "value": "/etc/aim/ca/ca.crt" }))
            );
        }
        let plain = serde_json::to_value(download_job(&cache(), owner(), &downloader(None), 0)).unwrap();
        assert_eq!(
            plain["spec"]["template"]["spec"]["volumes"].as_array().unwrap().len(),
            1
        );
    }

    #[test]
    fn the_download_pod_may_patch_only_its_own_job() {
        let role = serde_json::to_value(role(&cache(), owner(), 3)).unwrap();
        assert_eq!(
            role["rules"],
            serde_json::json!([{
                "apiGroups": ["batch"],
                "resources": ["jobs"],
                "resourceNames": [job_name("llama-weights", 3)],
                "verbs": ["get", "patch"]
            }])
        );
        let binding = serde_json::to_value(role_binding(&cache(), owner())).unwrap();
        assert_eq!(binding["subjects"][0]["name"], identity_name("llama-weights"));
        assert_eq!(binding["subjects"][0]["namespace"], "team-a");
        assert_eq!(binding["roleRef"]["name"], identity_name("llama-weights"));
    }

    #[test]
    fn the_size_check_runs_the_downloader_with_size_only_and_no_api_access() {
        let job = serde_json::to_value(size_job(&cache(), owner(), &downloader(None), 0)).unwrap();
        let pod = &job["spec"]["template"]["spec"];
        assert_eq!(
            pod["containers"][0]["command"],
            serde_json::json!([
                "aim-operator",
                "download",
                "hf://meta-llama/Llama-3.1-8B-Instruct",
                "--size-only"
            ])
        );
        assert_eq!(pod["automountServiceAccountToken"], false);
        assert!(pod["volumes"].is_null());
    }

    /// Every object a model cache makes, pinned whole.
    #[test]
    fn the_model_caches_children_as_written() {
        let (mc, owner, config) = (cache(), owner(), downloader(Some("corp-ca")));
        insta::assert_json_snapshot!(
            "claim",
            pvc(&mc, owner.clone(), Some("fast-rwx".into()), Quantity("17Gi".into()))
        );
        insta::assert_json_snapshot!("download_job", download_job(&mc, owner.clone(), &config, 1));
        insta::assert_json_snapshot!("size_job", size_job(&mc, owner.clone(), &config, 0));
        insta::assert_json_snapshot!("service_account", service_account(&mc, owner.clone()));
        insta::assert_json_snapshot!("role", role(&mc, owner.clone(), 1));
        insta::assert_json_snapshot!("role_binding", role_binding(&mc, owner));
    }
}
