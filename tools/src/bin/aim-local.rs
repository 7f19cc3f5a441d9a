//! `aim-local`: runs the local control plane for tests and demos.
//!
//! - `aim-local up --dir DIR`: start it, write `DIR/ready` (kubeconfig and kubectl paths), and keep it running
//!   until SIGINT/SIGTERM or until the process named by `--exit-with` exits; then stop it cleanly.
//! - `aim-local demo`: the embedded demo (see `crate::demo`), then stop.

use aim_tests::READY_FILE;
use aim_tests::controlplane::ControlPlane;
use anyhow::Context;
use clap::{Parser, Subcommand};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio::signal::unix::{SignalKind, signal};

#[derive(Parser)]
#[command(name = "aim-local", about = "Local Kubernetes control plane for AIM tests and demos")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Start the control plane and keep it running.
    Up {
        /// State directory (PKI, etcd data, logs, kubeconfig).
        #[arg(long)]
        dir: PathBuf,
        /// Stop when the process with this PID exits (used by the test harness).
        #[arg(long)]
        exit_with: Option<u32>,
    },
    /// The embedded demo: a control plane, the operator and one service per pattern; then stop.
    Demo,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter("info")
        .init();
    match Cli::parse().command {
        Cmd::Up { dir, exit_with } => up(&dir, exit_with).await,
        Cmd::Demo => demo().await,
    }
}

async fn up(dir: &Path, exit_with: Option<u32>) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut cp = ControlPlane::start(dir).await.context("starting the control plane")?;
    std::fs::write(
        cp.dir().join(READY_FILE),
        format!("{}\n{}\n", cp.kubeconfig().display(), cp.kubectl_path().display()),
    )?;
    eprintln!("control plane ready in {:.1}s", started.elapsed().as_secs_f64());
    println!("export KUBECONFIG={}", cp.kubeconfig().display());
    let mut term = signal(SignalKind::terminate())?;
    let parent_gone = async {
        match exit_with {
            Some(pid) => {
                while Path::new(&format!("/proc/{pid}")).exists() {
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
            }
            None => std::future::pending().await,
        }
    };
    tokio::pin!(parent_gone);
    // A part of the cluster that dies takes the whole of it down, loudly: tests would otherwise wait for what
    // it no longer does.
    let died = loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break None,
            _ = term.recv() => break None,
            _ = &mut parent_gone => break None,
            _ = tokio::time::sleep(Duration::from_secs(1)) => {
                if let Some(why) = cp.exited() {
                    break Some(why);
                }
            }
        }
    };
    cp.stop().await;
    eprintln!("control plane stopped");
    match died {
        Some(why) => anyhow::bail!("{why}"),
        None => Ok(()),
    }
}

async fn demo() -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("aim-demo-{}", std::process::id()));
    let started = Instant::now();
    // kwok's GPU servers for the scheduling story, and one real node where an AIM image answers a request.
    let cp = ControlPlane::start_with_real_node(&dir, aim_tests::controlplane::nodes::GpuNodes::default())
        .await
        .context("starting the control plane with a real node")?;
    println!(
        "== control plane with a real node up in {:.1}s (state in {})",
        started.elapsed().as_secs_f64(),
        dir.display()
    );
    let result = aim_tools::demo::run(&cp).await;
    // The operator goes first, so it never outlives the control plane it watches.
    let _ = tokio::task::spawn_blocking(aim_tests::operator::stop_if_started).await;
    cp.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
    println!("\n== control plane stopped");
    result
}
