//! The downloader against what its users would pick instead (figures, not pass/fail): `huggingface_hub`'s
//! `hf download` from the loopback Hub ([`aim_tests::hub`], through `HF_ENDPOINT`), `s5cmd` from an S3 server
//! (gofakes3, or the tests' moto: [`S3Kind`]), and `curl` from both as the raw floor (one connection per file, every file at once). All pinned from
//! PyPI (`tests/controlplane/build-download-peers.sh`).
//!
//! Each model shape (for example one 4 GiB file, eight 1 GiB files) runs in two cells: (a) the link as it is;
//! (b) through [`CappedProxy`], which caps each connection (as CDNs do) and nothing in all. Every run starts
//! with the page cache written back and ends when its files are on disk (`sync` after it, for every tool: the
//! downloader flushes each file itself, the others do not), and its bytes are checked. Beside the table: the
//! machine's own `sha256sum` and disk write speed, where the downloader's time goes besides the network.

use super::capped::CappedProxy;
use aim_tests::gofakes3::GoFakeS3Server;
use aim_tests::hub::{Behaviour, HubServer, generated_shards};
use aim_tests::moto::{self, MotoServer};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

const REPO: &str = "bench-org/peers";
const BUCKET: &str = "models";
const PREFIX: &str = "bench/peers";

/// What to run.
#[derive(Debug, Clone)]
pub struct PeersBench {
    /// The downloader (`aim-operator`, release build).
    pub operator: PathBuf,
    /// Model shapes from the Hub: (files, MiB each).
    pub shapes: Vec<(usize, usize)>,
    /// Model shapes from S3.
    pub s3_shapes: Vec<(usize, usize)>,
    /// The S3 server.
    pub s3_server: S3Kind,
    /// MiB/s each connection may take in the capped cell.
    pub cap_mib: u64,
    /// Where files are written.
    pub work_dir: PathBuf,
}

/// Which S3 server the S3 cells read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum S3Kind {
    /// moto, the tests' S3 (Python; it copies the whole object for each ranged GET, so a large object is slow
    /// to read by ranges whoever reads it).
    Moto,
    /// gofakes3 (Go, objects in memory, a range served as a slice of the object).
    Gofakes3,
}

/// One tool's run.
#[derive(Debug, Clone)]
pub struct Run {
    /// Which tool.
    pub tool: &'static str,
    /// From start to its files on disk.
    pub time: Duration,
}

/// One cell: a source, a model shape and a link.
#[derive(Debug, Clone)]
pub struct Cell {
    /// `Hub`, or `S3` with its server's name.
    pub source: &'static str,
    /// Files and MiB each.
    pub shape: (usize, usize),
    /// The per-connection cap in MiB/s, if any.
    pub cap_mib: Option<u64>,
    /// Bytes of the model.
    pub bytes: u64,
    /// The downloader first, then its peer, then curl.
    pub runs: Vec<Run>,
}

impl Cell {
    fn rate(&self, run: &Run) -> f64 {
        self.bytes as f64 / (1 << 20) as f64 / run.time.as_secs_f64()
    }
}

/// The machine's own speeds, for where the time goes.
#[derive(Debug, Clone, Copy)]
pub struct Machine {
    /// `sha256sum` of a file in the page cache, MiB/s.
    pub sha256_mib_s: f64,
    /// Writing a file and flushing it (`dd … conv=fsync`), MiB/s.
    pub disk_mib_s: f64,
}

