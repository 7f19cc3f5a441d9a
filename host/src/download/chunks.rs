//! A large file over several connections at once, so that a source or CDN that caps each connection does not
//! cap the download.
//!
//! A file of at least two chunks is read as ranges of [`Connections::chunk`] bytes, up to
//! [`Connections::per_file`] at a time and, over all files, no more than the shared budget of connections
//! allows (a one-stream file takes one too). Each range is written at its offset into the file's partial file.
//! Ranges start in file order, so the written prefix grows almost in order, and one blocking task hashes it as
//! it grows: the file's checksum is computed while the transfer runs, over the bytes as they are on disk, and
//! checked once, as for a one-stream file.
//!
//! Resuming is per range: the ranges that are complete are listed in `<name>.aim-part.chunks` after each one,
//! and a run that finds the list fetches only the others (a partial file a one-stream run left counts its
//! prefix). The list is written after the range's bytes but not flushed with them: a killed process leaves them
//! in the page cache; after a node crash, a range listed but lost fails the checksum, and the file is fetched
//! again.

use super::disk::{BUFFER, Hasher, io_failure};
use super::failure::{Failure, FailureKind};
use super::listing::RemoteFile;
use super::progress::Progress;
use super::remote::{Location, Remote};
use futures::{StreamExt, TryStreamExt};
use std::collections::BTreeSet;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncSeekExt, AsyncWriteExt};
use tokio::sync::Semaphore;

/// Connections per file unless told otherwise: as many as the whole budget, so a lone large file (a one-file
/// model, or the last and largest shard) is not held to half of what a CDN's per-connection cap allows; when
/// several files run, [`DEFAULT_TOTAL`] shares the connections between them. Measured against 8 on a 2 GiB file
/// through connections capped at 50 MiB/s: 589 MiB/s against 346 (BENCHMARKS.md).
pub const DEFAULT_PER_FILE: usize = DEFAULT_TOTAL;
/// Connections over all files unless told otherwise.
pub const DEFAULT_TOTAL: usize = 16;
/// Bytes per range unless told otherwise: large enough that a request's round trip is small beside its
/// transfer, small enough that a resume loses little and the hash follows closely.
pub const DEFAULT_CHUNK: u64 = 16 << 20;

/// Suffix of the list of a partial file's complete ranges.
pub(crate) const STATE_SUFFIX: &str = ".chunks";

/// How many connections the files of one run may use.
#[derive(Debug, Clone)]
pub struct Connections {
    /// Ranges of one file in flight at once.
    pub per_file: usize,
    /// Bytes per range.
    pub chunk: u64,
    /// Connections over all files (one permit each).
    pub total: Arc<Semaphore>,
}

impl Connections {
    /// `per_file` ranges of `chunk` bytes per file, `total` connections in all.
    pub fn new(per_file: usize, total: usize, chunk: u64) -> Self {
        Connections {
            per_file: per_file.max(1),
            chunk: chunk.max(1),
            total: Arc::new(Semaphore::new(total.max(1))),
        }
    }

    /// True when `file` is read by ranges: at least two chunks, and more than one connection for it.
    pub(crate) fn ranged(&self, file: &RemoteFile) -> bool {
        self.per_file > 1 && file.size >= 2 * self.chunk
    }
}

impl Default for Connections {
    fn default() -> Self {
        Connections::new(DEFAULT_PER_FILE, DEFAULT_TOTAL, DEFAULT_CHUNK)
    }
}

/// The complete ranges of a partial file, as written beside it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct State {
    size: u64,
    chunk: u64,
    done: BTreeSet<u64>,
}

fn state_path(part: &Path) -> PathBuf {
    let mut name = part.as_os_str().to_owned();
    name.push(STATE_SUFFIX);
    PathBuf::from(name)
}

/// The bytes of `part` that hold downloaded content (for the free-space check): the complete ranges when it is
/// ranged, else its length.
pub(crate) async fn present(part: &Path, size: u64) -> u64 {
    if let Some(state) = read_state(part).await {
        return state.done.iter().map(|&i| range_len(i, state.chunk, size)).sum();
    }
    tokio::fs::metadata(part).await.map_or(0, |m| m.len().min(size))
}

async fn read_state(part: &Path) -> Option<State> {
    let text = tokio::fs::read(state_path(part)).await.ok()?;
    serde_json::from_slice(&text).ok()
}

