//! The source URIs a cache downloads: `hf://<org>/<model>[@<revision>]` (a Hugging Face Hub model repository,
//! revision `main` by default) and `s3://<bucket>[/<prefix>]` (every object under the prefix). Pure parsing; the
//! API server's CEL rule already refuses other schemes, this says precisely what is wrong with the rest.

use std::fmt;
use std::path::PathBuf;

/// A scheme a model source URI may use.
#[derive(Debug, Clone, Copy)]
pub struct SourceScheme {
    /// What comes before `://`.
    pub scheme: &'static str,
    /// What it reads, in words.
    pub what: &'static str,
    /// An example URI.
    pub example: &'static str,
}

/// The schemes a model source may use, one row each: the downloader's errors, the CRD's rule and its message
/// (`api::source_uri_rule`) and discovery's check are made from this table, and a test holds
/// [`Source::parse`] to every row.
pub const SOURCE_SCHEMES: [SourceScheme; 2] = [
    SourceScheme {
        scheme: "hf",
        what: "Hugging Face Hub",
        example: "hf://meta-llama/Llama-3.1-8B-Instruct",
    },
    SourceScheme {
        scheme: "s3",
        what: "S3-compatible storage",
        example: "s3://bucket/path",
    },
];

/// True when `uri` starts with a scheme of [`SOURCE_SCHEMES`].
pub fn supported_source_scheme(uri: &str) -> bool {
    let scheme = uri.split_once("://").map(|(s, _)| s).unwrap_or_default();
    SOURCE_SCHEMES.iter().any(|s| s.scheme == scheme)
}

/// The schemes in words, for messages: `hf:// (Hugging Face Hub, e.g. hf://…) or s3:// (…)`.
pub fn source_schemes_in_words() -> String {
    let each: Vec<String> = SOURCE_SCHEMES
        .iter()
        .map(|s| format!("{}:// ({}, e.g. {})", s.scheme, s.what, s.example))
        .collect();
    match each.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    }
}

/// A parsed source URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Source {
    /// A Hub model repository at a revision.
    HuggingFace {
        repo: String,
        /// Branch, tag or commit.
        revision: String,
    },
    /// Objects under a prefix of a bucket.
    S3 {
        bucket: String,
        /// The key prefix, without a trailing `/` (empty: the whole bucket).
        prefix: String,
    },
}

impl Source {
    pub(crate) fn parse(uri: &str) -> Result<Source, String> {
        if let Some(rest) = uri.strip_prefix("hf://") {
            let (repo, revision) = match rest.split_once('@') {
                Some((repo, rev)) if !rev.is_empty() => (repo, rev),
                Some(_) => return Err(format!("'{uri}' has an empty revision after '@'")),
                None => (rest, "main"),
            };
            let parts: Vec<&str> = repo.split('/').collect();
            if parts.len() != 2 || parts.iter().any(|p| p.is_empty() || !p.chars().all(repo_char)) {
                return Err(format!(
                    "'{uri}' is not hf://<org>/<model>[@<revision>] (letters, digits, '-', '_' and '.')"
                ));
            }
            return Ok(Source::HuggingFace {
                repo: repo.to_string(),
                revision: revision.to_string(),
            });
        }
        if let Some(rest) = uri.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(format!("'{uri}' names no bucket: use s3://<bucket>/<prefix>"));
            }
            return Ok(Source::S3 {
                bucket: bucket.to_string(),
                prefix: prefix.trim_end_matches('/').to_string(),
            });
        }
        Err(format!(
            "'{uri}' has an unsupported scheme: use {}",
            source_schemes_in_words()
        ))
    }

    /// Where in the cache volume this source's files go: `<org>/<model>` or `<bucket>/<prefix>`, so several
    /// sources could share a volume without mixing files.
    pub(crate) fn directory(&self) -> PathBuf {
        match self {
            Source::HuggingFace { repo, .. } => PathBuf::from(repo),
            Source::S3 { bucket, prefix } => PathBuf::from(bucket).join(prefix),
        }
    }
}

impl Source {
    /// The model ID the AIM runtime would give this source's files: an `hf://` source's repository, or the
    /// last two segments of an `s3://` source's path (the runtime's `download-to-cache` names an S3 model so).
    pub(crate) fn model_id(&self) -> String {
        match self {
            Source::HuggingFace { repo, .. } => repo.clone(),
            Source::S3 { bucket, prefix } => {
                let segments: Vec<&str> = std::iter::once(bucket.as_str())
                    .chain(prefix.split('/'))
                    .filter(|s| !s.is_empty())
                    .collect();
                segments[segments.len().saturating_sub(2)..].join("/")
            }
        }
    }
}

fn repo_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::HuggingFace { repo, revision } => write!(f, "hf://{repo}@{revision}"),
            Source::S3 { bucket, prefix } => write!(f, "s3://{bucket}/{prefix}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hub_uris_take_an_optional_revision() {
        assert_eq!(
            Source::parse("hf://meta-llama/Llama-3.1-8B-Instruct").unwrap(),
            Source::HuggingFace {
                repo: "meta-llama/Llama-3.1-8B-Instruct".into(),
                revision: "main".into()
            }
        );
        assert_eq!(
            Source::parse("hf://org/m@v1.0").unwrap(),
            Source::HuggingFace {
                repo: "org/m".into(),
                revision: "v1.0".into()
            }
        );
        assert!(Source::parse("hf://org").unwrap_err().contains("hf://<org>/<model>"));
        assert!(Source::parse("hf://org/m@").unwrap_err().contains("empty revision"));
        assert!(Source::parse("hf://org/../x").is_err());
    }

    #[test]
    fn s3_uris_take_a_bucket_and_a_prefix() {
        assert_eq!(
            Source::parse("s3://models/llama/8b/").unwrap(),
            Source::S3 {
                bucket: "models".into(),
                prefix: "llama/8b".into()
            }
        );
        assert_eq!(
            Source::parse("s3://models").unwrap().directory(),
            PathBuf::from("models")
        );
        assert!(Source::parse("s3:///x").unwrap_err().contains("no bucket"));
        assert!(Source::parse("gs://x/y").unwrap_err().contains("unsupported scheme"));
    }

    #[test]
    fn every_scheme_the_api_accepts_is_downloaded() {
        for scheme in SOURCE_SCHEMES {
            let source = Source::parse(scheme.example).unwrap_or_else(|e| panic!("{}: {e}", scheme.scheme));
            assert!(source.to_string().starts_with(&format!("{}://", scheme.scheme)));
        }
    }

    #[test]
    fn the_model_id_is_the_repository_or_the_last_two_path_segments() {
        let id = |uri: &str| Source::parse(uri).unwrap().model_id();
        assert_eq!(
            id("hf://amd/Llama-3.1-8B-Instruct-FP8-KV@abc"),
            "amd/Llama-3.1-8B-Instruct-FP8-KV"
        );
        assert_eq!(
            id("s3://models/weights/meta-llama/Llama-3.1-8B-Instruct/"),
            "meta-llama/Llama-3.1-8B-Instruct"
        );
        assert_eq!(id("s3://meta-llama/Llama-3.1-8B"), "meta-llama/Llama-3.1-8B");
        assert_eq!(id("s3://models"), "models");
    }
}
