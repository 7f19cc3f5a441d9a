//! `aim-operator`: the command-line entry point. It only parses arguments and calls into the library.

use aim_operator::policy::{PolicyKind, SandboxLimits};
use aim_operator::{crdgen, plugin_cli};
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "aim-operator",
    version,
    about = "Kubernetes operator for AMD Inference Microservices (AIM)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the CustomResourceDefinitions as YAML, or write one file per CRD into each --out-dir.
    Crdgen {
        /// Directory to write `<plural>.<group>.yaml` files into; repeatable (the repository keeps them in `crds/`
        /// and in the Helm chart's `deploy/helm/aim-operator/crds/`).
        #[arg(long)]
        out_dir: Vec<PathBuf>,
    },
    /// Run the operator: every controller, under leader election, with /metrics, /healthz and /readyz.
    Run(Box<RunArgs>),
    /// Tools for policy plugin authors.
    #[command(subcommand)]
    Plugin(PluginCommand),
    /// Download a model source into a cache volume (what a ModelCache's Job runs), or print its size.
    Download(DownloadArgs),
}

#[derive(clap::Args)]
struct DownloadArgs {
    source_uri: String,
    /// Print the source's total size and exit, writing nothing.
    #[arg(long)]
    size_only: bool,
    /// The cache volume's mount point. (Not `AIM_CACHE_DIR`: the scripts use that name for their build cache.)
    #[arg(long, env = "AIM_DOWNLOAD_DIR", default_value = "/cache")]
    dir: PathBuf,
    /// PEM certificates to trust besides the system's: the private CA of a hub mirror or S3 store (the operator
    /// mounts the ConfigMap its --downloader-ca-bundle names here).
    #[arg(long, env = "AIM_EXTRA_CA_FILE")]
    extra_ca_file: Option<PathBuf>,
    /// Files downloaded at once.
    #[arg(long, env = "AIM_DOWNLOAD_PARALLEL", default_value_t = aim_operator::download::DEFAULT_PARALLEL)]
    parallel: usize,
    /// Connections one large file is read over (by ranges).
    #[arg(long, env = "AIM_DOWNLOAD_CONNECTIONS_PER_FILE", default_value_t = aim_operator::download::chunks::DEFAULT_PER_FILE)]
    connections_per_file: usize,
    /// Connections over all files at once.
    #[arg(long, env = "AIM_DOWNLOAD_CONNECTIONS", default_value_t = aim_operator::download::chunks::DEFAULT_TOTAL)]
    connections: usize,
    /// MiB per range of a large file.
    #[arg(long, env = "AIM_DOWNLOAD_CHUNK_MIB", default_value_t = aim_operator::download::chunks::DEFAULT_CHUNK >> 20)]
    chunk_mib: u64,
    /// Seconds without a byte after which a transfer counts as stalled.
    #[arg(long, env = "AIM_DOWNLOAD_STALL_SECONDS", default_value_t = 120)]
    stall_timeout: u64,
    /// Seconds between progress reports.
    #[arg(long, env = "AIM_PROGRESS_SECONDS", default_value_t = 5)]
    progress_seconds: u64,
    /// The Job to report progress on, as <namespace>/<name> (the operator sets it).
    #[arg(long, env = "AIM_PROGRESS_JOB")]
    progress_job: Option<String>,
    /// Download only files matching one of these glob patterns (comma-separated; `*`, `**`, `?`).
    #[arg(long, env = "AIM_DOWNLOAD_INCLUDE")]
    include: Option<String>,
    /// Skip files matching one of these glob patterns (comma-separated). With neither list, `original/**` is
    /// skipped.
    #[arg(long, env = "AIM_DOWNLOAD_EXCLUDE")]
    exclude: Option<String>,
}