async fn write_state(part: &Path, state: &State) -> Result<(), Failure> {
    let path = state_path(part);
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let body = serde_json::to_vec(state).unwrap_or_default();
    tokio::fs::write(&tmp, body).await.map_err(|e| io_failure(&e, &path))?;
    tokio::fs::rename(&tmp, &path).await.map_err(|e| io_failure(&e, &path))
}

/// Removes the list of complete ranges of `part` (the file is done, or starts over); true when there was one.
pub(crate) async fn forget(part: &Path) -> bool {
    tokio::fs::remove_file(state_path(part)).await.is_ok()
}

/// Bytes `[start, end)` of range `i`.
fn range(i: u64, chunk: u64, size: u64) -> (u64, u64) {
    (i * chunk, ((i + 1) * chunk).min(size))
}

/// The length of range `i` (the last one may be short).
fn range_len(i: u64, chunk: u64, size: u64) -> u64 {
    let (start, end) = range(i, chunk, size);
    end - start
}

/// The ranges already on disk: from the list when it matches this file and chunk size; else the ranges a
/// one-stream partial file of `part_len` bytes holds whole.
fn resumed(state: Option<State>, part_len: Option<u64>, size: u64, chunk: u64) -> BTreeSet<u64> {
    match (state, part_len) {
        (Some(s), Some(_)) if s.size == size && s.chunk == chunk => s.done,
        (None, Some(len)) => (0..len / chunk).filter(|&i| range(i, chunk, size).1 <= len).collect(),
        _ => BTreeSet::new(),
    }
}

/// Downloads `file` into `part` by ranges from `location`, counting bytes into `progress`; returns the hash of
/// the whole file (the caller checks it and renames the file).
#[allow(clippy::too_many_arguments)]
pub(crate) async fn fetch(
    remote: &Remote,
    file: &RemoteFile,
    location: &Location,
    part: &Path,
    connections: &Connections,
    progress: &Progress,
    stall: Duration,
) -> Result<Hasher, Failure> {
    let (size, chunk) = (file.size, connections.chunk);
    let count = size.div_ceil(chunk);
    let part_len = tokio::fs::metadata(part).await.ok().map(|m| m.len());
    let done = resumed(read_state(part).await, part_len, size, chunk);
    // The list is there before the file has holes, so a partial file without one is always a prefix.
    let listed = State {
        size,
        chunk,
        done: done.clone(),
    };
    write_state(part, &listed).await?;
    let out = tokio::fs::OpenOptions::new()
        .create(true)
        .truncate(done.is_empty())
        .write(true)
        .open(part)
        .await
        .map_err(|e| io_failure(&e, part))?;
    out.set_len(size).await.map_err(|e| io_failure(&e, part))?;
    drop(out);
    progress.add_existing(done.iter().map(|&i| range_len(i, chunk, size)).sum());

    // The hasher follows the complete ranges in order, reading them back from the partial file.
    let (tx, rx) = std::sync::mpsc::channel::<u64>();
    for &i in &done {
        let _ = tx.send(i);
    }
    let hashing = {
        let (part, file) = (part.to_path_buf(), file.clone());
        tokio::task::spawn_blocking(move || hash_in_order(&part, &file, chunk, count, rx))
    };
    let state = tokio::sync::Mutex::new(listed);
    let missing: Vec<u64> = (0..count).filter(|i| !done.contains(i)).collect();
    let fetched = futures::stream::iter(missing.into_iter().map(Ok))
        .map_ok(|i| {
            let (state, tx) = (&state, tx.clone());
            async move {
                let _connection = connections.total.acquire().await.expect("the budget is never closed");
                let (start, end) = range(i, chunk, size);
                fetch_range(remote, file, location, part, start, end, progress, stall).await?;
                let mut state = state.lock().await;
                state.done.insert(i);
                write_state(part, &state).await?;
                let _ = tx.send(i);
                Ok::<(), Failure>(())
            }
        })
        .try_buffer_unordered(connections.per_file)
        .try_collect::<()>()
        .await;
    drop(tx);
    let hashed = hashing
        .await
        .map_err(|e| Failure::new(FailureKind::Other, format!("hashing {} stopped: {e}", file.path)))?;
    fetched?;
    hashed
}

