//! The runtime's settings, read from the environment as the AIM runtime reads them (`aim-build:
//! src/aim_runtime/config.py`, `AIMConfig.from_environment`): `AIM_ID` (baked into a model's image) or
//! `AIM_MODEL_ID` (the base image), never both; `AIM_PRECISION` (default `auto`), `AIM_GPU_MODEL` (with it set
//! the runtime detects no GPU), `AIM_GPU_COUNT`, `AIM_METRIC` (default `latency`), `AIM_PROFILE_ID`,
//! `AIM_CACHE_PATH` (default `/workspace/model-cache`), `AIM_PORT` (8000), `AIM_LOG_LEVEL` and
//! `AIM_LOG_LEVEL_ROOT`. The Hub client reads `HF_HOME` (the base image sets `/workspace/model-cache`),
//! `HF_ENDPOINT` and `HF_TOKEN` itself.
//!
//! The stand-in's own knobs for the engine it fronts (`llm-d-inference-sim`): `AIM_SIM_INTER_TOKEN_LATENCY`
//! and `AIM_SIM_TIME_TO_FIRST_TOKEN` (durations such as `50ms`, so load builds a queue),
//! `AIM_SIM_MAX_NUM_SEQS` (requests served at once; the rest wait, as `vllm:num_requests_waiting` shows) and
//! `AIM_SIM_ENGINE` (the engine's path).

use std::path::PathBuf;

/// The runtime's defaults (`config.py`).
const DEFAULT_CACHE_PATH: &str = "/workspace/model-cache";
const DEFAULT_PORT: u16 = 8000;

/// Precisions the runtime takes (`aim_common/object_model.py`, `Precision`).
pub const PRECISIONS: [&str; 8] = ["auto", "fp4", "fp8", "fp16", "fp32", "bf16", "int4", "int8"];
/// Metrics it takes (`Metric`).
pub const METRICS: [&str; 3] = ["auto", "latency", "throughput"];
/// GPU models it takes (`GPUModel`, the Instinct series and `NONE`).
pub const GPU_MODELS: [&str; 10] = [
    "MI100", "MI250X", "MI210", "MI300A", "MI300X", "MI308X", "MI325X", "MI350X", "MI355X", "NONE",
];

/// What the runtime was told.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The AIM this image is (`AIM_ID`), or the model a base image serves (`AIM_MODEL_ID`).
    pub aim_id: String,
    /// Lower-case, `auto` when not set.
    pub precision: String,
    /// Upper-case, `NONE` when not set (no GPU is detected here).
    pub gpu_model: String,
    pub gpu_count: u32,
    /// Lower-case, `latency` when `auto` or not set.
    pub metric: String,
    pub profile_id: Option<String>,
    pub cache_path: PathBuf,
    pub hf_home: PathBuf,
    pub port: u16,
    /// `AIM_LOG_LEVEL`: the runtime's own loggers.
    pub log_level: String,
    /// The engine's settings.
    pub engine: Engine,
}

/// How the engine (`llm-d-inference-sim`) behaves.
#[derive(Debug, Clone, PartialEq)]
pub struct Engine {
    pub path: String,
    pub inter_token_latency: String,
    pub time_to_first_token: String,
    /// Overrides the profile's `max-num-seqs`.
    pub max_num_seqs: Option<u32>,
}

