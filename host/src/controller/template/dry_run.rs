//! Parses what the AIM image's `dry-run --format=json` prints: `[{filename, profile, models: [{name, source,
//! size_gb}]}]`, the first entry being the profile the image chose. Pure: text in, model sources or a message
//! that says exactly what was wrong out.

use crate::api::{ModelSource, SUPPORTED_SOURCE_SCHEMES};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use serde_json::Value;

/// What discovery found.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Discovered {
    /// The chosen profile's file name.
    pub(crate) profile: String,
    pub(crate) sources: Vec<ModelSource>,
}

/// Finds the JSON result in `output` (the whole text, or the last line that parses as a JSON array, since
/// logs may carry other lines) and reads it.
pub(crate) fn parse(output: &str) -> Result<Discovered, String> {
    let trimmed = output.trim();
    if trimmed.is_empty() {
        return Err("the dry-run printed nothing".into());
    }
    let value: Value = match serde_json::from_str(trimmed) {
        Ok(v) => v,
        Err(whole) => trimmed
            .lines()
            .rev()
            .filter(|l| l.trim_start().starts_with('['))
            .find_map(|l| serde_json::from_str(l.trim()).ok())
            .ok_or_else(|| {
                format!(
                    "the dry-run output is not JSON ({whole}); it starts with: {}",
                    preview(trimmed)
                )
            })?,
    };
    let results = value
        .as_array()
        .ok_or_else(|| format!("expected a JSON list of profiles, got {}", kind(&value)))?;
    let first = results.first().ok_or(
        "the dry-run found no matching profile (an empty list): the image has no runtime profile for this \
         metric, precision and GPU; change the template or use another image",
    )?;
    let profile = first
        .get("filename")
        .and_then(Value::as_str)
        .ok_or("profile 0 has no 'filename' string")?
        .to_string();
    let models = first
        .get("models")
        .and_then(Value::as_array)
        .ok_or(format!("profile '{profile}' has no 'models' list"))?;
    if models.is_empty() {
        return Err(format!("profile '{profile}' lists no models"));
    }
    let sources = models
        .iter()
        .enumerate()
        .map(|(i, m)| model_source(&profile, i, m))
        .collect::<Result<_, _>>()?;
    Ok(Discovered { profile, sources })
}

fn model_source(profile: &str, i: usize, model: &Value) -> Result<ModelSource, String> {
    let source = model
        .get("source")
        .and_then(Value::as_str)
        .ok_or_else(|| format!("model {i} of profile '{profile}' has no 'source' string"))?;
    let scheme = source.split_once("://").map(|(s, _)| s).unwrap_or_default();
    if !SUPPORTED_SOURCE_SCHEMES.contains(&scheme) {
        return Err(format!(
            "model {i} of profile '{profile}' has source '{source}', whose scheme is not one of {}",
            SUPPORTED_SOURCE_SCHEMES.map(|s| format!("{s}://")).join(", ")
        ));
    }
    let size_gb = model.get("size_gb").and_then(Value::as_f64);
    if let Some(size) = size_gb
        && !(size.is_finite() && size >= 0.0)
    {
        return Err(format!(
            "model {i} of profile '{profile}' has an invalid size_gb {size}"
        ));
    }
    Ok(ModelSource {
        source_uri: source.to_string(),
        size: size_gb.map(size_quantity),
    })
}

/// `size_gb` (GiB, as AIM images report it) as a quantity in whole MiB, rounded up.
pub(crate) fn size_quantity(size_gb: f64) -> Quantity {
    Quantity(format!("{}Mi", (size_gb * 1024.0).ceil() as u64))
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Object(_) => "an object",
        Value::String(_) => "a string",
        Value::Number(_) => "a number",
        Value::Bool(_) => "a boolean",
        Value::Null => "null",
        Value::Array(_) => "a list",
    }
}

fn preview(text: &str) -> String {
    let line = text.lines().next().unwrap_or_default();
    let cut: String = line.chars().take(80).collect();
    if cut.len() < line.len() {
        format!("{cut:?}…")
    } else {
        format!("{cut:?}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"[{"filename": "vllm-mi300x-fp8-tp1-latency.yaml", "profile": {"metadata": {"gpu": "MI300X"}},
        "models": [{"name": "amd/Llama-3.1-8B-Instruct-FP8-KV", "source": "hf://amd/Llama-3.1-8B-Instruct-FP8-KV", "size_gb": 8.5}]}]"#;

    #[test]
    fn reads_the_first_profile_and_its_models() {
        let found = parse(GOOD).unwrap();
        assert_eq!(found.profile, "vllm-mi300x-fp8-tp1-latency.yaml");
        assert_eq!(
            found.sources,
            vec![ModelSource {
                source_uri: "hf://amd/Llama-3.1-8B-Instruct-FP8-KV".into(),
                size: Some(Quantity("8704Mi".into()))
            }]
        );
    }

    #[test]
    fn finds_the_result_among_log_lines() {
        let log = format!(
            "INFO starting\nWARNING no GPU visible, using AIM_GPU_MODEL\n{}\n",
            GOOD.replace('\n', " ")
        );
        assert_eq!(parse(&log).unwrap().sources.len(), 1);
    }

    #[test]
    fn says_what_is_wrong() {
        for (output, expected) in [
            ("", "printed nothing"),
            ("Traceback (most recent call last):", "not JSON"),
            (
                "{\"filename\": \"x\"}",
                "expected a JSON list of profiles, got an object",
            ),
            ("[]", "found no matching profile (an empty list)"),
            ("[{\"models\": []}]", "profile 0 has no 'filename'"),
            ("[{\"filename\": \"p.yaml\"}]", "profile 'p.yaml' has no 'models' list"),
            ("[{\"filename\": \"p.yaml\", \"models\": []}]", "lists no models"),
            (
                "[{\"filename\": \"p.yaml\", \"models\": [{\"name\": \"m\"}]}]",
                "model 0 of profile 'p.yaml' has no 'source'",
            ),
            (
                "[{\"filename\": \"p.yaml\", \"models\": [{\"source\": \"ftp://x\"}]}]",
                "scheme is not one of hf://, s3://",
            ),
            (
                "[{\"filename\": \"p.yaml\", \"models\": [{\"source\": \"hf://x\", \"size_gb\": -1}]}]",
                "invalid size_gb",
            ),
        ] {
            let err = parse(output).unwrap_err();
            assert!(err.contains(expected), "{output:?}: {err}");
        }
    }
}
