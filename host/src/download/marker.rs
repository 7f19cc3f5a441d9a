//! The completion marker `<source dir>/.aim-complete.json`: what a finished run downloaded, and how each file
//! looked on disk when it ended.
//!
//! Contract: the marker is written last, after every file was verified and flushed; it records the source, the
//! filter and the listing (paths, sizes, published checksums) and, per file, the size and modification time it
//! had then (a *stamp*). A later run trusts a file without reading it back only when the source and filter are
//! the same, the listing is the same, and the file's size and modification time still equal its stamp; any other
//! file is read back and checked against its checksum, and fetched again when it differs. So a truncated or
//! rewritten file is found on the next run at the cost of one `stat` per file for the rest.

use super::filter::Filter;
use super::listing::RemoteFile;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

/// Name of the completion marker in a source's directory.
pub const MARKER: &str = ".aim-complete.json";

/// How a file looked on disk when the run that verified it ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Stamp {
    size: u64,
    /// Modification time, nanoseconds since the epoch.
    modified_ns: u128,
}

impl Stamp {
    /// The stamp of the file at `path` now (none when it cannot be read).
    async fn of(path: &Path) -> Option<Stamp> {
        let meta = tokio::fs::metadata(path).await.ok()?;
        let modified_ns = meta.modified().ok()?.duration_since(UNIX_EPOCH).ok()?.as_nanos();
        Some(Stamp {
            size: meta.len(),
            modified_ns,
        })
    }
}

/// The marker's content.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Marker {
    pub(crate) source: String,
    #[serde(default)]
    pub(crate) filter: Filter,
    pub(crate) files: Vec<RemoteFile>,
    /// Per path. Absent in markers written before stamps were recorded: their files are all read back once.
    #[serde(default)]
    pub(crate) stamps: BTreeMap<String, Stamp>,
}

/// What the marker on disk says about this run's listing.
#[derive(Debug, Default)]
pub(crate) struct Trusted {
    /// Paths whose stamp still matches: complete without reading them back.
    pub(crate) paths: std::collections::BTreeSet<String>,
    /// Whether every listed file is trusted (a warm cache: nothing to do).
    pub(crate) all: bool,
}

/// The marker's path under `root`.
pub(crate) fn path(root: &Path) -> PathBuf {
    root.join(MARKER)
}

/// Which of `files` the marker under `root` vouches for, for `source` with `filter`.
pub(crate) async fn trusted(root: &Path, source: &str, filter: &Filter, files: &[RemoteFile]) -> Trusted {
    let Ok(text) = tokio::fs::read(path(root)).await else {
        return Trusted::default();
    };
    let Ok(marker) = serde_json::from_slice::<Marker>(&text) else {
        return Trusted::default();
    };
    if marker.source != source || &marker.filter != filter || marker.files != files {
        return Trusted::default();
    }
    let mut paths = std::collections::BTreeSet::new();
    for f in files {
        let Some(recorded) = marker.stamps.get(&f.path) else {
            continue;
        };
        if recorded.size == f.size && Stamp::of(&root.join(&f.path)).await.as_ref() == Some(recorded) {
            paths.insert(f.path.clone());
        }
    }
    Trusted {
        all: paths.len() == files.len(),
        paths,
    }
}

/// Writes the marker for a finished run: stamps every file as it is now, then renames the marker into place.
pub(crate) async fn write(root: &Path, source: &str, filter: &Filter, files: &[RemoteFile]) -> std::io::Result<()> {
    let mut stamps = BTreeMap::new();
    for f in files {
        let stamp = Stamp::of(&root.join(&f.path))
            .await
            .ok_or_else(|| std::io::Error::other(format!("{} vanished after it was verified", f.path)))?;
        stamps.insert(f.path.clone(), stamp);
    }
    let marker = Marker {
        source: source.to_string(),
        filter: filter.clone(),
        files: files.to_vec(),
        stamps,
    };
    let temp = root.join(format!("{MARKER}.tmp"));
    tokio::fs::write(&temp, serde_json::to_vec_pretty(&marker).unwrap_or_default()).await?;
    tokio::fs::rename(&temp, path(root)).await
}

/// Removes the marker (the run about to start may change files it vouched for).
pub(crate) async fn remove(root: &Path) {
    let _ = tokio::fs::remove_file(path(root)).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::download::listing::Checksum;

    fn listing() -> Vec<RemoteFile> {
        ["a.json", "b.safetensors"]
            .iter()
            .map(|p| RemoteFile {
                path: p.to_string(),
                size: 4,
                checksum: Checksum::SizeOnly,
            })
            .collect()
    }

    #[tokio::test]
    async fn the_marker_vouches_only_for_files_as_it_stamped_them_for_the_same_source_and_filter() {
        let dir = tempfile::tempdir().unwrap();
        let files = listing();
        for f in &files {
            std::fs::write(dir.path().join(&f.path), b"1234").unwrap();
        }
        let filter = Filter::default();
        write(dir.path(), "hf://o/m", &filter, &files).await.unwrap();
        assert!(trusted(dir.path(), "hf://o/m", &filter, &files).await.all);

        std::fs::OpenOptions::new()
            .write(true)
            .open(dir.path().join("b.safetensors"))
            .unwrap()
            .set_len(1)
            .unwrap();
        let after = trusted(dir.path(), "hf://o/m", &filter, &files).await;
        assert!(!after.all);
        assert_eq!(after.paths.into_iter().collect::<Vec<_>>(), ["a.json"]);

        let other = Filter::new(vec!["*.json".into()], vec![]);
        assert!(trusted(dir.path(), "hf://o/m", &other, &files).await.paths.is_empty());
        assert!(trusted(dir.path(), "hf://o/n", &filter, &files).await.paths.is_empty());
    }

    #[tokio::test]
    async fn a_marker_without_stamps_vouches_for_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let files = listing();
        let old = serde_json::json!({ "source": "hf://o/m", "files": files });
        std::fs::write(path(dir.path()), old.to_string()).unwrap();
        let t = trusted(dir.path(), "hf://o/m", &Filter::default(), &files).await;
        assert!(
            t.paths.is_empty() && !t.all,
            "files of an old marker are read back once"
        );
    }
}
