//! A template under discovery whose dry run the test decides: an AIMImage of a model unique to the test, a
//! namespace template marked `AIM_TEST_MANUAL` (kwok starts its pod and leaves it running), its discovery Job,
//! and the kubelet's answer (what the dry-run container printed, or its failure).

use super::services::API;
use crate::kubelet::{Exit, FakeKubelet, MANUAL};
use crate::{Cleanup, TestEnv, wait};
use aim_operator::api::{AIMServiceTemplate, TemplateStatus};
use k8s_openapi::api::batch::v1::Job;
use kube::api::{Api, ListParams};

/// What an AIM image prints for one profile with one model.
pub fn dry_run_output(source: &str, size_gb: f64) -> String {
    dry_run_printed(source, Some(size_gb))
}

/// What an AIM image's `dry-run --format=json` leaves in its pod's log, in the runtime's own shape
/// (`aim-build: src/entrypoint.py`, `aim_runtime.py`): a warning on stderr, then `json.dumps(…, indent=2)` of one
/// MI300X fp8 profile whose model is `source` (its `name` the ID without the scheme) of `size_gb` (`None`:
/// `null`, the runtime could not ask the Hub) on stdout.
pub fn dry_run_printed(source: &str, size_gb: Option<f64>) -> String {
    let name = source.split_once("://").map_or(source, |(_, rest)| rest);
    let profile = serde_json::json!([{
        "filename": "vllm-mi300x-fp8-tp1-latency.yaml",
        "profile": {
            "aim_id": "meta-llama/Llama-3.1-8B-Instruct",
            "model_id": name,
            "metadata": { "engine": "vllm", "gpu": "MI300X", "gpu_count": 1, "manual_selection_only": false,
                "metric": "latency", "precision": "fp8", "type": "optimized" },
            "engine_args": { "async-scheduling": null, "tensor-parallel-size": 1 },
        },
        "models": [{ "name": name, "source": source, "size_gb": size_gb }],
    }]);
    format!(
        "2026-12-05 10:00:01,200 - aim_runtime.profile_selector - WARNING - Some GPUs are not idle! Check GPU usage.\n{}\n",
        serde_json::to_string_pretty(&profile).expect("JSON")
    )
}

/// What the image leaves in its log when it has no profile for what was asked: the runtime's warning, then `[]`.
pub fn dry_run_no_profile(aim_id: &str) -> String {
    format!(
        "2026-12-05 10:00:01,200 - aim_runtime.aim_runtime - WARNING - No compatible profile found or error occurred: \
         No compatible profile found for AIM {aim_id}. Profile breakdown: 12 gpu_mismatch, 4 precision_mismatch\n[]\n"
    )
}

/// An AIMImage for `model`; removed when the guard drops.
pub async fn image(env: &TestEnv, model: &str) -> Cleanup {
    let name = format!("img-{}", model.replace('/', "-"));
    let yaml = format!(
        "{API}\nkind: AIMImage\nmetadata:\n  name: {name}\nspec:\n  modelId: {model}\n  image: registry.test/aim/{name}:1\n"
    );
    let out = env.apply(&yaml, None).await;
    assert!(out.success, "{}", out.stderr);
    env.cleanup(&["aimimage", &name])
}

/// A namespace template of `model` whose dry run the test ends itself; `extra` is appended to its spec.
pub fn template(name: &str, model: &str, extra: &str) -> String {
    format!(
        "{API}\nkind: AIMServiceTemplate\nmetadata:\n  name: {name}\nspec:\n  modelId: {model}\n  metric: latency\n  precision: fp8\n  gpuSelector: {{count: 1, model: MI300X}}\n  env:\n  - name: {MANUAL}\n    value: \"true\"\n{extra}"
    )
}

/// The template's status.
pub async fn template_status(env: &TestEnv, ns: &str, name: &str) -> TemplateStatus {
    let api: Api<AIMServiceTemplate> = Api::namespaced(env.client().await, ns);
    api.get(name).await.expect("template").status.unwrap_or_default()
}

/// The template's condition `type_`: (status, reason, message).
pub fn condition(status: &TemplateStatus, type_: &str) -> Option<(String, String, String)> {
    status
        .head
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
        .map(|c| (c.status.clone(), c.reason.clone(), c.message.clone()))
}

/// Waits until the template's `type_` condition has `status` and `reason`; returns its message.
pub async fn wait_condition(env: &TestEnv, ns: &str, name: &str, type_: &str, status: &str, reason: &str) -> String {
    wait::until(&format!("{name} {type_}={status} ({reason})"), || async {
        let s = template_status(env, ns, name).await;
        match condition(&s, type_) {
            Some((st, re, msg)) if st == status && re == reason => Ok(msg),
            other => Err(format!("{other:?}; status {:?}", s.head.status)),
        }
    })
    .await
}

/// Waits for the discovery Job of template `template` in `ns`.
pub async fn discovery_job(env: &TestEnv, ns: &str, template: &str) -> Job {
    let jobs: Api<Job> = Api::namespaced(env.client().await, ns);
    wait::until(&format!("the discovery Job of {template}"), || async {
        let list = jobs
            .list(&ListParams::default().labels(&format!("aim.silogen.ai/template={template}")))
            .await
            .map_err(|e| e.to_string())?;
        list.items.into_iter().next().ok_or_else(|| "no Job yet".to_string())
    })
    .await
}

/// Waits for the discovery Job of `template` and ends its dry run as `exit` says; returns the Job's name.
pub async fn end_dry_run(env: &TestEnv, ns: &str, template: &str, exit: Exit<'_>) -> String {
    let job = discovery_job(env, ns, template)
        .await
        .metadata
        .name
        .expect("a named Job");
    FakeKubelet::new(env.client().await, ns).finish(&job, exit).await;
    job
}

/// A fresh namespace named after `prefix` holding template `t` of a model unique to the test (with its
/// AIMImage), whose dry run the test ends itself: the namespace, the model, and the image's guard (keep both
/// guards for the test's length).
pub async fn manual_template(env: &TestEnv, prefix: &str) -> (crate::Namespace, String, Cleanup) {
    let ns = env.namespace(prefix).await;
    let model = format!("m/{prefix}-{}", std::process::id());
    let image = image(env, &model).await;
    let out = env.apply(&template("t", &model, ""), Some(&ns)).await;
    assert!(out.success, "{}", out.stderr);
    (ns, model, image)
}
