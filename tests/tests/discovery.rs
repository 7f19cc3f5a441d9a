//! Template discovery on the local cluster: the operator runs in this process, the Job controller creates the
//! discovery pods, the scheduler places them and kwok runs them. kwok ends a dry run with what an AIM image's
//! `dry-run --format=json` prints for the pod's `AIM_*` variables; the tests that need a particular answer mark
//! their template `AIM_TEST_MANUAL` and end the pod themselves with `FakeKubelet`.

use aim_operator::api::AIMClusterServiceTemplate;
use aim_tests::kubelet::{Exit, FakeKubelet, MANUAL};
use aim_tests::scenario::API;
use aim_tests::scenario::discovery::*;
use aim_tests::{TestEnv, operator, test_env, wait};
use k8s_openapi::api::batch::v1::Job;
use kube::api::{Api, ListParams};

fn env() -> &'static TestEnv {
    let env = test_env!();
    env.start_operator(operator::test_config());
    env
}

#[tokio::test]
async fn inline_model_sources_skip_discovery() {
    let env = env();
    let ns = env.namespace("inline").await;
    let yaml = template(
        "t",
        "m/inline",
        "  modelSources:\n  - sourceUri: hf://org/inline\n    size: 4Gi\n",
    );
    assert!(env.apply(&yaml, Some(&ns)).await.success);
    let message = wait_condition(env, &ns, "t", "Ready", "True", "Ready").await;
    assert!(message.contains("model sources known"), "{message}");
    let status = template_status(env, &ns, "t").await;
    assert_eq!(condition(&status, "Discovered").unwrap().1, "InlineModelSources");
    assert_eq!(status.model_sources[0].source_uri, "hf://org/inline");
    assert_eq!(status.head.observed_generation, Some(1));
    let jobs: Api<Job> = Api::namespaced(env.client().await, &ns);
    assert!(
        jobs.list(&ListParams::default()).await.unwrap().items.is_empty(),
        "no discovery Job for inline sources"
    );
}

#[tokio::test]
async fn a_namespace_template_is_discovered_by_a_job_in_its_namespace() {
    let env = env();
    let ns = env.namespace("discover-ns").await;
    let model = format!("m/ns-{}", std::process::id());
    let _image = image(env, &model).await;
    assert!(env.apply(&template("fast", &model, ""), Some(&ns)).await.success);

    let job = discovery_job(env, &ns, "fast").await;
    let container = &job.spec.as_ref().unwrap().template.spec.as_ref().unwrap().containers[0];
    assert_eq!(
        container.image.as_deref(),
        Some(format!("registry.test/aim/img-{}:1", model.replace('/', "-")).as_str())
    );
    assert_eq!(
        container.args.as_ref().unwrap(),
        &vec!["dry-run".to_string(), "--format=json".to_string()]
    );
    let env_names: Vec<String> = container
        .env
        .iter()
        .flatten()
        .map(|e| format!("{}={}", e.name, e.value.clone().unwrap_or_default()))
        .collect();
    for expected in [
        "AIM_METRIC=latency",
        "AIM_PRECISION=fp8",
        "AIM_GPU_MODEL=MI300X",
        "AIM_GPU_COUNT=1",
    ] {
        assert!(env_names.contains(&expected.to_string()), "{env_names:?}");
    }
    wait_condition(env, &ns, "fast", "Discovered", "False", "DiscoveryRunning").await;

    let kubelet = FakeKubelet::new(env.client().await, &ns);
    kubelet
        .finish(
            &job.metadata.name.clone().unwrap(),
            Exit::Succeeded(&dry_run_output("hf://amd/Llama-3.1-8B-FP8", 8.5)),
        )
        .await;
    let message = wait_condition(env, &ns, "fast", "Discovered", "True", "ProfilesDiscovered").await;
    assert!(
        message.contains("from profile vllm-mi300x-fp8-tp1-latency"),
        "{message}"
    );
    let status = template_status(env, &ns, "fast").await;
    assert_eq!(status.head.status, Some(aim_operator::api::ResourceState::Available));
    assert_eq!(status.model_sources[0].source_uri, "hf://amd/Llama-3.1-8B-FP8");
    assert_eq!(status.model_sources[0].size.as_ref().unwrap().0, "8704Mi");
    assert_eq!(
        status.model_sources[0].name.as_deref(),
        Some("amd/Llama-3.1-8B-FP8"),
        "the model ID the runtime looks the cache up by"
    );
    let profile = status.profile.expect("the profile discovery chose");
    assert_eq!(
        (
            profile.id.as_str(),
            profile.gpu.as_deref(),
            profile.gpu_count,
            profile.type_.as_deref()
        ),
        (
            "vllm-mi300x-fp8-tp1-latency",
            Some("MI300X"),
            Some(1),
            Some("optimized")
        )
    );
    // The dry run's logs are let through (warnings): the parser finds the result among them.
    assert!(
        env_names.contains(&"AIM_LOG_LEVEL=WARNING".to_string()),
        "{env_names:?}"
    );
}

