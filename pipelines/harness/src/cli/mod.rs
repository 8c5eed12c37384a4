//! The harness's commands: `conformance` and `bench`.

mod bench;
mod bench_pipeline;
mod conformance;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

/// Vigil's conformance checks and benchmarks.
#[derive(Debug, Parser)]
#[command(name = "vigil-harness", version, about)]
pub struct Cli {
    /// More log output (-v info, -vv debug); `RUST_LOG` overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Only errors.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Compare our flows with Zeek, Suricata and nDPI outputs on the same captures.
    Conformance(conformance::ConformanceArgs),
    /// Throughput figures, side by side with peer tools.
    Bench(Box<bench::BenchArgs>),
}

/// How a command ended when it did not fail outright.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Everything was processed.
    Complete,
    /// Finished, but a checked figure fell below its threshold.
    BelowThreshold,
}

impl Outcome {
    /// The process exit code (4 below a threshold, as `vigil` had it).
    pub fn exit_code(self) -> ExitCode {
        match self {
            Outcome::Complete => ExitCode::SUCCESS,
            Outcome::BelowThreshold => ExitCode::from(4),
        }
    }
}

/// Run the parsed command.
pub fn run(cli: Cli) -> anyhow::Result<Outcome> {
    match cli.command {
        Command::Conformance(args) => conformance::run(args),
        Command::Bench(args) => bench::run(*args),
    }
}

/// The Vigil checkout (`samples/`, `onnx/artifacts/`): `explicit`, else the one this
/// harness was built in.
pub(crate) fn checkout_root(explicit: Option<&Path>) -> anyhow::Result<PathBuf> {
    let root = match explicit {
        Some(r) => r.to_path_buf(),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."),
    };
    anyhow::ensure!(
        root.join("onnx/artifacts").is_dir(),
        "{} is not a Vigil checkout (no onnx/artifacts): pass --root",
        root.display()
    );
    root.canonicalize().with_context(|| root.display().to_string())
}
