//! Generated bad input at scale, applied while the operator runs as a process (as its ServiceAccount): a few
//! hundred objects of the namespaced kinds and the cluster kinds it reads, from a seeded generator of random and
//! boundary values (strings empty, huge, unicode, with slashes and dots; sizes and counts negative, zero, huge,
//! malformed; URIs of every shape; unknown fields; huge lists; names at the length limit; references to
//! templates, images and namespaces that do not exist). Each one is refused by the API server with a message,
//! or accepted and then carries a condition with a reason. The operator never exits, its memory stays bounded,
//! and valid services applied alongside reach Running.
//!
//! The seed is fixed (`AIM_BAD_INPUT_SEED` picks another, `AIM_BAD_INPUT_COUNT` the size), so a failure
//! reproduces; a case it finds becomes a regression test in `invalid_objects.rs`.

use aim_operator::api::{
    AIMClusterServiceTemplate, AIMImage, AIMService, AIMServiceTemplate, AIMTemplateCache, ModelCache, ServiceState,
};
use aim_tests::replica::Replica;
use aim_tests::scenario::*;
use aim_tests::{TestEnv, test_env, wait};
use kube::api::{Api, ApiResource, DynamicObject, PostParams};
use serde_json::{Value, json};
use std::time::Duration;

/// xorshift64*: small, seeded, good enough to pick cases.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<T: Clone>(&mut self, from: &[T]) -> T {
        from[self.below(from.len())].clone()
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    fn string(&mut self) -> Value {
        let s = match self.below(10) {
            0 => String::new(),
            1 => "x".repeat(self.pick(&[63, 64, 253, 254, 4096, 70_000])),
            2 => "模型/λ-🚀".to_string(),
            3 => "../../etc/passwd".to_string(),
            4 => " leading and trailing ".to_string(),
            5 => "UPPER/Case:Tag".to_string(),
            6 => "a\nb\tc\u{0}d".replace('\u{0}', ""),
            7 => "meta-llama/Llama-3.1-8B-Instruct".to_string(),
            8 => format!("org/m-{}", self.next() % 1000),
            _ => "-".to_string(),
        };
        json!(s)
    }
    fn count(&mut self) -> Value {
        self.pick(&[
            json!(0),
            json!(-1),
            json!(1),
            json!(8),
            json!(9),
            json!(2_147_483_647),
            json!(1e12),
            json!("two"),
            json!(null),
        ])
    }
    fn quantity(&mut self) -> Value {
        self.pick(&[
            json!("0"),
            json!("-1Gi"),
            json!("1Gi"),
            json!("abc"),
            json!("1e100"),
            json!("9999999Ti"),
            json!("16Gi"),
            json!(17),
            json!(""),
        ])
    }
    fn uri(&mut self) -> Value {
        self.pick(&[
            json!("hf://org/model"),
            json!("hf://"),
            json!("hf://org"),
            json!("s3://bucket/a/b"),
            json!("s3://"),
            json!("http://example.com/m"),
            json!("file:///etc/passwd"),
            json!(""),
            json!(format!("hf://org/{}", "m".repeat(300))),
            json!("hf://org/model@"),
            json!("hf://org/model@../../x"),
        ])
    }
    fn name(&mut self, i: usize) -> String {
        match self.below(4) {
            0 => format!("bad-{i}-{}", "n".repeat(253 - 8 - i.to_string().len())),
            1 => format!("bad-{i}-{}", "n".repeat(63 - 5 - i.to_string().len())),
            _ => format!("bad-{i}"),
        }
    }
    fn env(&mut self) -> Value {
        let n = self.pick(&[0usize, 1, 3, 2000]);
        json!(
            (0..n)
                .map(|k| json!({ "name": format!("V{k}"), "value": "x" }))
                .collect::<Vec<_>>()
        )
    }
    fn gpu(&mut self) -> Value {
        json!({ "count": self.count(), "model": self.pick(&[json!("MI300X"), json!("MI325X"), json!("H100"), json!(""), json!(null)]) })
    }
    /// A value from `make` 60 % of the time, else absent.
    fn maybe(&mut self, make: impl FnOnce(&mut Gen) -> Value) -> Value {
        if self.chance(60) { make(self) } else { Value::Null }
    }
    fn precision(&mut self) -> Value {
        self.pick(&[json!("fp8"), json!("bf16"), json!("fp12"), json!(""), json!(8)])
    }
    fn metric(&mut self) -> Value {
        self.pick(&[json!("latency"), json!("throughput"), json!("speed"), json!(null)])
    }
}

