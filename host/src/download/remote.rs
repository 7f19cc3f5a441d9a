//! What a source holds and how to read it: the file list with sizes and published checksums, and a byte stream of
//! one file from an offset (for resuming). Two implementations, [`super::hub`] and [`super::s3`], behind one enum.

use super::failure::Failure;
use super::hub::Hub;
use super::s3::S3;
use bytes::Bytes;
use futures::stream::BoxStream;

/// A checksum a source publishes for a file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Checksum {
    /// SHA-256 of the content (the Hub's LFS files).
    Sha256(String),
    /// Git's blob SHA-1: of `blob <size>\0` and the content (the Hub's small files).
    GitSha1(String),
    /// MD5 of the content (an S3 ETag of an object uploaded in one part).
    Md5(String),
    /// None published: the size is checked.
    SizeOnly,
}

/// One file of a source.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RemoteFile {
    /// Path relative to the source (`/`-separated).
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// Its checksum.
    pub checksum: Checksum,
}

/// A source being downloaded.
pub enum Remote {
    /// The Hugging Face Hub (or a mirror).
    Hub(Hub),
    /// An S3-compatible store.
    S3(S3),
}

/// A file's bytes from an offset.
pub type ByteStream = BoxStream<'static, Result<Bytes, Failure>>;

impl Remote {
    /// Every file of the source.
    pub async fn list(&self) -> Result<Vec<RemoteFile>, Failure> {
        match self {
            Remote::Hub(h) => h.list().await,
            Remote::S3(s) => s.list().await,
        }
    }

    /// `file`'s bytes from `offset`; the bool is false when the source ignored the offset and sends the whole
    /// file (the caller then starts over).
    pub async fn open(&self, file: &RemoteFile, offset: u64) -> Result<(ByteStream, bool), Failure> {
        match self {
            Remote::Hub(h) => h.open(file, offset).await,
            Remote::S3(s) => s.open(file, offset).await,
        }
    }
}
