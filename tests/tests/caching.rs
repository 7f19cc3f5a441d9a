//! Template caches and model caches on the local cluster: kwok provisions the volumes of the test storage class
//! (the real PV controller binds them) and ends download pods; where a test decides a download's fate itself
//! (`AIM_TEST_MANUAL` in the cache's env), `FakeKubelet` ends the pod; and where the download itself is under
//! test, the Job's own command line runs `aim-operator download` as a process against the loopback Hub, with the
//! download pod's identity.

use aim_operator::api::{AIMServiceTemplate, AIMTemplateCache, ModelCache, ResourceState, TemplateKind};
use aim_operator::testing::model_cache_name;
use aim_operator::testing::{job_name, pvc_name};
use aim_tests::kubelet::{Exit, FakeKubelet, MANUAL};
use aim_tests::{TestEnv, operator, test_env, wait};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::PersistentVolumeClaim;
use kube::api::Api;

const API: &str = "apiVersion: aim.silogen.ai/v1alpha1";
/// A storage class kwok provisions.
const CLASS: &str = "aim-test-rwx";
/// A storage class no provisioner serves: its claims stay pending.
const UNSERVED: &str = "aim-test-unserved";

fn env() -> &'static TestEnv {
    let env = test_env!();
    env.start_operator(operator::test_config());
    env
}

/// A fresh namespace named after `prefix`, with the storage classes the caching tests use.
async fn cache_namespace(env: &TestEnv, prefix: &str) -> aim_tests::Namespace {
    let ns = env.namespace(prefix).await;
    classes(env).await;
    ns
}

async fn classes(env: &TestEnv) {
    let client = env.client().await;
    aim_tests::storage::ensure_class(&client, CLASS, true).await;
    aim_tests::storage::ensure_class(&client, UNSERVED, false).await;
}

/// Env that keeps the download of a cache running until the test ends it.
fn manual() -> String {
    format!("  env:\n  - name: {MANUAL}\n    value: \"true\"\n")
}

fn uri(tag: &str) -> String {
    format!("hf://org/{tag}-{}", std::process::id())
}

async fn apply(env: &TestEnv, ns: &str, yaml: &str) {
    let out = env.apply(yaml, Some(ns)).await;
    assert!(out.success, "{}\n{yaml}", out.stderr);
}

fn inline_template(name: &str, source: &str, caching: bool) -> String {
    format!(
        "{API}\nkind: AIMServiceTemplate\nmetadata:\n  name: {name}\nspec:\n  modelId: m/cache\n  metric: latency\n  modelSources:\n  - sourceUri: {source}\n    size: 4Gi\n  caching:\n    enabled: {caching}\n"
    )
}

fn inline_template_manual(name: &str, source: &str) -> String {
    format!("{}{}", inline_template(name, source, true), manual())
}

fn template_cache(name: &str, template: &str, extra: &str) -> String {
    format!(
        "{API}\nkind: AIMTemplateCache\nmetadata:\n  name: {name}\nspec:\n  templateRef: {template}\n  storageClassName: {CLASS}\n{extra}"
    )
}

fn model_cache(name: &str, source: &str, extra: &str) -> String {
    format!("{API}\nkind: ModelCache\nmetadata:\n  name: {name}\nspec:\n  sourceUri: {source}\n{extra}")
}

async fn mc(env: &TestEnv, ns: &str, name: &str) -> Option<ModelCache> {
    Api::<ModelCache>::namespaced(env.client().await, ns)
        .get_opt(name)
        .await
        .expect("read ModelCache")
}

/// Waits until ModelCache `name` has condition `type_` with `status`/`reason`; returns its message.
async fn mc_condition(env: &TestEnv, ns: &str, name: &str, type_: &str, status: &str, reason: &str) -> String {
    wait::until(&format!("ModelCache {name} {type_}={status} ({reason})"), || async {
        let cache = mc(env, ns, name).await.ok_or("no ModelCache yet")?;
        let s = cache.status.unwrap_or_default();
        match s.head.conditions.iter().find(|c| c.type_ == type_) {
            Some(c) if c.status == status && c.reason == reason => Ok(c.message.clone()),
            other => Err(format!("{other:?}")),
        }
    })
    .await
}

async fn tc_state(env: &TestEnv, ns: &str, name: &str, state: ResourceState) -> AIMTemplateCache {
    let api: Api<AIMTemplateCache> = Api::namespaced(env.client().await, ns);
    wait::until(&format!("AIMTemplateCache {name} {state:?}"), || async {
        let tc = api
            .get_opt(name)
            .await
            .map_err(|e| e.to_string())?
            .ok_or("no template cache yet")?;
        if tc.status.as_ref().and_then(|s| s.head.status) == Some(state) {
            Ok(tc)
        } else {
            Err(format!("{:?}", tc.status))
        }
    })
    .await
}

