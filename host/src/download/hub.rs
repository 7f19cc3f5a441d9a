//! The Hugging Face Hub over its HTTP API, the same endpoints the `huggingface_hub` library uses: the repository
//! listing `GET /api/models/<repo>/revision/<rev>?blobs=true` (file names, sizes, LFS sha256, git blob ids, and
//! the commit the revision points at) and `GET /<repo>/resolve/<commit>/<file>` (a redirect to the content for
//! LFS files; `Range` for resuming). Every file is fetched at the listed commit, so a branch that moves during the
//! download cannot mix two versions. `HF_TOKEN` (or `HUGGING_FACE_HUB_TOKEN`) is sent as a bearer token, to the
//! Hub only (reqwest drops it on a redirect to another host); `HF_ENDPOINT` points at a mirror.
//!
//! Why not the `hf-hub` crate: it downloads into its own cache layout (`models--org--name/blobs` + symlinks), does
//! not verify LFS sha256, and cannot resume into the volume's directory; the two endpoints above are all a
//! downloader needs, and owning them lets every failure say what to do.

use super::failure::{Failure, FailureKind};
use super::listing::{ByteStream, Checksum, RemoteFile};
use futures::StreamExt;
use reqwest::{StatusCode, Url};
use std::sync::OnceLock;

/// The Hub's public endpoint.
pub(crate) const DEFAULT_ENDPOINT: &str = "https://huggingface.co";

/// A Hub model repository at a revision.
pub(crate) struct Hub {
    client: reqwest::Client,
    endpoint: String,
    token: Option<String>,
    repo: String,
    revision: String,
    /// The commit the revision resolved to, once listed.
    commit: OnceLock<String>,
}

#[derive(serde::Deserialize)]
struct Listing {
    sha: Option<String>,
    #[serde(default)]
    siblings: Vec<Sibling>,
}

#[derive(serde::Deserialize)]
struct Sibling {
    rfilename: String,
    size: Option<u64>,
    #[serde(rename = "blobId")]
    blob_id: Option<String>,
    lfs: Option<Lfs>,
}

#[derive(serde::Deserialize)]
struct Lfs {
    sha256: String,
    size: u64,
}

impl Hub {
    /// The repository `repo` at `revision`, with the endpoint and token from `env` (a lookup, for tests).
    pub(crate) fn new(
        client: reqwest::Client,
        repo: &str,
        revision: &str,
        env: impl Fn(&str) -> Option<String>,
    ) -> Self {
        let endpoint = env("HF_ENDPOINT")
            .filter(|e| !e.is_empty())
            .unwrap_or_else(|| DEFAULT_ENDPOINT.to_string());
        let token = env("HF_TOKEN")
            .or_else(|| env("HUGGING_FACE_HUB_TOKEN"))
            .filter(|t| !t.is_empty());
        Hub {
            client,
            endpoint: endpoint.trim_end_matches('/').to_string(),
            token,
            repo: repo.to_string(),
            revision: revision.to_string(),
            commit: OnceLock::new(),
        }
    }

    fn what(&self) -> String {
        format!("hf://{}@{} at {}", self.repo, self.revision, self.endpoint)
    }

    fn url(&self, segments: &[&str]) -> Result<Url, Failure> {
        let mut url = Url::parse(&self.endpoint).map_err(|e| {
            Failure::new(
                FailureKind::InvalidSource,
                format!("HF_ENDPOINT '{}' is not a URL: {e}", self.endpoint),
            )
        })?;
        url.path_segments_mut()
            .map_err(|_| Failure::new(FailureKind::InvalidSource, "HF_ENDPOINT cannot take a path"))?
            .pop_if_empty()
            .extend(segments.iter().flat_map(|s| s.split('/')));
        Ok(url)
    }

    fn request(&self, url: Url) -> reqwest::RequestBuilder {
        let request = self.client.get(url);
        match &self.token {
            Some(t) => request.bearer_auth(t),
            None => request,
        }
    }

    /// The failure for a refused request, read as `huggingface_hub` reads it: by the Hub's `X-Error-Code` where
    /// the status alone misleads. Without a token the Hub answers an unknown repository `401 RepoNotFound`, the
    /// same as a private one, so a typo in the model ID must not read as "needs credentials" only.
    fn status_failure(&self, response: &reqwest::Response, what: &str) -> Failure {
        let status = response.status().as_u16();
        let code = response.headers().get("x-error-code").and_then(|v| v.to_str().ok());
        let had_token = self.token.is_some();
        match (status, code) {
            (401, Some("RepoNotFound")) if !had_token => Failure::new(
                FailureKind::NotFound,
                format!(
                    "{what} does not exist, or is private or gated (HTTP 401 RepoNotFound; without a token the Hub \
                     does not say which): check the model ID, or set HF_TOKEN in spec.env from a Secret (for \
                     example valueFrom.secretKeyRef) of the ModelCache, template or service"
                ),
            ),
            (404, Some("RepoNotFound")) => Failure::new(
                FailureKind::NotFound,
                format!(
                    "{what} does not exist, or the token in HF_TOKEN cannot see it (HTTP 404 RepoNotFound): check \
                     the model ID, and that the token's owner has access"
                ),
            ),
            (404, Some("RevisionNotFound")) => Failure::new(
                FailureKind::NotFound,
                format!(
                    "{what}: the repository has no revision '{}' (HTTP 404 RevisionNotFound): check the branch, tag \
                     or commit after '@' in the source URI",
                    self.revision
                ),
            ),
            _ => Failure::from_status(status, what, "HF_TOKEN", had_token),
        }
    }

