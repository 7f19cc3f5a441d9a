//! `aim-runtime-sim`: a stand-in for the AIM container runtime's entrypoint (`aim-build: src/entrypoint.py`),
//! for the one thing that cannot run here: a GPU. It keeps the runtime's contract as its public source states
//! it (the environment it reads, the dry run's output, where it looks for a cached model and where it downloads
//! one, the port and endpoints it serves) and hands serving to `llm-d-inference-sim`, which answers vLLM's
//! OpenAI API without weights. The image built from it (`scripts/runtime-image`) is what the real-node tests
//! and the demo run as an AIM image.
//!
//!   aim-runtime-sim [serve]                 choose the profile, find or download the model, load it, serve
//!   aim-runtime-sim dry-run --format=json   print the chosen profile and its models (`[]` when none fits)

mod config;
mod dry_run;
mod log;
mod profiles;
mod serve;
mod weights;

use config::Config;
use log::Log;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    std::process::exit(run(&args));
}

fn run(args: &[String]) -> i32 {
    let command = args.first().map(String::as_str).unwrap_or("serve");
    if matches!(command, "-h" | "--help" | "help") {
        println!("usage: aim-runtime-sim [serve] | dry-run --format=json");
        return 0;
    }
    let config = match Config::from_env(|k| std::env::var(k).ok()) {
        Ok(c) => c,
        Err(e) => {
            Log::at("WARNING").error("aim_runtime.entrypoint", &format!("Configuration error: {e}"));
            return 1;
        }
    };
    let log = Log::at(&config.log_level);
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            log.error("aim_runtime.entrypoint", &format!("Unexpected error: {e}"));
            return 1;
        }
    };
    match command {
        "dry-run" => {
            let format = args[1..]
                .iter()
                .find_map(|a| a.strip_prefix("--format="))
                .or_else(|| {
                    let at = args.iter().position(|a| a == "--format")?;
                    args.get(at + 1).map(String::as_str)
                })
                .unwrap_or("yaml");
            if !format.eq_ignore_ascii_case("json") {
                log.error(
                    "aim_runtime.entrypoint",
                    "the stand-in prints the dry run as --format=json only",
                );
                return 2;
            }
            println!("{}", runtime.block_on(dry_run::output(&config, &log)));
            0
        }
        "serve" => match runtime.block_on(serve::prepare(&config, &log)) {
            Ok((profile, _)) => {
                drop(runtime);
                log.error("aim_runtime.entrypoint", &serve::exec_engine(&config, &profile, &log));
                1
            }
            Err(e) => {
                log.error("aim_runtime.entrypoint", &format!("Unexpected error: {e}"));
                1
            }
        },
        other => {
            log.error("aim_runtime.entrypoint", &format!("No such command '{other}'"));
            2
        }
    }
}
