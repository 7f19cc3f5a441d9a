//! The operator under measurement as a process of its own (a release build), with what `/proc` says of it:
//! CPU seconds used and peak resident memory.

use std::path::Path;
use std::process::{Child, Command, Stdio};

/// A running operator process; killed when dropped.
pub struct OperatorProcess {
    child: Child,
}

/// Clock ticks per second of `/proc/<pid>/stat` times (Linux's USER_HZ).
const TICKS_PER_SECOND: f64 = 100.0;

impl OperatorProcess {
    /// Starts `binary run` against `kubeconfig`, without leader election, serving HTTP on `port`, logging to
    /// `log`.
    pub fn start(binary: &Path, kubeconfig: &Path, port: u16, log: &Path) -> std::io::Result<Self> {
        let out = std::fs::File::create(log)?;
        let child = Command::new(binary)
            .args(["run", "--leader-elect=false", "--log-format=json"])
            .arg(format!("--http-addr=127.0.0.1:{port}"))
            .env("KUBECONFIG", kubeconfig)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()?;
        Ok(OperatorProcess { child })
    }

    /// CPU seconds (user + system) used so far.
    pub fn cpu_seconds(&self) -> f64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap_or_default();
        // Fields after the parenthesised command name; utime and stime are the 14th and 15th of the line.
        let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
        (ticks(11) + ticks(12)) / TICKS_PER_SECOND
    }

    /// Peak resident memory in MiB (`VmHWM`).
    pub fn peak_rss_mib(&self) -> f64 {
        aim_tests::replica::peak_rss_mib(self.child.id())
    }

    /// True while it runs.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for OperatorProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
