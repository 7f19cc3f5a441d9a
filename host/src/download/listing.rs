//! What a source holds and how it is read, whichever protocol serves it: the file list with sizes and published
//! checksums, and a byte stream of one file from an offset (for resuming).

use super::failure::Failure;
use bytes::Bytes;
use futures::stream::BoxStream;

/// A checksum a source publishes for a file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) enum Checksum {
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
pub(crate) struct RemoteFile {
    /// Path relative to the source (`/`-separated).
    pub(crate) path: String,
    pub(crate) size: u64,
    pub(crate) checksum: Checksum,
}

/// A file's bytes from an offset.
pub(crate) type ByteStream = BoxStream<'static, Result<Bytes, Failure>>;
