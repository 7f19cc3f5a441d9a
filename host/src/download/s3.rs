//! S3 and S3-compatible stores (MinIO, Ceph, moto) through `object_store`: every object under the prefix, read
//! with ranged GETs for resuming. Credentials, region and endpoint come from the standard AWS environment
//! variables (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_DEFAULT_REGION`,
//! `AWS_ENDPOINT_URL_S3` or `AWS_ENDPOINT`, web identity); an `http://` endpoint is allowed as such. Requests are
//! retried briefly (a dead endpoint fails within about 30 s, with a message that names it) and carry no overall
//! timeout: a long transfer is bounded by the stall timeout instead.
//!
//! Checksums: an ETag of 32 hex digits is the MD5 of an object uploaded in one part; a multipart ETag
//! (`<hex>-<parts>`) is not a content hash, so those objects are checked by size.

use super::failure::{Failure, FailureKind};
use super::listing::{ByteStream, Checksum, RemoteFile};
use futures::{StreamExt, TryStreamExt};
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as ObjectPath;
use object_store::{BackoffConfig, ClientOptions, GetOptions, GetRange, ObjectStore, RetryConfig};
use std::time::Duration;

/// Objects under a prefix of a bucket.
pub(crate) struct S3 {
    store: AmazonS3,
    bucket: String,
    prefix: String,
    endpoint: String,
    has_credentials: bool,
}

impl S3 {
    /// The store for `bucket`, configured from the environment (`env` looks a variable up, for tests).
    /// `extra_ca`: certificates trusted besides the system's.
    pub(crate) fn new(
        bucket: &str,
        prefix: &str,
        env: impl Fn(&str) -> Option<String>,
        extra_ca: Vec<object_store::Certificate>,
    ) -> Result<Self, Failure> {
        let endpoint = env("AWS_ENDPOINT_URL_S3")
            .or_else(|| env("AWS_ENDPOINT_URL"))
            .or_else(|| env("AWS_ENDPOINT"))
            .filter(|e| !e.is_empty());
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(bucket)
            .with_client_options(
                extra_ca.into_iter().fold(
                    ClientOptions::new()
                        .with_timeout_disabled()
                        .with_connect_timeout(Duration::from_secs(10)),
                    ClientOptions::with_root_certificate,
                ),
            )
            .with_retry(RetryConfig {
                backoff: BackoffConfig::default(),
                max_retries: 3,
                retry_timeout: Duration::from_secs(30),
            });
        for (var, key) in [
            ("AWS_ACCESS_KEY_ID", "aws_access_key_id"),
            ("AWS_SECRET_ACCESS_KEY", "aws_secret_access_key"),
            ("AWS_SESSION_TOKEN", "aws_session_token"),
            ("AWS_DEFAULT_REGION", "aws_region"),
            ("AWS_REGION", "aws_region"),
            ("AWS_WEB_IDENTITY_TOKEN_FILE", "aws_web_identity_token_file"),
            ("AWS_ROLE_ARN", "aws_role_arn"),
            ("AWS_VIRTUAL_HOSTED_STYLE_REQUEST", "aws_virtual_hosted_style_request"),
        ] {
            if let Some(value) = env(var).filter(|v| !v.is_empty())
                && let Ok(key) = key.parse()
            {
                builder = builder.with_config(key, value);
            }
        }
        if let Some(endpoint) = &endpoint {
            builder = builder
                .with_endpoint(endpoint)
                .with_allow_http(endpoint.starts_with("http://"));
        }
        let store = builder.build().map_err(|e| {
            Failure::new(
                FailureKind::InvalidSource,
                format!("cannot configure S3 for bucket {bucket}: {e}"),
            )
        })?;
        Ok(S3 {
            store,
            bucket: bucket.to_string(),
            prefix: prefix.to_string(),
            endpoint: endpoint.unwrap_or_else(|| "AWS S3".into()),
            has_credentials: env("AWS_ACCESS_KEY_ID").is_some_and(|v| !v.is_empty())
                || env("AWS_WEB_IDENTITY_TOKEN_FILE").is_some(),
        })
    }

    fn what(&self) -> String {
        format!("s3://{}/{} at {}", self.bucket, self.prefix, self.endpoint)
    }

