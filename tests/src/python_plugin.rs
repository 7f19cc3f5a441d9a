//! The example Python matcher (`plugins/python-matcher`), built with its own `build.sh` (componentize-py from
//! PyPI at the version it pins). Built once per machine and content: the component is kept under
//! `$AIM_CACHE_DIR/python-plugins/`, named by a hash of the policy's source, its build script and the WIT.

use sha2::Digest as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The plugin's source directory.
pub fn source_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins/python-matcher")
}

/// The built component, building it when this machine has not built this source yet.
pub fn python_matcher() -> PathBuf {
    static BUILDING: Mutex<()> = Mutex::new(());
    let _one_at_a_time = BUILDING.lock().unwrap_or_else(|e| e.into_inner());
    let dir = source_dir();
    let wit = dir.join("../../wit/aim-policy.wit");
    let mut hash = sha2::Sha256::new();
    for file in [dir.join("app.py"), dir.join("build.sh"), wit] {
        hash.update(std::fs::read(&file).unwrap_or_else(|e| panic!("read {}: {e}", file.display())));
    }
    let digest: String = hash.finalize().iter().take(8).map(|b| format!("{b:02x}")).collect();
    let cache = std::env::var_os("AIM_CACHE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache/aim-operator"))
        .join("python-plugins");
    let out = cache.join(format!("matcher-{digest}.wasm"));
    if out.exists() {
        return out;
    }
    std::fs::create_dir_all(&cache).expect("plugin cache directory");
    // Built beside its final name and renamed, so another test process never sees half a file.
    let partial = cache.join(format!("matcher-{digest}.{}.tmp", std::process::id()));
    let built = std::process::Command::new(dir.join("build.sh"))
        .arg(&partial)
        .output()
        .expect("run plugins/python-matcher/build.sh");
    assert!(
        built.status.success(),
        "building the Python matcher failed:\n{}",
        String::from_utf8_lossy(&built.stderr)
    );
    std::fs::rename(&partial, &out).expect("keep the built plugin");
    out
}
