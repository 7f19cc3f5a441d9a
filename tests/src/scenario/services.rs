//! Services: a catalog (AIMImage + cluster templates with inline model sources, so they are Available without
//! discovery) unique to one test, a service's manifest, waiting on its status and its children.

use crate::{Cleanup, TestEnv, wait};
use aim_operator::api::{AIMService, AIMServiceStatus, ServiceState};
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind};
use serde_json::Value;

/// The API version line of our kinds.
pub const API: &str = "apiVersion: aim.silogen.ai/v1alpha1";

/// A cluster template of the catalog.
pub struct Profile {
    /// Short name (the template is `<tag>-<pid>-<name>`).
    pub name: &'static str,
    /// `precision` of the template.
    pub precision: &'static str,
    /// GPUs per replica.
    pub gpus: u32,
    /// The GPU model.
    pub gpu: &'static str,
}

/// A catalog for one test; removed when dropped.
pub struct Catalog {
    /// The catalog's model ID, unique to the test.
    pub model: String,
    /// Its AIMImage's image.
    pub image: String,
    prefix: String,
    _guards: Vec<Cleanup>,
}

impl Catalog {
    /// The full name of cluster template `short`.
    pub fn template(&self, short: &str) -> String {
        format!("{}-{short}", self.prefix)
    }
}

/// Creates an AIMImage for a model unique to `tag`, its cluster templates (16 GiB of weights), and names
/// `default` (a short name) as the default template.
pub async fn catalog(env: &TestEnv, tag: &str, profiles: &[Profile], default: Option<&str>) -> Catalog {
    sized_catalog(env, tag, profiles, default, "16Gi").await
}

/// A catalog of one template, `one` (fp8 on one MI300X), the model's default.
pub async fn single_template_catalog(env: &TestEnv, tag: &str) -> Catalog {
    let one = Profile {
        name: "one",
        precision: "fp8",
        gpus: 1,
        gpu: "MI300X",
    };
    catalog(env, tag, &[one], Some("one")).await
}

/// [`catalog`] for a model whose weights are `size`.
pub async fn sized_catalog(
    env: &TestEnv,
    tag: &str,
    profiles: &[Profile],
    default: Option<&str>,
    size: &str,
) -> Catalog {
    let prefix = format!("{tag}-{}", std::process::id());
    let model = format!("org/{prefix}:1.0");
    let image = format!("registry.test/aim/{prefix}:1.0");
    let mut guards = vec![env.cleanup(&["aimimage", &prefix])];
    let default = default
        .map(|d| format!("\n  defaultServiceTemplate: {prefix}-{d}"))
        .unwrap_or_default();
    let yaml = format!(
        "{API}\nkind: AIMImage\nmetadata:\n  name: {prefix}\nspec:\n  modelId: {model}\n  image: {image}{default}\n"
    );
    assert!(env.apply(&yaml, None).await.success);
    for p in profiles {
        let name = format!("{prefix}-{}", p.name);
        guards.push(env.cleanup(&["aimclusterservicetemplate", &name]));
        let yaml = format!(
            "{API}\nkind: AIMClusterServiceTemplate\nmetadata:\n  name: {name}\nspec:\n  modelId: {model}\n  metric: latency\n  precision: {}\n  gpuSelector: {{count: {}, model: {}}}\n  modelSources:\n  - sourceUri: hf://org/{prefix}-{}\n    size: {size}\n",
            p.precision, p.gpus, p.gpu, p.precision
        );
        let out = env.apply(&yaml, None).await;
        assert!(out.success, "{}", out.stderr);
    }
    Catalog {
        model,
        image,
        prefix,
        _guards: guards,
    }
}

/// The service's status.
pub async fn status(env: &TestEnv, ns: &str, name: &str) -> AIMServiceStatus {
    Api::<AIMService>::namespaced(env.client().await, ns)
        .get(name)
        .await
        .expect("service")
        .status
        .unwrap_or_default()
}

/// Waits until `check` accepts the service's status; `check` says what it saw otherwise.
pub async fn wait_for(
    env: &TestEnv,
    ns: &str,
    name: &str,
    what: &str,
    check: impl Fn(&AIMServiceStatus) -> Result<(), String>,
) -> AIMServiceStatus {
    wait::until(&format!("service {name}: {what}"), || async {
        let s = status(env, ns, name).await;
        check(&s).map(|_| s.clone()).map_err(|e| {
            format!(
                "{e}; conditions {:?}",
                s.head
                    .conditions
                    .iter()
                    .map(|c| (&c.type_, &c.status, &c.reason, &c.message))
                    .collect::<Vec<_>>()
            )
        })
    })
    .await
}

/// Creates services `<prefix>-0` to `<prefix>-<n-1>` of `model` in one request.
pub async fn create_many(env: &TestEnv, ns: &str, prefix: &str, n: usize, model: &str) {
    let list: String = (0..n)
        .map(|i| service(&format!("{prefix}-{i}"), model, "") + "---\n")
        .collect();
    let out = env.apply(&list, Some(ns)).await;
    assert!(out.success, "{}", out.stderr);
}

