//! `aim-operator run` as a child process of a test: started with the arguments a test gives (as an identity's
//! kubeconfig), its `/healthz`, `/readyz` and `/metrics` read over plain HTTP, stopped by signal, killed when
//! dropped. The binary is the one built with the workspace next to the test executable.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// `target/<profile>/aim-operator`, built with the workspace: next to the running binary (`aim-local`), or one
/// level up from a test executable (`target/<profile>/deps`); `AIM_OPERATOR_BINARY` names another.
pub fn operator_binary() -> PathBuf {
    // A full-size run measures the release build without building the tests in release.
    if let Some(binary) = std::env::var_os("AIM_OPERATOR_BINARY") {
        return PathBuf::from(binary);
    }
    let exe = std::env::current_exe().expect("test executable");
    let dir = exe.parent().expect("the executable's directory");
    let beside = dir.join("aim-operator");
    if beside.exists() {
        return beside;
    }
    dir.parent().expect("target dir").join("aim-operator")
}

/// Peak resident memory of process `pid` in MiB (`VmHWM`), 0 when it cannot be read.
pub fn peak_rss_mib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        .map_or(0.0, |kib| kib / 1024.0)
}

/// A free loopback port.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One operator process.
pub struct Replica {
    child: Child,
    port: u16,
}

impl Replica {
    /// Starts `aim-operator run` with `args` (plus its own `--http-addr`) and `env` against `kubeconfig`; its
    /// output goes to `log`, or nowhere.
    pub fn start(kubeconfig: &Path, args: &[&str], env: &[(&str, &str)], log: Option<&Path>) -> Replica {
        let port = free_port();
        let (stdout, stderr) = match log {
            Some(path) => {
                let file = std::fs::File::create(path).expect("operator log file");
                (Stdio::from(file.try_clone().expect("log handle")), Stdio::from(file))
            }
            None => (Stdio::null(), Stdio::null()),
        };
        let child = Command::new(operator_binary())
            .arg("run")
            .args(args)
            .arg(format!("--http-addr=127.0.0.1:{port}"))
            .env("KUBECONFIG", kubeconfig)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .expect("start aim-operator run");
        Replica { child, port }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// A plain HTTP/1.1 GET of its endpoints: status code and body.
    pub async fn get(&self, path: &str) -> Option<(u16, String)> {
        http_get(self.port, path).await
    }

    /// True when its `/metrics` says it leads.
    pub async fn leads(&self) -> bool {
        self.get("/metrics")
            .await
            .is_some_and(|(_, body)| body.lines().any(|l| l == "aim_leader 1"))
    }

    /// Sends `signal` to the process.
    pub fn signal(&self, signal: nix::sys::signal::Signal) {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.child.id() as i32), signal);
    }

    /// Waits up to `timeout` for the process to exit by itself; its status, or `None` if it still runs.
    pub async fn exits_within(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let start = Instant::now();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            if start.elapsed() >= timeout {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// SIGTERM, then waits (at most 30 s, else panics) for the exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        self.signal(nix::sys::signal::Signal::SIGTERM);
        let start = Instant::now();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "the operator did not stop within 30s of SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// A plain HTTP/1.1 GET of `127.0.0.1:port` (no client tool needed): status code and body.
pub async fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.ok()?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await.ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    let code = head.split_whitespace().nth(1)?.parse().ok()?;
    let chunked = head.to_ascii_lowercase().contains("transfer-encoding: chunked");
    Some((code, if chunked { dechunk(body) } else { body.to_string() }))
}

/// The body of a chunked HTTP response.
fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if size == 0 || rest.len() < size {
            break;
        }
        out.push_str(&rest[..size]);
        body = rest[size..].trim_start_matches("\r\n");
    }
    out
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