#[tokio::test]
async fn a_cluster_template_is_discovered_in_the_operator_namespace() {
    let env = env();
    let model = format!("m/cluster-{}", std::process::id());
    let _image = image(env, &model).await;
    let name = format!("cluster-tpl-{}", std::process::id());
    let _template = env.cleanup(&["aimclusterservicetemplate", &name]);
    let yaml = format!(
        "{API}\nkind: AIMClusterServiceTemplate\nmetadata:\n  name: {name}\nspec:\n  modelId: {model}\n  metric: throughput\n  env:\n  - name: {MANUAL}\n    value: \"true\"\n"
    );
    assert!(env.apply(&yaml, None).await.success);

    let job = discovery_job(env, "aim-system", &name).await;
    assert_eq!(
        job.metadata.owner_references.as_ref().unwrap()[0].kind,
        "AIMClusterServiceTemplate"
    );
    FakeKubelet::new(env.client().await, "aim-system")
        .finish(
            &job.metadata.name.clone().unwrap(),
            Exit::Succeeded(&dry_run_output("s3://models/llama", 16.0)),
        )
        .await;
    let api: Api<AIMClusterServiceTemplate> = Api::all(env.client().await);
    let status = wait::until("the cluster template to be Available", || async {
        let s = api
            .get(&name)
            .await
            .map_err(|e| e.to_string())?
            .status
            .unwrap_or_default();
        if s.head.status == Some(aim_operator::api::ResourceState::Available) {
            Ok(s)
        } else {
            Err(format!("{:?}", s.head.conditions))
        }
    })
    .await;
    assert_eq!(status.model_sources[0].source_uri, "s3://models/llama");
}

#[tokio::test]
async fn a_missing_image_is_a_condition_and_discovery_starts_when_it_appears() {
    let env = env();
    let ns = env.namespace("no-image").await;
    let model = format!("m/late-{}", std::process::id());
    assert!(env.apply(&template("t", &model, ""), Some(&ns)).await.success);
    let message = wait_condition(env, &ns, "t", "Failure", "True", "ModelNotFound").await;
    assert!(
        message.contains(&format!("no AIMImage has modelId '{model}'")),
        "{message}"
    );
    assert_eq!(
        template_status(env, &ns, "t").await.head.status,
        Some(aim_operator::api::ResourceState::Failed)
    );

    let _image = image(env, &model).await;
    discovery_job(env, &ns, "t").await;
    wait_condition(env, &ns, "t", "Failure", "False", "NoFailure").await;
}

#[tokio::test]
async fn bad_output_is_discovery_failed_with_what_was_wrong_and_a_retry_succeeds() {
    let env = env();
    let (ns, _model, _image) = manual_template(env, "bad-output").await;
    let kubelet = FakeKubelet::new(env.client().await, &ns);

    let job = discovery_job(env, &ns, "t").await.metadata.name.unwrap();
    kubelet
        .finish(
            &job,
            Exit::Succeeded("Traceback (most recent call last):\n  File \"x.py\""),
        )
        .await;
    let message = wait_condition(env, &ns, "t", "Failure", "True", "DiscoveryFailed").await;
    assert!(
        message.contains("attempt 1: the dry-run output holds no JSON list"),
        "{message}"
    );
    assert_eq!(
        template_status(env, &ns, "t").await.discovery.unwrap().failed_attempts,
        1
    );

    // After the backoff the operator starts the Job again; this time the output is good.
    wait_for_new_pod(env, &ns, &job).await;
    kubelet
        .finish(
            &job,
            Exit::Succeeded(&format!("some log line\n{}", dry_run_output("hf://org/good", 1.0))),
        )
        .await;
    wait_condition(env, &ns, "t", "Discovered", "True", "ProfilesDiscovered").await;
}

