//! The children of a `ModelCache`, as pure builders: its ReadWriteMany volume claim and its download Job.

use crate::api::ModelCache;
use crate::controller::kit::jobs::{self, JobInputs};
use crate::labels::{self, Component};
use crate::upstream::aim::var;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{
    Container, PersistentVolumeClaim, PersistentVolumeClaimSpec, PersistentVolumeClaimVolumeSource, Volume,
    VolumeMount, VolumeResourceRequirements,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::ResourceExt;
use std::collections::BTreeMap;

/// Where the volume is mounted in the download Job (and in inference pods).
pub const MOUNT_PATH: &str = "/cache";
/// The download container's name.
pub const CONTAINER: &str = "download";
/// Pod annotation a downloader sets to report progress: `<downloaded bytes>/<total bytes>`.
pub const PROGRESS_ANNOTATION: &str = "aim.silogen.ai/download-progress";

/// The volume claim's name.
pub fn pvc_name(cache: &str) -> String {
    let mut name = format!("{cache}-cache");
    name.truncate(253);
    name
}

/// The download Job's name for attempt `attempt` (counting failed attempts from 0).
pub fn job_name(cache: &str, attempt: i32) -> String {
    crate::controller::kit::names::hashed_name(&format!("{cache}-download"), &format!("a{attempt}"), 63)
}

fn child_labels(cache: &ModelCache, component: Component) -> BTreeMap<String, String> {
    let mut labels = labels::managed(component);
    labels.insert(labels::MODEL_CACHE.into(), labels::value(&cache.name_any()));
    labels
}

/// The claim: ReadWriteMany so every replica can mount it; never changed after creation.
pub fn pvc(
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

/// The download Job: `image` gets the source URI as its argument and writes into the volume at `/cache`.
pub fn download_job(cache: &ModelCache, owner: OwnerReference, image: &str, attempt: i32, expected_bytes: u64) -> Job {
    let mut env = vec![
        var("SOURCE_URI", cache.spec.source_uri.clone()),
        var("TARGET_DIR", MOUNT_PATH),
        var("EXPECTED_SIZE_BYTES", expected_bytes.to_string()),
        var("HF_HOME", "/tmp/.hf"),
    ];
    env.extend(cache.spec.credentials.env.iter().cloned());
    jobs::build(JobInputs {
        name: job_name(&cache.name_any(), attempt),
        namespace: cache.namespace().unwrap_or_default(),
        labels: child_labels(cache, Component::Download),
        owner,
        container: Container {
            name: CONTAINER.into(),
            image: Some(image.into()),
            args: Some(vec![cache.spec.source_uri.clone()]),
            env: Some(env),
            volume_mounts: Some(vec![VolumeMount {
                name: "cache".into(),
                mount_path: MOUNT_PATH.into(),
                ..Default::default()
            }]),
            ..Default::default()
        },
        volumes: vec![Volume {
            name: "cache".into(),
            persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                claim_name: pvc_name(&cache.name_any()),
                read_only: None,
            }),
            ..Default::default()
        }],
        image_pull_secrets: cache.spec.credentials.image_pull_secrets.clone(),
        active_deadline_seconds: None,
    })
}

/// Reads the downloader's progress annotation, `<downloaded bytes>/<total bytes>`.
pub fn parse_progress(value: &str) -> Option<(i64, i64, i32)> {
    let (done, total) = value.split_once('/')?;
    let (done, total): (i64, i64) = (done.trim().parse().ok()?, total.trim().parse().ok()?);
    if total <= 0 || done < 0 {
        return None;
    }
    let percent = ((done.min(total) as f64 / total as f64) * 100.0).floor() as i32;
    Some((done, total, percent))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{Credentials, ModelCacheSpec};
    use k8s_openapi::api::core::v1::EnvVar;

    fn cache() -> ModelCache {
        let mut mc = ModelCache::new(
            "llama-weights",
            ModelCacheSpec {
                source_uri: "hf://meta-llama/Llama-3.1-8B-Instruct".into(),
                storage_class_name: None,
                size: Some(Quantity("15Gi".into())),
                credentials: Credentials {
                    env: vec![EnvVar {
                        name: "HF_TOKEN".into(),
                        value: Some("t".into()),
                        value_from: None,
                    }],
                    image_pull_secrets: vec![],
                },
            },
        );
        mc.metadata.namespace = Some("team-a".into());
        mc
    }

    fn owner() -> OwnerReference {
        OwnerReference {
            api_version: "aim.silogen.ai/v1alpha1".into(),
            kind: "ModelCache".into(),
            name: "llama-weights".into(),
            uid: "u".into(),
            controller: Some(true),
            block_owner_deletion: Some(true),
        }
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
        let job = serde_json::to_value(download_job(&cache(), owner(), "dl:1", 2, 42)).unwrap();
        assert_eq!(job["metadata"]["name"], "llama-weights-download-a2");
        let pod = &job["spec"]["template"]["spec"];
        assert_eq!(
            pod["volumes"][0]["persistentVolumeClaim"]["claimName"],
            "llama-weights-cache"
        );
        let c = &pod["containers"][0];
        assert_eq!(c["image"], "dl:1");
        assert_eq!(c["args"][0], "hf://meta-llama/Llama-3.1-8B-Instruct");
        assert_eq!(c["volumeMounts"][0]["mountPath"], "/cache");
        let names: Vec<&str> = c["env"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["name"].as_str().unwrap())
            .collect();
        assert!(
            names.contains(&"HF_TOKEN") && names.contains(&"EXPECTED_SIZE_BYTES"),
            "{names:?}"
        );
    }

    #[test]
    fn progress_is_read_from_the_annotation() {
        assert_eq!(parse_progress("512/2048"), Some((512, 2048, 25)));
        assert_eq!(parse_progress("3000/2048"), Some((3000, 2048, 100)));
        assert_eq!(parse_progress("x/1"), None);
        assert_eq!(parse_progress("1/0"), None);
    }
}
