//! A small Hugging-Face-compatible HTTP server on loopback, for the downloader's tests and benchmark: the Hub's
//! repository listing (`/api/models/<repo>/revision/<rev>?blobs=true`), `resolve` paths that redirect LFS files to
//! a content path (with `X-Linked-Etag`/`X-Linked-Size`, as the Hub does) and serve small files directly (git
//! blob id as `ETag`), ranged requests (`206`), and an optional bearer token. Its behaviour can be changed while it
//! runs: throttle to a rate, stall after a number of bytes, serve wrong bytes for one file, or require a token.
//! It counts the content bytes it sent, so a test can tell a resumed download from one that started over.

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use sha2::Digest;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const LOOPBACK: std::net::IpAddr = std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

/// Files at or above this size are LFS files (the Hub's threshold is 10 MB; smaller keeps tests small).
pub const LFS_THRESHOLD: usize = 1 << 20;

/// One file of a model.
#[derive(Clone)]
pub struct ModelFile {
    /// Path in the repository.
    pub path: String,
    /// Content.
    pub bytes: Bytes,
}

impl ModelFile {
    /// SHA-256 of the content, hex.
    pub fn sha256(&self) -> String {
        hex(&sha2::Sha256::digest(&self.bytes))
    }
    /// Git's blob id, hex.
    pub fn git_sha1(&self) -> String {
        use sha1::Digest as _;
        let mut h = sha1::Sha1::new();
        h.update(format!("blob {}\0", self.bytes.len()).as_bytes());
        h.update(&self.bytes);
        hex(&h.finalize())
    }
    /// MD5 of the content, hex (an S3 single-part ETag).
    pub fn md5(&self) -> String {
        use md5::Digest as _;
        hex(&md5::Md5::digest(&self.bytes))
    }
    fn is_lfs(&self) -> bool {
        self.bytes.len() >= LFS_THRESHOLD
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A generated model: a config, a tokenizer and one weights file of `weights_mb` MiB (deterministic bytes behind
/// a valid safetensors header).
pub fn generated_model(weights_mb: usize) -> Vec<ModelFile> {
    sharded_model(&[("model.safetensors".into(), weights_mb)])
}

/// A model whose weights are split into `shards` files of `shard_mb` MiB each (`model-00001-of-0000N.safetensors`),
/// as large models are published.
pub fn generated_shards(shards: usize, shard_mb: usize) -> Vec<ModelFile> {
    let names: Vec<(String, usize)> = (1..=shards)
        .map(|i| (format!("model-{i:05}-of-{shards:05}.safetensors"), shard_mb))
        .collect();
    sharded_model(&names)
}

fn sharded_model(weights: &[(String, usize)]) -> Vec<ModelFile> {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut files = vec![
        ModelFile {
            path: "config.json".into(),
            bytes: Bytes::from_static(br#"{"architectures": ["LlamaForCausalLM"], "hidden_size": 64}"#),
        },
        ModelFile {
            path: "tokenizer/tokenizer.json".into(),
            bytes: Bytes::from(vec![b't'; 4096]),
        },
    ];
    for (path, mb) in weights {
        let mut bytes = vec![0u8; mb << 20];
        for chunk in bytes.chunks_mut(8) {
            // xorshift64: fast, deterministic, incompressible enough.
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            chunk.copy_from_slice(&state.to_le_bytes()[..chunk.len()]);
        }
        safetensors_header(&mut bytes);
        files.push(ModelFile {
            path: path.clone(),
            bytes: Bytes::from(bytes),
        });
    }
    files
}

/// Makes `bytes` a safetensors file of the same size: an 8-byte header length, a JSON header naming one `U8`
/// tensor (padded with spaces, as the format allows), and the rest its data, so a runtime that checks the
/// layout (the AIM runtime stand-in) loads it and finds a truncated copy wrong.
fn safetensors_header(bytes: &mut [u8]) {
    const HEADER: usize = 128;
    if bytes.len() <= 8 + HEADER {
        return;
    }
    let data = bytes.len() - 8 - HEADER;
    let json = format!(r#"{{"weight":{{"dtype":"U8","shape":[{data}],"data_offsets":[0,{data}]}}}}"#);
    let mut header = json.into_bytes();
    header.resize(HEADER, b' ');
    bytes[..8].copy_from_slice(&(HEADER as u64).to_le_bytes());
    bytes[8..8 + HEADER].copy_from_slice(&header);
}

/// How the server behaves now.
#[derive(Debug, Clone, Default)]
pub struct Behaviour {
    /// A bearer token every request must carry (401 without one, 403 with another).
    pub token: Option<String>,
    /// Content bytes per second per transfer (none: as fast as it goes).
    pub rate: Option<u64>,
    /// Stop sending content, without closing, after this many bytes of a transfer.
    pub stall_after: Option<u64>,
    /// Serve this file with its last byte flipped (a checksum mismatch).
    pub corrupt: Option<String>,
    /// Where LFS files redirect to: a base URL of another origin standing in for the Hub's CDN (it must reach
    /// this server's `/cdn/…`); none: this server, by a relative redirect.
    pub cdn: Option<String>,
}

struct Shared {
    repo: String,
    /// Per file (same order): sha256 and git blob id, computed once.
    digests: Vec<(String, String)>,
    commit: String,
    files: Vec<ModelFile>,
    behaviour: Mutex<Behaviour>,
    sent: AtomicU64,
    /// Content bytes sent per file path.
    sent_per_file: Mutex<std::collections::BTreeMap<String, u64>>,
    /// Content transfers open now, and the most open at once.
    open: AtomicU64,
    most_open: AtomicU64,
}

/// One content transfer, counted open while it lives.
struct Transfer(Arc<Shared>);

impl Transfer {
    fn start(shared: &Arc<Shared>) -> Transfer {
        let now = shared.open.fetch_add(1, Ordering::SeqCst) + 1;
        shared.most_open.fetch_max(now, Ordering::SeqCst);
        Transfer(shared.clone())
    }
}

impl Drop for Transfer {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A running server; stops when dropped.
pub struct HubServer {
    /// `http://127.0.0.1:<port>` (`https://` with TLS): the value of `HF_ENDPOINT`.
    pub endpoint: String,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl HubServer {
    /// Serves `files` as repository `repo` (`<org>/<model>`), revision `main`; `*` serves them under every
    /// repository name (a mirror standing in for the Hub where the repository is decided elsewhere, as in the demo).
    pub async fn start(repo: &str, files: Vec<ModelFile>) -> HubServer {
        HubServer::start_with(repo, files, None, LOOPBACK).await
    }

    /// [`HubServer::start`] over HTTPS with `tls`'s certificate (`https://127.0.0.1:<port>`).
    pub async fn start_tls(repo: &str, files: Vec<ModelFile>, tls: crate::tls::TestTls) -> HubServer {
        HubServer::start_with(repo, files, Some(tls), LOOPBACK).await
    }

    /// [`HubServer::start`] on address `ip` (the host's, for pods of a real node to reach).
    pub async fn start_on(ip: std::net::IpAddr, repo: &str, files: Vec<ModelFile>) -> HubServer {
        HubServer::start_with(repo, files, None, ip).await
    }

    async fn start_with(
        repo: &str,
        files: Vec<ModelFile>,
        tls: Option<crate::tls::TestTls>,
        ip: std::net::IpAddr,
    ) -> HubServer {
        let shared = Arc::new(Shared {
            repo: repo.to_string(),
            digests: files.iter().map(|f| (f.sha256(), f.git_sha1())).collect(),
            commit: format!("{:0>40}", "c0ffee"),
            files,
            behaviour: Mutex::new(Behaviour::default()),
            sent: AtomicU64::new(0),
            sent_per_file: Mutex::new(std::collections::BTreeMap::new()),
            open: AtomicU64::new(0),
            most_open: AtomicU64::new(0),
        });
        let app = Router::new()
            .route("/api/models/{org}/{name}/revision/{rev}", get(listing))
            .route("/api/models/{org}/{name}/tree/{rev}", get(tree))
            .route("/{org}/{name}/resolve/{rev}/{*path}", get(resolve))
            .route("/cdn/{sha}", get(content))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind((ip, 0)).await.expect("bind the hub");
        let address = listener.local_addr().expect("hub address");
        let (endpoint, task) = match tls {
            Some(tls) => (
                format!("https://{address}"),
                tokio::spawn(async move { crate::tls::serve(listener, app, &tls).await }),
            ),
            None => (
                format!("http://{address}"),
                tokio::spawn(async move {
                    let _ = axum::serve(listener, app).await;
                }),
            ),
        };
        HubServer { endpoint, shared, task }
    }

    /// Changes how it behaves.
    pub fn set(&self, behaviour: Behaviour) {
        *self.shared.behaviour.lock().unwrap() = behaviour;
    }

    /// Content bytes sent so far.
    pub fn bytes_sent(&self) -> u64 {
        self.shared.sent.load(Ordering::Relaxed)
    }

    /// Content bytes sent so far of each file, by path (a file fetched once, whole or by ranges, counts its size).
    pub fn bytes_sent_per_file(&self) -> std::collections::BTreeMap<String, u64> {
        self.shared.sent_per_file.lock().unwrap().clone()
    }

    /// The most content transfers (connections sending a file's bytes) that were open at once.
    pub fn most_transfers_at_once(&self) -> u64 {
        self.shared.most_open.load(Ordering::SeqCst)
    }

    /// The commit `main` points at.
    pub fn commit(&self) -> &str {
        &self.shared.commit
    }
}

impl Drop for HubServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The bearer token a request carries.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
}

/// An answer with the Hub's `X-Error-Code` header, which `huggingface_hub` reads to tell its errors apart.
fn hub_error(status: StatusCode, code: &'static str, message: &'static str) -> Response {
    (status, [("x-error-code", code)], message).into_response()
}

/// `Some(refusal)` when the configured token is missing or wrong, as the hub answers a gated model: 401 without
/// one, 403 for a wrong one.
fn refusal(shared: &Shared, headers: &HeaderMap) -> Option<Response> {
    let want = shared.behaviour.lock().unwrap().token.clone()?;
    match bearer(headers) {
        None => Some(hub_error(
            StatusCode::UNAUTHORIZED,
            "GatedRepo",
            "Access to this model is restricted",
        )),
        Some(t) if t != want => Some((StatusCode::FORBIDDEN, "Invalid credentials").into_response()),
        Some(_) => None,
    }
}

/// The Hub's answer for a repository it does not serve: without a token it cannot tell a missing repository
/// from a private one and says `401 RepoNotFound`; with a token, `404 RepoNotFound`.
fn repo_not_found(headers: &HeaderMap) -> Response {
    let status = match bearer(headers) {
        None => StatusCode::UNAUTHORIZED,
        Some(_) => StatusCode::NOT_FOUND,
    };
    hub_error(status, "RepoNotFound", "Repository not found")
}

fn serves(shared: &Shared, org: &str, name: &str) -> bool {
    shared.repo == "*" || format!("{org}/{name}") == shared.repo
}

fn known_revision(shared: &Shared, rev: &str) -> bool {
    rev == "main" || rev == shared.commit
}

/// The refusal the Hub answers a listing of `org/name` at `rev` with, if any: a missing or wrong token, an
/// unknown repository or revision.
fn listing_refused(shared: &Shared, org: &str, name: &str, rev: &str, headers: &HeaderMap) -> Option<Response> {
    if let Some(denied) = refusal(shared, headers) {
        return Some(denied);
    }
    if !serves(shared, org, name) {
        return Some(repo_not_found(headers));
    }
    if !known_revision(shared, rev) {
        return Some(hub_error(StatusCode::NOT_FOUND, "RevisionNotFound", "Invalid rev id"));
    }
    None
}

/// Each file's entry of a listing: `file(model file, sha256, git blob id)`.
fn entries(shared: &Shared, file: impl Fn(&ModelFile, &str, &str) -> serde_json::Value) -> Vec<serde_json::Value> {
    shared
        .files
        .iter()
        .zip(&shared.digests)
        .map(|(f, (sha256, blob))| file(f, sha256, blob))
        .collect()
}

fn json(body: serde_json::Value) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

async fn listing(
    State(shared): State<Arc<Shared>>,
    Path((org, name, rev)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    if let Some(refused) = listing_refused(&shared, &org, &name, &rev, &headers) {
        return refused;
    }
    let siblings = entries(&shared, |f, sha256, blob| {
        let mut s = serde_json::json!({ "rfilename": f.path, "size": f.bytes.len(), "blobId": blob });
        if f.is_lfs() {
            s["lfs"] = serde_json::json!({ "sha256": sha256, "size": f.bytes.len(), "pointerSize": 134 });
        }
        s
    });
    json(serde_json::json!({ "id": format!("{org}/{name}"), "sha": shared.commit, "siblings": siblings }))
}

/// The repository's tree, every file at once (`huggingface_hub`'s `snapshot_download` lists with it, asking
/// `recursive=true`).
async fn tree(
    State(shared): State<Arc<Shared>>,
    Path((org, name, rev)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    if let Some(refused) = listing_refused(&shared, &org, &name, &rev, &headers) {
        return refused;
    }
    json(serde_json::Value::from(entries(&shared, |f, sha256, blob| {
        let mut e = serde_json::json!({ "type": "file", "oid": blob, "size": f.bytes.len(), "path": f.path });
        if f.is_lfs() {
            e["lfs"] = serde_json::json!({ "oid": sha256, "size": f.bytes.len(), "pointerSize": 134 });
        }
        e
    })))
}

async fn resolve(
    State(shared): State<Arc<Shared>>,
    Path((org, name, rev, path)): Path<(String, String, String, String)>,
    headers: HeaderMap,
) -> Response {
    if let Some(denied) = refusal(&shared, &headers) {
        return denied;
    }
    let found = shared.files.iter().zip(&shared.digests).find(|(f, _)| f.path == path);
    let (true, true, Some((file, (sha256, blob)))) =
        (serves(&shared, &org, &name), known_revision(&shared, &rev), found)
    else {
        return (StatusCode::NOT_FOUND, "Entry not found").into_response();
    };
    if file.is_lfs() {
        // On the CDN when one is set (another origin, as the Hub's is: `huggingface_hub` then reads the file's
        // metadata from this answer), else here.
        let cdn = shared.behaviour.lock().unwrap().cdn.clone().unwrap_or_default();
        return Response::builder()
            .status(StatusCode::FOUND)
            .header(header::LOCATION, format!("{cdn}/cdn/{sha256}"))
            .header("X-Repo-Commit", shared.commit.as_str())
            .header("X-Linked-Etag", format!("\"{sha256}\""))
            .header("X-Linked-Size", file.bytes.len())
            .header(header::ETAG, format!("\"{blob}\""))
            .body(Body::empty())
            .unwrap();
    }
    let mut served = serve(&shared, file, &headers);
    for (name, value) in [
        ("x-repo-commit", shared.commit.clone()),
        ("etag", format!("\"{blob}\"")),
    ] {
        if let Ok(value) = value.parse() {
            served.headers_mut().insert(name, value);
        }
    }
    served
}

async fn content(State(shared): State<Arc<Shared>>, Path(sha): Path<String>, headers: HeaderMap) -> Response {
    match shared
        .files
        .iter()
        .zip(&shared.digests)
        .find(|(_, (sha256, _))| *sha256 == sha)
    {
        Some((file, _)) => serve(&shared, &file.clone(), &headers),
        None => (StatusCode::NOT_FOUND, "no such object").into_response(),
    }
}

/// The file's bytes, from the `Range` start if one is asked, paced and cut as the behaviour says.
fn serve(shared: &Arc<Shared>, file: &ModelFile, headers: &HeaderMap) -> Response {
    let behaviour = shared.behaviour.lock().unwrap().clone();
    let mut bytes = file.bytes.clone();
    if behaviour.corrupt.as_deref() == Some(file.path.as_str()) && !bytes.is_empty() {
        let mut v = bytes.to_vec();
        let last = v.len() - 1;
        v[last] ^= 0xff;
        bytes = Bytes::from(v);
    }
    // `bytes=<first>-` or `bytes=<first>-<last>` (last inclusive), as the Hub's CDN serves them.
    let range = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("bytes="))
        .and_then(|v| v.split_once('-'))
        .and_then(|(first, last)| {
            let first = first.parse::<usize>().ok()?;
            let last = match last {
                "" => None,
                l => Some(l.parse::<usize>().ok()?),
            };
            Some((first, last))
        });
    let len = bytes.len();
    let (status, from, to) = match range {
        Some((first, last)) if first >= len || last.is_some_and(|l| l < first) => {
            return Response::builder()
                .status(StatusCode::RANGE_NOT_SATISFIABLE)
                .body(Body::empty())
                .unwrap();
        }
        Some((first, last)) => (
            StatusCode::PARTIAL_CONTENT,
            first,
            last.map_or(len, |l| (l + 1).min(len)),
        ),
        None => (StatusCode::OK, 0, len),
    };
    let body = bytes.slice(from..to);
    let mut response = Response::builder()
        .status(status)
        .header(header::CONTENT_LENGTH, body.len())
        .header(header::ACCEPT_RANGES, "bytes");
    if status == StatusCode::PARTIAL_CONTENT {
        response = response.header(header::CONTENT_RANGE, format!("bytes {from}-{}/{len}", to - 1));
    }
    let shared = shared.clone();
    let chunk = 64 * 1024;
    let stream = async_stream(body, chunk, behaviour, shared, file.path.clone());
    response.body(Body::from_stream(stream)).unwrap()
}

fn async_stream(
    body: Bytes,
    chunk: usize,
    behaviour: Behaviour,
    shared: Arc<Shared>,
    path: String,
) -> impl futures::Stream<Item = Result<Bytes, std::io::Error>> {
    let transfer = Arc::new(Transfer::start(&shared));
    futures::stream::unfold((0usize, 0u64), move |(offset, sent)| {
        let _open = transfer.clone();
        let body = body.clone();
        let behaviour = behaviour.clone();
        let shared = shared.clone();
        let path = path.clone();
        async move {
            if offset >= body.len() {
                return None;
            }
            if behaviour.stall_after.is_some_and(|limit| sent >= limit) {
                futures::future::pending::<()>().await;
            }
            let end = (offset + chunk).min(body.len());
            let piece = body.slice(offset..end);
            if let Some(rate) = behaviour.rate {
                tokio::time::sleep(Duration::from_secs_f64(piece.len() as f64 / rate as f64)).await;
            }
            shared.sent.fetch_add(piece.len() as u64, Ordering::Relaxed);
            *shared.sent_per_file.lock().unwrap().entry(path).or_default() += piece.len() as u64;
            Some((Ok(piece), (end, sent + (end - offset) as u64)))
        }
    })
}
