//! What a person sees with plain kubectl: printer columns, short names, the `aim` category and `kubectl explain`.

use aim_tests::test_env;

const API: &str = "apiVersion: aim.silogen.ai/v1alpha1";

/// The header row of `kubectl get`, split into column names.
fn header(table: &str) -> Vec<String> {
    let first = table.lines().next().unwrap_or_default();
    first
        .split("  ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(String::from)
        .collect()
}

#[tokio::test]
async fn kubectl_get_shows_the_printer_columns_of_every_kind() {
    let env = test_env!();
    let ns = env.namespace("columns").await;
    let id = std::process::id();
    let _cluster_objects = env.cleanup(&[
        &format!("aimimage/columns-{id}"),
        &format!("aimclusterservicetemplate/columns-{id}"),
        &format!("aimclusterconfig/columns-{id}"),
    ]);
    let objects = format!(
        "{API}\nkind: AIMImage\nmetadata:\n  name: columns-{id}\nspec:\n  modelId: m/columns\n  image: reg/aim:1\n  defaultServiceTemplate: t\n---\n\
         {API}\nkind: AIMClusterServiceTemplate\nmetadata:\n  name: columns-{id}\nspec:\n  modelId: m/columns\n  metric: throughput\n  precision: bf16\n  gpuSelector: {{count: 2, model: MI325X}}\n---\n\
         {API}\nkind: AIMServiceTemplate\nmetadata:\n  name: t\n  namespace: {ns}\nspec:\n  modelId: m/columns\n  metric: latency\n  precision: fp8\n  gpuSelector: {{count: 1, model: MI300X}}\n  caching: {{enabled: true}}\n---\n\
         {API}\nkind: AIMTemplateCache\nmetadata:\n  name: tc\n  namespace: {ns}\nspec:\n  templateRef: t\n---\n\
         {API}\nkind: ModelCache\nmetadata:\n  name: mc\n  namespace: {ns}\nspec:\n  sourceUri: hf://m/columns\n  size: 16Gi\n---\n\
         {API}\nkind: AIMClusterConfig\nmetadata:\n  name: columns-{id}\nspec:\n  routing: {{gateway: {{name: gw, namespace: infra}}}}\n  cacheStorageClassName: fast-rwx\n---\n\
         {API}\nkind: AIMService\nmetadata:\n  name: svc\n  namespace: {ns}\nspec:\n  aimModelId: m/columns\n  replicas: 3\n"
    );
    let out = env.apply(&objects, None).await;
    assert!(out.success, "{}", out.stderr);

    let cases: [(&str, bool, &[&str], &[&str]); 7] = [
        (
            "aimimages",
            false,
            &["NAME", "MODEL", "IMAGE", "DEFAULT-TEMPLATE", "STATUS", "AGE"],
            &["m/columns", "reg/aim:1"],
        ),
        (
            "aimclusterservicetemplates",
            false,
            &["NAME", "MODEL", "METRIC", "PRECISION", "GPU", "GPUS", "STATUS", "AGE"],
            &["throughput", "bf16", "MI325X"],
        ),
        (
            "aimservicetemplates",
            true,
            &[
                "NAME",
                "MODEL",
                "METRIC",
                "PRECISION",
                "GPU",
                "GPUS",
                "CACHE",
                "STATUS",
                "AGE",
            ],
            &["latency", "fp8", "MI300X"],
        ),
        (
            "aimtemplatecaches",
            true,
            &["NAME", "TEMPLATE", "TEMPLATE-KIND", "STATUS", "AGE"],
            &["tc", "t"],
        ),
        (
            "modelcaches",
            true,
            &["NAME", "SOURCE", "SIZE", "PVC", "STATUS", "PROGRESS", "AGE"],
            &["hf://m/columns", "16Gi"],
        ),
        (
            "aimclusterconfigs",
            false,
            &[
                "NAME",
                "GATEWAY",
                "GATEWAY-NAMESPACE",
                "AUTO-ROUTE",
                "CACHE-STORAGE-CLASS",
                "STATUS",
                "AGE",
            ],
            &["gw", "infra", "fast-rwx"],
        ),
        (
            "aimservices",
            true,
            &["NAME", "MODEL", "TEMPLATE", "REPLICAS", "STATUS", "AGE"],
            &["m/columns"],
        ),
    ];
    for (plural, namespaced, columns, values) in cases {
        let name = if namespaced {
            ["svc", "t", "tc", "mc"]
                .into_iter()
                .find(|n| plural_has(plural, n))
                .unwrap()
        } else {
            ""
        };
        let cluster_name = format!("columns-{id}");
        let target = if namespaced { name } else { cluster_name.as_str() };
        let mut args = vec!["get", plural, target];
        if namespaced {
            args.extend(["-n", ns.as_str()]);
        }
        let table = env.kubectl(&args).await;
        assert!(table.success, "{plural}: {}", table.stderr);
        assert_eq!(header(&table.stdout), columns, "{plural}:\n{}", table.stdout);
        for value in values {
            assert!(
                table.stdout.lines().nth(1).unwrap_or_default().contains(value),
                "{plural} row lacks {value}:\n{}",
                table.stdout
            );
        }
    }
    // The route path and the time to ready are there for those who ask for them (the REPLICAS column's values
    // are the operator's: `service_scaling` reads them).
    let wide = env.kubectl(&["get", "aimservices", "-n", &ns, "-o", "wide"]).await;
    let columns = header(&wide.stdout);
    assert!(
        columns.contains(&"PATH".to_string()) && columns.contains(&"TIME-TO-READY".to_string()),
        "{}",
        wide.stdout
    );
}

/// Which test object a namespaced plural refers to.
fn plural_has(plural: &str, name: &str) -> bool {
    matches!(
        (plural, name),
        ("aimservices", "svc") | ("aimservicetemplates", "t") | ("aimtemplatecaches", "tc") | ("modelcaches", "mc")
    )
}

#[tokio::test]
async fn short_names_and_the_aim_category_work() {
    let env = test_env!();
    let ns = env.namespace("short").await;
    let out = env
        .apply(
            &format!("{API}\nkind: AIMService\nmetadata:\n  name: svc\nspec:\n  aimModelId: m/short\n"),
            Some(&ns),
        )
        .await;
    assert!(out.success, "{}", out.stderr);
    for short in ["aimimg", "aimclst", "aimst", "aimtc", "mc", "aimccfg", "aimsvc"] {
        let out = env.kubectl(&["get", short, "-n", &ns]).await;
        assert!(out.success, "short name {short}: {}", out.stderr);
    }
    let all = env.kubectl(&["get", "aim", "-n", &ns, "-o", "name"]).await;
    assert!(all.stdout.contains("aimservice.aim.silogen.ai/svc"), "{}", all.stdout);
}

#[tokio::test]
async fn kubectl_explain_aimservice_spec_overrides_prints_the_field_docs() {
    let env = test_env!();
    let out = env.kubectl(&["explain", "aimservice.spec.overrides"]).await;
    assert!(out.success, "{}", out.stderr);
    for text in [
        "Runtime parameters that win over the template's",
        "gpuSelector",
        "GPU model and/or count per replica",
        "metric",
        "precision",
        "one of auto, fp4, fp8, fp16, fp32, bf16, int4, int8",
    ] {
        assert!(out.stdout.contains(text), "explain lacks {text:?}:\n{}", out.stdout);
    }
    let count = env
        .kubectl(&["explain", "aimservice.spec.overrides.gpuSelector.count"])
        .await;
    assert!(count.stdout.contains("GPUs per replica"), "{}", count.stdout);
}

#[tokio::test]
async fn kubectl_explain_says_how_a_services_settings_combine_with_the_templates() {
    let env = test_env!();
    for (field, text) in [
        ("aimservice.spec.replicas", "Wins over the template's scaling"),
        ("aimservice.spec.minReplicas", "only KEDA can do"),
        (
            "aimservice.spec.maxReplicas",
            "the scheduler places a replica only where that many are free",
        ),
        ("aimservice.spec.autoScaling", "replaces its template's as a whole"),
        ("aimservice.spec.autoScaling.metric", "vllm:num_requests_waiting"),
        (
            "aimservice.spec.autoScaling.target",
            "24 running requests want 3 replicas",
        ),
        (
            "aimservice.spec.resources",
            "the first of the service, the template and those defaults",
        ),
        (
            "aimservice.spec.serviceAccountName",
            "The service's wins over the template's",
        ),
        (
            "aimservice.spec.priorityClassName",
            "The service's wins over the template's",
        ),
        ("aimservice.spec.nodeSelector", "Merged by key with the template's"),
        (
            "aimservice.spec.tolerations",
            "The template's and the service's together",
        ),
        (
            "aimservice.spec.runtimeClassName",
            "The service's wins over the template's",
        ),
        (
            "aimservicetemplate.spec.autoScaling",
            "replaces its template's as a whole",
        ),
        (
            "aimclusterconfig.spec.propagateLabels",
            "the operator's own labels never do",
        ),
        (
            "aimclusterconfig.spec.routing.routeAnnotations",
            "a service's own annotation of the same key wins",
        ),
        (
            "aimclusterconfig.spec.autoScaling.prometheus",
            "for every service that does not name its own",
        ),
        ("aimservice.status.startup", "time to ready"),
        ("aimservice.status.replicas.summary", "the `REPLICAS` column"),
        ("aimservice.spec.imagePullSecrets", "non-empty list replaces its"),
        ("aimservice.spec.imagePullSecrets", "an empty one inherits"),
        ("aimservice.spec.env", "merged with its template's by name"),
        (
            "aimclusterservicetemplate.spec.imagePullSecrets",
            "non-empty list replaces its",
        ),
    ] {
        let out = env.kubectl(&["explain", field]).await;
        assert!(out.success, "{}", out.stderr);
        let flat = out.stdout.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(flat.contains(text), "explain {field} lacks {text:?}:\n{}", out.stdout);
    }
}
