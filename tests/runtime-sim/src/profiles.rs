//! The stand-in's runtime profiles and how one is chosen, as the AIM runtime chooses
//! (`aim-build: src/aim_runtime/profile_selector.py`): `AIM_PROFILE_ID` names one outright; otherwise each
//! profile is checked in the runtime's order (engine, metric, AIM ID, GPU model, GPU count, precision) and the
//! first compatible one, fp8 before fp16, wins. When none is, the error carries the runtime's breakdown
//! ("Profile breakdown: 12 gpu_mismatch, 4 precision_mismatch").
//!
//! A real model image ships the profiles its makers tuned; the stand-in has one per GPU model (MI300X and
//! MI325X `optimized`, MI355X `preview`), precision (fp8, fp16), tensor-parallel size (1, 2, 4, 8) and metric,
//! each serving the image's own model (`model_id` = `AIM_ID`), so one Hub repository holds what every profile
//! loads.

use crate::config::Config;
use serde_json::{Value, json};

/// One runtime profile (a file of the image's `profiles/` directory).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    /// `vllm-mi300x-fp8-tp1-latency`: the file name without `.yaml`.
    pub id: String,
    pub aim_id: String,
    /// The model the engine loads (and the runtime looks up in its cache).
    pub model_id: String,
    pub gpu: &'static str,
    pub gpu_count: u32,
    pub precision: &'static str,
    pub metric: &'static str,
    /// `optimized`, `preview`, `unoptimized` or `general`.
    pub kind: &'static str,
    /// Requests the engine serves at once.
    pub max_num_seqs: u32,
}

/// The GPUs the stand-in has profiles for, with their architecture and profile type.
const GPUS: [(&str, &str, &str); 3] = [
    ("MI300X", "gfx942", "optimized"),
    ("MI325X", "gfx942", "optimized"),
    ("MI355X", "gfx950", "preview"),
];
const PRECISIONS: [&str; 2] = ["fp8", "fp16"];
const TENSOR_PARALLEL: [u32; 4] = [1, 2, 4, 8];
const METRICS: [&str; 2] = ["latency", "throughput"];

/// Every profile of the image of `aim_id`.
pub fn catalog(aim_id: &str) -> Vec<Profile> {
    let mut all = Vec::new();
    for (gpu, _, kind) in GPUS {
        for precision in PRECISIONS {
            for tp in TENSOR_PARALLEL {
                for metric in METRICS {
                    all.push(Profile {
                        id: format!("vllm-{}-{precision}-tp{tp}-{metric}", gpu.to_lowercase()),
                        aim_id: aim_id.into(),
                        model_id: aim_id.into(),
                        gpu,
                        gpu_count: tp,
                        precision,
                        metric,
                        kind,
                        max_num_seqs: if metric == "latency" { 64 } else { 512 },
                    });
                }
            }
        }
    }
    all
}

/// Why a profile does not fit, in the runtime's words and order (`ProfileCompatibilityState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Mismatch {
    Gpu,
    Precision,
    Model,
    Metric,
}

impl Mismatch {
    fn word(self) -> &'static str {
        match self {
            Mismatch::Gpu => "gpu_mismatch",
            Mismatch::Precision => "precision_mismatch",
            Mismatch::Model => "model_mismatch",
            Mismatch::Metric => "metric_mismatch",
        }
    }
}

fn mismatch(p: &Profile, c: &Config) -> Option<Mismatch> {
    if p.metric != c.metric {
        return Some(Mismatch::Metric);
    }
    if p.aim_id != c.aim_id {
        return Some(Mismatch::Model);
    }
    if !p.gpu.eq_ignore_ascii_case(&c.gpu_model) || p.gpu_count != c.gpu_count {
        return Some(Mismatch::Gpu);
    }
    if c.precision != "auto" && p.precision != c.precision {
        return Some(Mismatch::Precision);
    }
    None
}

