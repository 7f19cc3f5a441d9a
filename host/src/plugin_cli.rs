//! `aim-operator plugin check` and `plugin eval`: what a plugin author runs before deploying a policy.
//!
//! `check` loads a component exactly as the operator would (header, contract version, imports, type check,
//! smoke test) and reports what it found. `eval` then runs it on a JSON request and prints the answer, with
//! every verdict, as JSON. The request formats are the WIT records in serde's shape; `plugins/examples/` has
//! one per policy.

use crate::policy::bindings::{MatchRequest, MergeRequest, RoutingConfig, ServiceIdentity};
use crate::policy::{Matcher, Merger, PolicyEngine, PolicyEngineConfig, PolicyKind, Router, SandboxLimits};
use std::path::Path;
use std::time::Instant;

/// A router request: the service and the routing config.
#[derive(Debug, serde::Deserialize, serde::Serialize)]
pub struct RouteRequest {
    /// The service.
    pub service: ServiceIdentity,
    /// The routing config.
    pub config: RoutingConfig,
}

/// The outcome of `plugin check`, printed as text.
pub fn check(file: &Path, kind: Option<PolicyKind>, limits: SandboxLimits) -> anyhow::Result<String> {
    let bytes = std::fs::read(file).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?;
    let engine = PolicyEngine::new(PolicyEngineConfig {
        limits,
        ..PolicyEngineConfig::default()
    })?;
    let started = Instant::now();
    let plugin = engine
        .load(&bytes, &file_name(file), kind)
        .map_err(|e| anyhow::anyhow!("REFUSED {}: {e}", file.display()))?;
    Ok(format!(
        "plugin:     {}\ndigest:     {}\nsize:       {} bytes\npolicy:     {}\ncontract:   {} (this operator: aim:policy@{})\nimports:    {}\nloaded in:  {} ms (compile, type check and smoke test)\nsmoke test: passed\nOK: deploy it as {} in the plugin directory\n",
        file.display(),
        plugin.provenance.digest,
        bytes.len(),
        plugin.kind,
        plugin.contract,
        crate::policy::bindings::CONTRACT_VERSION,
        if plugin.imports.is_empty() {
            "none".to_string()
        } else {
            plugin.imports.join(", ")
        },
        started.elapsed().as_millis(),
        plugin.kind.file_name(),
    ))
}

/// The outcome of `plugin eval`: the plugin's answer to `input` as pretty JSON.
pub fn eval(kind: PolicyKind, file: &Path, input: &Path, limits: SandboxLimits) -> anyhow::Result<String> {
    let bytes = std::fs::read(file).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?;
    let request =
        std::fs::read_to_string(input).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", input.display()))?;
    let engine = PolicyEngine::new(PolicyEngineConfig {
        limits,
        ..PolicyEngineConfig::default()
    })?;
    let plugin = engine
        .load(&bytes, &file_name(file), Some(kind))
        .map_err(|e| anyhow::anyhow!("REFUSED {}: {e}", file.display()))?;
    engine.install(plugin);
    let bad_input = |e: serde_json::Error| anyhow::anyhow!("{} is not a {kind} request: {e}", input.display());
    let answer = match kind {
        PolicyKind::Matcher => {
            let decided = engine
                .decide_blocking::<Matcher>(&serde_json::from_str::<MatchRequest>(&request).map_err(bad_input)?)?;
            serde_json::json!({ "plugin": decided.provenance, "result": decided.value })
        }
        PolicyKind::Merger => {
            let decided = engine
                .decide_blocking::<Merger>(&serde_json::from_str::<MergeRequest>(&request).map_err(bad_input)?)?;
            serde_json::json!({ "plugin": decided.provenance, "result": decided.value })
        }
        PolicyKind::Router => {
            let r: RouteRequest = serde_json::from_str(&request).map_err(bad_input)?;
            let decided = engine.decide_blocking::<Router>(&(r.service, r.config))?;
            serde_json::json!({ "plugin": decided.provenance, "result": { "path": decided.value } })
        }
    };
    Ok(serde_json::to_string_pretty(&answer)? + "\n")
}

fn file_name(file: &Path) -> String {
    file.file_name()
        .map_or_else(|| file.display().to_string(), |n| n.to_string_lossy().into_owned())
}