/// Runs the Hub's shapes and S3's shapes, each in both cells.
pub async fn run(bench: &PeersBench) -> anyhow::Result<(Vec<Cell>, Machine)> {
    let peers = aim_tests::controlplane::binaries::build("build-download-peers.sh")?;
    std::fs::create_dir_all(&bench.work_dir)?;
    let machine = machine(&bench.work_dir).await?;
    let mut cells = Vec::new();
    let s3 = match bench.s3_server {
        S3Kind::Moto => "S3 (moto)",
        S3Kind::Gofakes3 => "S3 (gofakes3)",
    };
    for (source, shapes) in [("Hub", &bench.shapes), (s3, &bench.s3_shapes)] {
        for &shape in shapes {
            let files = generated_shards(shape.0, shape.1);
            let bytes: u64 = files.iter().map(|f| f.bytes.len() as u64).sum();
            let paths: Vec<String> = files.iter().map(|f| f.path.clone()).collect();
            let server = Server::start(source, bench.s3_server, files).await?;
            for cap in [None, Some(bench.cap_mib)] {
                let link = server.link(cap.map(|c| c << 20)).await?;
                let tools = Tools {
                    operator: &bench.operator,
                    peers: &peers,
                    paths: &paths,
                    bytes,
                };
                let dir = bench.work_dir.join("run");
                let runs = match source {
                    "Hub" => vec![
                        timed("aim-operator", &dir, &tools, |d| tools.aim_hub(&link, d)).await?,
                        timed("hf download", &dir, &tools, |d| tools.hf(&link, d)).await?,
                        timed("curl", &dir, &tools, |d| tools.curl_hub(&link, d)).await?,
                    ],
                    _ => vec![
                        timed("aim-operator", &dir, &tools, |d| tools.aim_s3(&link, d)).await?,
                        timed("s5cmd", &dir, &tools, |d| tools.s5cmd(&link, d)).await?,
                        timed("curl", &dir, &tools, |d| tools.curl_s3(&link, d)).await?,
                    ],
                };
                cells.push(Cell {
                    source,
                    shape,
                    cap_mib: cap,
                    bytes,
                    runs,
                });
            }
        }
    }
    Ok((cells, machine))
}

/// The server of one source with a model on it.
enum Server {
    Hub(HubServer),
    Moto(MotoServer),
    GoFakeS3(GoFakeS3Server),
}

impl Server {
    async fn start(source: &str, s3: S3Kind, files: Vec<aim_tests::hub::ModelFile>) -> anyhow::Result<Server> {
        if source == "Hub" {
            return Ok(Server::Hub(HubServer::start(REPO, files).await));
        }
        let server = match s3 {
            S3Kind::Moto => {
                let moto = MotoServer::start().await;
                moto.create_bucket(BUCKET).await;
                Server::Moto(moto)
            }
            S3Kind::Gofakes3 => Server::GoFakeS3(GoFakeS3Server::start(BUCKET).await),
        };
        for f in &files {
            let key = format!("{PREFIX}/{}", f.path);
            match &server {
                Server::Moto(s) => s.put(BUCKET, &key, f.bytes.clone()).await,
                Server::GoFakeS3(s) => s.put(BUCKET, &key, f.bytes.clone()).await,
                Server::Hub(_) => {}
            }
        }
        Ok(server)
    }

    /// The link to it, each connection capped at `cap` bytes per second; for the Hub, its CDN (another origin,
    /// as the Hub's is) behind the same cap.
    async fn link(&self, cap: Option<u64>) -> anyhow::Result<Link> {
        match self {
            Server::Hub(hub) => {
                let cdn = CappedProxy::start(address(&hub.endpoint)?, cap).await?;
                hub.set(Behaviour {
                    cdn: Some(cdn.url()),
                    ..Default::default()
                });
                Ok(Link {
                    proxy: CappedProxy::start(address(&hub.endpoint)?, cap).await?,
                    _cdn: Some(cdn),
                })
            }
            Server::Moto(MotoServer { endpoint, .. }) | Server::GoFakeS3(GoFakeS3Server { endpoint, .. }) => Ok(Link {
                proxy: CappedProxy::start(address(endpoint)?, cap).await?,
                _cdn: None,
            }),
        }
    }
}

/// What the tools connect to.
struct Link {
    proxy: CappedProxy,
    _cdn: Option<CappedProxy>,
}

impl Link {
    fn url(&self) -> String {
        self.proxy.url()
    }
}

fn address(endpoint: &str) -> anyhow::Result<std::net::SocketAddr> {
    let hostport = endpoint.trim_start_matches("http://").trim_end_matches('/');
    Ok(hostport.parse()?)
}

