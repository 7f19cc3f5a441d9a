//! The discovery Job of a template: the model's image run with `dry-run --format=json` and the template's
//! runtime parameters as `AIM_*` variables. Pure: inputs in, Job out.

use crate::api::TemplateProfile;
use crate::controller::kit::jobs::{self, JobInputs};
use crate::controller::kit::names::{hashed_name, short_hash};
use crate::labels::{self, Component};
use crate::upstream::aim::{profile_env, var};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Container, ResourceRequirements};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use std::collections::BTreeMap;

/// The container's name (the operator reads its termination message and log).
pub(crate) const CONTAINER: &str = "discovery";

/// The longest a dry run may take.
const DEADLINE_SECONDS: i64 = 600;

/// Everything a discovery Job depends on.
pub(crate) struct DiscoveryInputs<'a> {
    pub(crate) template: &'a str,
    /// Namespace the Job runs in.
    pub(crate) namespace: &'a str,
    /// The template as owner.
    pub(crate) owner: OwnerReference,
    pub(crate) image: &'a str,
    pub(crate) profile: &'a TemplateProfile,
}

/// Hash of what discovery's result depends on: a change runs discovery again.
pub(crate) fn spec_hash(image: &str, profile: &TemplateProfile) -> String {
    let env = serde_json::to_string(&profile.credentials).unwrap_or_default();
    let params = serde_json::to_string(&profile.parameters).unwrap_or_default();
    short_hash(&[image, &profile.model_id, &params, &env])
}

/// `discover-<template>-<hash>`, a DNS label.
pub(crate) fn job_name(template: &str, hash: &str) -> String {
    hashed_name(&format!("discover-{template}"), hash, 63)
}

pub(crate) fn build(inputs: &DiscoveryInputs<'_>, hash: &str) -> Job {
    let mut labels = labels::managed(Component::Discovery);
    labels.insert(labels::TEMPLATE.into(), labels::value(inputs.template));
    // Warnings only: the runtime's reason for an empty answer is a warning, and the parser finds the JSON among
    // whatever else reaches the log.
    let mut env = vec![var("AIM_LOG_LEVEL_ROOT", "WARNING"), var("AIM_LOG_LEVEL", "WARNING")];
    env.extend(inputs.profile.credentials.env.iter().cloned());
    env.extend(profile_env(inputs.profile));
    jobs::build(JobInputs {
        name: job_name(inputs.template, hash),
        namespace: inputs.namespace.into(),
        labels,
        owner: inputs.owner.clone(),
        container: Container {
            name: CONTAINER.into(),
            image: Some(inputs.image.into()),
            args: Some(vec!["dry-run".into(), "--format=json".into()]),
            env: Some(env),
            resources: Some(ResourceRequirements {
                requests: Some(BTreeMap::from([
                    ("cpu".into(), Quantity("100m".into())),
                    ("memory".into(), Quantity("256Mi".into())),
                ])),
                limits: Some(BTreeMap::from([("memory".into(), Quantity("1Gi".into()))])),
                ..Default::default()
            }),
            ..Default::default()
        },
        volumes: vec![],
        image_pull_secrets: inputs.profile.credentials.image_pull_secrets.clone(),
        active_deadline_seconds: Some(DEADLINE_SECONDS),
        service_account: None,
        read_only_root: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Precision;

    use crate::fixtures::profile;

    fn inputs(profile: &TemplateProfile) -> DiscoveryInputs<'_> {
        DiscoveryInputs {
            template: "llama3-8b-fast",
            namespace: "team-a",
            owner: crate::fixtures::owner("AIMServiceTemplate", "llama3-8b-fast"),
            image: "reg/aim:1",
            profile,
        }
    }

    #[test]
    fn the_job_runs_the_dry_run_of_the_image_with_the_profile_as_aim_variables() {
        let profile = profile();
        let inputs = inputs(&profile);
        let hash = spec_hash("reg/aim:1", &profile);
        let job = serde_json::to_value(build(&inputs, &hash)).unwrap();
        assert_eq!(job["metadata"]["name"], format!("discover-llama3-8b-fast-{hash}"));
        assert_eq!(job["metadata"]["namespace"], "team-a");
        assert_eq!(job["metadata"]["ownerReferences"][0]["uid"], "uid-llama3-8b-fast");
        assert_eq!(job["metadata"]["labels"]["aim.silogen.ai/component"], "discovery");
        assert_eq!(job["spec"]["backoffLimit"], 0);
        assert_eq!(job["spec"]["activeDeadlineSeconds"], 600);
        let container = &job["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(container["image"], "reg/aim:1");
        assert_eq!(container["args"], serde_json::json!(["dry-run", "--format=json"]));
        assert_eq!(container["terminationMessagePolicy"], "FallbackToLogsOnError");
        let env: BTreeMap<String, String> = container["env"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["name"].as_str().unwrap().to_string(),
                    e["value"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect();
        for (k, v) in [
            ("AIM_METRIC", "latency"),
            ("AIM_PRECISION", "fp8"),
            ("AIM_GPU_MODEL", "MI300X"),
            ("AIM_GPU_COUNT", "2"),
            ("HF_TOKEN", "t"),
        ] {
            assert_eq!(env.get(k).map(String::as_str), Some(v), "{k}");
        }
        let pod = &job["spec"]["template"]["spec"];
        assert_eq!(pod["restartPolicy"], "Never");
        assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
        assert_eq!(pod["securityContext"]["runAsUser"], jobs::RUN_AS);
    }

    #[test]
    fn the_hash_follows_what_discovery_depends_on() {
        let a = profile();
        let mut b = profile();
        b.parameters.precision = Some(Precision::Bf16);
        assert_ne!(spec_hash("img", &a), spec_hash("img", &b));
        assert_ne!(spec_hash("img:1", &a), spec_hash("img:2", &a));
        assert_eq!(spec_hash("img", &a), spec_hash("img", &profile()));
    }

    /// The discovery Job, pinned whole.
    #[test]
    fn the_discovery_job_as_written() {
        let profile = profile();
        let inputs = inputs(&profile);
        insta::assert_json_snapshot!("discovery_job", build(&inputs, &spec_hash("reg/aim:1", &profile)));
    }
}
