//! Bytes on the cache volume: the write buffer, what a failed write means for a person (a full volume is its own
//! failure), and the hash a file's published checksum is checked with, fed as its bytes arrive or read back.

use super::failure::{Failure, FailureKind};
use super::listing::{Checksum, RemoteFile};
use md5::Md5;
use sha1::Sha1;
use sha2::{Digest, Sha256};
use std::path::Path;
use tokio::io::AsyncReadExt;

/// Write buffer: large writes keep the volume's throughput, and a kill loses at most this much.
pub(crate) const BUFFER: usize = 1 << 20;

/// The hash a checksum is computed with, fed as bytes arrive.
pub(crate) enum Hasher {
    Sha256(Sha256),
    GitSha1(Sha1),
    Md5(Md5),
    None,
}

impl Hasher {
    pub(crate) fn for_file(file: &RemoteFile) -> Hasher {
        match &file.checksum {
            Checksum::Sha256(_) => Hasher::Sha256(Sha256::new()),
            Checksum::GitSha1(_) => {
                let mut h = Sha1::new();
                h.update(format!("blob {}\0", file.size).as_bytes());
                Hasher::GitSha1(h)
            }
            Checksum::Md5(_) => Hasher::Md5(Md5::new()),
            Checksum::SizeOnly => Hasher::None,
        }
    }

    pub(crate) fn update(&mut self, bytes: &[u8]) {
        match self {
            Hasher::Sha256(h) => h.update(bytes),
            Hasher::GitSha1(h) => h.update(bytes),
            Hasher::Md5(h) => h.update(bytes),
            Hasher::None => {}
        }
    }

    pub(crate) fn finish(self) -> Option<String> {
        let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        match self {
            Hasher::Sha256(h) => Some(hex(&h.finalize())),
            Hasher::GitSha1(h) => Some(hex(&h.finalize())),
            Hasher::Md5(h) => Some(hex(&h.finalize())),
            Hasher::None => None,
        }
    }
}

pub(crate) fn expected(checksum: &Checksum) -> Option<&str> {
    match checksum {
        Checksum::Sha256(s) | Checksum::GitSha1(s) | Checksum::Md5(s) => Some(s),
        Checksum::SizeOnly => None,
    }
}

pub(crate) fn io_failure(e: &std::io::Error, path: &Path) -> Failure {
    if e.raw_os_error() == Some(nix::libc::ENOSPC) {
        Failure::new(
            FailureKind::DiskFull,
            format!(
                "the cache volume is full while writing {}: raise the ModelCache's spec.size (or the volume's size) \
                 so the whole model fits",
                path.display()
            ),
        )
    } else {
        Failure::new(FailureKind::Other, format!("cannot write {}: {e}", path.display()))
    }
}

/// Hashes the first bytes of a file that are already on disk (a resumed part, or a file to re-check).
pub(crate) async fn hash_existing(path: &Path, hasher: &mut Hasher) -> Result<u64, Failure> {
    let mut file = tokio::fs::File::open(path).await.map_err(|e| io_failure(&e, path))?;
    let mut buf = vec![0u8; BUFFER];
    let mut total = 0u64;
    loop {
        let n = file.read(&mut buf).await.map_err(|e| io_failure(&e, path))?;
        if n == 0 {
            return Ok(total);
        }
        hasher.update(&buf[..n]);
        total += n as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn git_blob_ids_hash_the_header_and_the_content() {
        // `git hash-object` of "hello\n" is ce013625030ba8dba906f756967f9e9ca394464a.
        let file = RemoteFile {
            path: "x".into(),
            size: 6,
            checksum: Checksum::GitSha1("ce013625030ba8dba906f756967f9e9ca394464a".into()),
        };
        let mut h = Hasher::for_file(&file);
        h.update(b"hello\n");
        assert_eq!(h.finish().as_deref(), expected(&file.checksum));
    }
}