#[derive(clap::Args)]
struct RunArgs {
    /// The operator's namespace (its Lease, and the discovery Jobs of cluster templates).
    #[arg(long, env = "AIM_SYSTEM_NAMESPACE", default_value = "aim-system")]
    namespace: String,
    /// Directory holding replacement plugins (matcher.wasm, merger.wasm, router.wasm); watched for changes.
    #[arg(long, env = "AIM_PLUGIN_DIR")]
    plugin_dir: Option<PathBuf>,
    /// Directory for compiled plugins, so restarts skip compilation.
    #[arg(long, env = "AIM_PLUGIN_CACHE_DIR")]
    plugin_cache_dir: Option<PathBuf>,
    /// Address of /metrics, /healthz and /readyz.
    #[arg(long, default_value = "0.0.0.0:8080")]
    http_addr: std::net::SocketAddr,
    /// Run the controllers only while holding the leader Lease (leave on with more than one replica).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    leader_elect: bool,
    /// This replica's name in the Lease (default: the pod name, else host name and process id).
    #[arg(long, env = "POD_NAME")]
    identity: Option<String>,
    /// Log format.
    #[arg(long, value_enum, default_value = "pretty")]
    log_format: LogFormat,
    /// Discovery Jobs running at once, cluster-wide.
    #[arg(long, default_value_t = 10)]
    max_discovery_jobs: usize,
    /// Seconds a shared object the operator made (derived template, template cache, model cache) stays after its
    /// last user went away, so a service created just then still finds it.
    #[arg(long, default_value_t = 60)]
    unused_grace_seconds: u64,
    /// Seconds a step of a service's normal start (waiting for its template, its cache, KServe) must last before
    /// the service's status shows it; steps that pass sooner are never written (0: write every step; at most a
    /// quarter of --unused-grace-seconds takes effect).
    #[arg(long, default_value_t = 5)]
    status_settle_seconds: u64,
    /// Image of the model download and size-check Jobs, which run `aim-operator download` (another image must
    /// provide that command). Default: the image of the operator's own pod (found through POD_NAME), else
    /// ghcr.io/silogen/aim-operator at this version.
    #[arg(long, env = "AIM_DOWNLOADER_IMAGE")]
    downloader_image: Option<String>,
    /// Certificates the download Jobs trust besides the image's, for a hub mirror or S3 store behind a private
    /// CA: a ConfigMap of this name in each cache's namespace, as NAME or NAME:KEY (key default `ca.crt`).
    #[arg(long, env = "AIM_DOWNLOADER_CA_BUNDLE", value_parser = parse_ca_bundle)]
    downloader_ca_bundle: Option<aim_operator::controller::CaBundle>,
    #[command(flatten)]
    plugin_limits: PluginLimitArgs,
}

/// The sandbox's limits for policy plugins (the defaults admit a Python policy built with componentize-py).
#[derive(clap::Args, Clone, Copy)]
struct PluginLimitArgs {
    /// Largest plugin component file accepted, in MiB.
    #[arg(long, env = "AIM_PLUGIN_MAX_COMPONENT_MIB", default_value_t = SandboxLimits::default().component_bytes >> 20)]
    plugin_max_component_mib: usize,
    /// Largest linear memory one plugin call may grow to, in MiB.
    #[arg(long, env = "AIM_PLUGIN_MEMORY_MIB", default_value_t = SandboxLimits::default().memory_bytes >> 20)]
    plugin_memory_mib: usize,
    /// Time one plugin call may run, in milliseconds.
    #[arg(long, env = "AIM_PLUGIN_DEADLINE_MS", default_value_t = SandboxLimits::default().deadline.as_millis() as u64)]
    plugin_deadline_ms: u64,
    /// Core WebAssembly instances one plugin call may create (a Python plugin needs a few dozen).
    #[arg(long, env = "AIM_PLUGIN_MAX_INSTANCES", default_value_t = SandboxLimits::default().instances)]
    plugin_max_instances: u32,
}

impl PluginLimitArgs {
    fn limits(self) -> SandboxLimits {
        SandboxLimits {
            component_bytes: self.plugin_max_component_mib.max(1) << 20,
            memory_bytes: self.plugin_memory_mib.max(1) << 20,
            deadline: std::time::Duration::from_millis(self.plugin_deadline_ms.max(1)),
            instances: self.plugin_max_instances.max(1),
            ..SandboxLimits::default()
        }
    }
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    /// One JSON object per line, for log collectors.
    Json,
    Pretty,
}

#[derive(Subcommand)]
enum PluginCommand {
    /// Load a component as the operator would (contract version, imports, type check, smoke test) and report.
    Check {
        file: PathBuf,
        /// The policy it must implement; by default, whichever aim:policy interface it exports.
        #[arg(long)]
        policy: Option<PolicyKind>,
        #[command(flatten)]
        limits: PluginLimitArgs,
    },
    /// Run a component on a JSON request and print its answer (decision and every verdict) as JSON.
    Eval {
        /// The policy to run it as.
        #[arg(long)]
        policy: PolicyKind,
        file: PathBuf,
        /// The request (see plugins/examples/).
        input: PathBuf,
        #[command(flatten)]
        limits: PluginLimitArgs,
    },
}

