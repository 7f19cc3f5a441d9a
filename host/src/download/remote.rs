//! A source being downloaded: [`super::hub`] or [`super::s3`] behind one enum, answering in the types of
//! [`super::listing`].

use super::failure::Failure;
use super::hub::Hub;
use super::listing::{ByteStream, RemoteFile};
use super::s3::S3;

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
}
