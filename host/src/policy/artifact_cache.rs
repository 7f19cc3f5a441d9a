//! Compiled components, cached on disk by content hash and engine version, so a restart or a reload of an
//! unchanged plugin skips Cranelift.
//!
//! Loading a precompiled artifact is `unsafe` in wasmtime because the bytes are trusted to be machine code
//! wasmtime produced. This module only ever loads files it wrote itself, into a directory it creates with mode
//! 0700, under a name that includes the source's SHA-256 and the engine's compatibility hash; a file that fails
//! to load is deleted and the component compiled again. Artifacts are read into memory rather than mapped: a
//! mapped file truncated by anyone would crash the process (SIGBUS), and reading costs well under a
//! millisecond.

use sha2::{Digest, Sha256};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use wasmtime::Engine;
use wasmtime::component::Component;

/// An on-disk cache of compiled components, or none (compile every time).
#[derive(Debug, Clone, Default)]
pub struct ArtifactCache {
    dir: Option<PathBuf>,
}

/// SHA-256 of `bytes`, as `sha256:<hex>`.
pub fn digest(bytes: &[u8]) -> String {
    let hash = Sha256::digest(bytes);
    let mut hex = String::with_capacity(71);
    hex.push_str("sha256:");
    for b in hash {
        hex.push_str(&format!("{b:02x}"));
    }
    hex
}

impl ArtifactCache {
    /// A cache in `dir` (created on first use).
    pub fn in_dir(dir: impl Into<PathBuf>) -> Self {
        ArtifactCache { dir: Some(dir.into()) }
    }

    /// No cache: every load compiles.
    pub fn disabled() -> Self {
        ArtifactCache { dir: None }
    }

    /// The compiled component for `bytes`, from the cache when present.
    pub fn component(&self, engine: &Engine, bytes: &[u8]) -> wasmtime::Result<Component> {
        let Some(dir) = &self.dir else {
            return Component::new(engine, bytes);
        };
        let path = dir.join(format!("{}-{:016x}.cwasm", &digest(bytes)[7..], engine_key(engine)));
        if path.is_file() {
            match load_own_artifact(engine, &path) {
                Ok(component) => return Ok(component),
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "discarding an unloadable compiled plugin");
                    let _ = std::fs::remove_file(&path);
                }
            }
        }
        let artifact = engine.precompile_component(bytes)?;
        if let Err(e) = write_atomically(dir, &path, &artifact) {
            // The cache is an optimisation: without it, load the artifact from memory.
            tracing::warn!(dir = %dir.display(), error = %e, "cannot write the plugin cache");
            return Component::new(engine, bytes);
        }
        load_own_artifact(engine, &path)
    }
}

/// Engine configuration and wasmtime version: artifacts are only reused by an identical engine.
fn engine_key(engine: &Engine) -> u64 {
    let mut hasher = DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut hasher);
    env!("CARGO_PKG_VERSION").hash(&mut hasher);
    hasher.finish()
}

fn write_atomically(dir: &Path, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

/// Loads an artifact this cache wrote.
#[allow(unsafe_code)]
fn load_own_artifact(engine: &Engine, path: &Path) -> wasmtime::Result<Component> {
    let bytes = std::fs::read(path)?;
    // SAFETY: `path` is inside the cache directory, which only this process writes (mode 0700), and every file
    // there was produced by `Engine::precompile_component` of an engine with the same compatibility hash (part
    // of the name). wasmtime additionally checks the artifact's header and engine compatibility, and fails
    // cleanly on a mismatch.
    unsafe { Component::deserialize(engine, &bytes) }
}