/// The commands of one cell.
struct Tools<'a> {
    operator: &'a Path,
    peers: &'a Path,
    paths: &'a [String],
    bytes: u64,
}

impl Tools<'_> {
    fn aim(&self, uri: &str, dir: &Path) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(self.operator);
        cmd.args(["download", uri]).env("AIM_DOWNLOAD_DIR", dir);
        cmd
    }

    fn aim_hub(&self, link: &Link, dir: &Path) -> (tokio::process::Command, PathBuf) {
        let mut cmd = self.aim(&format!("hf://{REPO}"), dir);
        cmd.env("HF_ENDPOINT", link.url());
        (cmd, dir.join(REPO))
    }

    fn aim_s3(&self, link: &Link, dir: &Path) -> (tokio::process::Command, PathBuf) {
        let mut cmd = self.aim(&format!("s3://{BUCKET}/{PREFIX}"), dir);
        cmd.envs(moto::ENV).env("AWS_ENDPOINT_URL_S3", link.url());
        (cmd, dir.join(BUCKET).join(PREFIX))
    }

    /// `hf download <repo> --local-dir <dir>`, as its documentation suggests for a model directory.
    fn hf(&self, link: &Link, dir: &Path) -> (tokio::process::Command, PathBuf) {
        let mut cmd = tokio::process::Command::new(self.peers.join("hf"));
        cmd.args(["download", REPO, "--quiet", "--local-dir"])
            .arg(dir)
            .env("HF_ENDPOINT", link.url())
            .env("HF_HOME", dir.join(".hf-home"))
            .env("HF_HUB_DISABLE_TELEMETRY", "1");
        (cmd, dir.to_path_buf())
    }

    /// `s5cmd cp 's3://bucket/prefix/*' <dir>/` with its defaults (parts of 50 MB, 5 at a time per file).
    fn s5cmd(&self, link: &Link, dir: &Path) -> (tokio::process::Command, PathBuf) {
        let mut cmd = tokio::process::Command::new(self.peers.join("s5cmd"));
        cmd.args([
            "--endpoint-url",
            &link.url(),
            "cp",
            &format!("s3://{BUCKET}/{PREFIX}/*"),
        ])
        .arg(format!("{}/", dir.display()))
        .envs(moto::ENV);
        (cmd, dir.to_path_buf())
    }

    /// One `curl` fetching every file at once, one connection each.
    fn curl(&self, urls: Vec<String>, dir: &Path) -> (tokio::process::Command, PathBuf) {
        let mut cmd = tokio::process::Command::new("curl");
        cmd.args(["--silent", "--fail", "--location", "--parallel", "--create-dirs"])
            .args(["--parallel-max", &self.paths.len().to_string()]);
        for (path, url) in self.paths.iter().zip(urls) {
            cmd.arg("--output").arg(dir.join(path)).arg(url);
        }
        (cmd, dir.to_path_buf())
    }

    fn curl_hub(&self, link: &Link, dir: &Path) -> (tokio::process::Command, PathBuf) {
        let urls = self
            .paths
            .iter()
            .map(|p| format!("{}/{REPO}/resolve/main/{p}", link.url()))
            .collect();
        self.curl(urls, dir)
    }

    /// Signed as S3 wants (`--aws-sigv4`), with the keys moto takes.
    fn curl_s3(&self, link: &Link, dir: &Path) -> (tokio::process::Command, PathBuf) {
        let urls = self
            .paths
            .iter()
            .map(|p| format!("{}/{BUCKET}/{PREFIX}/{p}", link.url()))
            .collect();
        let (mut cmd, root) = self.curl(urls, dir);
        let key = |name: &str| moto::ENV.iter().find(|(k, _)| *k == name).map_or("", |(_, v)| v);
        cmd.args(["--aws-sigv4", "aws:amz:us-east-1:s3", "--user"]).arg(format!(
            "{}:{}",
            key("AWS_ACCESS_KEY_ID"),
            key("AWS_SECRET_ACCESS_KEY")
        ));
        (cmd, root)
    }
}

