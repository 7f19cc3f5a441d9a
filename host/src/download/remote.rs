//! A source being downloaded: [`super::hub`] or [`super::s3`] behind one enum, answering in the types of
//! [`super::listing`].

use super::failure::Failure;
use super::hub::Hub;
use super::listing::{ByteStream, RemoteFile};
use super::s3::S3;
use reqwest::Url;

/// Where a file's bytes are read by range, found once per file.
pub(crate) enum Location {
    /// The URL the Hub's redirect ends at.
    Url(Url),
    /// The object itself.
    Object,
}

/// A source being downloaded.
pub(crate) enum Remote {
    /// The Hugging Face Hub (or a mirror).
    Hub(Hub),
    S3(S3),
}

impl Remote {
    /// Every file of the source.
    pub(crate) async fn list(&self) -> Result<Vec<RemoteFile>, Failure> {
        match self {
            Remote::Hub(h) => h.list().await,
            Remote::S3(s) => s.list().await,
        }
    }

    /// `file`'s bytes from `offset`; the bool is false when the source ignored the offset and sends the whole
    /// file (the caller then starts over).
    pub(crate) async fn open(&self, file: &RemoteFile, offset: u64) -> Result<(ByteStream, bool), Failure> {
        match self {
            Remote::Hub(h) => h.open(file, offset).await,
            Remote::S3(s) => s.open(file, offset).await,
        }
    }

    /// Where `file` is read by range; `None` when the source ignores ranges (the file is then read in one
    /// stream).
    pub(crate) async fn locate(&self, file: &RemoteFile) -> Result<Option<Location>, Failure> {
        match self {
            Remote::Hub(h) => Ok(h.locate(file).await?.map(Location::Url)),
            Remote::S3(_) => Ok(Some(Location::Object)),
        }
    }

    /// Bytes `start..end` of `file` at `location`.
    pub(crate) async fn open_range(
        &self,
        file: &RemoteFile,
        location: &Location,
        start: u64,
        end: u64,
    ) -> Result<ByteStream, Failure> {
        match (self, location) {
            (Remote::Hub(h), Location::Url(url)) => h.open_range(file, url, start, end).await,
            (Remote::S3(s), _) => s.open_range(file, start, end).await,
            (Remote::Hub(_), Location::Object) => Err(Failure::new(
                super::failure::FailureKind::Other,
                format!("{} has no Hub location to read by range", file.path),
            )),
        }
    }
}
