use super::*;
use crate::api::{ModelSource, RuntimeProfile};
use crate::controller::service::serving::CACHE_ROOT;
use crate::fixtures::{owner, profile, service};

/// What discovery found for the template: a profile and one model source of 15 GiB.
fn discovered() -> TemplateStatus {
    TemplateStatus {
        model_sources: vec![ModelSource {
            size: Some(k8s_openapi::apimachinery::pkg::api::resource::Quantity("15Gi".into())),
            name: Some("meta-llama/Llama-3.1-8B-Instruct".into()),
            ..ModelSource::new("hf://meta-llama/Llama-3.1-8B-Instruct")
        }],
        profile: Some(RuntimeProfile {
            id: "vllm-mi300x-fp8-tp2-latency".into(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[test]
fn the_inference_service_carries_image_env_gpus_affinity_mounts_and_replicas() {
    let (svc, profile) = (service(), profile());
    let mounts = [super::CacheMount {
        claim: "hf-llama-1a2b-cache".into(),
        directory: "meta-llama/Llama-3.1-8B-Instruct".into(),
        model_id: "meta-llama/Llama-3.1-8B-Instruct".into(),
    }];
    let isvc = inference_service(&RuntimeInputs {
        service: &svc,
        name: "llama3-svc",
        owner: owner("AIMService", "llama3-svc"),
        image: "reg/aim:1",
        template: "fast",
        profile: &profile,
        discovered: &discovered(),
        mounts: &mounts,
        propagation: &Propagation::default(),
        replicas: &Replicas::Fixed(2),
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
    assert!(env.contains(&("AIM_METRIC".into(), "latency".into())) && env.contains(&("HF_TOKEN".into(), "t".into())));
    assert!(env.contains(&("AIM_CACHE_PATH".into(), CACHE_ROOT.into())));
    assert!(
        env.contains(&("AIM_PROFILE_ID".into(), "vllm-mi300x-fp8-tp2-latency".into())),
        "the runtime serves the profile discovery chose: {env:?}"
    );
    // Where the runtime looks for the model: $AIM_CACHE_PATH/<model id>, the model's directory on the volume.
    assert_eq!(
        c["volumeMounts"][1],
        json!({
            "name": "model-cache-0",
            "mountPath": "/workspace/model-cache/meta-llama/Llama-3.1-8B-Instruct",
            "subPath": "meta-llama/Llama-3.1-8B-Instruct",
            "readOnly": true,
        })
    );
    assert_eq!(
        p["volumes"][1]["persistentVolumeClaim"]["claimName"],
        "hf-llama-1a2b-cache"
    );
    assert_eq!(c["startupProbe"]["httpGet"]["path"], "/v1/models");
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/health");
    let terms = &p["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"];
    assert_eq!(terms[0]["matchExpressions"][0]["key"], "amd.com/gpu.device-id");
    assert_eq!(terms[1]["matchExpressions"][0]["key"], "amd.com/gpu.product-name");
    assert!(
        terms[1]["matchExpressions"][0]["values"]
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
        &Propagation::default(),
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
    svc.metadata.namespace = Some(format!("n{}", "x".repeat(44)));
    let refused = isvc_name(&svc).unwrap_err();
    assert!(
        refused.contains("name the service with at most 7 characters")
            && refused.contains("a namespace of at most 38 characters"),
        "{refused}"
    );
    svc.metadata.name = Some("abcdefg".into());
    assert_eq!(isvc_name(&svc).unwrap(), "abcdefg", "a name that short works there");
    svc.metadata.namespace = Some(format!("n{}", "x".repeat(55)));
    let refused = isvc_name(&svc).unwrap_err();
    assert!(
        refused.contains("no room for an InferenceService's name: run it in a namespace"),
        "{refused}"
    );
}

/// The whole InferenceService and HTTPRoute, pinned: any change to what the operator writes shows here.
#[test]
fn the_runtime_children_as_written() {
    let (svc, profile) = (service(), profile());
    let mounts = [super::CacheMount {
        claim: "hf-llama-1a2b-cache".into(),
        directory: "meta-llama/Llama-3.1-8B-Instruct".into(),
        model_id: "meta-llama/Llama-3.1-8B-Instruct".into(),
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
            discovered: &discovered(),
            mounts: &mounts,
            propagation: &Propagation::default(),
            replicas: &Replicas::Fixed(2),
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
            "builtin:router (sha256:1)",
            &Propagation::default()
        )
    );
}

/// An InferenceService with everything a service can add, pinned whole: the template's pod settings under the
/// service's, its labels and annotations (the operator's own keys left out), and KEDA autoscaling.
#[test]
fn an_autoscaled_inference_service_with_pod_settings_and_labels_as_written() {
    let mut svc = service();
    svc.metadata.labels = Some(
        [("team", "nlp"), ("aim.silogen.ai/redecide", "1")]
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .into(),
    );
    svc.metadata.annotations = Some([("example.com/owner".to_string(), "ana".to_string())].into());
    svc.spec.replicas = None;
    svc.spec.pod = serde_json::from_value(json!({
        "serviceAccountName": "llm-runner", "priorityClassName": "interactive",
        "resources": { "requests": { "memory": "200Gi" } },
        "tolerations": [{ "key": "dedicated", "operator": "Exists" }],
    }))
    .unwrap();
    let mut profile = profile();
    profile.pod = serde_json::from_value(json!({
        "nodeSelector": { "pool": "gpu" }, "runtimeClassName": "rocm", "priorityClassName": "batch",
        "tolerations": [{ "key": "amd.com/gpu", "operator": "Exists", "effect": "NoSchedule" }],
    }))
    .unwrap();
    let replicas = Replicas::Auto {
        min: 0,
        max: 4,
        metric: serde_json::from_value(json!({ "metric": "waitingRequests", "target": 2 })).unwrap(),
        prometheus: Some("http://prometheus.monitoring:9090".into()),
        wake: None,
    };
    insta::assert_json_snapshot!(
        "inference_service_autoscaled",
        inference_service(&RuntimeInputs {
            service: &svc,
            name: "llama3-svc",
            owner: owner("AIMService", "llama3-svc"),
            image: "reg/aim:1",
            template: "fast",
            profile: &profile,
            discovered: &discovered(),
            mounts: &[],
            propagation: &Propagation::default(),
            replicas: &replicas,
        })
    );
}
