//! What can go wrong with a plugin: refusing to load one ([`LoadError`]) and a failed decision
//! ([`CallError`]). Every message names the plugin and says what happened in words an admin can act on; a
//! failed decision becomes the `PolicyFailed` reason on the object that needed it.

use super::kind::{PolicyKind, Provenance};

/// Why a component was refused. The previous plugin stays in place.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is empty.
    #[error("the file is empty")]
    Empty,
    /// The file is larger than the host compiles.
    #[error("the component is {bytes} bytes; the limit is {limit} bytes")]
    TooLarge {
        /// Its size.
        bytes: usize,
        /// The limit.
        limit: usize,
    },
    /// Not WebAssembly at all.
    #[error("not a WebAssembly component (no \\0asm header): build it with `cargo build --target wasm32-wasip2`")]
    NotWasm,
    /// A core module instead of a component.
    #[error(
        "a core WebAssembly module, not a component: build it for wasm32-wasip2 (or wrap it with `wasm-tools component new`)"
    )]
    CoreModule,
    /// Compilation failed.
    #[error("the component does not compile: {0}")]
    Compile(String),
    /// Exports none of the policy interfaces, or not the expected one.
    #[error(
        "exports no aim:policy/{wanted} interface (it exports: {exports}); implement world {wanted}-policy of wit/aim-policy.wit"
    )]
    MissingExport {
        /// The interface expected.
        wanted: PolicyKind,
        /// What it exports.
        exports: String,
    },
    /// Built against a contract version this host does not support.
    #[error(
        "built against contract {found}; this operator supports aim:policy@{supported} (0.1.x): rebuild the plugin against the operator's wit/"
    )]
    IncompatibleVersion {
        /// The version found in its exports.
        found: String,
        /// The version the host supports.
        supported: &'static str,
    },
    /// Imports something outside the allowed set.
    #[error(
        "imports {import}, which policy plugins may not use (allowed: aim:policy/types and the wasi:io, wasi:cli, wasi:clocks, wasi:random and wasi:filesystem interfaces Rust's std pulls in, all of which grant nothing)"
    )]
    ForbiddenImport {
        /// The import.
        import: String,
    },
    /// Its types do not match the contract (same version, different shapes).
    #[error("does not match contract aim:policy@{supported}: {detail}")]
    Mismatch {
        /// The version the host supports.
        supported: &'static str,
        /// wasmtime's explanation.
        detail: String,
    },
    /// It loaded but failed the smoke test.
    #[error("failed its smoke test: {0}")]
    SmokeTest(Box<CallError>),
}

/// Why a decision failed. The operator keeps serving; the object that needed the decision reports it.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CallError {
    /// Ran past its CPU deadline.
    #[error("{kind} plugin {plugin} ran past its {budget_ms} ms deadline and was stopped")]
    Timeout {
        /// The policy.
        kind: PolicyKind,
        /// Which plugin.
        plugin: Provenance,
        /// The deadline.
        budget_ms: u128,
    },
    /// Tried to grow its memory past the cap.
    #[error("{kind} plugin {plugin} tried to use more than {limit_mib} MiB of memory and was stopped")]
    MemoryExhausted {
        /// The policy.
        kind: PolicyKind,
        /// Which plugin.
        plugin: Provenance,
        /// The cap.
        limit_mib: usize,
    },
    /// Crashed: panic, `unreachable`, stack overflow, or another trap.
    #[error("{kind} plugin {plugin} crashed: {detail}")]
    Trap {
        /// The policy.
        kind: PolicyKind,
        /// Which plugin.
        plugin: Provenance,
        /// What happened.
        detail: String,
    },
    /// Answered with its own `policy-error`.
    #[error("{kind} plugin {plugin} could not decide: {message}")]
    Refused {
        /// The policy.
        kind: PolicyKind,
        /// Which plugin.
        plugin: Provenance,
        /// The plugin's message.
        message: String,
    },
    /// Answered something the host does not accept.
    #[error("{kind} plugin {plugin} gave an invalid answer: {problem}")]
    InvalidOutput {
        /// The policy.
        kind: PolicyKind,
        /// Which plugin.
        plugin: Provenance,
        /// What is wrong with it.
        problem: String,
    },
    /// The host itself failed while running the plugin (a bug in the operator, not in the plugin).
    #[error("the operator failed while running {kind} plugin {plugin}: {detail}")]
    Host {
        /// The policy.
        kind: PolicyKind,
        /// Which plugin.
        plugin: Provenance,
        /// What happened.
        detail: String,
    },
    /// Could not be instantiated.
    #[error("{kind} plugin {plugin} could not start: {detail}")]
    Instantiate {
        /// The policy.
        kind: PolicyKind,
        /// Which plugin.
        plugin: Provenance,
        /// wasmtime's explanation.
        detail: String,
    },
}