/// Runs the command `make` gives for a fresh `dir` with the page cache written back before, until its files are
/// on disk; checks the model's bytes landed where it says.
async fn timed(
    tool: &'static str,
    dir: &Path,
    tools: &Tools<'_>,
    make: impl FnOnce(&Path) -> (tokio::process::Command, PathBuf),
) -> anyhow::Result<Run> {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir)?;
    sync().await?;
    let (mut cmd, root) = make(dir);
    let start = Instant::now();
    let out = cmd.stdin(Stdio::null()).stdout(Stdio::null()).output().await?;
    anyhow::ensure!(
        out.status.success(),
        "{tool} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    sync().await?;
    let time = start.elapsed();
    let landed: u64 = tools
        .paths
        .iter()
        .map(|p| std::fs::metadata(root.join(p)).map_or(0, |m| m.len()))
        .sum();
    anyhow::ensure!(
        landed == tools.bytes,
        "{tool} left {landed} of {} bytes in {}",
        tools.bytes,
        root.display()
    );
    let _ = std::fs::remove_dir_all(dir);
    eprintln!("{tool}: {:.2} s", time.as_secs_f64());
    Ok(Run { tool, time })
}

async fn sync() -> anyhow::Result<()> {
    anyhow::ensure!(
        tokio::process::Command::new("sync").status().await?.success(),
        "sync failed"
    );
    Ok(())
}

/// `sha256sum` of 1 GiB from the page cache, and 1 GiB written and flushed with `dd`.
async fn machine(work: &Path) -> anyhow::Result<Machine> {
    let file = work.join("speed.bin");
    let mib = 1024u64;
    let start = Instant::now();
    let dd = tokio::process::Command::new("dd")
        .args(["if=/dev/zero", "bs=1M", "conv=fsync", "status=none"])
        .arg(format!("of={}", file.display()))
        .arg(format!("count={mib}"))
        .status()
        .await?;
    anyhow::ensure!(dd.success(), "dd failed");
    let disk = mib as f64 / start.elapsed().as_secs_f64();
    let start = Instant::now();
    let sum = tokio::process::Command::new("sha256sum")
        .arg(&file)
        .stdout(Stdio::null())
        .status()
        .await?;
    anyhow::ensure!(sum.success(), "sha256sum failed");
    let sha = mib as f64 / start.elapsed().as_secs_f64();
    let _ = std::fs::remove_file(&file);
    Ok(Machine {
        sha256_mib_s: sha,
        disk_mib_s: disk,
    })
}

/// The Markdown table's header.
pub const HEADER: &str = "| source | model | link | aim-operator download | peer | curl | aim / peer | aim / curl | aim / link |\n|---|---|---|---|---|---|---|---|---|";

/// One row; `link`: the MiB/s the link gives in all (for the capped cell: the best of the uncapped cell's runs).
pub fn row(cell: &Cell, link: f64) -> String {
    let [aim, peer, curl] = [&cell.runs[0], &cell.runs[1], &cell.runs[2]];
    let shown = |r: &Run| format!("{:.1} s ({:.0} MiB/s)", r.time.as_secs_f64(), cell.rate(r));
    format!(
        "| {} | {} × {} MiB | {} | {} | {}: {} | {} | {:.2}× | {:.2}× | {:.2}× |",
        cell.source,
        cell.shape.0,
        cell.shape.1,
        cell.cap_mib
            .map_or("uncapped".to_string(), |c| format!("{c} MiB/s per connection")),
        shown(aim),
        peer.tool,
        shown(peer),
        shown(curl),
        cell.rate(aim) / cell.rate(peer),
        cell.rate(aim) / cell.rate(curl),
        cell.rate(aim) / link,
    )
}

/// The rows of every cell, each capped cell measured against the best rate of its uncapped twin.
pub fn rows(cells: &[Cell]) -> Vec<String> {
    cells
        .iter()
        .map(|cell| {
            let twin = cells
                .iter()
                .find(|c| c.source == cell.source && c.shape == cell.shape && c.cap_mib.is_none())
                .unwrap_or(cell);
            let link = twin.runs.iter().map(|r| twin.rate(r)).fold(0.0, f64::max);
            row(cell, link)
        })
        .collect()
}