/// Drops the `null`s the generator left for "absent".
fn prune(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, prune(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.into_iter().map(prune).collect()),
        v => v,
    }
}

/// The spec fields both template kinds have, generated in one order (a seed makes the same objects).
fn template_spec(g: &mut Gen) -> Value {
    json!({
        "modelId": g.maybe(|g| g.string()),
        "metric": g.metric(),
        "precision": g.maybe(|g| g.precision()),
        "gpuSelector": g.maybe(|g| g.gpu()),
        "modelSources": g.maybe(|g| json!([{ "sourceUri": g.uri(), "size": g.maybe(|g| g.quantity()) }])),
    })
}

/// One generated object: its resource, and its body.
fn generate(g: &mut Gen, i: usize, ns: &str) -> (ApiResource, Value) {
    let unknown = if g.chance(15) {
        json!({ "surprise": g.string() })
    } else {
        json!({})
    };
    let (resource, spec) = match g.below(6) {
        0 => (
            ApiResource::erase::<AIMService>(&()),
            json!({
                "aimModelId": g.maybe(|g| g.string()),
                "templateRef": g.maybe(|g| g.string()),
                "replicas": g.maybe(|g| g.count()),
                "cacheModel": g.maybe(|g| g.pick(&[json!(true), json!(false), json!("yes")])),
                "overrides": g.maybe(|g| json!({ "metric": g.metric(), "precision": g.maybe(|g| g.precision()), "gpuSelector": g.maybe(|g| g.gpu()) })),
                "env": g.maybe(|g| g.env()),
                "imagePullSecrets": g.maybe(|g| json!([{ "name": g.string() }])),
            }),
        ),
        1 => (ApiResource::erase::<AIMServiceTemplate>(&()), {
            let mut spec = template_spec(g);
            spec["caching"] = g.maybe(|g| json!({ "enabled": g.pick(&[json!(true), json!(false)]) }));
            spec
        }),
        2 => (
            ApiResource::erase::<ModelCache>(&()),
            json!({
                "sourceUri": g.maybe(|g| g.uri()),
                "size": g.maybe(|g| g.quantity()),
                "storageClassName": g.maybe(|g| g.string()),
                "env": g.maybe(|g| g.env()),
            }),
        ),
        3 => (
            ApiResource::erase::<AIMTemplateCache>(&()),
            json!({ "templateRef": g.maybe(|g| g.string()), "storageClassName": g.maybe(|g| g.string()) }),
        ),
        4 => (
            ApiResource::erase::<AIMImage>(&()),
            json!({ "modelId": g.maybe(|g| g.string()), "image": g.maybe(|g| g.string()), "defaultServiceTemplate": g.maybe(|g| g.string()) }),
        ),
        _ => (ApiResource::erase::<AIMClusterServiceTemplate>(&()), template_spec(g)),
    };
    let mut spec = prune(spec);
    if let (Value::Object(s), Value::Object(u)) = (&mut spec, unknown) {
        s.extend(u);
    }
    let cluster = matches!(resource.kind.as_str(), "AIMImage" | "AIMClusterServiceTemplate");
    let mut metadata = json!({ "name": g.name(i), "labels": { "aim-test": "bad-input" } });
    if !cluster {
        metadata["namespace"] = json!(ns);
    }
    let body = json!({ "apiVersion": resource.api_version, "kind": resource.kind, "metadata": metadata, "spec": spec });
    (resource, body)
}

