//! `vigil-harness`: conformance and benchmarks (`cargo run --release -p vigil-harness -- …`).

use std::process::ExitCode;

use clap::Parser;
use vigil_harness::cli::{Cli, run};

fn main() -> ExitCode {
    let cli = Cli::parse();
    vigil_pipelines::logging::init(cli.verbose, cli.quiet);
    match run(cli) {
        Ok(outcome) => outcome.exit_code(),
        Err(e) => {
            eprintln!("vigil-harness: {e:#}");
            ExitCode::from(1)
        }
    }
}
