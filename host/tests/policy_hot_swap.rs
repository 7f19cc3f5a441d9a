//! Hot swap from a watched plugin directory: new plugins are switched in, bad ones refused while the last good
//! one keeps deciding, removed ones fall back to the built-in default, and a ConfigMap's symlink swap works.

mod support;

use aim_operator::policy::artifact_cache::digest;
use aim_operator::policy::bindings::{Precision, Scope};
use aim_operator::policy::watch::{PluginWatcher, watch};
use aim_operator::policy::{Matcher, PolicyEngine, PolicyKind, ReloadEvent, builtin};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use support::*;
use tokio::sync::broadcast::Receiver;

async fn watched(dir: &Path, resync: Duration) -> (Arc<PolicyEngine>, PluginWatcher, Receiver<ReloadEvent>) {
    let engine = engine();
    let events = engine.subscribe();
    let watcher = watch(engine.clone(), dir.to_path_buf(), resync)
        .await
        .expect("watch the directory");
    (engine, watcher, events)
}

/// Writes a file the way a careful admin tool does: to a temporary name, then renamed into place.
fn put(dir: &Path, name: &str, bytes: &[u8]) {
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, bytes).unwrap();
    std::fs::rename(tmp, dir.join(name)).unwrap();
}

async fn next_event(events: &mut Receiver<ReloadEvent>) -> ReloadEvent {
    tokio::time::timeout(Duration::from_secs(20), events.recv())
        .await
        .expect("a reload event in time")
        .expect("open")
}

async fn decide(engine: &Arc<PolicyEngine>) -> (String, String) {
    let candidates = vec![candidate("only", Scope::Cluster, Precision::Fp8, ("MI300X", 1), 16)];
    let decided = engine
        .decide::<Matcher>(request(MODEL, params(None, None, None), candidates))
        .await
        .unwrap();
    (decided.provenance.plugin, decided.value.reason)
}

#[tokio::test]
async fn a_new_matcher_file_is_switched_in_and_named_in_later_decisions() {
    let dir = tempfile::tempdir().unwrap();
    let (engine, _watcher, mut events) = watched(dir.path(), Duration::from_secs(60)).await;
    assert_eq!(decide(&engine).await.0, "builtin:matcher");

    put(dir.path(), "matcher.wasm", HOSTILE);
    let event = next_event(&mut events).await;
    assert!(
        matches!(&event, ReloadEvent::Loaded { kind: PolicyKind::Matcher, provenance } if provenance.digest == digest(HOSTILE)),
        "{event:?}"
    );
    let (plugin, reason) = decide(&engine).await;
    assert_eq!(plugin, "matcher.wasm");
    assert_eq!(reason, "well-behaved answer", "the new plugin decides");
}

