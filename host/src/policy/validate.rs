//! Checks on every answer a plugin gives, before the operator acts on it. A plugin is not trusted: an answer
//! that fails here is a failed decision ([`super::error::CallError::InvalidOutput`]), never a crash.

use super::bindings::{Decision, GpuSelector, MatchRequest, MatchResult, MergeResult, RuntimeParameters};

/// Longest reason the host keeps from a plugin.
pub const MAX_REASON_BYTES: usize = 4096;
/// Longest derived-name suffix.
pub const MAX_SUFFIX_BYTES: usize = 40;
/// Longest route path.
pub const MAX_PATH_BYTES: usize = 200;

/// Bytes a match result carries (its strings and entries), to compare with the output cap.
pub fn match_result_size(result: &MatchResult) -> usize {
    result.reason.len()
        + result.verdicts.iter().map(|v| v.reason.len() + 16).sum::<usize>()
        + params_size(decision_params(&result.decision))
}

fn decision_params(decision: &Decision) -> Option<&RuntimeParameters> {
    match decision {
        Decision::Derive(p) => Some(p),
        _ => None,
    }
}

fn params_size(p: Option<&RuntimeParameters>) -> usize {
    p.and_then(|p| p.gpu.as_ref()).map_or(0, |g| g.model.len())
}

/// A match result must judge every candidate exactly once, choose an accepted candidate that exists, and keep
/// its reasons short.
pub fn match_result(request: &MatchRequest, result: &MatchResult) -> Result<(), String> {
    let n = request.candidates.len();
    if result.verdicts.len() != n {
        return Err(format!(
            "{} verdicts for {n} candidates; every candidate needs exactly one",
            result.verdicts.len()
        ));
    }
    let mut seen = vec![false; n];
    for v in &result.verdicts {
        let i = v.candidate as usize;
        if i >= n {
            return Err(format!("a verdict names candidate {i}, but there are only {n}"));
        }
        if std::mem::replace(&mut seen[i], true) {
            return Err(format!("candidate {i} has two verdicts"));
        }
        reason(&v.reason)?;
    }
    reason(&result.reason)?;
    match &result.decision {
        Decision::UseCandidate(i) => {
            let i = *i as usize;
            if i >= n {
                return Err(format!("chose candidate {i}, but there are only {n}"));
            }
            if !result.verdicts.iter().any(|v| v.candidate as usize == i && v.accepted) {
                return Err(format!(
                    "chose candidate {i} ('{}') without accepting it",
                    request.candidates[i].name
                ));
            }
        }
        Decision::Derive(params) => parameters(params)?,
        Decision::None => {}
    }
    Ok(())
}

fn reason(text: &str) -> Result<(), String> {
    if text.len() > MAX_REASON_BYTES {
        return Err(format!(
            "a reason of {} bytes; at most {MAX_REASON_BYTES} are kept",
            text.len()
        ));
    }
    Ok(())
}

/// Parameters a template could carry: a GPU selector needs a model name and at least one GPU.
pub fn parameters(p: &RuntimeParameters) -> Result<(), String> {
    if let Some(GpuSelector { model, count }) = &p.gpu {
        if *count == 0 {
            return Err("a GPU count of 0; at least 1 is needed".into());
        }
        if model.is_empty() || model.len() > 63 {
            return Err(format!("GPU model '{model}' must have 1 to 63 characters"));
        }
    }
    Ok(())
}

/// The merged parameters must be valid and the suffix usable in a Kubernetes name.
pub fn merge_result(result: &MergeResult) -> Result<(), String> {
    parameters(&result.merged)?;
    name_suffix(&result.name_suffix)
}

/// Lower-case letters, digits and '-', starting and ending with a letter or digit, at most 40 characters.
pub fn name_suffix(suffix: &str) -> Result<(), String> {
    let valid_chars = suffix
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    let valid_ends = !suffix.starts_with('-') && !suffix.ends_with('-');
    if suffix.is_empty() || suffix.len() > MAX_SUFFIX_BYTES || !valid_chars || !valid_ends {
        return Err(format!(
            "name suffix '{}' is not 1 to {MAX_SUFFIX_BYTES} lower-case letters, digits and inner '-'",
            suffix.chars().take(64).collect::<String>()
        ));
    }
    Ok(())
}

/// A clean absolute path: leading '/', no empty, '.' or '..' segments, no trailing '/', only unreserved URL
/// characters, at most 200 characters.
pub fn route_path(path: &str) -> Result<(), String> {
    let shown: String = path.chars().take(64).collect();
    if path.len() > MAX_PATH_BYTES {
        return Err(format!(
            "path '{shown}…' is {} characters; at most {MAX_PATH_BYTES}",
            path.len()
        ));
    }
    let Some(rest) = path.strip_prefix('/') else {
        return Err(format!("path '{shown}' is not absolute (it must start with '/')"));
    };
    if rest.is_empty() {
        return Err("path '/' would claim the whole gateway".into());
    }
    for segment in rest.split('/') {
        if segment.is_empty() || segment == "." || segment == ".." {
            return Err(format!("path '{shown}' has an empty, '.' or '..' segment"));
        }
        if let Some(bad) = segment
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || "-._~".contains(*c)))
        {
            return Err(format!(
                "path '{shown}' has the character {bad:?}; only letters, digits and -._~ are allowed"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_absolute_paths_pass_and_everything_else_is_named() {
        assert!(route_path("/team-a/0b1c-42ef").is_ok());
        for (bad, why) in [
            ("team-a/x", "not absolute"),
            ("/", "whole gateway"),
            ("/a//b", "empty"),
            ("/a/../admin", "'..'"),
            ("/a/./b", "'.'"),
            ("/a/", "empty"),
            ("/a b", "' '"),
            ("/a?b=1", "'?'"),
        ] {
            let err = route_path(bad).unwrap_err();
            assert!(err.contains(why), "{bad}: {err}");
        }
        assert!(
            route_path(&format!("/{}", "a".repeat(300)))
                .unwrap_err()
                .contains("at most 200")
        );
    }

    #[test]
    fn suffixes_must_be_rfc1123_fragments() {
        assert!(name_suffix("ovr-bf16-2xmi300x-1a2b3c4d").is_ok());
        for bad in ["", "-x", "x-", "Upper", "a_b", &"a".repeat(41)] {
            assert!(name_suffix(bad).is_err(), "{bad}");
        }
    }
}
