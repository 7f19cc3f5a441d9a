//! moto in server mode on loopback: an S3-compatible store for the downloader's tests, installed from PyPI at
//! its pinned version (`controlplane/build-moto.sh`). Objects are put with `object_store`, the same client the
//! downloader reads with.

use bytes::Bytes;
use object_store::ObjectStoreExt;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path as ObjectPath;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running moto server; stopped when dropped.
pub struct MotoServer {
    /// `http://127.0.0.1:<port>`: the value of `AWS_ENDPOINT_URL_S3`.
    pub endpoint: String,
    child: Child,
}

/// The credentials moto accepts (any), as the environment the downloader reads.
pub const ENV: [(&str, &str); 3] = [
    ("AWS_ACCESS_KEY_ID", "testing"),
    ("AWS_SECRET_ACCESS_KEY", "testing"),
    ("AWS_DEFAULT_REGION", "us-east-1"),
];

impl MotoServer {
    /// Installs moto if this machine lacks it, starts it and waits until it answers. It takes any credentials.
    pub async fn start() -> MotoServer {
        Self::start_with(None).await
    }

    /// moto checking credentials as S3 does after its first `free_requests` requests (its
    /// `INITIAL_NO_AUTH_ACTION_COUNT`, which leaves room to create a bucket and put objects unsigned): then only
    /// keys of users in its IAM are taken, so [`ENV`]'s keys are refused with `InvalidAccessKeyId` (403).
    pub async fn start_checking_credentials(free_requests: u32) -> MotoServer {
        Self::start_with(Some(free_requests)).await
    }

    async fn start_with(free_requests: Option<u32>) -> MotoServer {
        let bin = crate::controlplane::binaries::build("build-moto.sh").expect("moto");
        let port = crate::replica::free_port();
        let mut command = Command::new(bin.join("moto_server"));
        if let Some(n) = free_requests {
            command.env("INITIAL_NO_AUTH_ACTION_COUNT", n.to_string());
        }
        let child = command
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start moto_server");
        let endpoint = format!("http://127.0.0.1:{port}");
        answering(port, "moto").await;
        MotoServer { endpoint, child }
    }

    /// Creates `bucket` (moto takes an unsigned `PUT /<bucket>`).
    pub async fn create_bucket(&self, bucket: &str) {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let status = reqwest::Client::new()
            .put(format!("{}/{bucket}", self.endpoint))
            .send()
            .await
            .expect("create the bucket")
            .status();
        assert!(status.is_success(), "creating bucket {bucket}: {status}");
    }

    /// Puts `bytes` at `key` of `bucket`.
    pub async fn put(&self, bucket: &str, key: &str, bytes: Bytes) {
        put_object(&self.endpoint, bucket, key, bytes).await;
    }
}

/// Puts `bytes` at `key` of `bucket` of the S3 server at `endpoint`, signed with [`ENV`]'s keys.
pub async fn put_object(endpoint: &str, bucket: &str, key: &str, bytes: Bytes) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut builder = AmazonS3Builder::new()
        .with_bucket_name(bucket)
        .with_endpoint(endpoint)
        .with_allow_http(true);
    for (k, v) in ENV {
        builder = builder.with_config(k.to_ascii_lowercase().parse().expect("config key"), v);
    }
    let store = builder.build().expect("an S3 client");
    store
        .put(&ObjectPath::from(key), bytes.into())
        .await
        .expect("put the object");
}

/// Waits until a server just started on `port` takes connections (a minute at most).
pub(crate) async fn answering(port: u16, what: &str) {
    let start = Instant::now();
    while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
        assert!(start.elapsed() < Duration::from_secs(60), "{what} did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
