//! Builds the policy plugins as `wasm32-wasip2` components so the operator can embed the defaults and the
//! tests can load the hostile ones: `plugins/*` (the defaults) and `host/tests/plugins/*` (test fixtures).
//!
//! The nested cargo uses a target directory of its own (the outer build holds the lock on its own) next to
//! the outer one, so it is cached like everything else. Its outputs are copied to `OUT_DIR/<crate>.wasm`.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

const PLUGIN_CRATES: [&str; 7] = [
    "aim-plugin-matcher",
    "aim-plugin-merger",
    "aim-plugin-router",
    "aim-test-plugin-hostile",
    "aim-test-plugin-hostile-router",
    "aim-test-plugin-networked",
    "aim-test-plugin-future-contract",
];

fn main() {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let workspace = manifest_dir
        .parent()
        .expect("host/ is inside the workspace")
        .to_path_buf();
    let out_dir = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    for watched in ["plugins", "wit", "host/tests/plugins", "Cargo.lock", "Cargo.toml"] {
        println!("cargo:rerun-if-changed={}", workspace.join(watched).display());
    }

    let target_dir = plugin_target_dir(&out_dir);
    let mut cargo = Command::new(env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cargo
        .current_dir(&workspace)
        .args(["build", "--quiet", "--profile", "plugin", "--target", "wasm32-wasip2"]);
    cargo.arg("--target-dir").arg(&target_dir);
    for krate in PLUGIN_CRATES {
        cargo.args(["-p", krate]);
    }
    // The outer build's settings (profile, wrappers such as clippy-driver, flags, jobserver) are not for the
    // nested one.
    for (key, _) in env::vars() {
        let outer = (key.starts_with("CARGO_") && key != "CARGO_HOME" && key != "CARGO_NET_OFFLINE")
            || key.starts_with("RUSTC")
            || key == "RUSTFLAGS"
            || key == "RUSTDOCFLAGS";
        if outer {
            cargo.env_remove(&key);
        }
    }
    let status = cargo.status().expect("run cargo for the wasm32-wasip2 plugins");
    if !status.success() {
        panic!(
            "building the policy plugins for wasm32-wasip2 failed ({status}); is the target installed? \
             `rustup target add wasm32-wasip2`"
        );
    }
    for krate in PLUGIN_CRATES {
        let file = format!("{}.wasm", krate.replace('-', "_"));
        let built = target_dir.join("wasm32-wasip2/plugin").join(&file);
        std::fs::copy(&built, out_dir.join(&file)).unwrap_or_else(|e| panic!("copy {}: {e}", built.display()));
    }
}

/// `<outer target dir>/wasm-plugins`, found from `OUT_DIR` = `<target>/<profile>/build/<pkg>/out`.
fn plugin_target_dir(out_dir: &Path) -> PathBuf {
    out_dir
        .ancestors()
        .find(|p| p.file_name().is_some_and(|n| n == "build"))
        .and_then(|build| build.parent()?.parent())
        .map(|target| target.join("wasm-plugins"))
        .unwrap_or_else(|| out_dir.join("wasm-plugins"))
}
