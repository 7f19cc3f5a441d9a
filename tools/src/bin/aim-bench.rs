//! `aim-bench`: the rollout benchmark (see `crate::bench`). Prints one Markdown table row per run.
//!
//! `aim-bench --operator target/release/aim-operator --sizes 100,1000 --workloads templateRef,overrides`
//! `aim-bench --operator target/release/aim-operator --download-shards 4 --shard-mib 256` (the download benchmark)
//! `aim-bench --operator target/release/aim-operator --download-peers 1x4096,8x1024` (against huggingface_hub,
//! s5cmd and curl)

use aim_tools::bench::{self, BenchConfig, workload::Workload};
use anyhow::Context;
use clap::Parser;
use std::path::PathBuf;
use std::time::Duration;

/// Counts heap bytes per thread, for the index's bytes per object (`bench::heap`).
#[global_allocator]
static ALLOCATOR: bench::heap::Counting = bench::heap::Counting;

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
    /// Namespaces the services are spread over.
    #[arg(long, default_value_t = 1)]
    namespaces: usize,
    /// The operator alone: KServe and the scheduler stop once the cluster is up, and a run ends when every
    /// InferenceService and route exists (for 10,000 services: the chain past them cannot run that many on two
    /// cores).
    #[arg(long)]
    operator_only: bool,
    /// After the quiet period, restart the operator on the converged cluster and count what the new process
    /// asks and writes…
    #[arg(long)]
    restart: bool,
    /// …running this build instead of `--operator` (an upgrade).
    #[arg(long)]
    restart_with: Option<PathBuf>,
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
    /// Run the download benchmark against huggingface_hub, s5cmd and curl instead, for these model shapes
    /// (`<files>x<MiB each>`, comma-separated, e.g. `1x4096,8x1024`)…
    #[arg(long, value_delimiter = ',')]
    download_peers: Vec<String>,
    /// …and from S3 for these…
    #[arg(long, value_delimiter = ',')]
    download_peers_s3: Vec<String>,
    /// …served by this S3 server: `moto` (the tests' S3, in Python: it copies the whole object for each ranged
    /// GET, so keep its objects small) or `gofakes3` (in Go, objects in memory, a range is a slice)…
    #[arg(long, value_enum, default_value = "gofakes3")]
    s3_server: bench::peers::S3Kind,
    /// …uncapped and with each connection capped at this many MiB/s.
    #[arg(long, default_value_t = 50)]
    cap_mib: u64,
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
        namespaces: cli.namespaces,
        operator_only: cli.operator_only,
        restart_with: match (cli.restart_with, cli.restart) {
            (Some(build), _) => Some(build.canonicalize().context("the restart build")?),
            (None, true) => Some(cli.operator.canonicalize().context("the operator binary")?),
            (None, false) => None,
        },
    };
    if !cli.download_peers.is_empty() || !cli.download_peers_s3.is_empty() {
        let shapes = |list: &[String]| {
            list.iter()
                .map(|s| {
                    let (files, mib) = s.split_once('x').context("a shape is <files>x<MiB>")?;
                    Ok((files.parse()?, mib.parse()?))
                })
                .collect::<anyhow::Result<Vec<(usize, usize)>>>()
        };
        let bench = bench::peers::PeersBench {
            operator: config.operator,
            shapes: shapes(&cli.download_peers)?,
            s3_shapes: shapes(&cli.download_peers_s3)?,
            s3_server: cli.s3_server,
            cap_mib: cli.cap_mib,
            work_dir: config.work_dir.join("peers"),
        };
        let (cells, machine) = bench::peers::run(&bench).await?;
        println!("{}", bench::peers::HEADER);
        for row in bench::peers::rows(&cells) {
            println!("{row}");
        }
        println!(
            "\nThis machine: sha256sum {:.0} MiB/s (1 GiB from the page cache); disk write {:.0} MiB/s (1 GiB, dd \
             conv=fsync).",
            machine.sha256_mib_s, machine.disk_mib_s
        );
        return Ok(());
    }
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
            if let Some(restarted) = &figures.restarted {
                eprintln!(
                    "{} x{n}: after a restart on the converged cluster: {} reads, {} writes (by resource {:?}); verbs {:?}",
                    workload.name(),
                    restarted.reads(),
                    restarted.writes(),
                    restarted.writes_by_resource,
                    restarted.by_verb
                );
            }
            let bytes: Vec<String> = figures
                .index_bytes
                .iter()
                .map(|k| {
                    format!(
                        "{} {} → {} B, {} B in {} allocations on the heap (of {})",
                        k.kind, k.listed, k.kept, k.heap, k.allocations, k.sampled
                    )
                })
                .collect();
            eprintln!(
                "{} x{n}: index bytes per object, listed → kept as JSON, and the kept object's heap: {}",
                workload.name(),
                bytes.join("; ")
            );
        }
    }
    Ok(())
}
