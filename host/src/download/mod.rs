//! `aim-operator download SOURCE_URI`: fills a cache volume with a model, in the operator's own image.
//!
//! Contract (what the operator and the runtime rely on):
//! - the files of `hf://<org>/<model>[@rev]` land in `<dir>/<org>/<model>/`, those of `s3://<bucket>/<prefix>` in
//!   `<dir>/<bucket>/<prefix>/`, with the source's relative paths;
//! - a file under its own name is complete and verified (size, and the checksum the source publishes); a file
//!   being written is `<name>.aim-part`, continued from where it stopped when the downloader runs again;
//! - only the files the [`filter`] keeps are downloaded (by default all but `original/**`); the last line counts
//!   the files it skipped;
//! - every listed name is checked before the first byte (inside the cache, fits a file name and a path): one bad
//!   name fails the run with all of them named, and nothing is written;
//! - the [`marker`] `<dir>/<source dir>/.aim-complete.json` is written last: a directory without it is not a warm
//!   cache; with it, the source unchanged and every file as the marker stamped it, a new run ends at once; a file
//!   that changed since is read back, and fetched again when it no longer matches;
//! - free space is checked against what is still to download before the first byte;
//! - `--parallel` files at once (4 by default); a large file by ranges over up to `--connections-per-file`
//!   connections (16), no more than `--connections` (16) in all ([`chunks`]), resumed per range; a transfer with
//!   no bytes for `--stall-timeout` fails the run;
//! - progress: see [`progress`];
//! - the last line on stdout, also written as the container's termination message, is
//!   `{"result":"ok","bytes":N,"files":K,"skipped":{…}}` or `{"result":"failed","kind":…,"message":…}` (see [`failure`]); the exit code is 0
//!   or 1. With `--size-only` nothing is written but the last line, `{"result":"size","bytes":N,"files":K}`.

pub mod chunks;
pub mod disk;
pub mod failure;
pub mod fetch;
pub mod filter;
pub mod hub;
pub mod listing;
pub mod marker;
pub mod progress;
pub mod remote;
pub mod s3;
pub mod source;

use failure::{Failure, FailureKind};
use filter::Filter;
use futures::TryStreamExt;
use listing::RemoteFile;
use remote::Remote;
use source::Source;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Files downloaded at once unless told otherwise.
pub const DEFAULT_PARALLEL: usize = 4;

/// How to run.
#[derive(Debug, Clone)]
pub struct Options {
    /// The source URI.
    pub source_uri: String,
    /// The volume's mount point.
    pub dir: PathBuf,
    /// Files at once.
    pub parallel: usize,
    /// Fail a file that gets no bytes for this long.
    pub stall_timeout: Duration,
    /// How often progress is reported.
    pub progress_every: Duration,
    /// The Job to report progress on, as `<namespace>/<name>`.
    pub progress_job: Option<(String, String)>,
    /// PEM certificates trusted besides the system's (a private CA of a hub mirror or an S3 store).
    pub extra_ca: Option<PathBuf>,
    /// Which files of the source are downloaded.
    pub filter: Filter,
    /// Connections per file and in all, and the bytes of a range.
    pub connections: chunks::Connections,
}

/// What a finished run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Done {
    /// Bytes in the cache.
    pub bytes: u64,
    /// Files.
    pub files: usize,
    /// Whether the marker was there already (nothing to do).
    pub already_complete: bool,
    /// What the filter left out.
    pub skipped: Skipped,
}

impl Done {
    /// The last line.
    pub fn to_line(&self) -> String {
        serde_json::json!({ "result": "ok", "bytes": self.bytes, "files": self.files, "skipped": self.skipped })
            .to_string()
    }
}

/// Files of the source the filter left out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Skipped {
    /// How many.
    pub files: usize,
    /// Their bytes.
    pub bytes: u64,
}

/// A source's listing after the filter: what is downloaded, and what is not.
pub struct Listed {
    files: Vec<RemoteFile>,
    /// What the filter left out.
    pub skipped: Skipped,
}

impl Listed {
    /// Bytes to download.
    pub fn bytes(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }
    /// Files to download.
    pub fn files(&self) -> usize {
        self.files.len()
    }
}

