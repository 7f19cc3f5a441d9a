//! The manifests in `deploy/` on the local cluster: the Kustomize base installs for real (the operator's own
//! Deployment is scheduled onto a node and reported available; kwok runs no container, so the in-process operator
//! of other tests is not disturbed), its RBAC grants nothing the operator must not have (what it needs is shown
//! by every integration test, whose operator runs with exactly this RBAC), and the catalog packs apply with
//! `kubectl apply -k`.

use aim_tests::test_env;
use std::path::PathBuf;

fn deploy(path: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../deploy")
        .join(path)
        .display()
        .to_string()
}

#[tokio::test]
async fn the_kustomize_base_installs_and_the_operator_deployment_becomes_available() {
    let env = test_env!();
    let _deployment = env.cleanup(&["deployment/aim-operator", "-n", "aim-system"]);
    let out = env
        .kubectl(&[
            "apply",
            "--server-side",
            "--force-conflicts",
            "--field-manager=aim-tests",
            "-k",
            &deploy("base"),
        ])
        .await;
    assert!(out.success, "{}", out.stderr);
    for object in [
        "customresourcedefinition.apiextensions.k8s.io/aimservices.aim.silogen.ai",
        "namespace/aim-system",
        "serviceaccount/aim-operator",
        "clusterrole.rbac.authorization.k8s.io/aim-operator",
        "role.rbac.authorization.k8s.io/aim-operator-leader-election",
        "configmap/aim-policy-plugins",
        "deployment.apps/aim-operator",
    ] {
        assert!(out.stdout.contains(object), "{object} missing from:\n{}", out.stdout);
    }
    let available = env
        .kubectl(&[
            "wait",
            "--for=condition=Available",
            "--timeout=60s",
            "deployment/aim-operator",
            "-n",
            "aim-system",
        ])
        .await;
    assert!(
        available.success,
        "the Deployment did not become available: {}",
        available.stderr
    );
    let nodes = env
        .kubectl(&[
            "get",
            "pods",
            "-n",
            "aim-system",
            "-l",
            "app.kubernetes.io/name=aim-operator",
            "-o",
            "jsonpath={.items[*].spec.nodeName}",
        ])
        .await
        .stdout;
    assert_eq!(
        nodes.split_whitespace().count(),
        2,
        "two replicas, each on a node: {nodes}"
    );
    assert!(nodes.split_whitespace().all(|n| n.starts_with("gpu-")), "{nodes}");
    let deployment = std::fs::read_to_string(deploy("base/deployment.yaml")).unwrap();
    for hardening in [
        "runAsNonRoot: true",
        "readOnlyRootFilesystem: true",
        "allowPrivilegeEscalation: false",
        "drop: [\"ALL\"]",
        "limits:",
    ] {
        assert!(deployment.contains(hardening), "the Deployment lacks {hardening}");
    }
}

#[tokio::test]
async fn the_rbac_grants_nothing_the_operator_must_not_have() {
    let env = test_env!();
    let rbac = std::fs::read_to_string(deploy("base/rbac.yaml")).unwrap();
    assert!(
        !rbac.contains("\"*\"") && !rbac.contains("[*]") && !rbac.contains("- '*'"),
        "no wildcards in RBAC"
    );
    let _ = env.kubectl(&["create", "namespace", "aim-system"]).await;
    let out = env
        .kubectl(&[
            "apply",
            "--server-side",
            "--field-manager=aim-tests",
            "--force-conflicts",
            "-f",
            &deploy("base/rbac.yaml"),
        ])
        .await;
    assert!(out.success, "{}", out.stderr);
    let sa = "system:serviceaccount:aim-system:aim-operator";
    let can = |verb: &'static str, resource: &'static str, ns: &'static str| async move {
        let out = env
            .kubectl(&["auth", "can-i", verb, resource, "-n", ns, &format!("--as={sa}")])
            .await;
        out.stdout.trim() == "yes"
    };
    for (verb, resource, ns) in [
        ("get", "secrets", "team-a"),
        ("delete", "nodes", "default"),
        ("create", "deployments.apps", "team-a"),
        ("delete", "persistentvolumeclaims", "team-a"),
        ("update", "leases.coordination.k8s.io", "team-a"),
        ("create", "clusterroles.rbac.authorization.k8s.io", "default"),
        ("escalate", "roles.rbac.authorization.k8s.io", "team-a"),
        ("bind", "roles.rbac.authorization.k8s.io", "team-a"),
        ("delete", "rolebindings.rbac.authorization.k8s.io", "team-a"),
    ] {
        assert!(
            !can(verb, resource, ns).await,
            "the operator must not {verb} {resource}"
        );
    }
}

