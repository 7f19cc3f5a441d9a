//! The runtime children of an `AIMService`, as pure builders: the KServe `InferenceService` and the Gateway
//! API `HTTPRoute` (how they are doing is read in [`super::observe`]).

use super::cache::{CacheMount, merged_credentials};
use super::metadata::{self, Propagation};
use super::pod;
use super::scaling::{self, Replicas};
use super::serving;
use crate::api::{AIMService, GatewayRef, TemplateProfile, TemplateStatus};
use crate::controller::kit::names::{hashed_name, short_hash};
use crate::labels::{self, Component};
use crate::upstream::aim::{profile_env, var};
use crate::upstream::gpu;
use k8s_openapi::api::core::v1::EnvVar;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::ResourceExt;
use serde_json::{Value, json};

/// The runtime's serving container (KServe's name for a predictor's main container).
pub(crate) const CONTAINER: &str = "kserve-container";

/// The longest InferenceService name KServe can run in any namespace: its predictor pods carry the label
/// `app: isvc.<name>-predictor`, a label value of at most 63 characters.
pub(crate) const MAX_ISVC_NAME: usize = 63 - "isvc.".len() - "-predictor".len();

/// The shortest shortened name worth having: `s`, a few characters of the service's name, `-` and the hash.
const MIN_SHORTENED: usize = 14;

/// The longest InferenceService name KServe can run in `namespace`: within [`MAX_ISVC_NAME`], and its predictor's
/// host name `<name>-predictor-<namespace>` is one DNS label (63 characters) too.
pub(crate) fn max_isvc_name(namespace: &str) -> usize {
    MAX_ISVC_NAME.min(63usize.saturating_sub("-predictor-".len() + namespace.len()))
}

/// The InferenceService's name: the service's, when it fits [`max_isvc_name`] and starts with a letter;
/// otherwise a stable shortened form (its start, and a hash of the namespace and whole name). A namespace so
/// long that KServe's host names leave no room for one is refused, saying the limit.
pub(crate) fn isvc_name(service: &AIMService) -> Result<String, String> {
    let name = service.name_any();
    let namespace = service.namespace().unwrap_or_default();
    let max = max_isvc_name(&namespace);
    if name.len() <= max && name.starts_with(|c: char| c.is_ascii_lowercase()) {
        return Ok(name);
    }
    if max < MIN_SHORTENED {
        let longest_namespace = 63 - "-predictor-".len() - MIN_SHORTENED;
        let room = match max {
            0 => "no room for an InferenceService's name:".to_string(),
            n => {
                let s = if n == 1 { "" } else { "s" };
                format!(
                    "{n} character{s} for the InferenceService's name, and this service's name has {}: name the \
                     service with at most {n} character{s} (starting with a letter), or",
                    name.len()
                )
            }
        };
        return Err(format!(
            "namespace {namespace} is {} characters long: KServe names the predictor's host \
             <name>-predictor-<namespace> in one DNS label of 63 characters, which leaves {room} run it in a \
             namespace of at most {longest_namespace} characters",
            namespace.len(),
        ));
    }
    let hash = short_hash(&[&namespace, &name]);
    Ok(format!("s{}", hashed_name(&name, &hash, max - 1)))
}

/// Everything the InferenceService is built from.
pub(crate) struct RuntimeInputs<'a> {
    pub(crate) service: &'a AIMService,
    /// The InferenceService's name ([`isvc_name`]).
    pub(crate) name: &'a str,
    /// The service as owner.
    pub(crate) owner: OwnerReference,
    pub(crate) image: &'a str,
    /// The resolved template's name.
    pub(crate) template: &'a str,
    /// The resolved template's profile.
    pub(crate) profile: &'a TemplateProfile,
    /// What discovery found of the template: the runtime profile to serve and the model sources' sizes.
    pub(crate) discovered: &'a TemplateStatus,
    /// Model caches to mount (empty without caching).
    pub(crate) mounts: &'a [CacheMount],
    /// Which of the service's labels follow it.
    pub(crate) propagation: &'a Propagation,
    /// How many replicas, or what scales them ([`scaling::decide`]).
    pub(crate) replicas: &'a Replicas,
}

/// The profile's `AIM_*` variables, where the model is (`placement`), the runtime profile discovery chose
/// (`AIM_PROFILE_ID`), then the template's variables and the service's, which win by name.
pub(crate) fn merged_env(
    profile: &TemplateProfile,
    placement: &[EnvVar],
    runtime_profile: Option<&str>,
    service: &[EnvVar],
) -> Vec<EnvVar> {
    let mut env = profile_env(profile);
    env.extend(placement.iter().cloned());
    if let Some(id) = runtime_profile {
        env.push(var("AIM_PROFILE_ID", id));
    }
    for var in profile.credentials.env.iter().chain(service) {
        match env.iter_mut().find(|e| e.name == var.name) {
            Some(existing) => *existing = var.clone(),
            None => env.push(var.clone()),
        }
    }
    env
}

