//! The download benchmark: `aim-operator download` against `curl` fetching the same files from the same loopback
//! Hugging-Face-compatible server ([`aim_tests::hub`]), and what a resume costs after the downloader is killed halfway.
//! Figures, not pass/fail.
//!
//! - **throughput**: a sharded model (`shards` × `shard_mib`) into an empty directory on the same disk, by the
//!   downloader (its default parallelism, verifying each file's sha256) and by one `curl` per run fetching every
//!   file with `--parallel` at the same parallelism (no verification), timed alone and followed by `sync` of its
//!   files (the downloader flushes each file before it counts it done). Best of `runs` for each; the page cache
//!   is written back before each run.
//! - **resume**: the downloader is SIGKILLed once the server has sent half the bytes, then run again; the figure
//!   is the bytes the second run fetched beyond what was still missing, and its time next to half a full run.

use aim_tests::hub::{HubServer, generated_shards};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

const REPO: &str = "bench-org/sharded";

/// What to run.
#[derive(Debug, Clone)]
pub struct DownloadBench {
    /// The downloader (`aim-operator`, release build).
    pub operator: std::path::PathBuf,
    /// Weights files.
    pub shards: usize,
    /// MiB per weights file.
    pub shard_mib: usize,
    /// Repetitions; the best is reported.
    pub runs: usize,
    /// Where files are written.
    pub work_dir: std::path::PathBuf,
}

/// What it measured.
#[derive(Debug, Clone)]
pub struct DownloadFigures {
    /// Bytes of the model.
    pub bytes: u64,
    /// Best time of the downloader.
    pub aim: Duration,
    /// Best time of curl.
    pub curl: Duration,
    /// Best time of curl followed by `sync` of its files (the downloader flushes every file before it counts).
    pub curl_synced: Duration,
    /// The resumed run's time.
    pub resume: Duration,
    /// Bytes the server sent the resumed run.
    pub resume_sent: u64,
    /// Bytes that were still missing when the first run was killed.
    pub resume_missing: u64,
}

impl DownloadFigures {
    /// MiB/s of a run of `d`.
    pub fn rate(&self, d: Duration) -> f64 {
        self.bytes as f64 / (1 << 20) as f64 / d.as_secs_f64()
    }
}

/// Runs the benchmark.
pub async fn run(bench: &DownloadBench) -> anyhow::Result<DownloadFigures> {
    let files = generated_shards(bench.shards, bench.shard_mib);
    let bytes: u64 = files.iter().map(|f| f.bytes.len() as u64).sum();
    let paths: Vec<String> = files.iter().map(|f| f.path.clone()).collect();
    let hub = HubServer::start(REPO, files).await;
    let mut aim = Duration::MAX;
    let mut curl = Duration::MAX;
    let mut curl_synced = Duration::MAX;
    for i in 0..bench.runs {
        let dir = fresh(&bench.work_dir.join(format!("aim-{i}")))?;
        settle().await?;
        let start = Instant::now();
        let status = downloader(&bench.operator, &hub, &dir).status().await?;
        anyhow::ensure!(status.success(), "the downloader failed");
        aim = aim.min(start.elapsed());
        // Each run writes the whole model: keep the disk for the next one.
        let _ = std::fs::remove_dir_all(&dir);

        let dir = fresh(&bench.work_dir.join(format!("curl-{i}")))?;
        settle().await?;
        let start = Instant::now();
        let status = curl_all(&hub, &paths, &dir).status().await?;
        anyhow::ensure!(status.success(), "curl failed");
        curl = curl.min(start.elapsed());
        // The same durability as the downloader's: every file flushed to disk.
        let status = tokio::process::Command::new("sync")
            .args(paths.iter().map(|p| dir.join(p)))
            .status()
            .await?;
        anyhow::ensure!(status.success(), "sync failed");
        curl_synced = curl_synced.min(start.elapsed());
        let _ = std::fs::remove_dir_all(&dir);
    }

    // Resume: kill at half, run again.
    let dir = fresh(&bench.work_dir.join("resume"))?;
    settle().await?;
    let before = hub.bytes_sent();
    let mut first = downloader(&bench.operator, &hub, &dir).spawn()?;
    while hub.bytes_sent() - before < bytes / 2 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    first.start_kill()?;
    first.wait().await?;
    let on_disk = bytes_under(&dir);
    settle().await?;
    let sent_before = hub.bytes_sent();
    let start = Instant::now();
    let status = downloader(&bench.operator, &hub, &dir).status().await?;
    anyhow::ensure!(status.success(), "the resumed download failed");
    let resume = start.elapsed();
    let _ = std::fs::remove_dir_all(&dir);
    Ok(DownloadFigures {
        bytes,
        aim,
        curl,
        curl_synced,
        resume,
        resume_sent: hub.bytes_sent() - sent_before,
        resume_missing: bytes.saturating_sub(on_disk),
    })
}