/// The profile the runtime would run for `config`, or the error it would raise.
pub fn select(catalog: &[Profile], config: &Config) -> Result<Profile, String> {
    if let Some(id) = &config.profile_id {
        return catalog
            .iter()
            .find(|p| &p.id == id)
            .cloned()
            .ok_or(format!("Specified profile ID '{id}' not found"));
    }
    // fp8 first, as the runtime orders by precision preference.
    let mut compatible: Vec<&Profile> = catalog.iter().filter(|p| mismatch(p, config).is_none()).collect();
    compatible.sort_by_key(|p| PRECISIONS.iter().position(|x| *x == p.precision));
    if let Some(best) = compatible.first() {
        return Ok((*best).clone());
    }
    let mut counts: Vec<(Mismatch, usize)> = Vec::new();
    for m in catalog.iter().filter_map(|p| mismatch(p, config)) {
        match counts.iter_mut().find(|(k, _)| *k == m) {
            Some((_, n)) => *n += 1,
            None => counts.push((m, 1)),
        }
    }
    counts.sort();
    let breakdown: Vec<String> = counts.iter().map(|(m, n)| format!("{n} {}", m.word())).collect();
    Err(format!(
        "No compatible profile found for AIM {}. Profile breakdown: {}",
        config.aim_id,
        if breakdown.is_empty() {
            "no profiles found".to_string()
        } else {
            breakdown.join(", ")
        }
    ))
}

impl Profile {
    /// The profile file's content as the dry run prints it (`yaml.safe_load` of the file).
    pub fn as_json(&self) -> Value {
        let arch = GPUS
            .iter()
            .find(|(g, _, _)| *g == self.gpu)
            .map_or("gfx942", |(_, a, _)| *a);
        json!({
            "aim_id": self.aim_id,
            "model_id": self.model_id,
            "metadata": {
                "engine": "vllm",
                "gpu": self.gpu,
                "gpu_count": self.gpu_count,
                "manual_selection_only": false,
                "metric": self.metric,
                "precision": self.precision,
                "type": self.kind,
            },
            "engine_args": {
                "async-scheduling": null,
                "gpu-memory-utilization": 0.9,
                "max-num-seqs": self.max_num_seqs,
                "tensor-parallel-size": self.gpu_count,
            },
            "env_vars": { "GPU_ARCHS": arch, "VLLM_ROCM_USE_AITER": "1" },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> Config {
        let mut all = vec![("AIM_ID", "org/m")];
        all.extend_from_slice(pairs);
        Config::from_env(|k| all.iter().find(|(key, _)| *key == k).map(|(_, v)| v.to_string())).unwrap()
    }

    #[test]
    fn chooses_the_profile_for_the_gpus_precision_and_metric() {
        let all = catalog("org/m");
        let p = select(
            &all,
            &config(&[
                ("AIM_GPU_MODEL", "MI325X"),
                ("AIM_GPU_COUNT", "2"),
                ("AIM_METRIC", "throughput"),
            ]),
        )
        .unwrap();
        assert_eq!(p.id, "vllm-mi325x-fp8-tp2-throughput", "auto precision prefers fp8");
        let p = select(&all, &config(&[("AIM_GPU_MODEL", "MI355X"), ("AIM_PRECISION", "fp16")])).unwrap();
        assert_eq!((p.id.as_str(), p.kind), ("vllm-mi355x-fp16-tp1-latency", "preview"));
        let p = select(&all, &config(&[("AIM_PROFILE_ID", "vllm-mi300x-fp16-tp8-throughput")])).unwrap();
        assert_eq!(p.gpu_count, 8, "a named profile is taken as it is");
    }

    #[test]
    fn none_fits_with_the_runtimes_breakdown() {
        let all = catalog("org/m");
        let err = select(&all, &config(&[("AIM_GPU_MODEL", "MI300X"), ("AIM_GPU_COUNT", "3")])).unwrap_err();
        assert_eq!(
            err,
            "No compatible profile found for AIM org/m. Profile breakdown: 24 gpu_mismatch, 24 metric_mismatch"
        );
        let err = select(&all, &config(&[("AIM_GPU_MODEL", "MI300X"), ("AIM_PRECISION", "int4")])).unwrap_err();
        assert!(err.contains("2 precision_mismatch"), "{err}");
        assert!(
            select(&all, &config(&[("AIM_PROFILE_ID", "nope")]))
                .unwrap_err()
                .contains("'nope' not found")
        );
    }
}
