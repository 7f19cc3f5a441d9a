//! Serving, as the AIM runtime starts it (`aim-build: src/entrypoint.py`, `command_generator.py`): choose the
//! profile (`AIM_PROFILE_ID` first), find the model (`$AIM_CACHE_PATH/<model id>`, else a Hub download into
//! `HF_HOME`), load it, then hand over to the engine on `AIM_PORT`, serving the model under its ID and the
//! AIM's (`--served-model-name <model id> <aim id>`). Until the engine listens nothing answers on the port, so
//! probes on `/v1/models` fail while the model loads, as with vLLM.
//!
//! The engine is `llm-d-inference-sim` (vLLM's OpenAI API, `/health` and `/metrics` with vLLM's metric names, a
//! real request queue bounded by `--max-num-seqs`), since no GPU runs vLLM here. It replaces this process
//! (`exec`), so the kubelet's signals reach it.

use crate::config::Config;
use crate::log::Log;
use crate::profiles::{self, Profile};
use crate::weights;
use std::path::PathBuf;

const LOGGER: &str = "aim_runtime.aim_runtime";

/// The profile to serve and the loaded model's directory.
pub async fn prepare(config: &Config, log: &Log) -> Result<(Profile, PathBuf), String> {
    let profile = profiles::select(&profiles::catalog(&config.aim_id), config)?;
    log.info(LOGGER, &format!("Selected profile: {}", profile.id));
    let dir = match weights::cached(&config.cache_path, &profile.model_id) {
        Some(dir) => {
            log.info(
                "aim_runtime.model_cache_resolver",
                &format!("Found local model directory: {}", dir.display()),
            );
            dir
        }
        None => {
            log.info(
                "aim_runtime.model_cache_resolver",
                &format!(
                    "No local directory found for {} at {}; HuggingFace will handle cache/download into {}",
                    profile.model_id,
                    config.cache_path.join(&profile.model_id).display(),
                    config.hf_home.display()
                ),
            );
            weights::download(&config.hf_home, &profile.model_id, log).await?
        }
    };
    weights::load(&dir, log)?;
    Ok((profile, dir))
}

/// The engine's arguments for `profile`.
pub fn engine_args(config: &Config, profile: &Profile) -> Vec<String> {
    let mut names = vec![profile.model_id.clone()];
    if profile.aim_id != profile.model_id {
        names.push(profile.aim_id.clone());
    }
    let mut args = vec![
        "--port".to_string(),
        config.port.to_string(),
        "--model".into(),
        profile.model_id.clone(),
        "--served-model-name".into(),
    ];
    args.extend(names);
    args.extend([
        "--max-num-seqs".into(),
        config.engine.max_num_seqs.unwrap_or(profile.max_num_seqs).to_string(),
        "--inter-token-latency".into(),
        config.engine.inter_token_latency.clone(),
        "--time-to-first-token".into(),
        config.engine.time_to_first_token.clone(),
        // No tokenizer download: the simulated one counts tokens.
        "--force-dummy-tokenizer".into(),
    ]);
    args
}

/// Replaces this process with the engine; returns only when that fails.
pub fn exec_engine(config: &Config, profile: &Profile, log: &Log) -> String {
    use std::os::unix::process::CommandExt;
    let args = engine_args(config, profile);
    log.info(
        LOGGER,
        &format!("Starting the engine: {} {}", config.engine.path, args.join(" ")),
    );
    let err = std::process::Command::new(&config.engine.path).args(&args).exec();
    format!("cannot start the engine {}: {err}", config.engine.path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_engine_serves_the_model_under_its_id_and_the_aims() {
        let config = Config::from_env(|k| match k {
            "AIM_ID" => Some("org/m".into()),
            "AIM_MODEL_ID" => None,
            "AIM_GPU_MODEL" => Some("MI300X".into()),
            "AIM_SIM_MAX_NUM_SEQS" => Some("2".into()),
            _ => None,
        })
        .unwrap();
        let mut profile = profiles::select(&profiles::catalog("org/m"), &config).unwrap();
        profile.model_id = "amd/m-FP8".into();
        let args = engine_args(&config, &profile).join(" ");
        assert!(
            args.contains("--port 8000 --model amd/m-FP8 --served-model-name amd/m-FP8 org/m"),
            "{args}"
        );
        assert!(args.contains("--max-num-seqs 2"), "{args}");
    }
}
