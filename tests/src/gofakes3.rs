//! gofakes3 on loopback: an S3-compatible server that keeps objects in memory and serves a range as a slice of
//! the object, for the download benchmark's S3 cells (moto, the tests' S3, copies the whole object for every
//! ranged GET, so there its own time decides a ranged download). Built from its pinned Go module
//! (`controlplane/build-gofakes3.sh`). It checks no signatures; clients sign with [`crate::moto::ENV`] as for moto.

use bytes::Bytes;
use std::process::{Child, Command, Stdio};

/// A running gofakes3 with one bucket; stopped when dropped.
pub struct GoFakeS3Server {
    /// `http://127.0.0.1:<port>`: the value of `AWS_ENDPOINT_URL_S3`.
    pub endpoint: String,
    child: Child,
}

impl GoFakeS3Server {
    /// Builds gofakes3 if this machine lacks it, starts it with `bucket` and waits until it answers.
    pub async fn start(bucket: &str) -> GoFakeS3Server {
        let bin = crate::controlplane::binaries::build("build-gofakes3.sh").expect("gofakes3");
        let port = crate::replica::free_port();
        let child = Command::new(bin.join("gofakes3"))
            .args(["-backend", "memory", "-quiet", "-initialbucket", bucket])
            .args(["-host", &format!("127.0.0.1:{port}")])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start gofakes3");
        crate::moto::answering(port, "gofakes3").await;
        GoFakeS3Server {
            endpoint: format!("http://127.0.0.1:{port}"),
            child,
        }
    }

    /// Puts `bytes` at `key` of `bucket`.
    pub async fn put(&self, bucket: &str, key: &str, bytes: Bytes) {
        crate::moto::put_object(&self.endpoint, bucket, key, bytes).await;
    }
}

impl Drop for GoFakeS3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