#[tokio::test]
async fn catalog_packs_apply_with_kubectl_apply_k() {
    let env = test_env!();
    for (pack, image, default) in [
        ("llama-3.1-8b", "llama-3-1-8b", "llama-3-1-8b-mi300x-fp8-tp1-latency"),
        ("llama-3.3-70b", "llama-3-3-70b", "llama-3-3-70b-mi300x-fp8-tp1-latency"),
    ] {
        let dir = deploy(&format!("catalog/{pack}"));
        let _cleanup = env.cleanup(&["-k", &dir]);
        let out = env
            .kubectl(&["apply", "--server-side", "--field-manager=aim-tests", "-k", &dir])
            .await;
        assert!(out.success, "{pack}: {}", out.stderr);
        assert!(
            out.stderr.trim().is_empty(),
            "the install command a user copies runs clean:\n{}",
            out.stderr
        );
        assert_eq!(
            out.stdout.matches("aimclusterservicetemplate.aim.silogen.ai/").count(),
            4,
            "{}",
            out.stdout
        );
        let named = env
            .kubectl(&[
                "get",
                "aimimage",
                image,
                "-o",
                "jsonpath={.spec.defaultServiceTemplate}",
            ])
            .await
            .stdout;
        assert_eq!(named, default);
        assert!(
            env.kubectl(&["get", "aimclusterservicetemplate", default])
                .await
                .success,
            "{pack}'s default template exists"
        );
        let profiles = env
            .kubectl(&[
                "get",
                "-k",
                &dir,
                "-o",
                "jsonpath={range .items[*]}{.spec.gpuSelector.model}/{.spec.metric} {end}",
            ])
            .await
            .stdout;
        for profile in [
            "MI300X/latency",
            "MI300X/throughput",
            "MI325X/latency",
            "MI325X/throughput",
        ] {
            assert!(
                profiles.split_whitespace().any(|p| p == profile),
                "{pack} has no {profile} template: {profiles}"
            );
        }
    }
}

#[tokio::test]
async fn a_plugin_is_deployed_as_the_plugin_configmap_with_the_documented_command() {
    let env = test_env!();
    let _ = env.kubectl(&["create", "namespace", "aim-system"]).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("matcher.wasm"), aim_operator::policy::builtin::MATCHER).unwrap();
    // The README's command, verbatim: render the ConfigMap from the file, then apply it server-side.
    let rendered = env
        .kubectl(&[
            "-n",
            "aim-system",
            "create",
            "configmap",
            "aim-policy-plugins",
            &format!("--from-file={}", dir.path().join("matcher.wasm").display()),
            "--dry-run=client",
            "-o",
            "yaml",
        ])
        .await;
    assert!(rendered.success, "{}", rendered.stderr);
    let _cleanup = env.cleanup(&["-n", "aim-system", "configmap/aim-policy-plugins"]);
    let applied = env
        .kubectl_with_stdin(
            &["apply", "--server-side", "--field-manager=aim-tests", "-f", "-"],
            Some(&rendered.stdout),
        )
        .await;
    assert!(applied.success, "{}", applied.stderr);
    let stored = env
        .kubectl(&[
            "-n",
            "aim-system",
            "get",
            "configmap",
            "aim-policy-plugins",
            "-o",
            "jsonpath={.binaryData.matcher\\.wasm}",
        ])
        .await
        .stdout;
    assert!(
        !stored.is_empty(),
        "the component is stored as binaryData under matcher.wasm"
    );
}

/// The Dockerfile (for users with Docker) builds what `scripts/image` builds: the same root filesystem script, and
/// a final stage with the same instructions as `deploy/image/Containerfile`.
#[test]
fn the_dockerfile_builds_the_same_image_as_scripts_image() {
    let read = |p: &str| std::fs::read_to_string(deploy(p)).unwrap();
    let instructions = |text: &str| -> Vec<String> {
        text.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .filter(|l| ["ENV", "USER", "ENTRYPOINT", "CMD"].iter().any(|i| l.starts_with(i)))
            .map(String::from)
            .collect()
    };
    let dockerfile = read("Dockerfile");
    let final_stage = dockerfile.rsplit("FROM scratch").next().unwrap();
    assert_eq!(instructions(final_stage), instructions(&read("image/Containerfile")));
    assert!(read("image/Containerfile").contains("FROM scratch"));
    assert!(
        dockerfile.contains("/rootfs.sh /rootfs /aim-operator"),
        "the Dockerfile assembles its root filesystem with deploy/image/rootfs.sh"
    );
    assert!(dockerfile.contains("COPY deploy/image/rootfs.sh"));
}