/// One range into its place in the partial file.
#[allow(clippy::too_many_arguments)]
async fn fetch_range(
    remote: &Remote,
    file: &RemoteFile,
    location: &Location,
    part: &Path,
    start: u64,
    end: u64,
    progress: &Progress,
    stall: Duration,
) -> Result<(), Failure> {
    let mut stream = remote.open_range(file, location, start, end).await?;
    let mut out = tokio::fs::OpenOptions::new()
        .write(true)
        .open(part)
        .await
        .map_err(|e| io_failure(&e, part))?;
    out.seek(std::io::SeekFrom::Start(start))
        .await
        .map_err(|e| io_failure(&e, part))?;
    let mut out = tokio::io::BufWriter::with_capacity(BUFFER, out);
    let mut have = 0u64;
    while let Some(bytes) = tokio::time::timeout(stall, stream.next()).await.map_err(|_| {
        Failure::new(
            FailureKind::Stalled,
            format!(
                "no bytes arrived for {}s while downloading {} (bytes {start} to {end}): the source or the network \
                 stalled; the download resumes where it stopped",
                stall.as_secs(),
                file.path
            ),
        )
    })? {
        let bytes = bytes?;
        if have + bytes.len() as u64 > end - start {
            return Err(Failure::new(
                FailureKind::Other,
                format!(
                    "the source sent more than bytes {start} to {end} of {} asked for",
                    file.path
                ),
            ));
        }
        out.write_all(&bytes).await.map_err(|e| io_failure(&e, part))?;
        have += bytes.len() as u64;
        progress.add(bytes.len() as u64);
    }
    out.flush().await.map_err(|e| io_failure(&e, part))?;
    if have != end - start {
        return Err(Failure::new(
            FailureKind::Unreachable,
            format!(
                "the source closed the transfer of {} at {} of bytes {start} to {end}; the download resumes where it \
                 stopped",
                file.path,
                start + have
            ),
        ));
    }
    Ok(())
}

/// Hashes `file`'s ranges in order as their numbers arrive on `rx` (complete ones, in any order), reading each
/// back from `part`. Ends when all `count` are hashed, or when `rx` closes first (a range failed: the run ends
/// and the next one hashes again).
fn hash_in_order(
    part: &Path,
    file: &RemoteFile,
    chunk: u64,
    count: u64,
    rx: std::sync::mpsc::Receiver<u64>,
) -> Result<Hasher, Failure> {
    let mut hasher = Hasher::for_file(file);
    let mut complete = BTreeSet::new();
    let mut next = 0u64;
    let mut input = std::fs::File::open(part).map_err(|e| io_failure(&e, part))?;
    let mut buf = vec![0u8; BUFFER];
    while next < count {
        let Ok(i) = rx.recv() else {
            return Err(Failure::new(
                FailureKind::Other,
                format!("{} stopped before all its ranges arrived", file.path),
            ));
        };
        complete.insert(i);
        while complete.remove(&next) {
            let (start, end) = range(next, chunk, file.size);
            std::io::Seek::seek(&mut input, std::io::SeekFrom::Start(start)).map_err(|e| io_failure(&e, part))?;
            let mut left = (end - start) as usize;
            while left > 0 {
                let n = input
                    .read(&mut buf[..left.min(BUFFER)])
                    .map_err(|e| io_failure(&e, part))?;
                if n == 0 {
                    return Err(Failure::new(
                        FailureKind::Other,
                        format!("{} is shorter on disk than its ranges", file.path),
                    ));
                }
                hasher.update(&buf[..n]);
                left -= n;
            }
            next += 1;
        }
    }
    Ok(hasher)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_cover_the_file_and_a_resume_keeps_only_whole_ranges() {
        let (size, chunk) = (10u64, 4u64);
        let ranges: Vec<_> = (0..size.div_ceil(chunk)).map(|i| range(i, chunk, size)).collect();
        assert_eq!(ranges, vec![(0, 4), (4, 8), (8, 10)]);
        // A one-stream partial file of 9 bytes holds ranges 0 and 1 whole, not 2.
        assert_eq!(resumed(None, Some(9), size, chunk), BTreeSet::from([0, 1]));
        let listed = State {
            size,
            chunk,
            done: BTreeSet::from([2]),
        };
        assert_eq!(
            resumed(Some(listed.clone()), Some(10), size, chunk),
            BTreeSet::from([2])
        );
        // A list for another chunk size or file, or without its partial file, starts over.
        let other = State {
            chunk: 2,
            ..listed.clone()
        };
        assert!(resumed(Some(other), Some(10), size, chunk).is_empty());
        assert!(resumed(Some(listed), None, size, chunk).is_empty());
    }
}
