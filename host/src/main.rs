//! `aim-operator`: the command-line entry point. It only parses arguments and calls into the library.

use aim_operator::crdgen;
use clap::{Parser, Subcommand};
use std::path::PathBuf;

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
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Crdgen { out_dir: Some(dir) } => {
            for file in crdgen::write_dir(&dir)? {
                eprintln!("wrote {}", dir.join(file).display());
            }
        }
        Command::Crdgen { out_dir: None } => print!("{}", crdgen::render_stream()?),
    }
    Ok(())
}