impl Config {
    /// The settings in `env` (a lookup, so tests need not touch the process's environment), or the
    /// configuration error the runtime would exit with.
    pub fn from_env(env: impl Fn(&str) -> Option<String>) -> Result<Config, String> {
        let get = |k: &str| env(k).filter(|v| !v.is_empty());
        let aim_id = match (get("AIM_ID"), get("AIM_MODEL_ID")) {
            (Some(_), Some(_)) => return Err("Cannot set both AIM_ID and AIM_MODEL_ID. Only one should be set.".into()),
            (Some(id), None) | (None, Some(id)) => id,
            (None, None) => return Err("Either AIM_MODEL_ID or AIM_ID environment variable is required".into()),
        };
        let one_of = |key: &str, default: &str, allowed: &[&str], upper: bool| -> Result<String, String> {
            let value = get(key).unwrap_or_else(|| default.to_string());
            let value = if upper {
                value.to_uppercase()
            } else {
                value.to_lowercase()
            };
            if allowed.contains(&value.as_str()) {
                Ok(value)
            } else {
                Err(format!(
                    "Invalid {key}: '{value}'. Must be one of {}",
                    allowed.join(", ")
                ))
            }
        };
        let gpu_count = match get("AIM_GPU_COUNT") {
            None => 1,
            Some(n) => n
                .parse::<u32>()
                .ok()
                .filter(|n| *n >= 1)
                .ok_or(format!("Invalid AIM_GPU_COUNT: '{n}'. Must be a positive integer"))?,
        };
        let metric = one_of("AIM_METRIC", "latency", &METRICS, false)?;
        Ok(Config {
            aim_id,
            precision: one_of("AIM_PRECISION", "auto", &PRECISIONS, false)?,
            gpu_model: one_of("AIM_GPU_MODEL", "NONE", &GPU_MODELS, true)?,
            gpu_count,
            metric: if metric == "auto" { "latency".into() } else { metric },
            profile_id: get("AIM_PROFILE_ID"),
            cache_path: PathBuf::from(get("AIM_CACHE_PATH").unwrap_or_else(|| DEFAULT_CACHE_PATH.into())),
            hf_home: PathBuf::from(get("HF_HOME").unwrap_or_else(|| DEFAULT_CACHE_PATH.into())),
            port: match get("AIM_PORT") {
                None => DEFAULT_PORT,
                Some(p) => p.parse().map_err(|_| format!("Invalid AIM_PORT: '{p}'"))?,
            },
            log_level: get("AIM_LOG_LEVEL").unwrap_or_else(|| "INFO".into()),
            engine: Engine {
                path: get("AIM_SIM_ENGINE").unwrap_or_else(|| "/usr/local/bin/llm-d-inference-sim".into()),
                inter_token_latency: get("AIM_SIM_INTER_TOKEN_LATENCY").unwrap_or_else(|| "20ms".into()),
                time_to_first_token: get("AIM_SIM_TIME_TO_FIRST_TOKEN").unwrap_or_else(|| "50ms".into()),
                max_num_seqs: get("AIM_SIM_MAX_NUM_SEQS").and_then(|n| n.parse().ok()),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> Result<Config, String> {
        let pairs: Vec<(String, String)> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_env(|k| pairs.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone()))
    }

    #[test]
    fn reads_what_the_runtime_reads_with_its_defaults() {
        let c = config(&[("AIM_ID", "org/m"), ("AIM_GPU_MODEL", "mi300x"), ("AIM_GPU_COUNT", "2")]).unwrap();
        assert_eq!(
            (
                c.aim_id.as_str(),
                c.precision.as_str(),
                c.gpu_model.as_str(),
                c.gpu_count,
                c.metric.as_str()
            ),
            ("org/m", "auto", "MI300X", 2, "latency")
        );
        assert_eq!(c.cache_path, PathBuf::from("/workspace/model-cache"));
        assert_eq!(c.port, 8000);
    }

    #[test]
    fn refuses_what_the_runtime_refuses() {
        assert!(config(&[]).unwrap_err().contains("AIM_MODEL_ID or AIM_ID"));
        assert!(
            config(&[("AIM_ID", "a/b"), ("AIM_MODEL_ID", "c/d")])
                .unwrap_err()
                .contains("both")
        );
        assert!(
            config(&[("AIM_ID", "a/b"), ("AIM_GPU_MODEL", "MI999X")])
                .unwrap_err()
                .contains("AIM_GPU_MODEL")
        );
        assert!(
            config(&[("AIM_ID", "a/b"), ("AIM_PRECISION", "fp12")])
                .unwrap_err()
                .contains("AIM_PRECISION")
        );
    }
}
