//! `aim-operator download` run as a process, as a ModelCache's Job runs it, writing into a directory that stands
//! in for the cache volume: how to start it, and how it ended (its exit code and last stdout line).

use crate::hub::{HubServer, ModelFile};
use crate::replica::operator_binary;
use serde_json::Value;
use std::path::Path;
use std::process::Stdio;

/// How a run ended: the exit code's success, the last line parsed, and everything it printed.
pub struct Ended {
    /// Exit code 0.
    pub ok: bool,
    /// The last stdout line as JSON (`Null` when it is not JSON).
    pub last: Value,
    /// Stdout, then stderr.
    pub stdout: String,
}

impl Ended {
    /// The progress lines' reports, in order.
    pub fn progress(&self) -> Vec<Value> {
        self.stdout
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter_map(|v| v.get("progress").cloned())
            .collect()
    }

    /// The message of a failure of `kind` (panics, with the output, when the run did not fail so).
    pub fn failed(&self, kind: &str) -> String {
        assert!(!self.ok, "expected a failure: {}", self.stdout);
        assert_eq!(self.last["result"], "failed", "{}", self.stdout);
        assert_eq!(self.last["kind"], kind, "{}", self.stdout);
        self.last["message"].as_str().unwrap_or_default().to_string()
    }
}

/// The downloader for `uri` into `dir`, with a clean environment plus `env`, reporting progress every second.
pub fn command(uri: &str, dir: &Path, env: &[(&str, &str)]) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(operator_binary());
    cmd.args(["download", uri, "--progress-seconds", "1"])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("AIM_DOWNLOAD_DIR", dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

/// Runs `cmd` to its end.
pub async fn ended(mut cmd: tokio::process::Command) -> Ended {
    let out = cmd.output().await.expect("run the downloader");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let last = stdout
        .lines()
        .last()
        .and_then(|l| serde_json::from_str(l).ok())
        .unwrap_or(Value::Null);
    Ended {
        ok: out.status.success(),
        last,
        stdout: format!("{stdout}\n{}", String::from_utf8_lossy(&out.stderr)),
    }
}

/// Downloads `uri` into `dir` to the end.
pub async fn download(uri: &str, dir: &Path, env: &[(&str, &str)]) -> Ended {
    ended(command(uri, dir, env)).await
}

/// The environment that points the downloader at `hub`.
pub fn hub_env(hub: &HubServer) -> Vec<(&'static str, String)> {
    vec![("HF_ENDPOINT", hub.endpoint.clone())]
}

/// The ranges of a partial file fetched by ranges that are complete, as the list beside it says (0 without one).
pub fn complete_ranges(part: &Path) -> u64 {
    let mut listed = part.as_os_str().to_owned();
    listed.push(".chunks");
    let list: Value = std::fs::read(std::path::PathBuf::from(listed))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    list["done"].as_array().map_or(0, |d| d.len() as u64)
}

/// `env` as the borrowed pairs [`command`] takes.
pub fn as_refs<'a>(env: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    env.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

/// Panics unless every one of `files` is under `root` with the source's bytes.
pub fn assert_files_match(root: &Path, files: &[ModelFile]) {
    for f in files {
        let got = std::fs::read(root.join(&f.path)).unwrap_or_else(|e| panic!("{}: {e}", f.path));
        assert!(got == f.bytes.as_ref(), "{} differs from the source", f.path);
    }
}

/// Every file under `dir`, recursively.
pub fn walk(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path.display().to_string());
        }
    }
    out
}
