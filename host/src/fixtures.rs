//! Test fixtures shared by the unit tests: a profile, a service, a model cache and owner references, each with the
//! fields set that builders read, and small builders to change one thing. One place, so a new field is added to
//! one fixture instead of five copies.

#![cfg(test)]

use crate::api::{
    AIMService, AIMServiceSpec, Credentials, GpuSelector, Metric, ModelCache, ModelCacheSpec, Precision,
    RuntimeParameters, TemplateProfile,
};
use k8s_openapi::api::core::v1::{EnvVar, LocalObjectReference};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use k8s_openapi::jiff::Timestamp;

/// A fixed time, so that plans and statuses compare equal run after run.
pub fn now() -> Timestamp {
    Timestamp::from_second(1_700_000_000).unwrap()
}

/// An environment variable with a value.
pub fn env(name: &str, value: &str) -> EnvVar {
    EnvVar {
        name: name.into(),
        value: Some(value.into()),
        value_from: None,
    }
}

/// Credentials of `env` and `secrets` (pull secrets by name).
pub fn credentials(env_vars: &[(&str, &str)], secrets: &[&str]) -> Credentials {
    Credentials {
        env: env_vars.iter().map(|(k, v)| env(k, v)).collect(),
        image_pull_secrets: secrets
            .iter()
            .map(|s| LocalObjectReference { name: s.to_string() })
            .collect(),
    }
}

/// A latency profile of `meta/llama-3-8b` at fp8 on 2 × MI300X, with an `HF_TOKEN` and a pull secret.
pub fn profile() -> TemplateProfile {
    TemplateProfile {
        model_id: "meta/llama-3-8b".into(),
        model_files: None,
        parameters: RuntimeParameters {
            metric: Some(Metric::Latency),
            precision: Some(Precision::Fp8),
            gpu_selector: Some(GpuSelector::new("MI300X", 2)),
        },
        credentials: credentials(&[("HF_TOKEN", "t")], &["tpl-pull"]),
        model_sources: None,
        pod: Default::default(),
        scaling: Default::default(),
    }
}

/// Template record `name` (a service's view of a template) of model `m/x` with no parameters, no sources in
/// its spec and `status` as observed.
pub(crate) fn template_record(
    name: &str,
    scope: crate::api::TemplateScope,
    status: crate::api::TemplateStatus,
) -> crate::controller::service::candidates::TemplateRecord {
    crate::controller::service::candidates::TemplateRecord {
        name: name.into(),
        scope,
        profile: TemplateProfile {
            model_id: "m/x".into(),
            model_files: None,
            parameters: RuntimeParameters::default(),
            credentials: Credentials::default(),
            model_sources: None,
            pod: Default::default(),
            scaling: Default::default(),
        },
        status,
        derived: false,
    }
}

/// The spec of a service of `model` with nothing else set (the schema's defaults).
pub fn service_spec(model: &str) -> AIMServiceSpec {
    AIMServiceSpec {
        aim_model_id: model.into(),
        template_ref: None,
        overrides: None,
        cache_model: false,
        replicas: None,
        scaling: Default::default(),
        credentials: Credentials::default(),
        pod: Default::default(),
    }
}

/// Service `llama3-svc` in `team-a` of [`profile`]'s model: cached, 2 replicas, its own `AIM_PRECISION` and
/// pull secret (which win over the template's).
pub fn service() -> AIMService {
    let mut s = AIMService::new(
        "llama3-svc",
        AIMServiceSpec {
            cache_model: true,
            replicas: Some(2),
            credentials: credentials(&[("AIM_PRECISION", "bf16")], &["svc-pull"]),
            ..service_spec("meta/llama-3-8b")
        },
    );
    s.metadata.namespace = Some("team-a".into());
    s.metadata.uid = Some("u1".into());
    s
}

/// Model cache `llama-weights` in `team-a` of `hf://meta-llama/Llama-3.1-8B-Instruct`, 15Gi, with an `HF_TOKEN`.
pub fn model_cache() -> ModelCache {
    let mut mc = ModelCache::new(
        "llama-weights",
        ModelCacheSpec {
            source_uri: "hf://meta-llama/Llama-3.1-8B-Instruct".into(),
            model_files: None,
            storage_class_name: None,
            size: Some(Quantity("15Gi".into())),
            credentials: credentials(&[("HF_TOKEN", "t")], &[]),
        },
    );
    mc.metadata.namespace = Some("team-a".into());
    mc.metadata.uid = Some("u".into());
    mc
}

/// A controller owner reference to `kind` `name` (uid `uid-<name>`).
pub fn owner(kind: &str, name: &str) -> OwnerReference {
    OwnerReference {
        api_version: "aim.silogen.ai/v1alpha1".into(),
        kind: kind.into(),
        name: name.into(),
        uid: format!("uid-{name}"),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}
