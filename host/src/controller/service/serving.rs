//! The AIM runtime's serving contract, rendered into the predictor's pod (pure). What the real image does
//! (`aim-build: src/aim_runtime/model_cache_resolver.py`, `config.py`, `docs/kubernetes_deployment.md`):
//!
//! - it serves the profile's model from the plain directory `$AIM_CACHE_PATH/<model id>` when that exists, so
//!   each warm cache volume is mounted exactly there, its source's directory as `subPath`, read-only;
//! - otherwise it hands the model ID to vLLM, which downloads the whole model from the Hub into `HF_HOME`
//!   (`/workspace/model-cache` in the base image): without caching, that directory is an `emptyDir` sized from
//!   the model (on the node's disk, counted as the pod's ephemeral storage; the scheduler places the replica
//!   where that much is free, and the kubelet evicts the pod if the download outgrows it), so a multi-gigabyte
//!   download never lands in the container's writable layer;
//! - it answers `/v1/models` once the engine has loaded and `/health` while it lives, on port 8000: a startup
//!   probe on `/v1/models` with a budget that follows the model's size, readiness on `/v1/models`, liveness on
//!   `/health`.

use super::cache::CacheMount;
use crate::api::ModelSource;
use crate::controller::kit::quantity::{bytes, volume_size};
use crate::upstream::aim::var;
use k8s_openapi::api::core::v1::EnvVar;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use serde_json::{Value, json};
use std::time::Duration;

/// Where the runtime looks for cached models (`AIM_CACHE_PATH`) and, in the AIM base image, where the Hub
/// client downloads to (`HF_HOME`).
pub(crate) const CACHE_ROOT: &str = "/workspace/model-cache";

/// The port the runtime serves on (`AIM_PORT`'s default).
pub(crate) const PORT: i32 = 8000;

/// Headroom of the download volume over the model's size (the Hub client's temporary files).
const DOWNLOAD_HEADROOM_PERCENT: u64 = 10;

/// The engine's start before and after the weights are read (kernels, graph capture), whatever the size.
const LOAD_BASE: Duration = Duration::from_secs(600);
/// How fast weights are read from a cache volume, for the budget (a network volume under several readers).
const READ_BYTES_PER_SECOND: u64 = 100 << 20;
/// How fast the runtime downloads from the Hub, for the budget (a pod's link to the Hub, shared).
const DOWNLOAD_BYTES_PER_SECOND: u64 = 25 << 20;
/// The size assumed when the model's size is not known.
const UNKNOWN_MODEL_BYTES: u64 = 64 << 30;
/// The longest startup budget given.
const MAX_BUDGET: Duration = Duration::from_secs(4 * 3600);
/// How often the startup probe asks. A replica is ready only once the probe has seen it answer, so the period
/// is what a request waiting for it (a wake from zero, a scale-up) may lose on top of the load itself: short,
/// and cheap (a refused connection while the engine loads, one GET once it serves).
const STARTUP_PERIOD_SECONDS: u64 = 2;

/// The model's total size, when every source's is known.
pub(crate) fn model_bytes(sources: &[ModelSource]) -> Option<u64> {
    sources
        .iter()
        .map(|s| s.size.as_ref().and_then(bytes))
        .sum::<Option<u64>>()
        .filter(|total| *total > 0)
}

/// How long a replica may take from its container's start to answering `/v1/models`: the engine's start, the
/// weights read from the cache volume, and without a cache their download first. Past it the kubelet restarts
/// the container: a start that long is stuck, not slow.
pub(crate) fn startup_budget(model_bytes: Option<u64>, cached: bool) -> Duration {
    let size = model_bytes.unwrap_or(UNKNOWN_MODEL_BYTES);
    let mut seconds = LOAD_BASE.as_secs() + size / READ_BYTES_PER_SECOND;
    if !cached {
        seconds += size / DOWNLOAD_BYTES_PER_SECOND;
    }
    Duration::from_secs(seconds.div_ceil(60) * 60).min(MAX_BUDGET)
}

/// Volumes, mounts and environment that put the model where the runtime looks: each warm cache at
/// `CACHE_ROOT/<model id>`; without caching, a download volume at `CACHE_ROOT` (with `HF_HOME` there) and the
/// ephemeral storage it needs.
pub(crate) struct ModelPlacement {
    pub(crate) volumes: Vec<Value>,
    pub(crate) mounts: Vec<Value>,
    pub(crate) env: Vec<EnvVar>,
    /// The download volume's size, requested as ephemeral storage (none with caching, or an unknown size).
    pub(crate) scratch: Option<Quantity>,
}

/// Where the model comes from: `mounts` (warm caches) when caching, else a download volume sized from
/// `model_bytes`. Two sources naming one model ID mount once (the first).
pub(crate) fn model_placement(mounts: &[CacheMount], cached: bool, model_bytes: Option<u64>) -> ModelPlacement {
    let mut placement = ModelPlacement {
        volumes: Vec::new(),
        mounts: Vec::new(),
        env: vec![var("AIM_CACHE_PATH", CACHE_ROOT)],
        scratch: None,
    };
    if !cached {
        let size = model_bytes.map(|b| volume_size(b, DOWNLOAD_HEADROOM_PERCENT));
        let mut empty_dir = json!({});
        if let Some(size) = &size {
            empty_dir["sizeLimit"] = json!(size);
        }
        placement
            .volumes
            .push(json!({ "name": "model-download", "emptyDir": empty_dir }));
        placement
            .mounts
            .push(json!({ "name": "model-download", "mountPath": CACHE_ROOT }));
        placement.env.push(var("HF_HOME", CACHE_ROOT));
        placement.scratch = size;
        return placement;
    }
    let mut seen = std::collections::BTreeSet::new();
    for (i, m) in mounts.iter().enumerate() {
        if !seen.insert(m.model_id.as_str()) {
            continue;
        }
        let name = format!("model-cache-{i}");
        placement
            .volumes
            .push(json!({ "name": name, "persistentVolumeClaim": { "claimName": m.claim, "readOnly": true } }));
        placement.mounts.push(json!({
            "name": name,
            "mountPath": format!("{CACHE_ROOT}/{}", m.model_id),
            "subPath": m.directory,
            "readOnly": true,
        }));
    }
    placement
}

