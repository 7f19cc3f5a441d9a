//! `aim-operator download` as a process against real protocols on loopback: the test harness's
//! Hugging-Face-compatible server ([`aim_tests::hub`]) and moto's S3 server ([`aim_tests::moto`]), writing into a
//! directory as it would into the cache volume (kwok runs no containers, so the Job's command runs here).

use aim_tests::downloader::{as_refs, assert_files_match, command, complete_ranges, download, hub_env, walk};
use aim_tests::hub::{Behaviour, HubServer, generated_model};
use aim_tests::moto::{self, MotoServer};
use serde_json::Value;
use std::time::{Duration, Instant};

const REPO: &str = "test-org/tiny-llama";
const WEIGHTS_MB: usize = 40;

/// The Hub serving a generated model of `weights_mb` MiB, each transfer paced at `rate` bytes per second.
async fn paced_hub(weights_mb: usize, rate: u64) -> (Vec<aim_tests::hub::ModelFile>, HubServer) {
    let files = generated_model(weights_mb);
    let hub = HubServer::start(REPO, files.clone()).await;
    hub.set(Behaviour {
        rate: Some(rate),
        ..Default::default()
    });
    (files, hub)
}

#[tokio::test]
async fn a_hub_model_downloads_verified_with_a_marker_and_a_second_run_ends_at_once() {
    // Slow enough (about 2 s) that the 1 s progress reports show.
    let (files, hub) = paced_hub(WEIGHTS_MB, 20 << 20).await;
    let dir = tempfile::tempdir().unwrap();
    let env = hub_env(&hub);
    let ended = download(&format!("hf://{REPO}"), dir.path(), &as_refs(&env)).await;
    assert!(ended.ok, "{}", ended.stdout);
    let total: usize = files.iter().map(|f| f.bytes.len()).sum();
    assert_eq!(ended.last["result"], "ok");
    assert_eq!(ended.last["bytes"], total as u64);
    let root = dir.path().join(REPO);
    assert_files_match(&root, &files);
    let marker: Value = serde_json::from_slice(&std::fs::read(root.join(".aim-complete.json")).unwrap()).unwrap();
    assert_eq!(marker["files"].as_array().unwrap().len(), files.len());
    let leftovers: Vec<_> = walk(&root).into_iter().filter(|p| p.ends_with(".aim-part")).collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    assert!(
        ended.stdout.contains("{\"progress\":"),
        "progress lines on stdout: {}",
        ended.stdout
    );

    let sent = hub.bytes_sent();
    let again = download(&format!("hf://{REPO}"), dir.path(), &as_refs(&env)).await;
    assert!(again.ok, "{}", again.stdout);
    assert_eq!(hub.bytes_sent(), sent, "a complete cache downloads nothing");
}

