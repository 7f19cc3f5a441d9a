//! `aim-operator`: the command-line entry point. It only parses arguments and calls into the library.

use aim_operator::policy::PolicyKind;
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
    /// Print the CustomResourceDefinitions as YAML, or write one file per CRD with --out-dir.
    Crdgen {
        /// Directory to write `<plural>.<group>.yaml` files into (the repository keeps them in `crds/`).
        #[arg(long)]
        out_dir: Option<PathBuf>,
    },
    /// Tools for policy plugin authors.
    #[command(subcommand)]
    Plugin(PluginCommand),
}

#[derive(Subcommand)]
enum PluginCommand {
    /// Load a component as the operator would (contract version, imports, type check, smoke test) and report.
    Check {
        /// The component (`.wasm`).
        file: PathBuf,
        /// The policy it must implement; by default, whichever aim:policy interface it exports.
        #[arg(long)]
        policy: Option<PolicyKind>,
    },
    /// Run a component on a JSON request and print its answer (decision and every verdict) as JSON.
    Eval {
        /// The policy to run it as.
        #[arg(long)]
        policy: PolicyKind,
        /// The component (`.wasm`).
        file: PathBuf,
        /// The request (see plugins/examples/).
        input: PathBuf,
    },
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

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Crdgen { out_dir: Some(dir) } => {
            for file in crdgen::write_dir(&dir)? {
                eprintln!("wrote {}", dir.join(file).display());
            }
        }
        Command::Crdgen { out_dir: None } => print!("{}", crdgen::render_stream()?),
        Command::Plugin(PluginCommand::Check { file, policy }) => {
            print!("{}", plugin_cli::check(&file, policy)?)
        }
        Command::Plugin(PluginCommand::Eval {
            policy,
            file,
            input,
        }) => print!("{}", plugin_cli::eval(policy, &file, &input)?),
    }
    Ok(())
}