/// An accepted object's first condition with a reason, or what it has so far.
async fn reasoned(env: &TestEnv, resource: &ApiResource, ns: Option<&str>, name: &str) -> Result<(), String> {
    let api: Api<DynamicObject> = match ns {
        Some(ns) => Api::namespaced_with(env.client().await, ns, resource),
        None => Api::all_with(env.client().await, resource),
    };
    let object = api.get(name).await.map_err(|e| e.to_string())?;
    let conditions = object.data["status"]["conditions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if !conditions.is_empty()
        && conditions
            .iter()
            .all(|c| c["reason"].as_str().is_some_and(|r| !r.is_empty()))
    {
        Ok(())
    } else {
        Err(format!(
            "{} {name}: no reasoned condition yet: {}",
            resource.kind, object.data["status"]
        ))
    }
}

#[tokio::test]
async fn generated_bad_input_is_refused_or_explained_and_the_operator_keeps_serving_the_good() {
    let env = test_env!();
    let seed: u64 = std::env::var("AIM_BAD_INPUT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(12);
    let total: usize = std::env::var("AIM_BAD_INPUT_COUNT")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(240);
    let dir = tempfile::tempdir().unwrap();
    let identity =
        aim_tests::identity::operator_kubeconfig(env.kubectl_path(), env.kubeconfig(), &dir.path().join("sa"))
            .await
            .expect("the operator's identity");
    let mut operator = Replica::start(
        &identity,
        &[
            "--namespace",
            "aim-system",
            "--identity",
            "bad-input",
            "--log-format",
            "json",
        ],
        &[],
        Some(&dir.path().join("operator.log")),
    );
    let catalog = single_template_catalog(env, "bad-input").await;
    let ns = env.namespace("bad-input").await;
    let _cluster_objects = [
        env.cleanup(&["aimimages", "-l", "aim-test=bad-input"]),
        env.cleanup(&["aimclusterservicetemplates", "-l", "aim-test=bad-input"]),
    ];
    let good: String = (0..4)
        .map(|i| service(&format!("good-{i}"), &catalog.model, "") + "---\n")
        .collect();

    let mut g = Gen(seed.max(1));
    let mut accepted = Vec::new();
    let mut refused = 0;
    for i in 0..total {
        if i == total / 2 {
            let out = env.apply(&good, Some(&ns)).await;
            assert!(out.success, "{}", out.stderr);
        }
        let (resource, body) = generate(&mut g, i, &ns);
        let cluster = body["metadata"].get("namespace").is_none();
        let api: Api<DynamicObject> = if cluster {
            Api::all_with(env.client().await, &resource)
        } else {
            Api::namespaced_with(env.client().await, &ns, &resource)
        };
        let object: DynamicObject = serde_json::from_value(body.clone()).unwrap();
        match api.create(&PostParams::default(), &object).await {
            Ok(o) => accepted.push((
                resource,
                (!cluster).then(|| ns.to_string()),
                kube::ResourceExt::name_any(&o),
            )),
            Err(kube::Error::Api(status)) => {
                assert!((400..500).contains(&status.code), "{} for\n{body}", status.code);
                assert!(
                    !status.message.trim().is_empty(),
                    "a refusal without a message for\n{body}"
                );
                refused += 1;
            }
            Err(e) => panic!("{e} for\n{body}"),
        }
    }
    println!(
        "seed {seed}: {total} generated, {refused} refused by the API server, {} accepted",
        accepted.len()
    );

    for (resource, ns, name) in &accepted {
        wait::until(&format!("{} {name} to explain itself", resource.kind), || {
            reasoned(env, resource, ns.as_deref(), name)
        })
        .await;
    }
    for i in 0..4 {
        let name = format!("good-{i}");
        wait::until(&format!("{name} Running"), || async {
            match status(env, &ns, &name).await.head.status {
                Some(ServiceState::Running) => Ok(()),
                other => Err(format!("{other:?}")),
            }
        })
        .await;
    }
    let peak = aim_tests::replica::peak_rss_mib(operator.pid());
    println!("operator peak RSS while it ran: {peak:.0} MiB");
    assert!(
        operator.exits_within(Duration::from_millis(100)).await.is_none(),
        "the operator exited"
    );
    assert!(peak < 512.0, "the operator's memory grew to {peak:.0} MiB");
    let log = std::fs::read_to_string(dir.path().join("operator.log")).unwrap_or_default();
    assert!(!log.contains("panicked"), "the operator panicked:\n{log}");
    operator.terminate();
}
