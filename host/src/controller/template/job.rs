//! The discovery Job of a template: the model's image run with `dry-run --format=json` and the template's
//! runtime parameters as `AIM_*` variables. Pure: inputs in, Job out.

use crate::api::{Metric, Precision, TemplateProfile};
use crate::controller::labels;
use crate::controller::names::{hashed_name, short_hash};
use k8s_openapi::api::batch::v1::{Job, JobSpec};
use k8s_openapi::api::core::v1::{
    Container, EnvVar, PodSecurityContext, PodSpec, PodTemplateSpec, ResourceRequirements, SeccompProfile,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use std::collections::BTreeMap;

/// The container's name (the operator reads its termination message and log).
pub const CONTAINER: &str = "discovery";

/// Everything a discovery Job depends on.
pub struct DiscoveryInputs<'a> {
    /// Template name.
    pub template: &'a str,
    /// Namespace the Job runs in.
    pub namespace: &'a str,
    /// The template as owner.
    pub owner: OwnerReference,
    /// The model's image.
    pub image: &'a str,
    /// The template's profile.
    pub profile: &'a TemplateProfile,
}

/// The `AIM_*` variables a profile selects a runtime with.
pub fn aim_env(profile: &TemplateProfile) -> Vec<EnvVar> {
    let var = |name: &str, value: String| EnvVar {
        name: name.into(),
        value: Some(value),
        value_from: None,
    };
    let p = &profile.parameters;
    let mut env = Vec::new();
    if let Some(m) = p.metric {
        env.push(var("AIM_METRIC", metric_name(m).into()));
    }
    if let Some(pr) = p.precision {
        env.push(var("AIM_PRECISION", precision_name(pr).into()));
    }
    if let Some(gpu) = &p.gpu_selector {
        env.push(var("AIM_GPU_MODEL", gpu.model.clone()));
        env.push(var("AIM_GPU_COUNT", gpu.count.to_string()));
    }
    env
}

/// Lower-case metric name, as `AIM_METRIC` takes it.
pub fn metric_name(m: Metric) -> &'static str {
    match m {
        Metric::Latency => "latency",
        Metric::Throughput => "throughput",
    }
}

/// Lower-case precision name, as `AIM_PRECISION` takes it.
pub fn precision_name(p: Precision) -> &'static str {
    match p {
        Precision::Auto => "auto",
        Precision::Fp4 => "fp4",
        Precision::Fp8 => "fp8",
        Precision::Fp16 => "fp16",
        Precision::Fp32 => "fp32",
        Precision::Bf16 => "bf16",
        Precision::Int4 => "int4",
        Precision::Int8 => "int8",
    }
}

/// Hash of what discovery's result depends on: a change runs discovery again.
pub fn spec_hash(image: &str, profile: &TemplateProfile) -> String {
    let env = serde_json::to_string(&profile.credentials).unwrap_or_default();
    let params = serde_json::to_string(&profile.parameters).unwrap_or_default();
    short_hash(&[image, &profile.model_id, &params, &env])
}

/// `discover-<template>-<hash>`, a DNS label.
pub fn job_name(template: &str, hash: &str) -> String {
    hashed_name(&format!("discover-{template}"), hash, 63)
}

