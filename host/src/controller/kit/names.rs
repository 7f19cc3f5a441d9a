//! Deterministic names for the objects the operator creates: the same inputs always give the same name, so a
//! restart converges on the objects it created before instead of duplicating them.

use sha2::{Digest, Sha256};

/// First 8 hex digits of SHA-256 over `parts`, separated so that ("ab","c") and ("a","bc") differ.
pub(crate) fn short_hash(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part.len().to_le_bytes());
        hasher.update(part.as_bytes());
    }
    hasher.finalize().iter().take(4).map(|b| format!("{b:02x}")).collect()
}

/// Lower-case alphanumerics and single '-', no leading or trailing '-'.
pub(crate) fn sanitize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_end_matches('-').to_string()
}

/// `<readable>-<hash>` within `max` characters (a DNS label when `max` ≤ 63): the readable part is cut to fit.
pub(crate) fn hashed_name(readable: &str, hash: &str, max: usize) -> String {
    let mut readable = sanitize(readable);
    readable.truncate(max.saturating_sub(hash.len() + 1));
    let readable = readable.trim_end_matches('-');
    if readable.is_empty() {
        hash.to_string()
    } else {
        format!("{readable}-{hash}")
    }
}

/// `<base>-<suffix>` within 63 characters, cutting the base (not the suffix, which carries the identity).
pub(crate) fn with_suffix(base: &str, suffix: &str) -> String {
    let mut base = base.to_string();
    base.truncate(63usize.saturating_sub(suffix.len() + 1));
    format!("{}-{suffix}", base.trim_end_matches('-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_dns_labels_and_stable() {
        let uri = "hf://meta-llama/Llama-3.1-8B-Instruct";
        let a = hashed_name(uri, &short_hash(&[uri]), 63);
        assert_eq!(a, hashed_name(uri, &short_hash(&[uri]), 63));
        assert!(a.starts_with("hf-meta-llama-llama-3-1-8b-instruct-"), "{a}");
        let long = hashed_name(&"x".repeat(200), "abcd1234", 63);
        assert_eq!(long.len(), 63);
        assert!(long.ends_with("-abcd1234"));
    }

    #[test]
    fn hashes_separate_their_parts() {
        assert_ne!(short_hash(&["ab", "c"]), short_hash(&["a", "bc"]));
    }

    #[test]
    fn suffixes_survive_long_bases() {
        let name = with_suffix(&"b".repeat(80), "ovr-bf16-1a2b3c4d");
        assert_eq!(name.len(), 63);
        assert!(name.ends_with("-ovr-bf16-1a2b3c4d"));
    }
}
