//! One file into the volume: resumed from its partial file (`<name>.aim-part`) when one is there, hashed as it is
//! written, cut off when no bytes arrive for the stall timeout, checked against the size and checksum the source
//! published, and renamed to its name only then, so a file under its own name is always complete and verified.

use super::chunks::{self, Connections};
use super::disk::{BUFFER, Hasher, expected, hash_existing, io_failure};
use super::failure::{Failure, FailureKind};
use super::listing::RemoteFile;
use super::progress::Progress;
use super::remote::Remote;
use futures::StreamExt;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;
use tokio::io::AsyncWriteExt;

/// Suffix of a file still being downloaded.
pub(crate) const PART_SUFFIX: &str = ".aim-part";

/// The longest file name (one path segment) a filesystem takes.
const NAME_MAX: usize = 255;
/// The longest path the cache writes, with room for the partial file's suffix.
const PATH_MAX: usize = 4000;

/// Checks every name of a listing before the first byte is written: each stays inside the cache, each segment
/// fits a file name, each path fits the filesystem (with the partial file's suffix). All that fail are named.
pub(crate) fn check_names(root: &Path, files: &[RemoteFile]) -> Result<(), Failure> {
    let mut bad = Vec::new();
    for f in files {
        match inside(root, &f.path) {
            Err(e) => bad.push(e.message),
            Ok(path) => {
                let long_segment = f.path.split('/').find(|s| s.len() + PART_SUFFIX.len() > NAME_MAX);
                if let Some(segment) = long_segment {
                    bad.push(format!(
                        "'{}' has a name of {} bytes, more than a file system takes ({NAME_MAX}, less {} for the \
                         partial file's suffix)",
                        f.path,
                        segment.len(),
                        PART_SUFFIX.len()
                    ));
                } else if path.as_os_str().len() + PART_SUFFIX.len() > PATH_MAX {
                    bad.push(format!("'{}' makes a path of more than {PATH_MAX} bytes", f.path));
                }
            }
        }
    }
    if bad.is_empty() {
        return Ok(());
    }
    Err(Failure::new(
        FailureKind::Other,
        format!(
            "the source lists {} file{} the cache cannot hold, so nothing was downloaded: {}. Exclude them with the \
             cache's modelFiles.exclude",
            bad.len(),
            if bad.len() == 1 { "" } else { "s" },
            bad.join("; ")
        ),
    ))
}

/// `relative` under `root`, refusing absolute paths and `..` (a hostile listing must not write elsewhere).
pub(crate) fn inside(root: &Path, relative: &str) -> Result<PathBuf, Failure> {
    let path = Path::new(relative);
    let clean = !relative.is_empty() && path.components().all(|c| matches!(c, Component::Normal(_)));
    if !clean {
        return Err(Failure::new(
            FailureKind::Other,
            format!("the source lists a file named '{relative}', which would land outside the cache; refusing it"),
        ));
    }
    Ok(root.join(path))
}

/// The partial file of `path`.
pub(crate) fn part_of(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(PART_SUFFIX);
    PathBuf::from(name)
}

/// True when `path` holds exactly `file` (size and checksum).
pub(crate) async fn is_complete(path: &Path, file: &RemoteFile) -> bool {
    let Ok(meta) = tokio::fs::metadata(path).await else {
        return false;
    };
    if meta.len() != file.size {
        return false;
    }
    let mut hasher = Hasher::for_file(file);
    if hash_existing(path, &mut hasher).await.is_err() {
        return false;
    }
    hasher.finish().as_deref() == expected(&file.checksum)
}

