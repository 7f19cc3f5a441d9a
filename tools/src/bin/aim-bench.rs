//! `aim-bench`: the rollout benchmark (see `crate::bench`). Prints one Markdown table row per run.
//!
//! `aim-bench --operator target/release/aim-operator --sizes 100,1000 --workloads templateRef,overrides`
//! `aim-bench --operator target/release/aim-operator --download-shards 4 --shard-mib 256` (the download benchmark)

use aim_tools::bench::{self, BenchConfig, workload::Workload};
use anyhow::Context;
use clap::Parser;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "aim-bench",
    about = "Rollout benchmark of the AIM operator: N services in one request"
)]
struct Cli {
    /// The operator binary to measure (build it with `cargo build --release -p aim-operator`).
    #[arg(long)]
    operator: PathBuf,
    /// Numbers of services, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "100,1000")]
    sizes: Vec<usize>,
    /// Workloads, comma-separated: templateRef, templateRef+cacheModel, overrides.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "templateRef,templateRef+cacheModel,overrides"
    )]
    workloads: Vec<String>,
    /// Seconds a run may take to converge.
    #[arg(long, default_value_t = 300)]
    timeout: u64,
    /// Seconds of the quiet period after convergence.
    #[arg(long, default_value_t = 60)]
    quiet: u64,
    /// Where control planes and logs go.
    #[arg(long, default_value = "/tmp/aim-bench")]
    work_dir: PathBuf,
    /// Run the download benchmark instead of the rollout: a model of this many weights shards…
    #[arg(long)]
    download_shards: Option<usize>,
    /// …of this many MiB each.
    #[arg(long, default_value_t = 256)]
    shard_mib: usize,
    /// Repetitions of the download benchmark (the best is reported).
    #[arg(long, default_value_t = 3)]
    runs: usize,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter("warn")
        .init();
    let cli = Cli::parse();
    let config = BenchConfig {
        operator: cli.operator.canonicalize().context("the operator binary")?,
        work_dir: cli.work_dir,
        timeout: Duration::from_secs(cli.timeout),
        quiet: Duration::from_secs(cli.quiet),
    };
    if let Some(shards) = cli.download_shards {
        let config = bench::download::DownloadBench {
            operator: config.operator,
            shards,
            shard_mib: cli.shard_mib,
            runs: cli.runs,
            work_dir: config.work_dir.join("download"),
        };
        let figures = bench::download::run(&config).await?;
        println!("{}", bench::download::HEADER);
        println!("{}", bench::download::row(&config, &figures));
        return Ok(());
    }
    println!("{}", bench::HEADER);
    for name in &cli.workloads {
        let workload = Workload::parse(name).with_context(|| format!("unknown workload {name}"))?;
        for &n in &cli.sizes {
            let figures = bench::run(&config, workload, n).await?;
            println!("{}", bench::row(&figures));
            eprintln!(
                "{} x{n}: writes by resource {:?}; verbs {:?}; quiet verbs {:?}; quiet CPU {:.2} s",
                workload.name(),
                figures.converging.writes_by_resource,
                figures.converging.by_verb,
                figures.quiet.by_verb,
                figures.quiet_cpu
            );
        }
    }
    Ok(())
}