#[tokio::test]
async fn a_bad_file_is_refused_and_the_last_good_plugin_keeps_deciding() {
    let dir = tempfile::tempdir().unwrap();
    let (engine, _watcher, mut events) = watched(dir.path(), Duration::from_secs(60)).await;
    put(dir.path(), "matcher.wasm", HOSTILE);
    assert!(matches!(next_event(&mut events).await, ReloadEvent::Loaded { .. }));

    for (bad, why) in [
        (b"not wasm at all".as_slice(), "not a WebAssembly component"),
        (NETWORKED, "imports wasi:sockets/"),
        (FUTURE_CONTRACT, "aim:policy@0.2.0"),
        (b"".as_slice(), "empty"),
    ] {
        put(dir.path(), "matcher.wasm", bad);
        match next_event(&mut events).await {
            ReloadEvent::Refused {
                kind: PolicyKind::Matcher,
                error,
                keeping,
                ..
            } => {
                assert!(error.contains(why), "{error}");
                assert_eq!(keeping.digest, digest(HOSTILE));
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
        assert_eq!(
            decide(&engine).await.1,
            "well-behaved answer",
            "the last good plugin still decides"
        );
    }
    let refused = engine.metrics().reloads(PolicyKind::Matcher, "refused");
    assert_eq!(refused, 4);
}

#[tokio::test]
async fn a_file_that_stays_broken_is_reported_once() {
    let dir = tempfile::tempdir().unwrap();
    let (engine, _watcher, mut events) = watched(dir.path(), Duration::from_millis(100)).await;
    put(dir.path(), "router.wasm", b"garbage");
    assert!(matches!(
        next_event(&mut events).await,
        ReloadEvent::Refused {
            kind: PolicyKind::Router,
            ..
        }
    ));
    // Several periodic rescans pass; the same broken file is not refused again.
    let scans = engine.metrics().scans();
    let again = tokio::time::timeout(Duration::from_millis(800), events.recv()).await;
    assert!(again.is_err(), "reported again: {again:?}");
    let rescans = engine.metrics().scans() - scans;
    assert!(
        rescans >= 3,
        "the directory was rescanned {rescans} times in 800 ms with a 100 ms resync"
    );
}

#[tokio::test]
async fn removing_the_file_brings_back_the_built_in_default() {
    let dir = tempfile::tempdir().unwrap();
    let (engine, _watcher, mut events) = watched(dir.path(), Duration::from_secs(60)).await;
    put(dir.path(), "matcher.wasm", HOSTILE);
    assert!(matches!(next_event(&mut events).await, ReloadEvent::Loaded { .. }));
    std::fs::remove_file(dir.path().join("matcher.wasm")).unwrap();
    let event = next_event(&mut events).await;
    assert!(
        matches!(&event, ReloadEvent::Reverted { kind: PolicyKind::Matcher, provenance } if provenance.digest == digest(builtin::MATCHER)),
        "{event:?}"
    );
    assert_eq!(decide(&engine).await.0, "builtin:matcher");
}

#[tokio::test]
async fn a_configmap_style_symlink_swap_is_picked_up() {
    // The kubelet lays a ConfigMap volume out as: matcher.wasm -> ..data/matcher.wasm, ..data -> ..<timestamp>/,
    // and updates it by writing a new timestamped directory, swapping ..data atomically and deleting the old one.
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let v1 = root.join("..2026_11_26_v1");
    std::fs::create_dir(&v1).unwrap();
    std::fs::write(v1.join("matcher.wasm"), HOSTILE).unwrap();
    std::os::unix::fs::symlink("..2026_11_26_v1", root.join("..data")).unwrap();
    std::os::unix::fs::symlink("..data/matcher.wasm", root.join("matcher.wasm")).unwrap();

    let (engine, _watcher, mut events) = watched(root, Duration::from_secs(60)).await;
    assert!(
        matches!(next_event(&mut events).await, ReloadEvent::Loaded { .. }),
        "the initial scan loads v1"
    );
    assert_eq!(decide(&engine).await.0, "matcher.wasm");

    let v2 = root.join("..2026_11_26_v2");
    std::fs::create_dir(&v2).unwrap();
    std::fs::write(v2.join("matcher.wasm"), builtin::MATCHER).unwrap();
    std::os::unix::fs::symlink("..2026_11_26_v2", root.join("..data_tmp")).unwrap();
    std::fs::rename(root.join("..data_tmp"), root.join("..data")).unwrap();
    std::fs::remove_dir_all(&v1).unwrap();

    let event = next_event(&mut events).await;
    assert!(
        matches!(&event, ReloadEvent::Loaded { provenance, .. } if provenance.digest == digest(builtin::MATCHER)),
        "{event:?}"
    );
    let (plugin, reason) = decide(&engine).await;
    assert_eq!(plugin, "matcher.wasm");
    assert!(
        reason.starts_with("chose cluster template 'only'"),
        "the v2 plugin decides: {reason}"
    );
}

#[test]
fn compiled_plugins_are_cached_by_content_and_reused() {
    use aim_operator::policy::artifact_cache::ArtifactCache;
    use aim_operator::policy::{PolicyEngineConfig, SandboxLimits};
    let cache_dir = tempfile::tempdir().unwrap();
    let config = || PolicyEngineConfig {
        limits: SandboxLimits::default(),
        cache: ArtifactCache::in_dir(cache_dir.path().join("cache")),
        ..PolicyEngineConfig::default()
    };
    let _first = PolicyEngine::new(config()).expect("first start compiles");
    let artifacts: Vec<_> = std::fs::read_dir(cache_dir.path().join("cache"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert_eq!(artifacts.len(), 3, "one artifact per built-in plugin: {artifacts:?}");
    let hex = &digest(builtin::MATCHER)[7..];
    assert!(
        artifacts
            .iter()
            .any(|p| p.file_name().unwrap().to_string_lossy().starts_with(hex))
    );
    let modified: Vec<_> = artifacts
        .iter()
        .map(|p| std::fs::metadata(p).unwrap().modified().unwrap())
        .collect();

    let _second = PolicyEngine::new(config()).expect("second start loads from the cache");
    let again: Vec<_> = artifacts
        .iter()
        .map(|p| std::fs::metadata(p).unwrap().modified().unwrap())
        .collect();
    assert_eq!(
        modified, again,
        "the second start reused the artifacts instead of rewriting them"
    );

    // A corrupt artifact is discarded and rebuilt, not trusted.
    std::fs::write(&artifacts[0], b"corrupt").unwrap();
    let _third = PolicyEngine::new(config()).expect("a corrupt artifact is recompiled");
    assert_ne!(std::fs::read(&artifacts[0]).unwrap(), b"corrupt");
}
