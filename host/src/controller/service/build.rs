//! The runtime children of an `AIMService`, as pure builders: the KServe `InferenceService` and the Gateway
//! API `HTTPRoute` (how they are doing is read in [`super::observe`]).

use super::cache::{CacheMount, merged_credentials};
use crate::api::{AIMService, GatewayRef, TemplateProfile};
use crate::controller::kit::names::{hashed_name, short_hash};
use crate::labels::{self, Component};
use crate::upstream::aim::{profile_env, var};
use crate::upstream::gpu;
use k8s_openapi::api::core::v1::EnvVar;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::ResourceExt;
use serde_json::{Value, json};

/// Where cached model sources are mounted in the runtime container.
pub(crate) const CACHE_ROOT: &str = "/workspace/model-cache";

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
        return Err(format!(
            "namespace {namespace} is {} characters long: KServe names the predictor's host \
             <name>-predictor-<namespace> in one DNS label of 63 characters, which leaves no room for this service's \
             InferenceService; run it in a namespace of at most {} characters",
            namespace.len(),
            63 - "-predictor-".len() - MIN_SHORTENED
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
    /// Model caches to mount (empty without caching).
    pub(crate) mounts: &'a [CacheMount],
}

/// Template variables first, then the service's, which win by name.
pub(crate) fn merged_env(profile: &TemplateProfile, service: &[EnvVar], cache: bool) -> Vec<EnvVar> {
    let mut env = profile_env(profile);
    if cache {
        env.push(var("AIM_CACHE_PATH", CACHE_ROOT));
    }
    for var in profile.credentials.env.iter().chain(service) {
        match env.iter_mut().find(|e| e.name == var.name) {
            Some(existing) => *existing = var.clone(),
            None => env.push(var.clone()),
        }
    }
    env
}

/// CPU and memory per GPU: an LLM server needs host memory to stage weights and CPU for tokenisation and
/// scheduling; without requests its pod would run BestEffort next to expensive GPUs.
pub(crate) const CPU_PER_GPU: u64 = 4;
/// Memory requested per GPU, in GiB.
pub(crate) const MEMORY_REQUEST_GIB_PER_GPU: u64 = 32;
/// Memory limit per GPU, in GiB.
pub(crate) const MEMORY_LIMIT_GIB_PER_GPU: u64 = 48;

/// Requests and limits for `gpus` GPUs.
pub(crate) fn resources_for(gpus: u64) -> Value {
    json!({
        "requests": { gpu::RESOURCE: gpus.to_string(), "cpu": (CPU_PER_GPU * gpus).to_string(), "memory": format!("{}Gi", MEMORY_REQUEST_GIB_PER_GPU * gpus) },
        "limits": { gpu::RESOURCE: gpus.to_string(), "memory": format!("{}Gi", MEMORY_LIMIT_GIB_PER_GPU * gpus) },
    })
}

/// The KServe InferenceService (Standard deployment mode, one `kserve-container`).
pub(crate) fn inference_service(inputs: &RuntimeInputs<'_>) -> Value {
    let service = inputs.service;
    let name = inputs.name;
    let gpu = inputs.profile.parameters.gpu_selector.as_ref();
    let resources = gpu.map_or(json!({}), |g| resources_for(g.count.max(1) as u64));
    let mut volumes = vec![json!({ "name": "dshm", "emptyDir": { "medium": "Memory", "sizeLimit": "8Gi" } })];
    let mut mounts = vec![json!({ "name": "dshm", "mountPath": "/dev/shm" })];
    for (i, m) in inputs.mounts.iter().enumerate() {
        volumes.push(json!({ "name": format!("model-cache-{i}"), "persistentVolumeClaim": { "claimName": m.claim, "readOnly": true } }));
        mounts.push(json!({ "name": format!("model-cache-{i}"), "mountPath": format!("{CACHE_ROOT}/{}", m.cache), "readOnly": true }));
    }
    let pull_secrets = merged_credentials(&inputs.profile.credentials, &service.spec.credentials).image_pull_secrets;
    // The predictor's pods carry the operator's labels, so its index watches them and can say why one does not
    // run (the scheduler found no node with the GPUs it asks for).
    let mut pod_labels = labels::managed(Component::Runtime);
    pod_labels.insert(labels::SERVICE.into(), labels::value(&service.name_any()));
    let mut predictor = json!({
        "labels": pod_labels,
        "minReplicas": service.spec.replicas,
        "maxReplicas": service.spec.replicas,
        "containers": [{
            "name": "kserve-container",
            "image": inputs.image,
            "env": merged_env(inputs.profile, &service.spec.credentials.env, !inputs.mounts.is_empty()),
            "ports": [{ "containerPort": 8000, "protocol": "TCP" }],
            "resources": resources,
            "volumeMounts": mounts,
        }],
        "volumes": volumes,
    });
    if !pull_secrets.is_empty() {
        predictor["imagePullSecrets"] = json!(pull_secrets);
    }
    if let Some(gpu) = gpu {
        predictor["affinity"] = json!({ "nodeAffinity": { "requiredDuringSchedulingIgnoredDuringExecution": { "nodeSelectorTerms": [{
            "matchExpressions": [{ "key": gpu::PRODUCT_LABEL, "operator": "In", "values": gpu::product_names(&gpu.model) }]
        }] } } });
    }
    let mut labels = labels::managed(Component::Runtime);
    labels.insert(labels::SERVICE.into(), labels::value(&service.name_any()));
    labels.insert(labels::TEMPLATE.into(), labels::value(inputs.template));
    json!({
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {
            "name": name,
            "namespace": service.namespace(),
            "labels": labels,
            // Fixed replicas (the service's): no autoscaler, which KServe would otherwise create and drive by CPU.
            "annotations": { "serving.kserve.io/deploymentMode": "Standard", "serving.kserve.io/autoscalerClass": "none" },
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
) -> Value {
    let mut labels = labels::managed(Component::Routing);
    labels.insert(labels::SERVICE.into(), labels::value(&service.name_any()));
    json!({
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {
            "name": name,
            "namespace": service.namespace(),
            "labels": labels,
            "annotations": { labels::PATH_DECIDED_BY: decided_by },
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
mod tests {
    use super::*;
    use crate::fixtures::{owner, profile, service};

    #[test]
    fn the_inference_service_carries_image_env_gpus_affinity_mounts_and_replicas() {
        let (svc, profile) = (service(), profile());
        let mounts = [super::CacheMount {
            cache: "hf-llama-1a2b".into(),
            claim: "hf-llama-1a2b-cache".into(),
        }];
        let isvc = inference_service(&RuntimeInputs {
            service: &svc,
            name: "llama3-svc",
            owner: owner("AIMService", "llama3-svc"),
            image: "reg/aim:1",
            template: "fast",
            profile: &profile,
            mounts: &mounts,
        });
        assert_eq!(isvc["metadata"]["name"], "llama3-svc");
        assert_eq!(
            isvc["metadata"]["annotations"]["serving.kserve.io/deploymentMode"],
            "Standard"
        );
        assert_eq!(
            isvc["metadata"]["annotations"]["serving.kserve.io/autoscalerClass"],
            "none"
        );
        let p = &isvc["spec"]["predictor"];
        assert_eq!(
            (p["minReplicas"].clone(), p["maxReplicas"].clone()),
            (json!(2), json!(2))
        );
        let c = &p["containers"][0];
        assert_eq!(c["name"], "kserve-container");
        assert_eq!(c["image"], "reg/aim:1");
        assert_eq!(
            p["labels"]["app.kubernetes.io/managed-by"], "aim-operator",
            "the predictor's pods are the operator's to watch"
        );
        assert_eq!(c["resources"]["limits"]["amd.com/gpu"], "2");
        assert_eq!(c["resources"]["requests"]["cpu"], "8");
        assert_eq!(c["resources"]["requests"]["memory"], "64Gi");
        assert_eq!(c["resources"]["limits"]["memory"], "96Gi");
        let env: Vec<(String, String)> = c["env"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["name"].as_str().unwrap().into(),
                    e["value"].as_str().unwrap_or("").into(),
                )
            })
            .collect();
        assert!(
            env.contains(&("AIM_PRECISION".into(), "bf16".into())),
            "the service's env wins: {env:?}"
        );
        assert!(!env.contains(&("AIM_PRECISION".into(), "fp8".into())));
        assert!(
            env.contains(&("AIM_METRIC".into(), "latency".into())) && env.contains(&("HF_TOKEN".into(), "t".into()))
        );
        assert!(env.contains(&("AIM_CACHE_PATH".into(), CACHE_ROOT.into())));
        assert_eq!(
            c["volumeMounts"][1]["mountPath"],
            "/workspace/model-cache/hf-llama-1a2b"
        );
        assert_eq!(
            p["volumes"][1]["persistentVolumeClaim"]["claimName"],
            "hf-llama-1a2b-cache"
        );
        let term = &p["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
            [0]["matchExpressions"][0];
        assert_eq!(term["key"], "amd.com/gpu.product-name");
        assert!(
            term["values"]
                .as_array()
                .unwrap()
                .contains(&json!("AMD_Instinct_MI300X"))
        );
        assert_eq!(
            p["imagePullSecrets"],
            json!([{ "name": "svc-pull" }]),
            "the service's pull secrets replace the template's"
        );
    }

    #[test]
    fn the_route_rewrites_its_prefix_to_the_predictor() {
        let gw = GatewayRef {
            name: "public-gw".into(),
            namespace: "infra-gw".into(),
        };
        let route = http_route(
            &service(),
            "llama3-svc",
            owner("AIMService", "llama3-svc"),
            &gw,
            "/team-a/u1",
            "builtin:router (sha256:1)",
        );
        assert_eq!(
            route["metadata"]["annotations"]["aim.silogen.ai/path-decided-by"],
            "builtin:router (sha256:1)"
        );
        let rule = &route["spec"]["rules"][0];
        assert_eq!(rule["matches"][0]["path"]["value"], "/team-a/u1");
        assert_eq!(rule["filters"][0]["urlRewrite"]["path"]["replacePrefixMatch"], "/");
        assert_eq!(
            rule["backendRefs"][0],
            json!({ "name": "llama3-svc-predictor", "port": 80 })
        );
        assert_eq!(route["spec"]["parentRefs"][0]["namespace"], "infra-gw");
    }

    #[test]
    fn long_or_digit_leading_names_get_a_stable_short_isvc_name() {
        let mut svc = service();
        svc.metadata.name = Some(format!("9{}", "x".repeat(80)));
        let name = isvc_name(&svc).unwrap();
        assert!(name.len() <= MAX_ISVC_NAME && name.starts_with('s'), "{name}");
        assert_eq!(name, isvc_name(&svc).unwrap());
        // KServe labels the predictor pods `app: isvc.<name>-predictor`, a label value of at most 63: a name
        // of 49 characters (which fit the `-predictor` suffix in a DNS label) would never run.
        svc.metadata.name = Some("a".repeat(49));
        let name = isvc_name(&svc).unwrap();
        assert!(format!("isvc.{name}-predictor").len() <= 63, "{name}");
        // Its host name `<name>-predictor-<namespace>` is one DNS label too.
        let namespace = svc.namespace().unwrap();
        assert!(format!("{name}-predictor-{namespace}").len() <= 63, "{name}");
        svc.metadata.name = Some("a".repeat(63 - "-predictor-".len() - namespace.len()));
        assert_eq!(isvc_name(&svc).unwrap(), svc.name_any(), "a name that fits is kept");
        svc.metadata.namespace = Some(format!("n{}", "x".repeat(50)));
        let refused = isvc_name(&svc).unwrap_err();
        assert!(refused.contains("a namespace of at most 38 characters"), "{refused}");
    }

    /// The whole InferenceService and HTTPRoute, pinned: any change to what the operator writes shows here.
    #[test]
    fn the_runtime_children_as_written() {
        let (svc, profile) = (service(), profile());
        let mounts = [super::CacheMount {
            cache: "hf-llama-1a2b".into(),
            claim: "hf-llama-1a2b-cache".into(),
        }];
        let owner = owner("AIMService", "llama3-svc");
        insta::assert_json_snapshot!(
            "inference_service",
            inference_service(&RuntimeInputs {
                service: &svc,
                name: "llama3-svc",
                owner: owner.clone(),
                image: "reg/aim:1",
                template: "fast",
                profile: &profile,
                mounts: &mounts,
            })
        );
        let gw = GatewayRef {
            name: "public-gw".into(),
            namespace: "infra-gw".into(),
        };
        insta::assert_json_snapshot!(
            "http_route",
            http_route(
                &svc,
                "llama3-svc",
                owner,
                &gw,
                "/team-a/u1",
                "builtin:router (sha256:1)"
            )
        );
    }
}