/// Waits until each of `<prefix>-0` to `<prefix>-<n-1>` is Running.
pub async fn all_running(env: &TestEnv, ns: &str, prefix: &str, n: usize) {
    for i in 0..n {
        let name = format!("{prefix}-{i}");
        wait_for(env, ns, &name, "Running", |s| match s.head.status {
            Some(ServiceState::Running) => Ok(()),
            other => Err(format!("{other:?}")),
        })
        .await;
    }
}

/// Waits until the service has resolved its template.
pub async fn resolved(env: &TestEnv, ns: &str, name: &str) -> AIMServiceStatus {
    wait_for(env, ns, name, "resolved", condition("Resolved", "True", "Resolved")).await
}

/// Waits until the service is Ready: resolved, cached, running and routed.
pub async fn ready(env: &TestEnv, ns: &str, name: &str) -> AIMServiceStatus {
    wait_for(env, ns, name, "Ready", condition("Ready", "True", "Ready")).await
}

/// A check that condition `type_` is `status` with `reason`.
pub fn condition(
    type_: &'static str,
    want: &'static str,
    reason: &'static str,
) -> impl Fn(&AIMServiceStatus) -> Result<(), String> {
    move |s| match s.head.conditions.iter().find(|c| c.type_ == type_) {
        Some(c) if c.status == want && c.reason == reason => Ok(()),
        other => Err(format!("{type_} is {:?}", other.map(|c| (&c.status, &c.reason)))),
    }
}

/// The message of condition `type_`.
pub fn message(s: &AIMServiceStatus, type_: &str) -> String {
    s.head
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
        .map(|c| c.message.clone())
        .unwrap_or_default()
}

fn dynamic(env_client: kube::Client, ns: &str, group: &str, kind: &str, version: &str) -> Api<DynamicObject> {
    Api::namespaced_with(
        env_client,
        ns,
        &ApiResource::from_gvk(&GroupVersionKind::gvk(group, version, kind)),
    )
}

/// The object `name` of `kind` (`(group, version, kind)`) in `ns`, once it exists: what KServe (or the
/// operator) made.
pub async fn child(env: &TestEnv, ns: &str, kind: (&str, &str, &str), name: &str) -> Value {
    let (group, version, kind) = kind;
    let api = dynamic(env.client().await, ns, group, kind, version);
    wait::until(&format!("{kind} {name}"), || async {
        let obj = api.get_opt(name).await.map_err(|e| e.to_string())?.ok_or("not yet")?;
        Ok(serde_json::to_value(obj).unwrap())
    })
    .await
}

/// KServe's InferenceService.
pub const INFERENCE_SERVICE: (&str, &str, &str) = ("serving.kserve.io", "v1beta1", "InferenceService");
/// The Gateway API's HTTPRoute.
pub const HTTP_ROUTE: (&str, &str, &str) = ("gateway.networking.k8s.io", "v1", "HTTPRoute");

/// The InferenceService `name`, once it exists.
pub async fn isvc(env: &TestEnv, ns: &str, name: &str) -> Value {
    child(env, ns, INFERENCE_SERVICE, name).await
}

/// The InferenceService `name`, if it exists now.
pub async fn isvc_now(env: &TestEnv, ns: &str, name: &str) -> Option<Value> {
    let (group, version, kind) = INFERENCE_SERVICE;
    let api = dynamic(env.client().await, ns, group, kind, version);
    api.get_opt(name)
        .await
        .unwrap()
        .map(|o| serde_json::to_value(o).unwrap())
}

/// The HTTPRoute `name`, once it exists.
pub async fn route(env: &TestEnv, ns: &str, name: &str) -> Value {
    child(env, ns, HTTP_ROUTE, name).await
}

/// Plays an autoscaler (an HPA, or KEDA's): sets the replicas of the predictor Deployment KServe made for
/// InferenceService `isvc` through its scale subresource, as an autoscaler does. No autoscaler acts in the
/// local cluster without a metrics server or KEDA's operator, so a test that needs the count to move moves it.
pub async fn autoscaler_scales(env: &TestEnv, ns: &str, isvc: &str, replicas: u32) {
    let out = env
        .kubectl(&[
            "scale",
            "deployment",
            &format!("{isvc}-predictor"),
            &format!("--replicas={replicas}"),
            "-n",
            ns,
        ])
        .await;
    assert!(out.success, "{}", out.stderr);
}

/// A service manifest.
pub fn service(name: &str, model: &str, extra: &str) -> String {
    format!("{API}\nkind: AIMService\nmetadata:\n  name: {name}\nspec:\n  aimModelId: {model}\n{extra}")
}

/// Waits until no namespace is terminating: what earlier test binaries left (their pods holding GPUs) is gone.
pub async fn settled(env: &TestEnv) {
    wait::until("no terminating namespaces", || async {
        let out = env
            .kubectl(&["get", "namespaces", "-o", "jsonpath={.items[*].status.phase}"])
            .await
            .stdout;
        if out.contains("Terminating") { Err(out) } else { Ok(()) }
    })
    .await;
}