/// The Job.
pub fn build(inputs: &DiscoveryInputs<'_>, hash: &str) -> Job {
    let mut labels = labels::managed("discovery");
    labels.insert(labels::TEMPLATE.into(), inputs.template.chars().take(63).collect());
    let mut env = vec![
        EnvVar {
            name: "AIM_LOG_LEVEL_ROOT".into(),
            value: Some("CRITICAL".into()),
            value_from: None,
        },
        EnvVar {
            name: "AIM_LOG_LEVEL".into(),
            value: Some("CRITICAL".into()),
            value_from: None,
        },
    ];
    env.extend(inputs.profile.credentials.env.iter().cloned());
    env.extend(aim_env(inputs.profile));
    let container = Container {
        name: CONTAINER.into(),
        image: Some(inputs.image.into()),
        args: Some(vec!["dry-run".into(), "--format=json".into()]),
        env: Some(env),
        // When the container fails, its last log lines become the termination message the operator reports.
        termination_message_policy: Some("FallbackToLogsOnError".into()),
        resources: Some(ResourceRequirements {
            requests: Some(BTreeMap::from([
                ("cpu".into(), Quantity("100m".into())),
                ("memory".into(), Quantity("256Mi".into())),
            ])),
            limits: Some(BTreeMap::from([("memory".into(), Quantity("1Gi".into()))])),
            ..Default::default()
        }),
        security_context: Some(crate::controller::pod_security::restricted_container()),
        ..Default::default()
    };
    Job {
        metadata: ObjectMeta {
            name: Some(job_name(inputs.template, hash)),
            namespace: Some(inputs.namespace.into()),
            labels: Some(labels.clone()),
            owner_references: Some(vec![inputs.owner.clone()]),
            ..Default::default()
        },
        spec: Some(JobSpec {
            // The operator retries with its own backoff, so one failed pod ends the Job.
            backoff_limit: Some(0),
            active_deadline_seconds: Some(600),
            ttl_seconds_after_finished: Some(3600),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels),
                    ..Default::default()
                }),
                spec: Some(PodSpec {
                    restart_policy: Some("Never".into()),
                    containers: vec![container],
                    image_pull_secrets: Some(inputs.profile.credentials.image_pull_secrets.clone())
                        .filter(|s| !s.is_empty()),
                    security_context: Some(PodSecurityContext {
                        run_as_non_root: Some(true),
                        run_as_user: Some(65532),
                        seccomp_profile: Some(SeccompProfile {
                            type_: "RuntimeDefault".into(),
                            localhost_profile: None,
                        }),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
            },
            ..Default::default()
        }),
        status: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{Credentials, GpuSelector, RuntimeParameters};

    fn profile() -> TemplateProfile {
        TemplateProfile {
            model_id: "meta/llama-3-8b:1.1".into(),
            parameters: RuntimeParameters {
                metric: Some(Metric::Latency),
                precision: Some(Precision::Fp8),
                gpu_selector: Some(GpuSelector {
                    count: 2,
                    model: "MI300X".into(),
                }),
            },
            credentials: Credentials {
                env: vec![EnvVar {
                    name: "HF_TOKEN".into(),
                    value: Some("t".into()),
                    value_from: None,
                }],
                image_pull_secrets: vec![],
            },
            model_sources: None,
        }
    }

    fn owner() -> OwnerReference {
        OwnerReference {
            api_version: "aim.silogen.ai/v1alpha1".into(),
            kind: "AIMServiceTemplate".into(),
            name: "llama3-8b-fast".into(),
            uid: "uid-1".into(),
            controller: Some(true),
            block_owner_deletion: Some(true),
        }
    }

    #[test]
    fn the_job_runs_the_dry_run_of_the_image_with_the_profile_as_aim_variables() {
        let profile = profile();
        let inputs = DiscoveryInputs {
            template: "llama3-8b-fast",
            namespace: "team-a",
            owner: owner(),
            image: "reg/aim:1",
            profile: &profile,
        };
        let hash = spec_hash("reg/aim:1", &profile);
        let job = serde_json::to_value(build(&inputs, &hash)).unwrap();
        assert_eq!(job["metadata"]["name"], format!("discover-llama3-8b-fast-{hash}"));
        assert_eq!(job["metadata"]["namespace"], "team-a");
        assert_eq!(job["metadata"]["ownerReferences"][0]["uid"], "uid-1");
        assert_eq!(job["spec"]["backoffLimit"], 0);
        let container = &job["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(container["image"], "reg/aim:1");
        assert_eq!(container["args"], serde_json::json!(["dry-run", "--format=json"]));
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
        assert_eq!(job["spec"]["template"]["spec"]["restartPolicy"], "Never");
        assert_eq!(job["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"], true);
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
}
