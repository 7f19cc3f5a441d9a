//! `dry-run --format=json`, as the AIM runtime prints it (`aim-build: src/entrypoint.py` and
//! `aim_runtime.py::dry_run_json`): `json.dumps(…, indent=2)` of `[{filename, profile, models: [{name, source,
//! size_gb}]}]` on stdout, exit 0; `[]` after a warning that says why when no profile fits. `size_gb` is the
//! model's size on the Hub (`HF_ENDPOINT`) in GiB with two decimals, `null` when the Hub cannot be asked.

use crate::config::Config;
use crate::log::Log;
use crate::profiles::{self, Profile};
use aim_operator::download::{self, filter::Filter};
use serde_json::{Value, json};

const LOGGER: &str = "aim_runtime.aim_runtime";

/// What the dry run prints on stdout for `config`.
pub async fn output(config: &Config, log: &Log) -> String {
    log.info(LOGGER, "Selecting profile...");
    let catalog = profiles::catalog(&config.aim_id);
    let printed = match profiles::select(&catalog, config) {
        Ok(profile) => {
            log.info(
                LOGGER,
                &format!("Selected profile: /workspace/aim-runtime/profiles/{}.yaml", profile.id),
            );
            let size = size_gb(&profile.model_id, log).await;
            Value::Array(vec![entry(&profile, size)])
        }
        Err(why) => {
            log.warning(LOGGER, &format!("No compatible profile found or error occurred: {why}"));
            Value::Array(vec![])
        }
    };
    serde_json::to_string_pretty(&printed).unwrap_or_else(|_| "[]".into())
}

/// One entry of the printed list.
fn entry(profile: &Profile, size_gb: Option<f64>) -> Value {
    json!({
        "filename": format!("{}.yaml", profile.id),
        "profile": profile.as_json(),
        "models": [{ "name": profile.model_id, "source": format!("hf://{}", profile.model_id), "size_gb": size_gb }],
    })
}

/// The model's size on the Hub in GiB (two decimals), as `huggingface_hub`'s `model_info` sums its files; `None`
/// when the Hub cannot be asked or lists no sizes.
async fn size_gb(model_id: &str, log: &Log) -> Option<f64> {
    let everything = Filter::new(vec!["**".into()], vec![]);
    match download::size(
        &format!("hf://{model_id}"),
        &everything,
        std::path::Path::new("/tmp"),
        None,
    )
    .await
    {
        Ok(listed) if listed.bytes() > 0 => {
            Some(((listed.bytes() as f64 / (1u64 << 30) as f64) * 100.0).round() / 100.0)
        }
        Ok(_) => None,
        Err(e) => {
            log.line(
                crate::log::Level::Debug,
                "aim_runtime.model_storage",
                &format!("Failed to estimate from API: {e}"),
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_names_the_model_as_its_source_without_the_scheme() {
        let profile = profiles::catalog("org/m").remove(0);
        let e = entry(&profile, None);
        assert_eq!(e["filename"], "vllm-mi300x-fp8-tp1-latency.yaml");
        assert_eq!(
            e["models"][0],
            json!({ "name": "org/m", "source": "hf://org/m", "size_gb": null })
        );
        assert_eq!(e["profile"]["metadata"]["gpu_count"], 1);
    }
}