/// Installs the TLS provider reqwest and object_store use (ring, as kube does); idempotent.
fn tls() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The PEM file of extra trusted certificates, read: empty without one, a failure that says where they should
/// come from when it cannot be read or holds none.
fn extra_ca_pem(path: Option<&Path>) -> Result<Vec<u8>, Failure> {
    let Some(path) = path else { return Ok(Vec::new()) };
    let unusable = |why: String| {
        Failure::new(
            FailureKind::Other,
            format!(
                "cannot use the extra CA certificates at {} ({why}): the operator mounts them from the ConfigMap \
                 its --downloader-ca-bundle flag names, which must exist in this namespace with that key and hold \
                 PEM certificates",
                path.display()
            ),
        )
    };
    let pem = std::fs::read(path).map_err(|e| unusable(e.to_string()))?;
    if !pem.windows(27).any(|w| w == b"-----BEGIN CERTIFICATE-----") {
        return Err(unusable("no PEM certificate in it".into()));
    }
    Ok(pem)
}

fn remote_for(source: &Source, extra_ca: Option<&Path>) -> Result<Remote, Failure> {
    tls();
    let env = |k: &str| std::env::var(k).ok();
    let pem = extra_ca_pem(extra_ca)?;
    let bad_pem = |e: &dyn std::fmt::Display| Failure::new(FailureKind::Other, format!("extra CA certificates: {e}"));
    Ok(match source {
        Source::HuggingFace { repo, revision } => {
            let extra = if pem.is_empty() {
                vec![]
            } else {
                reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| bad_pem(&e))?
            };
            let client = reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(10))
                .user_agent(concat!("aim-operator/", env!("CARGO_PKG_VERSION")))
                // Added to the system's roots (the image's CA bundle), not instead of them.
                .tls_certs_merge(extra)
                .build()
                .map_err(|e| Failure::new(FailureKind::Other, format!("cannot set up HTTP: {e}")))?;
            Remote::Hub(hub::Hub::new(client, repo, revision, env))
        }
        Source::S3 { bucket, prefix } => {
            let extra = if pem.is_empty() {
                vec![]
            } else {
                object_store::Certificate::from_pem_bundle(&pem).map_err(|e| bad_pem(&e))?
            };
            Remote::S3(s3::S3::new(bucket, prefix, env, extra)?)
        }
    })
}

/// Lists `source`, keeps what `filter` keeps, and checks every kept name against the cache directory under
/// `dir`: a listing that would write nothing, or a name the cache cannot hold, fails here, before any byte.
async fn listed(remote: &Remote, source: &Source, filter: &Filter, dir: &Path) -> Result<Listed, Failure> {
    let all = remote.list().await?;
    if all.is_empty() {
        return Err(Failure::new(
            FailureKind::NotFound,
            format!("{source} lists no files: check the source URI"),
        ));
    }
    let listed_count = all.len();
    let (files, left_out): (Vec<_>, Vec<_>) = all.into_iter().partition(|f| filter.keeps(&f.path));
    if files.is_empty() {
        return Err(Failure::new(
            FailureKind::NotFound,
            format!(
                "the cache's file patterns (include {:?}, exclude {:?}) leave none of the {listed_count} files \
                 {source} lists: change modelFiles",
                filter.include, filter.exclude
            ),
        ));
    }
    fetch::check_names(&dir.join(source.directory()), &files)?;
    Ok(Listed {
        files,
        skipped: Skipped {
            files: left_out.len(),
            bytes: left_out.iter().map(|f| f.size).sum(),
        },
    })
}

/// Lists the source as a download into `dir` would (the filter applied, the names checked), writing nothing.
pub async fn size(source_uri: &str, filter: &Filter, dir: &Path, extra_ca: Option<&Path>) -> Result<Listed, Failure> {
    let source = Source::parse(source_uri).map_err(|m| Failure::new(FailureKind::InvalidSource, m))?;
    listed(&remote_for(&source, extra_ca)?, &source, filter, dir).await
}