/// Downloads `file` into `root`, counting bytes into `progress`: by ranges over several connections when it is
/// large and the source serves ranges ([`chunks`]), else in one stream.
pub(crate) async fn fetch(
    remote: &Remote,
    file: &RemoteFile,
    root: &Path,
    progress: &Progress,
    stall: Duration,
    trusted: bool,
    connections: &Connections,
) -> Result<(), Failure> {
    let path = inside(root, &file.path)?;
    // Trusted: the completion marker recorded this file's size and modification time, and both are unchanged.
    if trusted || is_complete(&path, file).await {
        progress.add_existing(file.size);
        return Ok(());
    }
    if let Some(parent) = path.parent() {
        tokio::fs::create_dir_all(parent)
            .await
            .map_err(|e| io_failure(&e, parent))?;
    }
    let part = part_of(&path);
    if connections.ranged(file)
        && let Some(location) = remote.locate(file).await?
    {
        let hasher = chunks::fetch(remote, file, &location, &part, connections, progress, stall).await?;
        let file_handle = tokio::fs::File::open(&part).await.map_err(|e| io_failure(&e, &part))?;
        file_handle.sync_all().await.map_err(|e| io_failure(&e, &part))?;
        return verified(file, &part, &path, hasher, progress).await;
    }
    let _connection = connections.total.acquire().await.expect("the budget is never closed");
    if chunks::forget(&part).await {
        // A ranged partial file has holes: it is no prefix to continue.
        let _ = tokio::fs::remove_file(&part).await;
    }
    let mut hasher = Hasher::for_file(file);
    let mut have = match tokio::fs::metadata(&part).await {
        Ok(m) if m.len() <= file.size => hash_existing(&part, &mut hasher).await?,
        _ => 0,
    };
    progress.add_existing(have);
    let (mut stream, resumed) = if have < file.size || file.size == 0 {
        remote.open(file, have).await?
    } else {
        (futures::stream::empty().boxed(), true)
    };
    if !resumed {
        // The source ignored the range and sends everything: start the file over.
        progress.sub(have);
        have = 0;
        hasher = Hasher::for_file(file);
    }
    let out = tokio::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .append(resumed)
        .truncate(!resumed)
        .open(&part)
        .await
        .map_err(|e| io_failure(&e, &part))?;
    let mut out = tokio::io::BufWriter::with_capacity(BUFFER, out);
    loop {
        let next = match tokio::time::timeout(stall, stream.next()).await {
            Ok(next) => next,
            Err(_) => {
                out.flush().await.map_err(|e| io_failure(&e, &part))?;
                return Err(Failure::new(
                    FailureKind::Stalled,
                    format!(
                        "no bytes arrived for {}s while downloading {} ({have} of {} bytes): the source or the \
                         network stalled; the download resumes where it stopped",
                        stall.as_secs(),
                        file.path,
                        file.size
                    ),
                ));
            }
        };
        let Some(chunk) = next else { break };
        let chunk = match chunk {
            Ok(c) => c,
            Err(e) => {
                out.flush().await.map_err(|e| io_failure(&e, &part))?;
                return Err(e);
            }
        };
        out.write_all(&chunk).await.map_err(|e| io_failure(&e, &part))?;
        hasher.update(&chunk);
        have += chunk.len() as u64;
        progress.add(chunk.len() as u64);
    }
    out.flush().await.map_err(|e| io_failure(&e, &part))?;
    out.into_inner().sync_all().await.map_err(|e| io_failure(&e, &part))?;
    if have != file.size {
        return Err(Failure::new(
            FailureKind::Unreachable,
            format!(
                "the source closed the transfer of {} at {have} of {} bytes; the download resumes where it stopped",
                file.path, file.size
            ),
        ));
    }
    verified(file, &part, &path, hasher, progress).await
}

/// Renames the complete partial file `part` to `path` when `hasher` (fed all of it) matches the checksum the
/// source publishes; otherwise removes it, so the next attempt fetches it again.
async fn verified(
    file: &RemoteFile,
    part: &Path,
    path: &Path,
    hasher: Hasher,
    progress: &Progress,
) -> Result<(), Failure> {
    let got = hasher.finish();
    if let (Some(want), Some(got)) = (expected(&file.checksum), got.as_deref())
        && want != got
    {
        let _ = tokio::fs::remove_file(part).await;
        let _ = chunks::forget(part).await;
        progress.sub(file.size);
        return Err(Failure::new(
            FailureKind::ChecksumMismatch,
            format!(
                "{} does not match the checksum its source publishes (expected {want}, got {got}); the partial file \
                 was removed and the next attempt downloads it again. If this repeats, the source or a proxy \
                 in between is serving other bytes",
                file.path
            ),
        ));
    }
    tokio::fs::rename(part, path).await.map_err(|e| io_failure(&e, path))?;
    let _ = chunks::forget(part).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_stay_inside_the_cache() {
        let root = Path::new("/cache/org/m");
        assert_eq!(inside(root, "a/b.bin").unwrap(), root.join("a/b.bin"));
        for bad in ["../x", "/etc/passwd", "a/../../x", "", "./a"] {
            assert!(inside(root, bad).is_err(), "{bad}");
        }
    }
}