/// Killed part way through, by ranges of 4 MiB: the complete ranges (listed beside the partial file) are not
/// fetched again.
#[tokio::test]
async fn a_killed_download_resumes_from_its_partial_files() {
    let (files, hub) = paced_hub(WEIGHTS_MB, 10 << 20).await;
    let total: u64 = files.iter().map(|f| f.bytes.len() as u64).sum();
    let dir = tempfile::tempdir().unwrap();
    let mut env = hub_env(&hub);
    env.push(("AIM_DOWNLOAD_CHUNK_MIB", "4".into()));
    let mut child = command(&format!("hf://{REPO}"), dir.path(), &as_refs(&env))
        .spawn()
        .expect("start the downloader");
    let part = dir.path().join(REPO).join("model.safetensors.aim-part");
    let listed = dir.path().join(REPO).join("model.safetensors.aim-part.chunks");
    let complete_ranges = || complete_ranges(&part);
    let start = Instant::now();
    while complete_ranges() < 3 {
        assert!(start.elapsed() < Duration::from_secs(30), "no range completed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.start_kill().unwrap();
    child.wait().await.unwrap();
    assert!(part.exists(), "the partial file stays");
    let kept = complete_ranges() * (4 << 20);
    let sent_before = hub.bytes_sent();

    hub.set(Behaviour::default());
    let ended = download(&format!("hf://{REPO}"), dir.path(), &as_refs(&env)).await;
    assert!(ended.ok, "{}", ended.stdout);
    assert_files_match(&dir.path().join(REPO), &files);
    assert!(!listed.exists(), "the list of ranges goes with the partial file");
    let resent = hub.bytes_sent() - sent_before;
    assert!(
        resent <= total - kept,
        "the second run fetched {resent} bytes; {kept} of {total} were already on disk"
    );
}

/// A large file is read over several connections at once (a source that caps each connection does not cap
/// the download), never more than asked; one connection per file reads it in one stream.
#[tokio::test]
async fn a_large_file_is_read_over_the_connections_asked_for() {
    let (files, hub) = paced_hub(WEIGHTS_MB, 20 << 20).await;
    let dir = tempfile::tempdir().unwrap();
    let mut env = hub_env(&hub);
    env.push(("AIM_DOWNLOAD_CHUNK_MIB", "2".into()));
    env.push(("AIM_DOWNLOAD_CONNECTIONS_PER_FILE", "4".into()));
    env.push(("AIM_DOWNLOAD_PARALLEL", "1".into()));
    let ranged = download(&format!("hf://{REPO}"), dir.path(), &as_refs(&env)).await;
    assert!(ranged.ok, "{}", ranged.stdout);
    assert_files_match(&dir.path().join(REPO), &files);
    assert_eq!(hub.most_transfers_at_once(), 4, "four ranges of the weights at once");

    let one = HubServer::start(REPO, files.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let mut env = hub_env(&one);
    env.push(("AIM_DOWNLOAD_CONNECTIONS_PER_FILE", "1".into()));
    env.push(("AIM_DOWNLOAD_PARALLEL", "1".into()));
    let streamed = download(&format!("hf://{REPO}"), dir.path(), &as_refs(&env)).await;
    assert!(streamed.ok, "{}", streamed.stdout);
    assert_files_match(&dir.path().join(REPO), &files);
    assert_eq!(one.most_transfers_at_once(), 1);
}

#[tokio::test]
async fn wrong_bytes_fail_with_the_file_named_and_leave_no_file_behind() {
    let files = generated_model(2);
    let hub = HubServer::start(REPO, files).await;
    hub.set(Behaviour {
        corrupt: Some("model.safetensors".into()),
        ..Default::default()
    });
    // In one stream (the default for a file this small) and by ranges of 1 MiB.
    for chunk_mib in [None, Some("1")] {
        let dir = tempfile::tempdir().unwrap();
        let mut env = hub_env(&hub);
        env.extend(chunk_mib.map(|c| ("AIM_DOWNLOAD_CHUNK_MIB", c.to_string())));
        let ended = download(&format!("hf://{REPO}"), dir.path(), &as_refs(&env)).await;
        let message = ended.failed("ChecksumMismatch");
        assert!(
            message.contains("model.safetensors does not match the checksum"),
            "{message}"
        );
        let root = dir.path().join(REPO);
        assert!(!root.join("model.safetensors").exists());
        assert!(!root.join("model.safetensors.aim-part").exists());
        assert!(!root.join("model.safetensors.aim-part.chunks").exists());
        assert!(
            !root.join(".aim-complete.json").exists(),
            "no marker on a failed download"
        );
    }
}

#[tokio::test]
async fn a_gated_model_says_which_token_is_missing_or_refused() {
    let hub = HubServer::start(REPO, generated_model(1)).await;
    hub.set(Behaviour {
        token: Some("hf_right".into()),
        ..Default::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let uri = format!("hf://{REPO}");
    let mut env = hub_env(&hub);
    let missing = download(&uri, dir.path(), &as_refs(&env)).await;
    let message = missing.failed("Unauthorized");
    assert!(
        message.contains("HF_TOKEN is not set") && message.contains("Secret"),
        "{message}"
    );

    env.push(("HF_TOKEN", "hf_wrong".into()));
    let wrong = download(&uri, dir.path(), &as_refs(&env)).await;
    let message = wrong.failed("Unauthorized");
    assert!(
        message.contains("refused the credentials in HF_TOKEN (HTTP 403)"),
        "{message}"
    );

    env.pop();
    env.push(("HF_TOKEN", "hf_right".into()));
    let right = download(&uri, dir.path(), &as_refs(&env)).await;
    assert!(right.ok, "{}", right.stdout);
}

#[tokio::test]
async fn an_unknown_model_is_not_found_and_an_unreachable_endpoint_says_so() {
    let hub = HubServer::start(REPO, generated_model(1)).await;
    let dir = tempfile::tempdir().unwrap();
    // Without a token the Hub answers an unknown repository as it answers a private one (401 RepoNotFound): the
    // message names both, so a typo in the ID does not read as a missing token only.
    let mut env = hub_env(&hub);
    let typo = download("hf://test-org/no-such-model", dir.path(), &as_refs(&env)).await;
    let message = typo.failed("NotFound");
    assert!(
        message.contains("does not exist, or is private or gated")
            && message.contains("check the model ID")
            && message.contains("set HF_TOKEN"),
        "{message}"
    );
    env.push(("HF_TOKEN", "hf_any".into()));
    let missing = download("hf://test-org/no-such-model", dir.path(), &as_refs(&env)).await;
    let message = missing.failed("NotFound");
    assert!(
        message.contains("does not exist, or the token in HF_TOKEN cannot see it (HTTP 404 RepoNotFound)"),
        "{message}"
    );
    env.pop();
    let revision = download(&format!("hf://{REPO}@no-such-branch"), dir.path(), &as_refs(&env)).await;
    let message = revision.failed("NotFound");
    assert!(message.contains("has no revision 'no-such-branch'"), "{message}");

    let closed = format!("http://127.0.0.1:{}", aim_tests::replica::free_port());
    let down = download(&format!("hf://{REPO}"), dir.path(), &[("HF_ENDPOINT", &closed)]).await;
    let message = down.failed("Unreachable");
    assert!(message.contains(&format!("cannot reach {closed}")), "{message}");
}

#[tokio::test]
async fn a_stalled_transfer_fails_after_the_stall_timeout() {
    let hub = HubServer::start(REPO, generated_model(4)).await;
    hub.set(Behaviour {
        stall_after: Some(1 << 20),
        ..Default::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let base = hub_env(&hub);
    let mut env = as_refs(&base);
    env.push(("AIM_DOWNLOAD_STALL_SECONDS", "2"));
    let ended = download(&format!("hf://{REPO}"), dir.path(), &env).await;
    let message = ended.failed("Stalled");
    assert!(
        message.contains("no bytes arrived for 2s while downloading model.safetensors"),
        "{message}"
    );
}

#[tokio::test]
async fn a_volume_too_small_fails_before_the_first_byte() {
    let hub = HubServer::start(REPO, generated_model(WEIGHTS_MB)).await;
    let dir = tempfile::tempdir().unwrap();
    // A real size-limited file system: an 8 MiB tmpfs (the tests run as root on the CI machine).
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=8m", "tmpfs"])
        .arg(dir.path())
        .status()
        .expect("mount");
    assert!(mounted.success(), "mounting a small tmpfs needs root");
    let ended = download(&format!("hf://{REPO}"), dir.path(), &as_refs(&hub_env(&hub))).await;
    let _ = std::process::Command::new("umount").arg(dir.path()).status();
    let message = ended.failed("DiskFull");
    assert!(
        message.contains("free but the model needs") && message.contains("spec.size"),
        "{message}"
    );
    assert_eq!(
        hub.bytes_sent(),
        0,
        "nothing is downloaded into a volume that cannot hold it"
    );
}

#[tokio::test]
async fn size_only_prints_the_total_and_writes_nothing() {
    let files = generated_model(3);
    let total: usize = files.iter().map(|f| f.bytes.len()).sum();
    let hub = HubServer::start(REPO, files).await;
    let dir = tempfile::tempdir().unwrap();
    let out = command(&format!("hf://{REPO}"), dir.path(), &as_refs(&hub_env(&hub)))
        .arg("--size-only")
        .output()
        .await
        .unwrap();
    assert!(out.status.success());
    let last: Value = serde_json::from_str(String::from_utf8_lossy(&out.stdout).trim()).unwrap();
    assert_eq!(last["result"], "size");
    assert_eq!(last["bytes"], total as u64);
    assert_eq!(last["files"], 3);
    assert!(walk(dir.path()).is_empty());
    assert_eq!(hub.bytes_sent(), 0);
}

#[tokio::test]
async fn an_s3_prefix_downloads_verified_from_an_s3_compatible_server() {
    let moto = MotoServer::start().await;
    moto.create_bucket("models").await;
    let files = generated_model(8);
    for f in &files {
        moto.put("models", &format!("llama/8b/{}", f.path), f.bytes.clone())
            .await;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut env: Vec<(&str, &str)> = moto::ENV.to_vec();
    env.push(("AWS_ENDPOINT_URL_S3", &moto.endpoint));
    let ended = download("s3://models/llama/8b", dir.path(), &env).await;
    assert!(ended.ok, "{}", ended.stdout);
    assert_files_match(&dir.path().join("models/llama/8b"), &files);

    let missing = download("s3://no-such-bucket/x", dir.path(), &env).await;
    missing.failed("NotFound");
    let empty = download("s3://models/nothing-here", dir.path(), &env).await;
    let message = empty.failed("NotFound");
    assert!(message.contains("holds no objects"), "{message}");
}

/// moto checking credentials as S3 does: wrong keys, no keys and no endpoint each say what to set, as the hub's
/// token failures do.
#[tokio::test]
async fn s3_credentials_wrong_or_missing_and_a_missing_endpoint_say_what_to_set() {
    // Two unsigned requests are free: the bucket and its one object; every request after is checked.
    let moto = MotoServer::start_checking_credentials(2).await;
    moto.create_bucket("private").await;
    moto.put("private", "m/config.json", bytes::Bytes::from_static(b"{}"))
        .await;
    let dir = tempfile::tempdir().unwrap();
    let endpoint = ("AWS_ENDPOINT_URL_S3", moto.endpoint.as_str());

    let mut wrong_keys: Vec<(&str, &str)> = moto::ENV.to_vec();
    wrong_keys.push(endpoint);
    let wrong = download("s3://private/m", dir.path(), &wrong_keys).await;
    let message = wrong.failed("Unauthorized");
    assert!(
        message.contains("refused the credentials in AWS_ACCESS_KEY_ID (HTTP 403)") && message.contains("Secret"),
        "{message}"
    );

    let no_keys = download("s3://private/m", dir.path(), &[endpoint]).await;
    let message = no_keys.failed("Unauthorized");
    assert!(
        message.contains("AWS_ACCESS_KEY_ID is not set") && message.contains("spec.env"),
        "{message}"
    );

    // No endpoint: the downloader goes to AWS itself, which this machine cannot reach.
    let no_endpoint = download("s3://private/m", dir.path(), &moto::ENV).await;
    let message = no_endpoint.failed("Unreachable");
    assert!(message.contains("AWS_ENDPOINT_URL_S3"), "{message}");
    assert!(walk(dir.path()).is_empty(), "nothing written by a refused download");
}

/// A mirror behind a private CA: refused with a message that says how to trust it, then trusted with the CA
/// file the operator's `--downloader-ca-bundle` mounts (added to the system's roots, not replacing them).
#[tokio::test]
async fn a_mirror_behind_a_private_ca_is_refused_until_its_ca_is_given() {
    let files = generated_model(2);
    let tls = aim_tests::tls::TestTls::new();
    let ca = tls.ca_pem.clone();
    let hub = HubServer::start_tls(REPO, files.clone(), tls).await;
    assert!(hub.endpoint.starts_with("https://"));
    let dir = tempfile::tempdir().unwrap();
    let env = hub_env(&hub);

    let refused = download(&format!("hf://{REPO}"), dir.path(), &as_refs(&env)).await;
    let message = refused.failed("Unreachable");
    assert!(
        message.contains("does not trust") && message.contains("--downloader-ca-bundle"),
        "{message}"
    );

    let ca_file = dir.path().join("ca.crt");
    std::fs::write(&ca_file, &ca).unwrap();
    let mut with_ca = env.clone();
    with_ca.push(("AIM_EXTRA_CA_FILE", ca_file.display().to_string()));
    let ended = download(&format!("hf://{REPO}"), dir.path(), &as_refs(&with_ca)).await;
    assert!(ended.ok, "{}", ended.stdout);
    assert_files_match(&dir.path().join(REPO), &files);

    // A CA file that is not there says where it should have come from.
    let mut missing = env.clone();
    missing.push(("AIM_EXTRA_CA_FILE", "/nonexistent/ca.crt".into()));
    let ended = download(&format!("hf://{REPO}"), dir.path(), &as_refs(&missing)).await;
    let message = ended.failed("Other");
    assert!(
        message.contains("/nonexistent/ca.crt") && message.contains("ConfigMap"),
        "{message}"
    );
}
