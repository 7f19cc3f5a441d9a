//! The Helm chart (`deploy/helm/aim-operator`) with helm built from its pinned Go module: with its defaults it
//! renders the objects `deploy/base` installs (Helm's bookkeeping labels aside; the namespace is Helm's to create),
//! its CRDs are the committed ones, its values change what they say, and `helm install` into the local cluster
//! gives the same objects, with the operator's Deployment available (kwok's nodes run no containers).

use aim_tests::controlplane::binaries;
use aim_tests::test_env;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

fn repo(path: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(path)
        .display()
        .to_string()
}

fn helm(args: &[&str]) -> String {
    let helm = binaries::helm().expect("helm builds");
    let out = Command::new(helm).args(args).output().expect("run helm");
    assert!(
        out.status.success(),
        "helm {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn documents(yaml: &str) -> Vec<Value> {
    serde_saphyr::from_multiple::<Value>(yaml)
        .expect("YAML")
        .into_iter()
        .filter(|d| !d.is_null())
        .collect()
}

/// Labels only Helm adds (a release's bookkeeping), removed wherever labels appear.
const HELM_LABELS: [&str; 4] = [
    "helm.sh/chart",
    "app.kubernetes.io/managed-by",
    "app.kubernetes.io/version",
    "app.kubernetes.io/instance",
];

fn without_helm_labels(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, child) in map.iter_mut() {
                if (key == "labels" || key == "matchLabels")
                    && let Value::Object(labels) = child
                {
                    labels.retain(|k, _| !HELM_LABELS.contains(&k.as_str()));
                }
                without_helm_labels(child);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(without_helm_labels),
        _ => {}
    }
}

/// Where `a` and `b` first differ (numbers by value: kustomize writes `1.0` as `1`), or `None`.
fn first_difference(a: &Value, b: &Value, path: &str) -> Option<String> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) if x.as_f64() == y.as_f64() => None,
        (Value::Object(x), Value::Object(y)) => {
            let keys: std::collections::BTreeSet<_> = x.keys().chain(y.keys()).collect();
            keys.into_iter().find_map(|k| {
                let (xv, yv) = (x.get(k).unwrap_or(&Value::Null), y.get(k).unwrap_or(&Value::Null));
                first_difference(xv, yv, &format!("{path}/{k}"))
            })
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .find_map(|(i, (xv, yv))| first_difference(xv, yv, &format!("{path}/{i}"))),
        _ if a == b => None,
        _ => Some(format!("{path}: {a} ≠ {b}")),
    }
}

fn by_identity(docs: Vec<Value>) -> BTreeMap<(String, String, String), Value> {
    docs.into_iter()
        .map(|mut d| {
            without_helm_labels(&mut d);
            let field = |p: &str| d.pointer(p).and_then(Value::as_str).unwrap_or_default().to_string();
            (
                (field("/kind"), field("/metadata/namespace"), field("/metadata/name")),
                d,
            )
        })
        .collect()
}

fn render(extra: &[&str]) -> String {
    let chart = repo("deploy/helm/aim-operator");
    let mut args = vec![
        "template",
        "aim-operator",
        chart.as_str(),
        "--namespace",
        "aim-system",
        "--include-crds",
    ];
    args.extend_from_slice(extra);
    helm(&args)
}

#[tokio::test]
async fn the_chart_renders_what_deploy_base_installs() {
    let env = test_env!();
    let base = env.kubectl(&["kustomize", &repo("deploy/base")]).await;
    assert!(base.success, "{}", base.stderr);
    let base = by_identity(documents(&base.stdout));
    let chart = by_identity(documents(&render(&[])));
    for (id, object) in &base {
        if id.0 == "Namespace" {
            // `helm install --create-namespace` makes it; the README says how to label it as deploy/base does.
            continue;
        }
        let rendered = chart
            .get(id)
            .unwrap_or_else(|| panic!("the chart does not render {id:?}"));
        if let Some(difference) = first_difference(rendered, object, "") {
            panic!("{id:?} differs between the chart and deploy/base at {difference}");
        }
    }
    let extra: Vec<_> = chart.keys().filter(|id| !base.contains_key(*id)).collect();
    assert!(
        extra.is_empty(),
        "the chart renders objects deploy/base does not: {extra:?}"
    );
}

#[test]
fn the_charts_values_change_what_they_name() {
    let rendered = render(&[
        "--set",
        "replicas=3",
        "--set",
        "image.tag=0.2.0-rc1",
        "--set",
        "downloaderCaBundle=corp-ca:root.pem",
        "--set",
        "serviceMonitor.enabled=true",
        "--set",
        "resources.limits.memory=1Gi",
    ]);
    let objects = by_identity(documents(&rendered));
    let deployment = &objects[&("Deployment".into(), "aim-system".into(), "aim-operator".into())];
    assert_eq!(deployment["spec"]["replicas"], 3);
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["image"], "ghcr.io/silogen/aim-operator:0.2.0-rc1");
    assert_eq!(container["resources"]["limits"]["memory"], "1Gi");
    assert!(
        container["args"]
            .as_array()
            .unwrap()
            .contains(&Value::String("--downloader-ca-bundle=corp-ca:root.pem".into())),
        "{}",
        container["args"]
    );
    let monitor = &objects[&("ServiceMonitor".into(), "aim-system".into(), "aim-operator".into())];
    assert_eq!(monitor["spec"]["endpoints"][0]["path"], "/metrics");
    assert!(objects.contains_key(&("Service".into(), "aim-system".into(), "aim-operator-metrics".into())));
}

/// A second release, in its own namespace and under its own name (so it meets nothing of the suite's
/// operator identity): the objects exist, named after the release, and the Deployment becomes available.
#[tokio::test]
async fn helm_install_creates_the_operators_objects() {
    let env = test_env!();
    let release = format!("aim-helm-{}", std::process::id());
    let _namespace = env.cleanup(&["namespace", &release]);
    let _cluster = env.cleanup(&["clusterrole,clusterrolebinding", &release]);
    let kubeconfig = env.kubeconfig().display().to_string();
    let chart = repo("deploy/helm/aim-operator");
    helm(&[
        "install",
        &release,
        &chart,
        "--namespace",
        &release,
        "--create-namespace",
        "--kubeconfig",
        &kubeconfig,
        "--wait",
        "--timeout",
        "120s",
    ]);
    for (kind, name) in [
        ("serviceaccount", release.clone()),
        ("configmap", "aim-policy-plugins".into()),
        ("role", format!("{release}-leader-election")),
        ("rolebinding", format!("{release}-leader-election")),
        ("deployment", release.clone()),
    ] {
        let out = env.kubectl(&["get", kind, &name, "-n", &release]).await;
        assert!(out.success, "{kind}/{name}: {}", out.stderr);
    }
    let binding = env
        .kubectl(&[
            "get",
            "clusterrolebinding",
            &release,
            "-o",
            "jsonpath={.subjects[0].namespace}",
        ])
        .await;
    assert_eq!(
        binding.stdout, release,
        "the cluster role is bound to this release's ServiceAccount"
    );
    let available = env
        .kubectl(&[
            "wait",
            "--for=condition=Available",
            "--timeout=60s",
            "deployment",
            &release,
            "-n",
            &release,
        ])
        .await;
    assert!(available.success, "{}", available.stderr);
    helm(&[
        "uninstall",
        &release,
        "--namespace",
        &release,
        "--kubeconfig",
        &kubeconfig,
        "--wait",
    ]);
    let gone = env.kubectl(&["get", "clusterrole", &release]).await;
    assert!(!gone.success, "uninstall removes the cluster-scoped objects too");
}