    /// The files at the revision (which is resolved to its commit here).
    pub(crate) async fn list(&self) -> Result<Vec<RemoteFile>, Failure> {
        let mut url = self.url(&["api", "models", &self.repo, "revision", &self.revision])?;
        url.query_pairs_mut().append_pair("blobs", "true");
        let response = self
            .request(url)
            .send()
            .await
            .map_err(|e| unreachable(&self.endpoint, &e))?;
        if !response.status().is_success() {
            return Err(self.status_failure(&response, &self.what()));
        }
        let body = response.bytes().await.map_err(|e| unreachable(&self.endpoint, &e))?;
        let listing: Listing = serde_json::from_slice(&body).map_err(|e| {
            Failure::new(
                FailureKind::Other,
                format!("{} answered a listing that is not the Hub's JSON: {e}", self.what()),
            )
        })?;
        if let Some(sha) = listing.sha {
            let _ = self.commit.set(sha);
        }
        Ok(listing
            .siblings
            .into_iter()
            .map(|s| match s.lfs {
                Some(lfs) => RemoteFile {
                    path: s.rfilename,
                    size: lfs.size,
                    checksum: Checksum::Sha256(lfs.sha256),
                },
                None => RemoteFile {
                    path: s.rfilename,
                    size: s.size.unwrap_or(0),
                    checksum: s.blob_id.map_or(Checksum::SizeOnly, Checksum::GitSha1),
                },
            })
            .collect())
    }

    fn resolve_url(&self, file: &RemoteFile) -> Result<Url, Failure> {
        let at = self.commit.get().unwrap_or(&self.revision);
        self.url(&[&self.repo, "resolve", at, &file.path])
    }

    /// Where `file`'s bytes are served by range: the end of the Hub's redirect (an LFS file's CDN URL), followed
    /// once so that each range is one request, as `huggingface_hub` does; `None` when the source ignores ranges.
    pub(crate) async fn locate(&self, file: &RemoteFile) -> Result<Option<Url>, Failure> {
        let response = self
            .request(self.resolve_url(file)?)
            .header(reqwest::header::RANGE, "bytes=0-0")
            .send()
            .await
            .map_err(|e| unreachable(&self.endpoint, &e))?;
        match response.status() {
            StatusCode::PARTIAL_CONTENT => Ok(Some(response.url().clone())),
            s if s.is_success() => Ok(None),
            _ => Err(self.status_failure(&response, &format!("{} file {}", self.what(), file.path))),
        }
    }

    /// Bytes `start..end` of `file` at `location` (from [`Hub::locate`]). The token goes only to the Hub's own
    /// host, as on a redirect.
    pub(crate) async fn open_range(
        &self,
        file: &RemoteFile,
        location: &Url,
        start: u64,
        end: u64,
    ) -> Result<ByteStream, Failure> {
        let same_host = Url::parse(&self.endpoint).is_ok_and(|e| e.host_str() == location.host_str());
        let request = match same_host {
            true => self.request(location.clone()),
            false => self.client.get(location.clone()),
        };
        let response = request
            .header(reqwest::header::RANGE, format!("bytes={start}-{}", end - 1))
            .send()
            .await
            .map_err(|e| unreachable(&self.endpoint, &e))?;
        if response.status() != StatusCode::PARTIAL_CONTENT {
            return Err(self.status_failure(&response, &format!("{} file {}", self.what(), file.path)));
        }
        Ok(self.body(response))
    }

    fn body(&self, response: reqwest::Response) -> ByteStream {
        let endpoint = self.endpoint.clone();
        response
            .bytes_stream()
            .map(move |chunk| chunk.map_err(|e| unreachable(&endpoint, &e)))
            .boxed()
    }

    pub(crate) async fn open(&self, file: &RemoteFile, offset: u64) -> Result<(ByteStream, bool), Failure> {
        let mut request = self.request(self.resolve_url(file)?);
        if offset > 0 {
            request = request.header(reqwest::header::RANGE, format!("bytes={offset}-"));
        }
        let response = request.send().await.map_err(|e| unreachable(&self.endpoint, &e))?;
        let status = response.status();
        if !status.is_success() {
            return Err(self.status_failure(&response, &format!("{} file {}", self.what(), file.path)));
        }
        let resumed = offset == 0 || status == StatusCode::PARTIAL_CONTENT;
        Ok((self.body(response), resumed))
    }
}

/// A transport failure: the endpoint could not be reached, or the connection broke.
pub(crate) fn unreachable(endpoint: &str, e: &reqwest::Error) -> Failure {
    let mut cause = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        cause = format!("{cause}: {s}");
        source = s.source();
    }
    if let Some(untrusted) = Failure::untrusted_certificate(endpoint, &cause) {
        return untrusted;
    }
    Failure::new(
        FailureKind::Unreachable,
        format!(
            "cannot reach {endpoint} ({cause}): check the endpoint, the cluster's egress and proxy settings; the \
             operator tries again with a growing wait"
        ),
    )
}
