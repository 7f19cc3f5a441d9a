//! Parses what an AIM image's `dry-run --format=json` leaves in its pod's log, as the runtime prints it
//! (`aim-build: src/entrypoint.py`, `aim_runtime.py::dry_run_json`): `json.dumps(…, indent=2)` of
//! `[{filename, profile, models: [{name, source, size_gb}]}]` on stdout, among log lines on stderr (a pod's log
//! holds both); `[]`, exit 0, when no profile fits the GPU, count, precision and metric asked, after a warning
//! that says why; `size_gb: null` when the runtime could not ask the Hub. Pure: text in, the chosen profile and
//! its model sources (or a message that says exactly what was wrong) out.

use crate::api::{ModelSource, RuntimeProfile};
use crate::download::source::{source_schemes_in_words, supported_source_scheme};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use serde_json::Value;

/// What discovery found.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Discovered {
    /// The profile the image chose.
    pub(crate) profile: RuntimeProfile,
    pub(crate) sources: Vec<ModelSource>,
}

/// What a dry run answered.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Answer {
    Found(Discovered),
    /// `[]`: the image has no profile for what was asked; what the runtime logged about it, if it did.
    NoProfile {
        said: Option<String>,
    },
}

/// The warning the runtime logs before printing `[]` (`aim_runtime.py::dry_run_json`).
const NO_PROFILE_WARNING: &str = "No compatible profile found or error occurred: ";

/// Finds the dry run's JSON array in `output` (the last one that parses, wherever log lines surround it) and
/// reads it.
pub(crate) fn parse(output: &str) -> Result<Answer, String> {
    let trimmed = output.trim();
    if trimmed.is_empty() {
        return Err("the dry-run printed nothing".into());
    }
    let Some(results) = last_json_array(trimmed) else {
        return Err(match serde_json::from_str::<Value>(trimmed) {
            Ok(other) => format!("expected a JSON list of profiles, got {}", kind(&other)),
            Err(e) => format!(
                "the dry-run output holds no JSON list ({e}); it starts with: {}",
                preview(trimmed)
            ),
        });
    };
    let Some(first) = results.first() else {
        return Ok(Answer::NoProfile {
            said: no_profile_warning(trimmed),
        });
    };
    let filename = first
        .get("filename")
        .and_then(Value::as_str)
        .ok_or("profile 0 has no 'filename' string")?
        .to_string();
    let models = first
        .get("models")
        .and_then(Value::as_array)
        .ok_or(format!("profile '{filename}' has no 'models' list"))?;
    if models.is_empty() {
        return Err(format!("profile '{filename}' lists no models"));
    }
    let sources = models
        .iter()
        .enumerate()
        .map(|(i, m)| model_source(&filename, i, m))
        .collect::<Result<_, _>>()?;
    Ok(Answer::Found(Discovered {
        profile: runtime_profile(&filename, first.get("profile")),
        sources,
    }))
}

/// The last JSON array in `text` that starts a line: each line that starts with `[` is tried as the start of
/// one JSON value, and a value found is skipped whole, so an array nested in it (which may start a line of an
/// indented dump too) is never taken for the result. Log lines that start with `[` do not parse and are passed.
fn last_json_array(text: &str) -> Option<Vec<Value>> {
    let mut found = None;
    let mut from = 0;
    while from < text.len() {
        let line_end = text[from..].find('\n').map_or(text.len(), |i| from + i + 1);
        let start = from + (text[from..line_end].len() - text[from..line_end].trim_start().len());
        if text[start..].starts_with('[') {
            let mut values = serde_json::Deserializer::from_str(&text[start..]).into_iter::<Value>();
            if let Some(Ok(Value::Array(items))) = values.next() {
                let end = start + values.byte_offset();
                found = Some(items);
                from = end;
                continue;
            }
        }
        from = line_end;
    }
    found
}

/// The runtime's warning before an empty answer, without the logger's prefix.
fn no_profile_warning(text: &str) -> Option<String> {
    text.lines().rev().find_map(|l| {
        let at = l.find(NO_PROFILE_WARNING)?;
        Some(l[at + NO_PROFILE_WARNING.len()..].trim().to_string())
    })
}

/// The chosen profile as the status keeps it: its ID (the file name without `.yaml`, which the runtime's
/// `AIM_PROFILE_ID` selects by) and its `metadata`.
fn runtime_profile(filename: &str, profile: Option<&Value>) -> RuntimeProfile {
    let meta = profile.and_then(|p| p.get("metadata"));
    let text = |k: &str| meta.and_then(|m| m.get(k)).and_then(Value::as_str).map(str::to_string);
    let stem = filename
        .rsplit('/')
        .next()
        .unwrap_or(filename)
        .trim_end_matches(".yaml")
        .trim_end_matches(".yml");
    RuntimeProfile {
        id: stem.to_string(),
        gpu: text("gpu"),
        gpu_count: meta
            .and_then(|m| m.get("gpu_count"))
            .and_then(Value::as_i64)
            .map(|n| n.clamp(0, i32::MAX as i64) as i32),
        precision: text("precision"),
        metric: text("metric"),
        type_: text("type"),
        engine: text("engine"),
    }
}

fn model_source(profile: &str, i: usize, model: &Value) -> Result<ModelSource, String> {
    let source = model
        .get("source")
        .and_then(Value::as_str)
        .ok_or_else(|| format!("model {i} of profile '{profile}' has no 'source' string"))?;
    if !supported_source_scheme(source) {
        return Err(format!(
            "model {i} of profile '{profile}' has source '{source}', whose scheme is not {}",
            source_schemes_in_words()
        ));
    }
    // `null` (the runtime could not ask the Hub) is no size: the cache asks the source itself.
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
        size: size_gb.filter(|s| *s > 0.0).map(size_quantity),
        name: model.get("name").and_then(Value::as_str).map(str::to_string),
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
mod tests;