fn parse_ca_bundle(text: &str) -> Result<aim_operator::controller::CaBundle, String> {
    aim_operator::controller::CaBundle::parse(text).ok_or_else(|| format!("'{text}' is not NAME or NAME:KEY"))
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs the downloader; its last line (and termination message) says how it ended, so errors are not returned
/// to `main`'s generic printer.
fn download(args: DownloadArgs) -> anyhow::Result<()> {
    use aim_operator::download;
    let runtime = tokio::runtime::Runtime::new()?;
    let filter = download::filter::Filter::from_lists(args.include.as_deref(), args.exclude.as_deref());
    let outcome = if args.size_only {
        let size = download::size(&args.source_uri, &filter, &args.dir, args.extra_ca_file.as_deref());
        runtime.block_on(size).map(|listed| {
            serde_json::json!({
                "result": "size", "bytes": listed.bytes(), "files": listed.files(), "skipped": listed.skipped
            })
            .to_string()
        })
    } else {
        let options = download::Options {
            source_uri: args.source_uri,
            dir: args.dir,
            parallel: args.parallel,
            stall_timeout: std::time::Duration::from_secs(args.stall_timeout.max(1)),
            progress_every: std::time::Duration::from_secs(args.progress_seconds.max(1)),
            progress_job: args
                .progress_job
                .and_then(|j| j.split_once('/').map(|(ns, name)| (ns.to_string(), name.to_string()))),
            extra_ca: args.extra_ca_file,
            filter,
            connections: download::chunks::Connections::new(
                args.connections_per_file,
                args.connections,
                args.chunk_mib.max(1) << 20,
            ),
        };
        runtime.block_on(download::run(&options)).map(|done| done.to_line())
    };
    let line = match &outcome {
        Ok(line) => line.clone(),
        Err(failure) => failure.to_line(),
    };
    println!("{line}");
    download::write_termination_message(&line);
    match outcome {
        Ok(_) => Ok(()),
        Err(_) => std::process::exit(1),
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Crdgen { out_dir } if out_dir.is_empty() => print!("{}", crdgen::render_stream()?),
        Command::Crdgen { out_dir } => {
            for dir in out_dir {
                for file in crdgen::write_dir(&dir)? {
                    eprintln!("wrote {}", dir.join(file).display());
                }
            }
        }
        Command::Run(args) => {
            let filter = tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,kube=warn,wasmtime=warn".into());
            let logs = tracing_subscriber::fmt().with_env_filter(filter);
            match args.log_format {
                LogFormat::Json => logs.json().init(),
                LogFormat::Pretty => logs.init(),
            }
            let mut operator = aim_operator::controller::OperatorConfig {
                namespace: args.namespace,
                ..Default::default()
            };
            operator.discovery.max_concurrent_jobs = args.max_discovery_jobs;
            operator.download.ca_bundle = args.downloader_ca_bundle;
            operator.unused_grace = std::time::Duration::from_secs(args.unused_grace_seconds);
            operator.status_settle = std::time::Duration::from_secs(args.status_settle_seconds);
            let image_from_pod = match args.downloader_image {
                Some(image) => {
                    operator.download.image = image;
                    None
                }
                None => std::env::var("POD_NAME").ok().filter(|p| !p.is_empty()),
            };
            let identity = args.identity.unwrap_or_else(|| {
                let host = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
                format!("{}-{}", host.trim(), std::process::id())
            });
            let config = aim_operator::process::RunConfig {
                operator,
                plugin_dir: args.plugin_dir,
                plugin_cache_dir: args.plugin_cache_dir,
                http_addr: args.http_addr,
                leader_elect: args.leader_elect,
                identity,
                image_from_pod,
                plugin_limits: args.plugin_limits.limits(),
            };
            tokio::runtime::Runtime::new()?.block_on(aim_operator::process::run(config))?;
        }
        Command::Download(args) => return download(args),
        Command::Plugin(PluginCommand::Check { file, policy, limits }) => {
            print!("{}", plugin_cli::check(&file, policy, limits.limits())?)
        }
        Command::Plugin(PluginCommand::Eval {
            policy,
            file,
            input,
            limits,
        }) => print!("{}", plugin_cli::eval(policy, &file, &input, limits.limits())?),
    }
    Ok(())
}
