//! The `vigil` command: parse arguments, run the subcommand, map errors to exit codes.
//!
//! Exit codes: 0 success, 1 error (also: an input that is missing, empty or not a
//! capture; then nothing is written), 2 usage error, 3 finished but some input
//! was cut short (a truncated or corrupt capture; the output holds everything
//! read before the fault).

mod cli;

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};

fn main() -> ExitCode {
    let mut command = cli::Cli::command();
    // What `--version` reports is looked up only when asked for.
    if std::env::args().skip(1).any(|a| a == "--version" || a == "-V") {
        command = command.version(&*Box::leak(cli::version::long_version().into_boxed_str()));
    }
    let args = match cli::Cli::from_arg_matches(&command.get_matches()) {
        Ok(args) => args,
        Err(e) => e.exit(),
    };
    vigil_pipelines::logging::init(args.verbose, args.quiet);
    match cli::run(args) {
        Ok(outcome) => outcome.exit_code(),
        Err(e) => {
            eprintln!("vigil: error: {e:#}");
            ExitCode::from(1)
        }
    }
}
