//! What the downloader keeps and checks in the cache directory: a finished cache is re-checked against the
//! listing on every run, the whole listing's names are checked before the first byte, the file patterns choose
//! what lands, progress after a resume counts only what arrived, and the directory comes from its own variable.
//! Against the test harness's Hugging-Face-compatible server ([`aim_tests::hub`]), as in `download.rs`.

use aim_tests::downloader::{as_refs, assert_files_match, command, complete_ranges, download, ended, hub_env, walk};
use aim_tests::hub::{Behaviour, HubServer, ModelFile, generated_model};
use bytes::Bytes;
use std::time::{Duration, Instant};

const REPO: &str = "test-org/tiny-llama";

#[tokio::test]
async fn a_truncated_or_rewritten_file_in_a_finished_cache_is_fetched_again_and_nothing_else_is() {
    let files = generated_model(8);
    let weights = files.iter().find(|f| f.path == "model.safetensors").unwrap().clone();
    let hub = HubServer::start(REPO, files.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let env = hub_env(&hub);
    let uri = format!("hf://{REPO}");
    let first = download(&uri, dir.path(), &as_refs(&env)).await;
    assert!(first.ok, "{}", first.stdout);
    let root = dir.path().join(REPO);

    // Truncated: what the issue saw (the run said ok and left 1,000 bytes).
    let sent = hub.bytes_sent();
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(root.join("model.safetensors"))
        .unwrap();
    f.set_len(1000).unwrap();
    drop(f);
    let again = download(&uri, dir.path(), &as_refs(&env)).await;
    assert!(again.ok, "{}", again.stdout);
    assert_files_match(&root, &files);
    assert_eq!(
        hub.bytes_sent() - sent,
        weights.bytes.len() as u64,
        "only the damaged file crosses the network again"
    );

    // Same size, other bytes (a later write changes the modification time the marker recorded).
    let sent = hub.bytes_sent();
    std::thread::sleep(Duration::from_millis(20));
    std::fs::write(root.join("config.json"), vec![b'x'; files[0].bytes.len()]).unwrap();
    let again = download(&uri, dir.path(), &as_refs(&env)).await;
    assert!(again.ok, "{}", again.stdout);
    assert_files_match(&root, &files);
    assert_eq!(hub.bytes_sent() - sent, files[0].bytes.len() as u64);

    // Untouched: one stat per file, nothing sent.
    let sent = hub.bytes_sent();
    let quiet = download(&uri, dir.path(), &as_refs(&env)).await;
    assert!(quiet.ok, "{}", quiet.stdout);
    assert_eq!(hub.bytes_sent(), sent);
}

#[tokio::test]
async fn a_name_the_file_system_cannot_hold_fails_the_listing_before_the_first_byte() {
    let mut files = generated_model(4);
    let long = format!("{}.safetensors", "n".repeat(290));
    files.push(ModelFile {
        path: long.clone(),
        bytes: Bytes::from(vec![1u8; 4096]),
    });
    let hub = HubServer::start(REPO, files).await;
    let dir = tempfile::tempdir().unwrap();
    let ended = download(&format!("hf://{REPO}"), dir.path(), &as_refs(&hub_env(&hub))).await;
    let message = ended.failed("Other");
    assert!(
        message.contains(&long) && message.contains("nothing was downloaded") && message.contains("modelFiles"),
        "{message}"
    );
    assert_eq!(hub.bytes_sent(), 0, "no file started");
    assert!(walk(dir.path()).is_empty(), "no partial files: {:?}", walk(dir.path()));

    // The size check finds it too, so a cache says so before its volume is made.
    let size = ended_size(&hub, dir.path(), &[]).await;
    assert!(size.failed("Other").contains(&long));
}

async fn ended_size(hub: &HubServer, dir: &std::path::Path, args: &[&str]) -> aim_tests::downloader::Ended {
    let env = hub_env(hub);
    let mut cmd = command(&format!("hf://{REPO}"), dir, &as_refs(&env));
    cmd.arg("--size-only").args(args);
    ended(cmd).await
}

#[tokio::test]
async fn the_first_progress_after_a_resume_counts_only_the_bytes_that_arrived() {
    // By ranges of 4 MiB, eight at a time, each transfer paced.
    let files = generated_model(40);
    let hub = HubServer::start(REPO, files.clone()).await;
    hub.set(Behaviour {
        rate: Some(2 << 20),
        ..Default::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let mut env = hub_env(&hub);
    env.push(("AIM_DOWNLOAD_CHUNK_MIB", "4".into()));
    env.push(("AIM_DOWNLOAD_CONNECTIONS_PER_FILE", "8".into()));
    let uri = format!("hf://{REPO}");
    let mut child = command(&uri, dir.path(), &as_refs(&env)).spawn().unwrap();
    let part = dir.path().join(REPO).join("model.safetensors.aim-part");
    let start = Instant::now();
    while complete_ranges(&part) < 6 {
        assert!(start.elapsed() < Duration::from_secs(30), "no progress");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.start_kill().unwrap();
    child.wait().await.unwrap();

    // At most 8 MiB/s in all from here (eight transfers of 1 MiB/s): the 24+ MiB on disk must not show as speed.
    let rate = 8u64 << 20;
    hub.set(Behaviour {
        rate: Some(rate / 8),
        ..Default::default()
    });
    let resumed = download(&uri, dir.path(), &as_refs(&env)).await;
    assert!(resumed.ok, "{}", resumed.stdout);
    let reports = resumed.progress();
    let first = reports
        .first()
        .unwrap_or_else(|| panic!("a progress line: {}", resumed.stdout));
    assert!(
        first["done"].as_u64().unwrap() >= 24 << 20,
        "done counts what is on disk: {first}"
    );
    let speed = first["bytesPerSecond"].as_u64().unwrap_or_else(|| panic!("{first}"));
    assert!(
        speed <= rate * 2,
        "first report says {speed} B/s on a {rate} B/s link: {first}"
    );
}

#[tokio::test]
async fn the_default_skips_the_original_checkpoint_and_patterns_choose_the_files() {
    let mut files = generated_model(2);
    let original = ModelFile {
        path: "original/consolidated.00.pth".into(),
        bytes: Bytes::from(vec![7u8; 3 << 20]),
    };
    files.push(original.clone());
    let hub = HubServer::start(REPO, files.clone()).await;
    let env = hub_env(&hub);
    let uri = format!("hf://{REPO}");

    let dir = tempfile::tempdir().unwrap();
    let default = download(&uri, dir.path(), &as_refs(&env)).await;
    assert!(default.ok, "{}", default.stdout);
    let root = dir.path().join(REPO);
    assert!(!root.join(&original.path).exists(), "original/ is skipped by default");
    assert_files_match(&root, &files[..files.len() - 1]);
    assert_eq!(default.last["skipped"]["files"], 1, "{}", default.last);
    assert_eq!(default.last["skipped"]["bytes"], original.bytes.len() as u64);
    let size = ended_size(&hub, dir.path(), &[]).await;
    assert_eq!(
        size.last["skipped"]["files"], 1,
        "the size check counts without what is skipped: {}",
        size.last
    );
    let kept: u64 = files[..files.len() - 1].iter().map(|f| f.bytes.len() as u64).sum();
    assert_eq!(size.last["bytes"], kept);

    // Named patterns replace the default; a changed filter is a changed cache, so the marker does not vouch.
    let mut cmd = command(&uri, dir.path(), &as_refs(&env));
    cmd.args(["--include", "*.json,*.pth"]);
    let only = ended(cmd).await;
    assert!(only.ok, "{}", only.stdout);
    assert_eq!(
        only.last["files"], 3,
        "config, tokenizer and the checkpoint: {}",
        only.last
    );
    assert!(root.join(&original.path).exists());

    let mut cmd = command(&uri, dir.path(), &as_refs(&env));
    cmd.args(["--include", "*.gguf"]);
    let none = ended(cmd).await;
    let message = none.failed("NotFound");
    assert!(
        message.contains("*.gguf") && message.contains("modelFiles"),
        "{message}"
    );
}

#[test]
fn the_cache_directory_has_its_own_variable_not_the_build_caches() {
    let help = std::process::Command::new(aim_tests::replica::operator_binary())
        .args(["download", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("env: AIM_DOWNLOAD_DIR"), "{help}");
    assert!(
        !help.contains("AIM_CACHE_DIR="),
        "AIM_CACHE_DIR is the scripts' build cache; the downloader must not read it: {help}"
    );
}
