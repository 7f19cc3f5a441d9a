//! Which files of a source are downloaded: glob patterns over the source's relative paths (`/`-separated). A file
//! is kept when it matches an `include` pattern (or there are none) and no `exclude` pattern.
//!
//! Patterns: `*` matches within one path segment, `**` any number of segments, `?` one character; a pattern
//! without a `/` matches the file name in any directory (`*.pth` is every `.pth` file). The default, when a
//! cache names no patterns, skips `original/**`: Meta's repositories ship the consolidated PyTorch checkpoint
//! there beside the safetensors, which roughly doubles what a cache holds, and no runtime here reads it.

/// What is skipped when nothing is named.
pub const DEFAULT_EXCLUDE: &[&str] = &["original/**"];

/// Include and exclude patterns.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Filter {
    /// Kept only if one of these matches (empty: everything).
    pub include: Vec<String>,
    /// Dropped if one of these matches.
    pub exclude: Vec<String>,
}

impl Filter {
    /// The filter of `include` and `exclude`; [`DEFAULT_EXCLUDE`] when both are empty.
    pub fn new(include: Vec<String>, exclude: Vec<String>) -> Filter {
        if include.is_empty() && exclude.is_empty() {
            return Filter {
                include,
                exclude: DEFAULT_EXCLUDE.iter().map(|p| p.to_string()).collect(),
            };
        }
        Filter { include, exclude }
    }

    /// The filter of comma-separated pattern lists (the downloader's environment).
    pub fn from_lists(include: Option<&str>, exclude: Option<&str>) -> Filter {
        let split = |list: Option<&str>| -> Vec<String> {
            list.unwrap_or_default()
                .split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(String::from)
                .collect()
        };
        Filter::new(split(include), split(exclude))
    }

    /// Whether the file at `path` is downloaded.
    pub fn keeps(&self, path: &str) -> bool {
        (self.include.is_empty() || self.include.iter().any(|p| matches(p, path)))
            && !self.exclude.iter().any(|p| matches(p, path))
    }
}

/// Whether glob `pattern` matches `path`.
pub fn matches(pattern: &str, path: &str) -> bool {
    let path: Vec<&str> = path.split('/').collect();
    if !pattern.contains('/') {
        return path
            .last()
            .is_some_and(|name| segment(pattern.as_bytes(), name.as_bytes()));
    }
    let pattern: Vec<&str> = pattern.trim_start_matches('/').split('/').collect();
    segments(&pattern, &path)
}

/// Whether `pattern` matches all of `text`, `*` matching any run of characters (`/` too) and `?` one.
pub fn wildcard(pattern: &str, text: &str) -> bool {
    segment(pattern.as_bytes(), text.as_bytes())
}

fn segments(pattern: &[&str], path: &[&str]) -> bool {
    match pattern.split_first() {
        None => path.is_empty(),
        Some((&"**", rest)) => (0..=path.len()).any(|skip| segments(rest, &path[skip..])),
        Some((first, rest)) => path
            .split_first()
            .is_some_and(|(name, path_rest)| segment(first.as_bytes(), name.as_bytes()) && segments(rest, path_rest)),
    }
}

fn segment(pattern: &[u8], name: &[u8]) -> bool {
    match pattern.split_first() {
        None => name.is_empty(),
        Some((b'*', rest)) => (0..=name.len()).any(|skip| segment(rest, &name[skip..])),
        Some((b'?', rest)) => !name.is_empty() && segment(rest, &name[1..]),
        Some((c, rest)) => name.first() == Some(c) && segment(rest, &name[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[rstest::rstest]
    #[case("original/**", "original/consolidated.00.pth", true)]
    #[case("original/**", "original/sub/params.json", true)]
    #[case("original/**", "model.safetensors", false)]
    #[case("*.pth", "original/consolidated.00.pth", true)]
    #[case("*.safetensors", "model-00001-of-00004.safetensors", true)]
    #[case("model-?????-of-*.safetensors", "model-00001-of-00004.safetensors", true)]
    #[case("**/tokenizer.json", "tokenizer.json", true)]
    #[case("**/tokenizer.json", "a/b/tokenizer.json", true)]
    #[case("a/*.json", "a/b/c.json", false)]
    fn patterns_match_as_globs(#[case] pattern: &str, #[case] path: &str, #[case] matched: bool) {
        assert_eq!(matches(pattern, path), matched, "{pattern} ~ {path}");
    }

    #[test]
    fn the_default_skips_the_original_checkpoint_and_named_patterns_replace_it() {
        let default = Filter::new(vec![], vec![]);
        assert!(!default.keeps("original/consolidated.00.pth"));
        assert!(default.keeps("model.safetensors"));
        let only = Filter::from_lists(Some("*.safetensors, config.json"), None);
        assert!(only.keeps("model.safetensors") && only.keeps("config.json"));
        assert!(!only.keeps("tokenizer.json"));
        assert!(
            only.keeps("original/x.safetensors"),
            "named patterns replace the default"
        );
    }
}