    fn failure(&self, e: object_store::Error, what: &str) -> Failure {
        // The whole chain: a TLS or connection failure is only named by a source of the error.
        let mut text = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            let s_text = s.to_string();
            if !text.contains(&s_text) {
                text = format!("{text}: {s_text}");
            }
            source = s.source();
        }
        match e {
            object_store::Error::NotFound { .. } => Failure::from_status(404, what, "AWS_ACCESS_KEY_ID", true),
            object_store::Error::Unauthenticated { .. } => {
                Failure::from_status(401, what, "AWS_ACCESS_KEY_ID", self.has_credentials)
            }
            object_store::Error::PermissionDenied { .. } => {
                Failure::from_status(403, what, "AWS_ACCESS_KEY_ID", self.has_credentials)
            }
            // No key in the environment: object_store asked the instance metadata service, which gave none.
            _ if !self.has_credentials && text.contains("169.254.169.254") => {
                let refused = Failure::from_status(401, what, "AWS_ACCESS_KEY_ID", false);
                Failure::new(
                    refused.kind,
                    format!(
                        "{} (nor did the node's instance metadata service give credentials: {text})",
                        refused.message
                    ),
                )
            }
            _ if text.contains("NoSuchBucket") => Failure::new(
                FailureKind::NotFound,
                format!(
                    "bucket {} does not exist at {}: check the source URI",
                    self.bucket, self.endpoint
                ),
            ),
            _ if text.contains("InvalidAccessKeyId") || text.contains("SignatureDoesNotMatch") => {
                Failure::from_status(403, what, "AWS_ACCESS_KEY_ID", self.has_credentials)
            }
            _ if let Some(untrusted) = Failure::untrusted_certificate(&self.endpoint, &text) => untrusted,
            _ if text.contains("error sending request") || text.contains("Connect") || text.contains("connect") => {
                Failure::new(
                    FailureKind::Unreachable,
                    format!(
                        "cannot reach {} ({text}): check AWS_ENDPOINT_URL_S3, the cluster's egress and proxy settings; \
                         the operator tries again with a growing wait",
                        self.endpoint
                    ),
                )
            }
            _ => Failure::new(FailureKind::Other, format!("{what}: {text}")),
        }
    }

    /// Every object under the prefix (a prefix names a directory: `a/b` lists `a/b/…`).
    pub(crate) async fn list(&self) -> Result<Vec<RemoteFile>, Failure> {
        let prefix = (!self.prefix.is_empty()).then(|| ObjectPath::from(self.prefix.as_str()));
        let objects: Vec<_> = self
            .store
            .list(prefix.as_ref())
            .try_collect()
            .await
            .map_err(|e| self.failure(e, &self.what()))?;
        if objects.is_empty() {
            return Err(Failure::new(
                FailureKind::NotFound,
                format!("{} holds no objects: check the bucket and prefix", self.what()),
            ));
        }
        let strip = if self.prefix.is_empty() {
            String::new()
        } else {
            format!("{}/", self.prefix)
        };
        Ok(objects
            .into_iter()
            .map(|o| {
                let key = o.location.to_string();
                let etag = o.e_tag.as_deref().map(|t| t.trim_matches('"').to_ascii_lowercase());
                RemoteFile {
                    path: key.strip_prefix(&strip).unwrap_or(&key).to_string(),
                    size: o.size,
                    checksum: match etag {
                        Some(t) if t.len() == 32 && t.chars().all(|c| c.is_ascii_hexdigit()) => Checksum::Md5(t),
                        _ => Checksum::SizeOnly,
                    },
                }
            })
            .collect())
    }

    pub(crate) async fn open(&self, file: &RemoteFile, offset: u64) -> Result<(ByteStream, bool), Failure> {
        let range = (offset > 0).then_some(GetRange::Offset(offset));
        Ok((self.get(file, range).await?, true))
    }

    /// Bytes `start..end` of `file` (S3 always serves ranges).
    pub(crate) async fn open_range(&self, file: &RemoteFile, start: u64, end: u64) -> Result<ByteStream, Failure> {
        self.get(file, Some(GetRange::Bounded(start..end))).await
    }

    async fn get(&self, file: &RemoteFile, range: Option<GetRange>) -> Result<ByteStream, Failure> {
        let key = if self.prefix.is_empty() {
            file.path.clone()
        } else {
            format!("{}/{}", self.prefix, file.path)
        };
        let options = GetOptions {
            range,
            ..Default::default()
        };
        let what = format!("s3://{}/{key}", self.bucket);
        let result = self
            .store
            .get_opts(&ObjectPath::from(key.as_str()), options)
            .await
            .map_err(|e| self.failure(e, &what))?;
        let endpoint = self.endpoint.clone();
        let stream = result
            .into_stream()
            .map_err(move |e| {
                Failure::new(
                    FailureKind::Unreachable,
                    format!("the transfer from {endpoint} broke ({e}); the download resumes where it stopped"),
                )
            })
            .boxed();
        Ok(stream)
    }
}