/// The probes the runtime's own Kubernetes manifest sets, with a startup probe that allows `budget`.
pub(crate) fn probes(budget: Duration) -> [(&'static str, Value); 3] {
    let get = |path: &str| json!({ "path": path, "port": PORT });
    let failures = budget.as_secs().div_ceil(STARTUP_PERIOD_SECONDS).max(1);
    [
        (
            "startupProbe",
            json!({ "httpGet": get("/v1/models"), "periodSeconds": STARTUP_PERIOD_SECONDS, "timeoutSeconds": 5, "failureThreshold": failures }),
        ),
        (
            "readinessProbe",
            json!({ "httpGet": get("/v1/models"), "periodSeconds": 10, "timeoutSeconds": 5, "failureThreshold": 3 }),
        ),
        (
            "livenessProbe",
            json!({ "httpGet": get("/health"), "periodSeconds": 10, "timeoutSeconds": 5, "failureThreshold": 6 }),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIB: u64 = 1 << 30;

    #[test]
    fn the_budget_follows_the_size_and_the_download() {
        // 8.5 GiB from a cache: 10 min + 87 s, rounded up to whole minutes.
        assert_eq!(
            startup_budget(Some(8 * GIB + GIB / 2), true),
            Duration::from_secs(12 * 60)
        );
        // The same downloaded by the runtime: another 348 s.
        assert_eq!(
            startup_budget(Some(8 * GIB + GIB / 2), false),
            Duration::from_secs(18 * 60)
        );
        // 140 GiB (a 70B model in fp16): more than half an hour from a cache, over two hours without.
        assert_eq!(startup_budget(Some(140 * GIB), true), Duration::from_secs(34 * 60));
        assert_eq!(startup_budget(Some(140 * GIB), false), Duration::from_secs(130 * 60));
        assert_eq!(startup_budget(Some(4000 * GIB), false), MAX_BUDGET, "capped");
        assert_eq!(
            startup_budget(None, true),
            startup_budget(Some(UNKNOWN_MODEL_BYTES), true)
        );
    }

    #[test]
    fn a_cache_is_mounted_at_the_model_id_with_its_directory_as_sub_path() {
        let mounts = [
            CacheMount {
                claim: "c1".into(),
                directory: "amd/Llama-FP8".into(),
                model_id: "amd/Llama-FP8".into(),
            },
            CacheMount {
                claim: "c2".into(),
                directory: "bucket/weights/llama".into(),
                model_id: "meta-llama/Llama".into(),
            },
        ];
        let p = model_placement(&mounts, true, Some(GIB));
        assert_eq!(
            p.mounts,
            vec![
                json!({ "name": "model-cache-0", "mountPath": "/workspace/model-cache/amd/Llama-FP8", "subPath": "amd/Llama-FP8", "readOnly": true }),
                json!({ "name": "model-cache-1", "mountPath": "/workspace/model-cache/meta-llama/Llama", "subPath": "bucket/weights/llama", "readOnly": true }),
            ]
        );
        assert_eq!(
            p.volumes[1]["persistentVolumeClaim"],
            json!({ "claimName": "c2", "readOnly": true })
        );
        assert_eq!(p.scratch, None, "nothing is downloaded");
        assert!(p.env.iter().all(|e| e.name != "HF_HOME"));
    }

    #[test]
    fn without_a_cache_the_download_goes_to_a_volume_sized_from_the_model() {
        let p = model_placement(&[], false, Some(15 * GIB));
        assert_eq!(
            p.volumes,
            vec![json!({ "name": "model-download", "emptyDir": { "sizeLimit": "17Gi" } })]
        );
        assert_eq!(
            p.mounts,
            vec![json!({ "name": "model-download", "mountPath": CACHE_ROOT })]
        );
        assert!(
            p.env
                .iter()
                .any(|e| e.name == "HF_HOME" && e.value.as_deref() == Some(CACHE_ROOT))
        );
        assert_eq!(p.scratch, Some(Quantity("17Gi".into())));
        let unknown = model_placement(&[], false, None);
        assert_eq!(
            unknown.volumes[0]["emptyDir"],
            json!({}),
            "no limit when the size is unknown"
        );
        assert_eq!(unknown.scratch, None);
    }

    #[test]
    fn the_startup_probe_allows_the_budget() {
        let [(startup, s), (readiness, r), (liveness, l)] = probes(Duration::from_secs(12 * 60));
        assert_eq!(
            (startup, readiness, liveness),
            ("startupProbe", "readinessProbe", "livenessProbe")
        );
        assert_eq!(s["httpGet"]["path"], "/v1/models");
        assert_eq!(s["failureThreshold"], 360, "12 minutes of 2 s probes");
        assert_eq!(s["periodSeconds"], 2);
        assert_eq!(r["httpGet"]["path"], "/v1/models");
        assert_eq!(l["httpGet"], json!({ "path": "/health", "port": 8000 }));
    }
}