/// Downloads the source into the volume.
pub async fn run(options: &Options) -> Result<Done, Failure> {
    let source = Source::parse(&options.source_uri).map_err(|m| Failure::new(FailureKind::InvalidSource, m))?;
    let remote = remote_for(&source, options.extra_ca.as_deref())?;
    let listed = listed(&remote, &source, &options.filter, &options.dir).await?;
    let files = &listed.files;
    let root = options.dir.join(source.directory());
    let total = listed.bytes();
    let done = |already_complete| Done {
        bytes: total,
        files: files.len(),
        already_complete,
        skipped: listed.skipped,
    };
    let trusted = marker::trusted(&root, &options.source_uri, &options.filter, files).await;
    if trusted.all {
        return Ok(done(true));
    }
    marker::remove(&root).await;
    tokio::fs::create_dir_all(&root)
        .await
        .map_err(|e| Failure::new(FailureKind::Other, format!("cannot create {}: {e}", root.display())))?;
    check_space(&root, files).await?;

    let progress = Arc::new(progress::Progress::default());
    progress.set_total(total);
    let target = match &options.progress_job {
        Some((namespace, name)) => match kube::Client::try_default().await {
            Ok(client) => Some(progress::JobTarget {
                client,
                namespace: namespace.clone(),
                name: name.clone(),
            }),
            Err(e) => {
                eprintln!("no Kubernetes client for progress reports ({e}); the download goes on without them");
                None
            }
        },
        None => None,
    };
    let reporter = progress::report(progress.clone(), options.progress_every, target);
    let fetched = futures::stream::iter(files.iter().map(Ok))
        .try_for_each_concurrent(options.parallel.max(1), |file| {
            let trusted = trusted.paths.contains(&file.path);
            fetch::fetch(
                &remote,
                file,
                &root,
                &progress,
                options.stall_timeout,
                trusted,
                &options.connections,
            )
        })
        .await;
    reporter.abort();
    fetched?;

    // Each file was flushed before its rename; the marker and the directory entries reach the disk before the pod
    // reports success.
    marker::write(&root, &options.source_uri, &options.filter, files)
        .await
        .map_err(|e| Failure::new(FailureKind::Other, format!("cannot write the completion marker: {e}")))?;
    flush_volume(&root).await?;
    Ok(done(false))
}

/// Flushes the directory `root` (its entries: the renamed files and the marker).
async fn flush_volume(root: &Path) -> Result<(), Failure> {
    let flushed = match tokio::fs::File::open(root).await {
        Ok(dir) => dir.sync_all().await,
        Err(e) => Err(e),
    };
    flushed.map_err(|e| Failure::new(FailureKind::Other, format!("cannot flush the cache directory: {e}")))
}

/// Fails when the volume has less room than the bytes still to download.
async fn check_space(root: &Path, files: &[RemoteFile]) -> Result<(), Failure> {
    let mut present = 0u64;
    for f in files {
        // The names were checked with the listing.
        let Ok(path) = fetch::inside(root, &f.path) else {
            continue;
        };
        if let Ok(m) = tokio::fs::metadata(&path).await {
            present += m.len().min(f.size);
        }
        present += chunks::present(&fetch::part_of(&path), f.size).await;
    }
    let needed = files.iter().map(|f| f.size).sum::<u64>().saturating_sub(present);
    let stat = nix::sys::statvfs::statvfs(root).map_err(|e| {
        Failure::new(
            FailureKind::Other,
            format!("cannot read free space of {}: {e}", root.display()),
        )
    })?;
    let free = stat.blocks_available() as u64 * stat.fragment_size() as u64;
    if needed > free {
        return Err(Failure::new(
            FailureKind::DiskFull,
            format!(
                "the cache volume has {} free but the model needs {} more: raise the ModelCache's spec.size (or the \
                 volume's size) so the whole model fits",
                human(free),
                human(needed)
            ),
        ));
    }
    Ok(())
}

/// Bytes for a person: MiB below a GiB, else GiB, one decimal.
pub fn human(bytes: u64) -> String {
    const GIB: f64 = (1u64 << 30) as f64;
    const MIB: f64 = (1u64 << 20) as f64;
    let b = bytes as f64;
    if b >= GIB {
        format!("{:.1} GiB", b / GIB)
    } else {
        format!("{:.1} MiB", b / MIB)
    }
}

/// Writes `line` where Kubernetes reads a container's termination message (when it can: not outside a pod).
pub fn write_termination_message(line: &str) {
    let path = std::env::var("AIM_TERMINATION_LOG").unwrap_or_else(|_| "/dev/termination-log".into());
    if Path::new(&path).parent().is_some_and(Path::exists) {
        let _ = std::fs::write(&path, line);
    }
}