/// Waits until the Job `job` has a pod that has not ended (a retry).
async fn wait_for_new_pod(env: &TestEnv, ns: &str, job: &str) {
    wait::until("the retried Job's pod", || async {
        let pods: Api<k8s_openapi::api::core::v1::Pod> = Api::namespaced(env.client().await, ns);
        let list = pods
            .list(&ListParams::default().labels(&format!("batch.kubernetes.io/job-name={job}")))
            .await
            .map_err(|e| e.to_string())?;
        if list.items.iter().any(|p| {
            p.status
                .as_ref()
                .and_then(|s| s.phase.as_deref())
                .is_none_or(|phase| phase == "Pending" || phase == "Running")
        }) {
            Ok(())
        } else {
            Err("no new pod".into())
        }
    })
    .await;
}

#[tokio::test]
async fn an_image_without_a_profile_for_the_template_says_what_was_asked_and_is_not_asked_again() {
    let env = env();
    let (ns, model, _image) = manual_template(env, "no-profile").await;
    let kubelet = FakeKubelet::new(env.client().await, &ns);
    let job = discovery_job(env, &ns, "t").await.metadata.name.unwrap();
    kubelet.finish(&job, Exit::Succeeded(&dry_run_no_profile(&model))).await;
    let message = wait_condition(env, &ns, "t", "Failure", "True", "NoRuntimeProfile").await;
    assert!(
        message.contains("the image has no runtime profile for 1 × MI300X, fp8, latency")
            && message.contains("Profile breakdown: 12 gpu_mismatch, 4 precision_mismatch"),
        "{message}"
    );
    let status = template_status(env, &ns, "t").await;
    assert_eq!(status.head.status, Some(aim_operator::api::ResourceState::Failed));
    // The answer stands for this spec: the finished Job is removed and none is started again.
    let jobs: Api<Job> = Api::namespaced(env.client().await, &ns);
    wait::until("the finished Job to go", || async {
        match jobs.get_opt(&job).await.map_err(|e| e.to_string())? {
            None => Ok(()),
            Some(_) => Err("still there".to_string()),
        }
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    assert!(
        jobs.list(&ListParams::default()).await.unwrap().items.is_empty(),
        "no discovery Job for a spec the image answered"
    );
}

#[tokio::test]
async fn a_source_of_unknown_size_is_discovered_without_one() {
    let env = env();
    let (ns, _model, _image) = manual_template(env, "null-size").await;
    end_dry_run(
        env,
        &ns,
        "t",
        Exit::Succeeded(&dry_run_printed("hf://org/unsized", None)),
    )
    .await;
    wait_condition(env, &ns, "t", "Discovered", "True", "ProfilesDiscovered").await;
    let status = template_status(env, &ns, "t").await;
    assert_eq!(status.model_sources[0].source_uri, "hf://org/unsized");
    assert_eq!(
        status.model_sources[0].size, None,
        "a cache made for it checks the size itself"
    );
}

#[tokio::test]
async fn malformed_output_names_the_missing_field() {
    let env = env();
    let (ns, _model, _image) = manual_template(env, "malformed").await;
    end_dry_run(
        env,
        &ns,
        "t",
        Exit::Succeeded(r#"[{"filename": "p.yaml", "models": [{"name": "m"}]}]"#),
    )
    .await;
    let message = wait_condition(env, &ns, "t", "Failure", "True", "DiscoveryFailed").await;
    assert!(
        message.contains("model 0 of profile 'p.yaml' has no 'source' string"),
        "{message}"
    );
}

#[tokio::test]
async fn a_failed_dry_run_reports_the_container_message() {
    let env = env();
    let (ns, _model, _image) = manual_template(env, "dry-run-fails").await;
    end_dry_run(
        env,
        &ns,
        "t",
        Exit::Failed("Traceback ...\nValueError: unknown GPU model MI999X"),
    )
    .await;
    let message = wait_condition(env, &ns, "t", "Failure", "True", "DiscoveryFailed").await;
    assert!(
        message.contains("the dry-run container failed: Traceback ... | ValueError: unknown GPU model MI999X"),
        "{message}"
    );
}

#[tokio::test]
async fn a_spec_change_runs_discovery_again() {
    let env = env();
    let (ns, model, _image) = manual_template(env, "respec").await;
    let kubelet = FakeKubelet::new(env.client().await, &ns);
    let first = discovery_job(env, &ns, "t").await.metadata.name.unwrap();
    kubelet
        .finish(&first, Exit::Succeeded(&dry_run_output("hf://org/fp8", 8.0)))
        .await;
    wait_condition(env, &ns, "t", "Ready", "True", "Ready").await;

    assert!(
        env.apply(
            &template("t", &model, "").replace("precision: fp8", "precision: bf16"),
            Some(&ns)
        )
        .await
        .success
    );
    let jobs: Api<Job> = Api::namespaced(env.client().await, &ns);
    let second = wait::until("a second discovery Job", || async {
        let list = jobs.list(&ListParams::default()).await.map_err(|e| e.to_string())?;
        list.items
            .into_iter()
            .map(|j| j.metadata.name.unwrap())
            .find(|n| *n != first)
            .ok_or_else(|| "only the first".to_string())
    })
    .await;
    let precision = jobs
        .get(&second)
        .await
        .unwrap()
        .spec
        .unwrap()
        .template
        .spec
        .unwrap()
        .containers[0]
        .env
        .iter()
        .flatten()
        .find(|e| e.name == "AIM_PRECISION")
        .and_then(|e| e.value.clone());
    assert_eq!(precision.as_deref(), Some("bf16"));
    kubelet
        .finish(&second, Exit::Succeeded(&dry_run_output("hf://org/bf16", 16.0)))
        .await;
    wait::until("the bf16 sources", || async {
        let s = template_status(env, &ns, "t").await;
        match s.model_sources.first() {
            Some(m) if m.source_uri == "hf://org/bf16" => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
}

#[tokio::test]
async fn deleting_a_template_removes_its_discovery_job() {
    let env = env();
    let (ns, _model, _image) = manual_template(env, "gc").await;
    let job = discovery_job(env, &ns, "t").await.metadata.name.unwrap();
    assert!(
        env.kubectl(&["delete", "aimservicetemplate", "t", "-n", &ns])
            .await
            .success
    );
    let jobs: Api<Job> = Api::namespaced(env.client().await, &ns);
    wait::until("the garbage collector to delete the Job", || async {
        match jobs.get_opt(&job).await.map_err(|e| e.to_string())? {
            None => Ok(()),
            Some(_) => Err("still there".into()),
        }
    })
    .await;
}

#[tokio::test]
async fn a_dry_run_runs_on_a_node_and_prints_the_profile_for_the_templates_gpu_and_precision() {
    let env = env();
    let ns = env.namespace("dry-run").await;
    let model = format!("m/dry-run-{}", std::process::id());
    let _image = image(env, &model).await;
    let yaml = format!(
        "{API}\nkind: AIMServiceTemplate\nmetadata:\n  name: t\nspec:\n  modelId: {model}\n  metric: throughput\n  precision: fp16\n  gpuSelector: {{count: 2, model: MI325X}}\n"
    );
    assert!(env.apply(&yaml, Some(&ns)).await.success);
    let message = wait_condition(env, &ns, "t", "Discovered", "True", "ProfilesDiscovered").await;
    assert!(
        message.contains("from profile vllm-mi325x-fp16-tp2-throughput"),
        "{message}"
    );
    let status = template_status(env, &ns, "t").await;
    assert_eq!(
        status.model_sources[0].source_uri,
        "hf://meta-llama/Llama-3.1-8B-Instruct-fp16"
    );
    let profile = status.profile.clone().expect("the profile");
    assert_eq!(
        (profile.gpu.as_deref(), profile.gpu_count, profile.precision.as_deref()),
        (Some("MI325X"), Some(2), Some("fp16"))
    );
    assert_eq!(status.model_sources[0].size.as_ref().unwrap().0, "15360Mi");
    // The pod ran on a node: the scheduler bound it, kwok ran it to completion.
    let pods: Api<k8s_openapi::api::core::v1::Pod> = Api::namespaced(env.client().await, &ns);
    let pod = pods
        .list(&ListParams::default().labels("aim.silogen.ai/component=discovery"))
        .await
        .unwrap()
        .items
        .into_iter()
        .next()
        .expect("the discovery pod");
    assert!(pod.spec.unwrap().node_name.is_some_and(|n| n.starts_with("gpu-")));
    assert_eq!(pod.status.unwrap().phase.as_deref(), Some("Succeeded"));
}
