//! The merge rules as plain Rust.

/// Runtime parameters, as the contract's strings and numbers (the glue converts the enums to lower-case names).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params {
    /// `latency` or `throughput`.
    pub metric: Option<String>,
    /// Precision name, e.g. `bf16`.
    pub precision: Option<String>,
    /// GPU model and count.
    pub gpu: Option<(String, u32)>,
}

/// Longest suffix the contract allows.
pub const MAX_SUFFIX: usize = 40;

/// Merges `overrides` over `base` and names the result.
pub fn merge(base_name: &str, base: &Params, overrides: &Params) -> (Params, String) {
    let merged = Params {
        metric: overrides.metric.clone().or_else(|| base.metric.clone()),
        precision: overrides.precision.clone().or_else(|| base.precision.clone()),
        gpu: overrides.gpu.clone().or_else(|| base.gpu.clone()),
    };
    (merged, suffix(base_name, overrides))
}

/// `ovr-<parts>-<8 hex>`, where parts name the overridden values and the hash covers the base name and every
/// override, so two different requests never share a suffix even when the readable parts are cut.
pub fn suffix(base_name: &str, overrides: &Params) -> String {
    let mut parts = Vec::new();
    if let Some(p) = &overrides.precision {
        parts.push(p.clone());
    }
    if let Some((model, count)) = &overrides.gpu {
        parts.push(format!("{count}x{model}"));
    }
    if let Some(m) = &overrides.metric {
        parts.push(m.chars().take(3).collect());
    }
    let canonical = format!(
        "{base_name}|{}|{}|{}",
        overrides.metric.as_deref().unwrap_or(""),
        overrides.precision.as_deref().unwrap_or(""),
        overrides
            .gpu
            .as_ref()
            .map(|(m, c)| format!("{c}x{m}"))
            .unwrap_or_default()
    );
    let hash = format!("{:08x}", fnv1a(canonical.as_bytes()) as u32);
    let mut readable = sanitize(&parts.join("-"));
    // "ovr-" + readable + "-" + 8 hex <= MAX_SUFFIX.
    readable.truncate(MAX_SUFFIX - 4 - 1 - 8);
    let readable = readable.trim_end_matches('-');
    if readable.is_empty() {
        format!("ovr-{hash}")
    } else {
        format!("ovr-{readable}-{hash}")
    }
}

/// Lower-case letters, digits and single dashes only.
fn sanitize(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars().flat_map(char::to_lowercase) {
        let c = if c.is_ascii_alphanumeric() { c } else { '-' };
        if !(c == '-' && (out.is_empty() || out.ends_with('-'))) {
            out.push(c);
        }
    }
    out.trim_end_matches('-').to_string()
}

/// FNV-1a, 64 bit: tiny, deterministic, and the same on every platform (std's hasher is not guaranteed to be).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf29ce484222325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x100000001b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(metric: Option<&str>, precision: Option<&str>, gpu: Option<(&str, u32)>) -> Params {
        Params {
            metric: metric.map(Into::into),
            precision: precision.map(Into::into),
            gpu: gpu.map(|(m, c)| (m.into(), c)),
        }
    }

    #[test]
    fn overrides_win_field_by_field() {
        let base = p(Some("latency"), Some("fp8"), Some(("MI300X", 1)));
        let (merged, _) = merge("base", &base, &p(None, Some("bf16"), None));
        assert_eq!(merged, p(Some("latency"), Some("bf16"), Some(("MI300X", 1))));
        let (merged, _) = merge("base", &base, &p(Some("throughput"), None, Some(("MI325X", 2))));
        assert_eq!(merged, p(Some("throughput"), Some("fp8"), Some(("MI325X", 2))));
    }

    #[test]
    fn the_suffix_is_deterministic_readable_and_rfc1123() {
        let o = p(None, Some("bf16"), Some(("MI300X", 2)));
        let a = suffix("llama3-8b-fast", &o);
        assert_eq!(a, suffix("llama3-8b-fast", &o));
        assert!(a.starts_with("ovr-bf16-2xmi300x-"), "{a}");
        assert!(a.len() <= MAX_SUFFIX);
        assert!(
            a.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        );
    }

    #[test]
    fn different_bases_or_overrides_give_different_suffixes() {
        let o = p(None, Some("bf16"), None);
        assert_ne!(suffix("a", &o), suffix("b", &o));
        assert_ne!(suffix("a", &o), suffix("a", &p(None, Some("fp16"), None)));
    }

    #[test]
    fn long_gpu_names_are_cut_to_the_limit() {
        let o = p(
            Some("throughput"),
            Some("bf16"),
            Some(("Some Very Long Future GPU Model Name 9000", 8)),
        );
        let s = suffix("base", &o);
        assert!(s.len() <= MAX_SUFFIX, "{s} is {} long", s.len());
        assert!(!s.contains("--"));
    }
}