/// The KServe InferenceService (Standard deployment mode, one `kserve-container`).
pub(crate) fn inference_service(inputs: &RuntimeInputs<'_>) -> Value {
    let service = inputs.service;
    let name = inputs.name;
    let gpu = inputs.profile.parameters.gpu_selector.as_ref();
    let settings = service.spec.pod.over(&inputs.profile.pod);
    let cached = !inputs.mounts.is_empty();
    let model_bytes = serving::model_bytes(&inputs.discovered.model_sources);
    let placement = serving::model_placement(inputs.mounts, cached, model_bytes);
    let resources = pod::resources(gpu, settings.resources.as_ref(), placement.scratch.as_ref());
    let followed = metadata::labels(service.metadata.labels.as_ref(), inputs.propagation);
    let annotations = metadata::annotations(service.metadata.annotations.as_ref());
    let mut volumes = vec![json!({ "name": "dshm", "emptyDir": { "medium": "Memory", "sizeLimit": "8Gi" } })];
    let mut mounts = vec![json!({ "name": "dshm", "mountPath": "/dev/shm" })];
    volumes.extend(placement.volumes);
    mounts.extend(placement.mounts);
    let runtime_profile = inputs.discovered.profile.as_ref().map(|p| p.id.as_str());
    let pull_secrets = merged_credentials(&inputs.profile.credentials, &service.spec.credentials).image_pull_secrets;
    // The predictor's pods carry the operator's labels, so its index watches them and can say why one does not
    // run (the scheduler found no node with the GPUs it asks for).
    let mut pod_labels = followed.clone();
    pod_labels.extend(labels::managed(Component::Runtime));
    pod_labels.insert(labels::SERVICE.into(), labels::value(&service.name_any()));
    let mut container = json!({
        "name": CONTAINER,
        "image": inputs.image,
        "env": merged_env(inputs.profile, &placement.env, runtime_profile, &service.spec.credentials.env),
        "ports": [{ "containerPort": serving::PORT, "protocol": "TCP" }],
        "resources": resources,
        "volumeMounts": mounts,
    });
    for (probe, spec) in serving::probes(serving::startup_budget(model_bytes, cached)) {
        container[probe] = spec;
    }
    let mut predictor = json!({
        "labels": pod_labels,
        "containers": [container],
        "volumes": volumes,
    });
    if !pull_secrets.is_empty() {
        predictor["imagePullSecrets"] = json!(pull_secrets);
    }
    // vLLM's metrics on the serving port, for Prometheus (the dashboards, and KEDA's request metrics): the
    // service's own annotations of these keys win.
    let mut pod_annotations = annotations.clone();
    for (key, value) in [
        ("prometheus.io/scrape", "true".to_string()),
        ("prometheus.io/port", serving::PORT.to_string()),
        ("prometheus.io/path", "/metrics".to_string()),
    ] {
        pod_annotations.entry(key.to_string()).or_insert(value);
    }
    predictor["annotations"] = json!(pod_annotations);
    pod::settle(&mut predictor, &settings);
    let namespace = service.namespace().unwrap_or_default();
    let autoscaler = scaling::render(inputs.replicas, &mut predictor, &namespace, name);
    if let Some(gpu) = gpu {
        predictor["affinity"] = gpu::node_affinity(&gpu.model);
    }
    let mut labels = followed;
    labels.extend(labels::managed(Component::Runtime));
    labels.insert(labels::SERVICE.into(), labels::value(&service.name_any()));
    labels.insert(labels::TEMPLATE.into(), labels::value(inputs.template));
    let mut isvc_annotations = annotations;
    // Standard mode (no Knative), and the autoscaler class: `none` for a fixed count, which KServe would
    // otherwise drive by CPU.
    isvc_annotations.insert("serving.kserve.io/deploymentMode".into(), "Standard".into());
    isvc_annotations.insert(scaling::AUTOSCALER_CLASS.into(), autoscaler.into());
    json!({
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": labels,
            "annotations": isvc_annotations,
            "ownerReferences": [inputs.owner],
        },
        "spec": { "predictor": predictor },
    })
}

/// The HTTPRoute: `path` on the gateway, rewritten to `/`, to the predictor Service on port 80; `decided_by`
/// names the router plugin (and its digest) that chose the path.
pub(crate) fn http_route(
    service: &AIMService,
    name: &str,
    owner: OwnerReference,
    gateway: &GatewayRef,
    path: &str,
    decided_by: &str,
    propagation: &Propagation,
) -> Value {
    let mut labels = metadata::labels(service.metadata.labels.as_ref(), propagation);
    labels.extend(labels::managed(Component::Routing));
    labels.insert(labels::SERVICE.into(), labels::value(&service.name_any()));
    let mut annotations = metadata::route_annotations(service.metadata.annotations.as_ref(), propagation);
    annotations.insert(labels::PATH_DECIDED_BY.into(), decided_by.into());
    json!({
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {
            "name": name,
            "namespace": service.namespace(),
            "labels": labels,
            "annotations": annotations,
            "ownerReferences": [owner],
        },
        "spec": {
            "parentRefs": [{ "group": "gateway.networking.k8s.io", "kind": "Gateway", "name": gateway.name, "namespace": gateway.namespace }],
            "rules": [{
                "matches": [{ "path": { "type": "PathPrefix", "value": path } }],
                "filters": [{ "type": "URLRewrite", "urlRewrite": { "path": { "type": "ReplacePrefixMatch", "replacePrefixMatch": "/" } } }],
                "backendRefs": [{ "name": format!("{name}-predictor"), "port": 80 }],
            }],
        },
    })
}

#[cfg(test)]
mod tests;