/// Writes back what earlier runs left in the page cache, so a run does not pay for another's writes.
async fn settle() -> anyhow::Result<()> {
    anyhow::ensure!(
        tokio::process::Command::new("sync").status().await?.success(),
        "sync failed"
    );
    Ok(())
}

fn fresh(dir: &Path) -> std::io::Result<std::path::PathBuf> {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir)?;
    Ok(dir.to_path_buf())
}

fn downloader(operator: &Path, hub: &HubServer, dir: &Path) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(operator);
    cmd.args(["download", &format!("hf://{REPO}")])
        .env("HF_ENDPOINT", &hub.endpoint)
        .env("AIM_DOWNLOAD_DIR", dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    cmd
}

/// One curl fetching every file, as many at once as the downloader's default.
fn curl_all(hub: &HubServer, paths: &[String], dir: &Path) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new("curl");
    cmd.args([
        "--silent",
        "--no-progress-meter",
        "--fail",
        "--location",
        "--parallel",
        "--parallel-max",
        &aim_operator::download::DEFAULT_PARALLEL.to_string(),
        "--create-dirs",
    ])
    .stdout(Stdio::null())
    .stderr(Stdio::null());
    for path in paths {
        cmd.arg("--output")
            .arg(dir.join(path))
            .arg(format!("{}/{REPO}/resolve/main/{path}", hub.endpoint));
    }
    cmd
}

/// Bytes of content in every file under `dir`, partial ones included: the blocks a file holds, so the holes of
/// a partial file fetched by ranges do not count.
fn bytes_under(dir: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => bytes_under(&e.path()),
            Ok(_) => e.metadata().map(|m| (m.blocks() * 512).min(m.len())).unwrap_or(0),
            Err(_) => 0,
        })
        .sum()
}

/// The Markdown table's header.
pub const HEADER: &str = "| model | aim-operator download | curl --parallel | curl, then sync of its files | aim / curl (synced) | resumed at 50 %: time (half a full run) | resumed: bytes fetched beyond the missing |\n|---|---|---|---|---|---|---|";

/// One row.
pub fn row(bench: &DownloadBench, f: &DownloadFigures) -> String {
    let mib = |b: u64| b as f64 / (1 << 20) as f64;
    format!(
        "| {} × {} MiB ({:.0} MiB) | {:.2} s ({:.0} MiB/s) | {:.2} s ({:.0} MiB/s) | {:.2} s ({:.0} MiB/s) | {:.2}× ({:.2}×) | {:.2} s ({:.2} s) | {:.1} MiB ({:.1} % of the model) |",
        bench.shards,
        bench.shard_mib,
        mib(f.bytes),
        f.aim.as_secs_f64(),
        f.rate(f.aim),
        f.curl.as_secs_f64(),
        f.rate(f.curl),
        f.curl_synced.as_secs_f64(),
        f.rate(f.curl_synced),
        f.rate(f.aim) / f.rate(f.curl),
        f.rate(f.aim) / f.rate(f.curl_synced),
        f.resume.as_secs_f64(),
        f.aim.as_secs_f64() / 2.0,
        mib(f.resume_sent.saturating_sub(f.resume_missing)),
        100.0 * f.resume_sent.saturating_sub(f.resume_missing) as f64 / f.bytes as f64,
    )
}
