//! Command-line definitions and dispatch.

mod alerts;
mod demo;
mod docs;
mod flows;
mod generate;
mod inputs;
mod kafka;
mod progress;
mod rules;
mod run;
mod score;
mod serve;
mod sql;
mod stats;
pub(crate) mod tokenize;
pub(crate) mod version;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Vigil: streaming analytics for network security.
#[derive(Debug, Parser)]
#[command(name = "vigil", version, propagate_version = true)]
pub struct Cli {
    /// More log output (-v info, -vv debug, -vvv trace); `RUST_LOG` overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Only errors: no progress bar, no summary, no warnings.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Turn packet captures into bidirectional flows (Zeek conn.log semantics, or Suricata's with --semantics suricata).
    Flows(flows::FlowsArgs),
    /// Turn records into model inputs (Parquet), as training and serving both read them.
    Tokenize(tokenize::TokenizeArgs),
    /// Score records with a model and add its verdict to each row (Parquet).
    Score(score::ScoreArgs),
    /// Run a topology (sources → tokenize and score → store, alerts) from a TOML file.
    Run(run::RunArgs),
    /// Run the whole path on the shipped samples, store the results and summarise them.
    Demo(demo::DemoArgs),
    /// Per-stage counters of a running instance or of the last run over a store.
    Stats(stats::StatsArgs),
    /// Query the event store in SQL (read-only); an interactive shell without a query.
    Sql(sql::SqlArgs),
    /// Kafka tools: replay a file into a topic, show a consumer group's lag.
    Kafka(kafka::KafkaArgs),
    /// Alert rules: print the built-in set, check rules files.
    Rules(rules::RulesArgs),
    /// Acknowledge, escalate or reopen alerts (recorded in the store's alert_state table).
    Alerts(alerts::AlertsArgs),
    /// The analyst's console: an HTTP API over a store (127.0.0.1:8787 by default).
    Serve(serve::ServeArgs),
    /// Write a synthetic capture: a port scan, host sweep, SSH brute force, SYN flood,
    /// tiny and overlapping fragments, or a benign mix.
    Gen(generate::GenArgs),
    /// Print a shell's completion script.
    Completions(docs::CompletionsArgs),
    /// Write the man pages.
    Man(docs::ManArgs),
}

/// How a command ended when it did not fail outright.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Everything was processed.
    Complete,
    /// Finished, but some input was cut short (reported on stderr).
    Partial,
}

impl Outcome {
    /// The process exit code.
    pub fn exit_code(self) -> ExitCode {
        match self {
            Outcome::Complete => ExitCode::SUCCESS,
            Outcome::Partial => ExitCode::from(3),
        }
    }
}

/// Run the parsed command.
pub fn run(cli: Cli) -> anyhow::Result<Outcome> {
    match cli.command {
        Command::Flows(args) => flows::run(args, cli.quiet),
        Command::Tokenize(args) => tokenize::run(args, cli.quiet),
        Command::Score(args) => score::run(args, cli.quiet),
        Command::Sql(args) => sql::run(args),
        Command::Run(args) => run::run(args, cli.quiet),
        Command::Demo(args) => demo::run(args, cli.quiet),
        Command::Stats(args) => stats::run(args),
        Command::Kafka(args) => kafka::run(args, cli.quiet),
        Command::Rules(args) => rules::run(args),
        Command::Alerts(args) => alerts::run(args, cli.quiet),
        Command::Serve(args) => serve::run(args),
        Command::Gen(args) => generate::run(args, cli.quiet),
        Command::Completions(args) => docs::completions(args),
        Command::Man(args) => docs::man(args),
    }
}