#[tokio::test]
async fn a_template_with_caching_enabled_warms_its_own_cache() {
    let env = env();
    let ns = cache_namespace(env, "warm").await;
    let source = uri("warm");
    apply(env, &ns, &inline_template_manual("t", &source)).await;

    let tc = tc_state(env, &ns, "t", ResourceState::Progressing).await;
    assert_eq!(tc.metadata.owner_references.unwrap()[0].kind, "AIMServiceTemplate");
    let cache = model_cache_name(&source, &Default::default());
    let client = env.client().await;
    wait::until("the claim", || async {
        Api::<PersistentVolumeClaim>::namespaced(client.clone(), &ns)
            .get_opt(&pvc_name(&cache))
            .await
            .map_err(|e| e.to_string())?
            .ok_or("no claim".to_string())
    })
    .await;
    // The cluster's default class: kwok provisions it, and the PV controller binds the claim.
    mc_condition(env, &ns, &cache, "StorageReady", "True", "PVCBound").await;
    let claim = Api::<PersistentVolumeClaim>::namespaced(client.clone(), &ns)
        .get(&pvc_name(&cache))
        .await
        .unwrap();
    let spec = claim.spec.unwrap();
    assert_eq!(spec.access_modes.unwrap(), vec!["ReadWriteMany".to_string()]);
    assert_eq!(
        spec.resources.unwrap().requests.unwrap()["storage"].0,
        "5Gi",
        "4Gi plus 10% headroom, rounded up"
    );

    let kubelet = FakeKubelet::new(client.clone(), &ns);
    let warming = tc_state(env, &ns, "t", ResourceState::Progressing).await;
    let message = warming
        .status
        .unwrap()
        .head
        .conditions
        .into_iter()
        .find(|c| c.type_ == "CacheWarm")
        .unwrap()
        .message;
    assert!(
        message.contains(&format!("0/1 model caches ready; waiting for {cache}")),
        "{message}"
    );

    kubelet
        .finish(
            &job_name(&cache, 0),
            Exit::Succeeded(r#"{"result":"ok","bytes":4294967296,"files":1}"#),
        )
        .await;
    mc_condition(env, &ns, &cache, "Ready", "True", "Ready").await;
    tc_state(env, &ns, "t", ResourceState::Available).await;
    let templates: Api<AIMServiceTemplate> = Api::namespaced(client, &ns);
    wait::until("the template's CacheWarm", || async {
        let s = templates
            .get("t")
            .await
            .map_err(|e| e.to_string())?
            .status
            .unwrap_or_default();
        let warm = s
            .head
            .conditions
            .iter()
            .any(|c| c.type_ == "CacheWarm" && c.status == "True" && c.reason == "Warm");
        if warm && s.head.status == Some(ResourceState::Available) {
            Ok(())
        } else {
            Err(format!("{:?}", s.head.conditions))
        }
    })
    .await;
}

#[tokio::test]
async fn a_template_cache_resolves_the_namespace_template_before_the_cluster_template() {
    let env = env();
    let (ns, other) = (
        env.namespace("resolve-ns").await,
        env.namespace("resolve-cluster").await,
    );
    let name = format!("shared-{}", std::process::id());
    let _cluster = env.cleanup(&["aimclusterservicetemplate", &name]);
    let (cluster_source, ns_source) = (uri("cluster-src"), uri("ns-src"));
    let cluster = format!(
        "{API}\nkind: AIMClusterServiceTemplate\nmetadata:\n  name: {name}\nspec:\n  modelId: m/cache\n  modelSources:\n  - sourceUri: {cluster_source}\n    size: 1Gi\n"
    );
    assert!(env.apply(&cluster, None).await.success);
    apply(env, &ns, &inline_template(&name, &ns_source, false)).await;
    apply(env, &ns, &template_cache("tc", &name, "")).await;
    apply(env, &other, &template_cache("tc", &name, "")).await;

    for (namespace, kind, source) in [
        (&ns, TemplateKind::AIMServiceTemplate, &ns_source),
        (&other, TemplateKind::AIMClusterServiceTemplate, &cluster_source),
    ] {
        let tc = wait::until("resolution", || async {
            let tc: AIMTemplateCache = Api::namespaced(env.client().await, namespace)
                .get("tc")
                .await
                .map_err(|e| e.to_string())?;
            if tc.status.as_ref().and_then(|s| s.resolved_template_kind) == Some(kind) {
                Ok(tc)
            } else {
                Err(format!("{:?}", tc.status))
            }
        })
        .await;
        assert!(
            tc.status
                .unwrap()
                .head
                .conditions
                .iter()
                .any(|c| c.type_ == "Resolved" && c.status == "True")
        );
        let created = wait::until("its ModelCache", || async {
            mc(env, namespace, &model_cache_name(source, &Default::default()))
                .await
                .ok_or("none".to_string())
        })
        .await;
        assert_eq!(created.spec.storage_class_name.as_deref(), Some(CLASS));
    }
}

#[tokio::test]
async fn a_template_cache_for_a_missing_template_reports_template_not_found() {
    let env = env();
    let ns = cache_namespace(env, "tc-missing").await;
    apply(env, &ns, &template_cache("tc", "no-such-template", "")).await;
    let tc = tc_state(env, &ns, "tc", ResourceState::Failed).await;
    let resolved = tc
        .status
        .unwrap()
        .head
        .conditions
        .into_iter()
        .find(|c| c.type_ == "Resolved")
        .unwrap();
    assert_eq!(
        (resolved.status.as_str(), resolved.reason.as_str()),
        ("False", "TemplateNotFound")
    );
    assert!(
        resolved.message.contains("no AIMServiceTemplate 'no-such-template'"),
        "{}",
        resolved.message
    );
}

#[tokio::test]
async fn caches_of_one_source_share_a_model_cache_that_lives_while_one_of_them_uses_it() {
    let env = env();
    let ns = cache_namespace(env, "share").await;
    let source = uri("shared");
    apply(env, &ns, &inline_template("a", &source, false)).await;
    apply(env, &ns, &inline_template("b", &source, false)).await;
    apply(env, &ns, &template_cache("tc-a", "a", "")).await;
    apply(env, &ns, &template_cache("tc-b", "b", "")).await;
    let name = model_cache_name(&source, &Default::default());
    let both_resolved = wait::until("both template caches to use the one ModelCache", || async {
        let m = mc(env, &ns, &name).await.ok_or("none")?;
        let tcs: Vec<AIMTemplateCache> = Api::<AIMTemplateCache>::namespaced(env.client().await, &ns)
            .list(&Default::default())
            .await
            .map_err(|e| e.to_string())?
            .items;
        let warming = tcs
            .iter()
            .filter(|tc| {
                tc.status.as_ref().is_some_and(|s| {
                    s.head
                        .conditions
                        .iter()
                        .any(|c| c.type_ == "CacheWarm" && c.message.contains(&name))
                })
            })
            .count();
        if warming == 2 {
            Ok(m)
        } else {
            Err(format!("{warming} of 2 name {name}"))
        }
    })
    .await;
    assert!(
        both_resolved.metadata.owner_references.is_none(),
        "a shared ModelCache records no users on itself"
    );
    let all: Vec<ModelCache> = Api::<ModelCache>::namespaced(env.client().await, &ns)
        .list(&Default::default())
        .await
        .unwrap()
        .items;
    assert_eq!(all.len(), 1, "one ModelCache per source");

    assert!(
        env.kubectl(&["delete", "aimtemplatecache", "tc-a", "-n", &ns])
            .await
            .success
    );
    // Longer than the grace period (4 s in tests): tc-b still uses it.
    tokio::time::sleep(std::time::Duration::from_secs(6)).await;
    assert!(
        mc(env, &ns, &name).await.is_some(),
        "the ModelCache was deleted while tc-b still uses it"
    );
    assert!(
        env.kubectl(&["delete", "aimtemplatecache", "tc-b", "-n", &ns])
            .await
            .success
    );
    wait::until_gone("the ModelCache to go with its last user", || async {
        Ok(mc(env, &ns, &name).await.is_some())
    })
    .await;
}

#[tokio::test]
async fn a_users_own_model_cache_is_used_as_it_is_and_outlives_the_template_cache() {
    let env = env();
    let ns = cache_namespace(env, "own-cache").await;
    let source = uri("own");
    apply(
        env,
        &ns,
        &model_cache(
            "mine",
            &source,
            // Its download stays running (the test ends it, never here), so the template cache that uses it is
            // Progressing for as long as the test looks: kwok would finish it within moments, and the template
            // cache could then be Available before the test ever saw it Progressing.
            &format!(
                "  size: 1Gi\n  storageClassName: {CLASS}\n  env:\n  - name: HF_TOKEN\n    value: mine\n  - name: {MANUAL}\n    value: \"true\"\n"
            ),
        ),
    )
    .await;
    apply(env, &ns, &inline_template("t", &source, false)).await;
    apply(
        env,
        &ns,
        &template_cache("tc", "t", "  env:\n  - name: HF_TOKEN\n    value: theirs\n"),
    )
    .await;
    tc_state(env, &ns, "tc", ResourceState::Progressing).await;
    let mine = mc(env, &ns, "mine").await.unwrap();
    assert!(
        mine.metadata.owner_references.is_none(),
        "the operator must not take ownership of a user's cache"
    );
    assert_eq!(mine.spec.credentials.env[0].value.as_deref(), Some("mine"));
    assert!(
        mc(env, &ns, &model_cache_name(&source, &Default::default()))
            .await
            .is_none(),
        "no second cache for the same source"
    );
    assert!(
        env.kubectl(&["delete", "aimtemplatecache", "tc", "-n", &ns, "--wait=true"])
            .await
            .success
    );
    assert!(mc(env, &ns, "mine").await.is_some());
}

#[tokio::test]
async fn credentials_of_the_template_cache_reach_the_model_cache_and_its_download_job() {
    let env = env();
    let ns = cache_namespace(env, "creds").await;
    let source = uri("creds");
    apply(env, &ns, &inline_template("t", &source, false)).await;
    let secret_env = "  env:\n  - name: HF_TOKEN\n    valueFrom:\n      secretKeyRef: {name: hf, key: token}\n  imagePullSecrets:\n  - name: registry\n";
    apply(env, &ns, &template_cache("tc", "t", secret_env)).await;
    let name = model_cache_name(&source, &Default::default());
    let cache = wait::until("the ModelCache", || async {
        mc(env, &ns, &name).await.ok_or("none".to_string())
    })
    .await;
    assert_eq!(cache.spec.credentials.env[0].name, "HF_TOKEN");
    assert_eq!(cache.spec.credentials.image_pull_secrets[0].name, "registry");
    let job = aim_tests::scenario::caches::download_job(env.client().await, &ns, &name).await;
    let pod = job.spec.unwrap().template.spec.unwrap();
    let hf = pod.containers[0]
        .env
        .iter()
        .flatten()
        .find(|e| e.name == "HF_TOKEN")
        .expect("HF_TOKEN");
    assert_eq!(
        hf.value_from.as_ref().unwrap().secret_key_ref.as_ref().unwrap().name,
        "hf"
    );
    assert_eq!(pod.image_pull_secrets.unwrap()[0].name, "registry");
    assert_eq!(
        pod.containers[0].image.as_deref(),
        Some("registry.test/aim-downloader:1")
    );
}

#[tokio::test]
async fn the_storage_class_comes_from_the_cluster_config_when_the_cache_names_none() {
    let env = env();
    classes(env).await;
    let _config = env.cleanup(&["aimclusterconfig", "default"]);
    assert!(
        env.apply(
            &format!(
                "{API}\nkind: AIMClusterConfig\nmetadata:\n  name: default\nspec:\n  cacheStorageClassName: {CLASS}\n"
            ),
            None
        )
        .await
        .success
    );
    let ns = cache_namespace(env, "config-class").await;
    apply(env, &ns, &model_cache("weights", &uri("config-class"), "  size: 2Gi\n")).await;
    let claim = wait::until("the claim", || async {
        Api::<PersistentVolumeClaim>::namespaced(env.client().await, &ns)
            .get_opt(&pvc_name("weights"))
            .await
            .map_err(|e| e.to_string())?
            .ok_or("none".to_string())
    })
    .await;
    assert_eq!(claim.spec.unwrap().storage_class_name.as_deref(), Some(CLASS));
    let status = wait::until("the status to name the claim", || async {
        let s = mc(env, &ns, "weights")
            .await
            .and_then(|m| m.status)
            .ok_or("no status")?;
        if s.persistent_volume_claim.is_some() {
            Ok(s)
        } else {
            Err(format!("{s:?}"))
        }
    })
    .await;
    assert_eq!(status.storage_class_name.as_deref(), Some(CLASS));
    assert_eq!(status.persistent_volume_claim.as_deref(), Some("weights-cache"));
}

#[tokio::test]
async fn a_missing_storage_class_is_storage_class_missing() {
    let env = env();
    let ns = cache_namespace(env, "no-class").await;
    apply(
        env,
        &ns,
        &model_cache(
            "weights",
            &uri("no-class"),
            "  size: 2Gi\n  storageClassName: does-not-exist\n",
        ),
    )
    .await;
    let message = mc_condition(env, &ns, "weights", "StorageReady", "False", "StorageClassMissing").await;
    assert!(
        message.contains("StorageClass does-not-exist does not exist"),
        "{message}"
    );
    assert_eq!(
        mc(env, &ns, "weights").await.unwrap().status.unwrap().head.status,
        Some(ResourceState::Failed)
    );
}

#[tokio::test]
async fn a_storage_quota_too_small_is_insufficient_capacity() {
    let env = env();
    let ns = cache_namespace(env, "quota").await;
    let quota =
        "apiVersion: v1\nkind: ResourceQuota\nmetadata:\n  name: storage\nspec:\n  hard:\n    requests.storage: 1Gi\n";
    apply(env, &ns, quota).await;
    // The quota controller fills in the quota's usage before it enforces anything.
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    apply(
        env,
        &ns,
        &model_cache(
            "big",
            &uri("quota"),
            &format!("  size: 10Gi\n  storageClassName: {CLASS}\n"),
        ),
    )
    .await;
    let message = mc_condition(env, &ns, "big", "StorageReady", "False", "InsufficientCapacity").await;
    assert!(
        message.contains("no room for a 11Gi volume") && message.contains("exceeded quota"),
        "{message}"
    );
}

#[tokio::test]
async fn a_failed_download_is_download_failed_and_the_retry_can_succeed() {
    let env = env();
    let ns = cache_namespace(env, "dl-fail").await;
    apply(
        env,
        &ns,
        &model_cache(
            "weights",
            &uri("dl-fail"),
            &format!("  size: 1Gi\n  storageClassName: {CLASS}\n{}", manual()),
        ),
    )
    .await;
    let kubelet = FakeKubelet::new(env.client().await, &ns);
    kubelet
        .finish(
            &job_name("weights", 0),
            Exit::Failed(
                r#"{"result":"failed","kind":"Unauthorized","message":"hf://org/m needs credentials (HTTP 401) and HF_TOKEN is not set"}"#,
            ),
        )
        .await;
    let message = mc_condition(env, &ns, "weights", "Failure", "True", "DownloadFailed").await;
    assert!(
        message
            .starts_with("download attempt 1 failed: hf://org/m needs credentials (HTTP 401) and HF_TOKEN is not set;"),
        "the downloader's message, not its JSON: {message}"
    );
    // The next attempt is a new Job; the failure stays visible while it runs.
    kubelet.finish(&job_name("weights", 1), Exit::Succeeded("ok")).await;
    mc_condition(env, &ns, "weights", "Ready", "True", "Ready").await;
    mc_condition(env, &ns, "weights", "Failure", "False", "NoFailure").await;
    assert_eq!(
        mc(env, &ns, "weights")
            .await
            .unwrap()
            .status
            .unwrap()
            .download
            .unwrap()
            .failed_attempts,
        1
    );
}

#[tokio::test]
async fn a_second_cache_of_the_same_source_fails_and_names_the_first() {
    let env = env();
    let ns = cache_namespace(env, "duplicate").await;
    let source = uri("dup");
    let spec = format!("  size: 1Gi\n  storageClassName: {CLASS}\n");
    apply(env, &ns, &model_cache("first", &source, &spec)).await;
    mc_condition(env, &ns, "first", "StorageReady", "True", "PVCBound").await;
    apply(env, &ns, &model_cache("second", &source, &spec)).await;
    let message = mc_condition(env, &ns, "second", "Failure", "True", "DuplicateSourceUri").await;
    assert!(
        message.contains(&format!("sourceUri {source} is already cached by ModelCache first")),
        "{message}"
    );
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(env.client().await, &ns);
    assert!(
        claims.get_opt(&pvc_name("second")).await.unwrap().is_none(),
        "a duplicate gets no volume"
    );
}

#[tokio::test]
async fn a_cache_without_a_size_checks_it_and_sizes_its_volume_from_the_answer() {
    let env = env();
    let ns = cache_namespace(env, "no-size").await;
    // The size check (kwok plays `aim-operator download --size-only`) finds 5 GiB.
    let spec =
        format!("  storageClassName: {CLASS}\n  env:\n  - name: AIM_TEST_SIZE_BYTES\n    value: \"5368709120\"\n");
    apply(env, &ns, &model_cache("weights", &uri("no-size"), &spec)).await;
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(env.client().await, &ns);
    let claim = wait::until("the claim sized from the size check", || async {
        claims
            .get_opt(&pvc_name("weights"))
            .await
            .map_err(|e| e.to_string())?
            .ok_or("no claim yet".to_string())
    })
    .await;
    assert_eq!(
        claim.spec.unwrap().resources.unwrap().requests.unwrap()["storage"].0,
        "6Gi",
        "5 GiB plus 10% headroom, rounded up"
    );
    // The claim is written before the status that records the size: wait for it rather than read it once.
    let size = wait::until("the size in the status", || async {
        mc(env, &ns, "weights")
            .await
            .and_then(|m| m.status?.source_size)
            .ok_or("no sourceSize yet".to_string())
    })
    .await;
    assert_eq!(size.0, "5368709120");
    let job: Api<Job> = Api::namespaced(env.client().await, &ns);
    let size_job = job
        .list(&kube::api::ListParams::default().labels("aim.silogen.ai/component=size-check"))
        .await
        .unwrap();
    let command = size_job.items[0]
        .spec
        .as_ref()
        .unwrap()
        .template
        .spec
        .as_ref()
        .unwrap()
        .containers[0]
        .command
        .clone()
        .unwrap();
    assert_eq!(command, ["aim-operator", "download", &uri("no-size"), "--size-only"]);
}

#[tokio::test]
async fn a_size_check_that_fails_is_tried_again_and_says_why() {
    let env = env();
    let ns = cache_namespace(env, "size-fail").await;
    let failure = r#"{"result":"failed","kind":"Unreachable","message":"cannot reach https://huggingface.co (connection refused): check the endpoint"}"#;
    let spec = format!(
        "  storageClassName: {CLASS}\n  env:\n  - name: AIM_TEST_SIZE_OUTPUT\n    value: '{failure}'\n  - name: AIM_TEST_SIZE_EXIT\n    value: \"1\"\n"
    );
    apply(env, &ns, &model_cache("weights", &uri("size-fail"), &spec)).await;
    let message = mc_condition(env, &ns, "weights", "Failure", "True", "SizeCheckFailed").await;
    assert!(
        message.contains("failed: cannot reach https://huggingface.co") && message.contains("checking again in"),
        "{message}"
    );
    assert!(
        !message.contains("download"),
        "the message is the size check's: {message}"
    );
    // Not final: a second attempt runs (and fails the same way here).
    wait::until("a second size check", || async {
        let status = mc(env, &ns, "weights")
            .await
            .and_then(|c| c.status)
            .ok_or("no status")?;
        match status.size_check.map(|s| s.failed_attempts) {
            Some(n) if n >= 2 => Ok(()),
            other => Err(format!("failed attempts {other:?}")),
        }
    })
    .await;
}

#[tokio::test]
async fn a_source_that_lists_no_sizes_is_size_unknown_and_not_asked_again() {
    let env = env();
    let ns = cache_namespace(env, "size-unknown").await;
    let spec = format!("  storageClassName: {CLASS}\n  env:\n  - name: AIM_TEST_SIZE_BYTES\n    value: \"0\"\n");
    apply(env, &ns, &model_cache("weights", &uri("size-unknown"), &spec)).await;
    let message = mc_condition(env, &ns, "weights", "Failure", "True", "SizeUnknown").await;
    assert!(
        message.contains("lists no sizes") && message.contains("Set spec.size"),
        "{message}"
    );
    let status = mc(env, &ns, "weights").await.unwrap().status.unwrap();
    assert_eq!(status.size_check.map_or(0, |s| s.failed_attempts), 0);
}

/// Patterns named on a template reach the model cache made for it, and that cache's Jobs; a template cache's own
/// patterns win, and make a cache of their own (a cache holding other files of the source cannot serve it).
#[tokio::test]
async fn file_patterns_follow_from_the_template_to_its_model_cache_and_jobs() {
    use aim_operator::api::ModelFiles;
    let env = env();
    let ns = cache_namespace(env, "files").await;
    let source = uri("files");
    let template = format!(
        "{}  modelFiles:\n    exclude: [\"original/**\", \"*.pth\"]\n",
        inline_template_manual("t", &source)
    );
    apply(env, &ns, &template).await;
    let from_template = ModelFiles {
        include: vec![],
        exclude: vec!["original/**".into(), "*.pth".into()],
    };
    let name = model_cache_name(&source, &from_template);
    assert_ne!(name, model_cache_name(&source, &ModelFiles::default()));
    let cache = wait::until("the ModelCache of the template's files", || async {
        mc(env, &ns, &name).await.ok_or("none".to_string())
    })
    .await;
    assert_eq!(cache.spec.model_files.as_ref(), Some(&from_template));
    let job = aim_tests::scenario::caches::download_job(env.client().await, &ns, &name).await;
    let env_of = |job: &Job| -> Vec<(String, String)> {
        job.spec.clone().unwrap().template.spec.unwrap().containers[0]
            .env
            .clone()
            .unwrap_or_default()
            .into_iter()
            .filter(|e| e.name.starts_with("AIM_DOWNLOAD_"))
            .map(|e| (e.name, e.value.unwrap_or_default()))
            .collect()
    };
    assert_eq!(
        env_of(&job),
        [
            ("AIM_DOWNLOAD_DIR".to_string(), "/cache".to_string()),
            ("AIM_DOWNLOAD_INCLUDE".into(), String::new()),
            ("AIM_DOWNLOAD_EXCLUDE".into(), "original/**,*.pth".into()),
        ]
    );
    let status = wait::until("the patterns in status", || async {
        let status = mc(env, &ns, &name).await.and_then(|c| c.status).ok_or("no status")?;
        status
            .model_files
            .clone()
            .map(|_| status)
            .ok_or("no patterns yet".to_string())
    })
    .await;
    assert_eq!(status.model_files, Some(from_template));

    // A template cache naming its own patterns gets a model cache of those.
    apply(
        env,
        &ns,
        &template_cache(
            "own",
            "t",
            "  modelFiles:\n    include: [\"*.safetensors\", \"*.json\"]\n",
        ),
    )
    .await;
    let own = ModelFiles {
        include: vec!["*.safetensors".into(), "*.json".into()],
        exclude: vec![],
    };
    let own_name = model_cache_name(&source, &own);
    let cache = wait::until("the template cache's own ModelCache", || async {
        mc(env, &ns, &own_name).await.ok_or("none".to_string())
    })
    .await;
    assert_eq!(cache.spec.model_files, Some(own));
}

#[tokio::test]
async fn a_model_caches_patterns_are_checked_by_the_schema_and_cannot_change() {
    let env = env();
    let ns = cache_namespace(env, "files-cel").await;
    let comma = env
        .apply(
            &model_cache(
                "bad",
                &uri("cel"),
                "  size: 1Gi\n  modelFiles:\n    exclude: [\"a,b\"]\n",
            ),
            Some(&ns),
        )
        .await;
    assert!(
        !comma.success && comma.stderr.contains("without commas"),
        "{}",
        comma.stderr
    );
    let spec = |patterns: &str| format!("  size: 1Gi\n  storageClassName: {UNSERVED}\n{patterns}");
    apply(
        env,
        &ns,
        &model_cache(
            "weights",
            &uri("cel"),
            &spec("  modelFiles:\n    exclude: [\"*.pth\"]\n"),
        ),
    )
    .await;
    let changed = env
        .apply(
            &model_cache(
                "weights",
                &uri("cel"),
                &spec("  modelFiles:\n    exclude: [\"*.bin\"]\n"),
            ),
            Some(&ns),
        )
        .await;
    assert!(
        !changed.success && changed.stderr.contains("modelFiles is immutable"),
        "{}",
        changed.stderr
    );
    let removed = env
        .apply(&model_cache("weights", &uri("cel"), &spec("")), Some(&ns))
        .await;
    assert!(
        !removed.success && removed.stderr.contains("modelFiles is immutable"),
        "{}",
        removed.stderr
    );
}

#[tokio::test]
async fn turning_template_caching_off_removes_its_template_cache() {
    let env = env();
    let ns = cache_namespace(env, "cache-off").await;
    let source = uri("off");
    apply(env, &ns, &inline_template("t", &source, true)).await;
    tc_state(env, &ns, "t", ResourceState::Progressing).await;
    apply(env, &ns, &inline_template("t", &source, false)).await;
    let api: Api<AIMTemplateCache> = Api::namespaced(env.client().await, &ns);
    wait::until_gone("the template cache to be removed", || async {
        Ok(api.get_opt("t").await.map_err(|e| e.to_string())?.is_some())
    })
    .await;
}

#[tokio::test]
async fn a_claim_no_provisioner_serves_is_pvc_pending_and_says_so_rather_than_downloading() {
    let env = env();
    let ns = cache_namespace(env, "pvc-pending").await;
    apply(
        env,
        &ns,
        &model_cache(
            "weights",
            &uri("pending"),
            &format!("  size: 1Gi\n  storageClassName: {UNSERVED}\n"),
        ),
    )
    .await;
    let message = mc_condition(env, &ns, "weights", "StorageReady", "False", "PVCPending").await;
    assert!(
        message.contains(&format!("is waiting for a volume from storage class {UNSERVED}")),
        "{message}"
    );
    // The download Job may start (a WaitForFirstConsumer class binds only then), but the headline is the storage.
    let ready = mc_condition(env, &ns, "weights", "Ready", "False", "PVCPending").await;
    assert!(
        !ready.contains("Downloading") && !ready.contains("download Job"),
        "{ready}"
    );
}

/// The download Job's own command line and environment, run as a process against the loopback Hub with the Job's
/// ServiceAccount: its progress reaches the `ModelCache` status while the (throttled) download runs, and the
/// ServiceAccount may patch that Job and nothing else.
#[tokio::test]
async fn the_download_job_runs_our_downloader_which_reports_progress_on_the_model_cache() {
    use aim_operator::testing::identity_name;
    use aim_tests::container::JobContainer;
    use aim_tests::hub::{Behaviour, HubServer, generated_model};

    let env = env();
    let ns = cache_namespace(env, "dl-progress").await;
    let hub = HubServer::start("test-org/tiny-llama", generated_model(40)).await;
    hub.set(Behaviour {
        rate: Some(4 << 20),
        ..Default::default()
    });
    let spec = format!(
        "  size: 1Gi\n  storageClassName: {CLASS}\n  env:\n  - name: {MANUAL}\n    value: \"true\"\n  - name: HF_ENDPOINT\n    value: {}\n  - name: AIM_PROGRESS_SECONDS\n    value: \"1\"\n",
        hub.endpoint
    );
    apply(env, &ns, &model_cache("weights", "hf://test-org/tiny-llama", &spec)).await;

    let job = aim_tests::scenario::caches::download_job(env.client().await, &ns, "weights").await;
    let pod = job.spec.clone().unwrap().template.spec.unwrap();
    let command = pod.containers[0].command.clone().unwrap();
    assert_eq!(command, ["aim-operator", "download", "hf://test-org/tiny-llama"]);
    let account = pod.service_account_name.clone().unwrap();
    assert_eq!(account, identity_name("weights"));

    // The pod's container, as a process with the Job's env and ServiceAccount.
    let dir = tempfile::tempdir().unwrap();
    let cache_dir = dir.path().join("cache");
    let container = JobContainer::start(env.kubectl_path(), env.kubeconfig(), &job, &cache_dir).await;

    let shown = wait::until("download progress on the ModelCache", || async {
        let status = mc(env, &ns, "weights")
            .await
            .and_then(|c| c.status)
            .ok_or("no status")?;
        let download = status.download.clone().ok_or("no download status")?;
        let ready = status
            .head
            .conditions
            .iter()
            .find(|c| c.type_ == "Ready")
            .ok_or("no Ready")?;
        if download.percent.is_some_and(|p| (1..100).contains(&p)) && ready.message.starts_with("downloading") {
            Ok((download, ready.message.clone()))
        } else {
            Err(format!("{download:?}: {}", ready.message))
        }
    })
    .await;
    assert!(shown.0.bytes_per_second.unwrap_or(0) > 0, "{:?}", shown.0);
    assert!(shown.1.contains(" of ") && shown.1.contains("/s"), "{}", shown.1);
    // `kubectl get mc` shows it in a column of its own.
    let table = env.kubectl(&["get", "mc", "weights", "-n", &ns]).await;
    let (header, row) = table.stdout.split_once('\n').unwrap_or_default();
    let column = header
        .find("PROGRESS")
        .unwrap_or_else(|| panic!("no PROGRESS column: {}", table.stdout));
    let shown = row.get(column..).unwrap_or_default();
    assert!(shown.contains('%') && shown.contains("/s"), "{}", table.stdout);

    // The Role names this Job only.
    let other = env
        .kubectl(&[
            "auth",
            "can-i",
            "patch",
            "jobs/another-job",
            "-n",
            &ns,
            &format!("--as=system:serviceaccount:{ns}:{account}"),
        ])
        .await;
    assert_eq!(other.stdout.trim(), "no", "{}", other.stderr);

    let exited = container.exit(env.client().await).await;
    assert!(exited.ok, "{}\n{}", exited.stdout, exited.stderr);
    mc_condition(env, &ns, "weights", "Ready", "True", "Ready").await;
    assert!(
        cache_dir.read_dir().unwrap().next().is_some(),
        "the files are in the cache directory"
    );
}

/// A cache's patterns, through its Job's environment, decide what our downloader fetches; the status counts what
/// they left out.
#[tokio::test]
async fn a_caches_patterns_decide_what_the_downloader_fetches_and_the_status_counts_the_rest() {
    use aim_operator::api::SkippedFiles;
    use aim_tests::container::JobContainer;
    use aim_tests::hub::{HubServer, ModelFile, generated_model};

    let env = env();
    let ns = cache_namespace(env, "dl-files").await;
    let mut files = generated_model(1);
    files.push(ModelFile {
        path: "original/consolidated.00.pth".into(),
        bytes: bytes::Bytes::from(vec![b'p'; 10_000]),
    });
    let hub = HubServer::start("test-org/with-original", files).await;
    let spec = format!(
        "  size: 1Gi\n  storageClassName: {CLASS}\n  modelFiles:\n    exclude: [\"original/**\", \"tokenizer/**\"]\n  env:\n  - name: {MANUAL}\n    value: \"true\"\n  - name: HF_ENDPOINT\n    value: {}\n",
        hub.endpoint
    );
    apply(env, &ns, &model_cache("weights", "hf://test-org/with-original", &spec)).await;
    let job = aim_tests::scenario::caches::download_job(env.client().await, &ns, "weights").await;
    let dir = tempfile::tempdir().unwrap();
    let cache_dir = dir.path().join("cache");
    let container = JobContainer::start(env.kubectl_path(), env.kubeconfig(), &job, &cache_dir).await;
    let exited = container.exit(env.client().await).await;
    assert!(exited.ok, "{}\n{}", exited.stdout, exited.stderr);
    mc_condition(env, &ns, "weights", "Ready", "True", "Ready").await;
    let model = cache_dir.join("test-org/with-original");
    let listed = aim_tests::downloader::walk(&cache_dir);
    assert!(
        model.join("model.safetensors").is_file() && model.join("config.json").is_file(),
        "{listed:?}"
    );
    assert!(
        !model.join("original").exists() && !model.join("tokenizer").exists(),
        "{listed:?}"
    );
    let skipped = wait::until("the skipped files in status", || async {
        let status = mc(env, &ns, "weights")
            .await
            .and_then(|c| c.status)
            .ok_or("no status")?;
        status.skipped.ok_or("not yet".to_string())
    })
    .await;
    assert_eq!(
        skipped,
        SkippedFiles {
            files: 2,
            bytes: 10_000 + 4096
        }
    );
}
