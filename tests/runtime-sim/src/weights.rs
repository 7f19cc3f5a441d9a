//! Finding the model and loading it, as the AIM runtime and its engine do (`aim-build:
//! src/aim_runtime/model_cache_resolver.py`): the plain directory `$AIM_CACHE_PATH/<model id>` when it exists;
//! otherwise the model is downloaded from the Hub (`HF_ENDPOINT`, `HF_TOKEN`) into `HF_HOME`, on every start.
//! Loading checks what a real engine would trip over: a `config.json`, and safetensors files whose header parses
//! and whose tensors end exactly where the file ends (a truncated or replaced file fails the load), read whole.

use crate::log::Log;
use aim_operator::download::{self, chunks::Connections, filter::Filter};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const LOGGER: &str = "aim_runtime.model_cache_resolver";

/// The cached copy of `model_id`, when the runtime would use one.
pub fn cached(cache_path: &Path, model_id: &str) -> Option<PathBuf> {
    let local = cache_path.join(model_id);
    local.is_dir().then_some(local)
}

/// Downloads `model_id` from the Hub into `hf_home` and returns its directory.
pub async fn download(hf_home: &Path, model_id: &str, log: &Log) -> Result<PathBuf, String> {
    let dir = hf_home.join("hub");
    let options = download::Options {
        source_uri: format!("hf://{model_id}"),
        dir: dir.clone(),
        parallel: download::DEFAULT_PARALLEL,
        stall_timeout: Duration::from_secs(120),
        progress_every: Duration::from_secs(3600),
        progress_job: None,
        extra_ca: None,
        filter: Filter::new(vec![], vec![]),
        connections: Connections::new(8, 8, 16 << 20),
    };
    let started = Instant::now();
    let done = download::run(&options).await.map_err(|f| f.to_line())?;
    log.info(
        "aim_runtime.model_storage",
        &format!(
            "Downloaded {model_id}: {} files, {} in {:.1}s",
            done.files,
            download::human(done.bytes),
            started.elapsed().as_secs_f64()
        ),
    );
    Ok(dir.join(model_id))
}

/// What a load read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loaded {
    pub weight_files: usize,
    pub bytes: u64,
}

/// Verifies and reads the model in `dir`.
pub fn load(dir: &Path, log: &Log) -> Result<Loaded, String> {
    if !dir.join("config.json").is_file() {
        return Err(format!("{} has no config.json", dir.display()));
    }
    let mut weights = Vec::new();
    collect(dir, &mut weights).map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
    weights.sort();
    if weights.is_empty() {
        return Err(format!("{} holds no *.safetensors weights", dir.display()));
    }
    let started = Instant::now();
    let mut bytes = 0;
    for file in &weights {
        bytes += check_safetensors(file)?;
    }
    log.info(
        LOGGER,
        &format!(
            "Loaded {} weight files ({}) from {} in {:.1}s",
            weights.len(),
            download::human(bytes),
            dir.display(),
            started.elapsed().as_secs_f64()
        ),
    );
    Ok(Loaded {
        weight_files: weights.len(),
        bytes,
    })
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "safetensors") {
            out.push(path);
        }
    }
    Ok(())
}

/// Reads a safetensors file whole after checking its layout: an 8-byte little-endian header length, a JSON
/// header of tensors with `data_offsets`, and data that ends where the last tensor does. Returns its size.
fn check_safetensors(path: &Path) -> Result<u64, String> {
    let bad = |why: String| format!("{} is not a complete safetensors file: {why}", path.display());
    let mut file = std::fs::File::open(path).map_err(|e| bad(e.to_string()))?;
    let size = file.metadata().map_err(|e| bad(e.to_string()))?.len();
    let mut len = [0u8; 8];
    file.read_exact(&mut len).map_err(|e| bad(format!("no header ({e})")))?;
    let header_len = u64::from_le_bytes(len);
    if header_len > size.saturating_sub(8) || header_len > 100 << 20 {
        return Err(bad(format!("a header of {header_len} bytes in a file of {size}")));
    }
    let mut header = vec![0u8; header_len as usize];
    file.read_exact(&mut header).map_err(|e| bad(e.to_string()))?;
    let header: serde_json::Value =
        serde_json::from_slice(&header).map_err(|e| bad(format!("its header is not JSON ({e})")))?;
    let end = header
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(name, _)| *name != "__metadata__")
        .filter_map(|(_, t)| t.get("data_offsets")?.get(1)?.as_u64())
        .max()
        .ok_or_else(|| bad("its header names no tensors".into()))?;
    if 8 + header_len + end != size {
        return Err(bad(format!(
            "its tensors end at byte {} but the file has {size}",
            8 + header_len + end
        )));
    }
    // Read every byte, as an engine loading the weights does (a read error shows here).
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        match file.read(&mut buffer) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => return Err(bad(e.to_string())),
        }
    }
    Ok(size)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn safetensors(data: usize) -> Vec<u8> {
        let header = format!(r#"{{"w":{{"dtype":"U8","shape":[{data}],"data_offsets":[0,{data}]}}}}"#);
        let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
        bytes.extend_from_slice(header.as_bytes());
        bytes.extend(std::iter::repeat_n(7u8, data));
        bytes
    }

    #[test]
    fn a_complete_model_loads_and_a_truncated_one_does_not() {
        let dir = std::env::temp_dir().join(format!("aim-runtime-sim-{}", std::process::id()));
        let model = dir.join("org/m");
        std::fs::create_dir_all(&model).unwrap();
        std::fs::write(model.join("config.json"), "{}").unwrap();
        std::fs::write(model.join("model.safetensors"), safetensors(4096)).unwrap();
        let log = Log::at("CRITICAL");
        assert_eq!(cached(&dir, "org/m"), Some(model.clone()));
        assert_eq!(cached(&dir, "org/other"), None);
        assert_eq!(load(&model, &log).unwrap().weight_files, 1);
        let mut cut = safetensors(4096);
        cut.truncate(3000);
        std::fs::write(model.join("model.safetensors"), cut).unwrap();
        let err = load(&model, &log).unwrap_err();
        assert!(err.contains("is not a complete safetensors file"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
