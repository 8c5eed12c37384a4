//! `vigil conformance`: compare our flows with Zeek, Suricata and nDPI outputs.

use std::path::PathBuf;

use crate::conformance::{self, ConformanceOptions, Source};
use clap::Args;

use crate::cli::Outcome;

/// Arguments of `vigil conformance`.
#[derive(Debug, Args)]
pub struct ConformanceArgs {
    /// Data directory holding `pcap/` with the peers' expected outputs
    /// (default: `$VIGIL_DATA`, else `../shared/data`).
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
    /// Only these sources (repeatable): zeek, suricata, ndpi.
    #[arg(long = "source", value_name = "NAME")]
    sources: Vec<Source>,
    /// Only captures whose path (relative to `pcap/`) contains this text.
    #[arg(long, value_name = "TEXT")]
    capture: Option<String>,
    /// Most mismatches listed per source.
    #[arg(long, value_name = "N", default_value_t = 50)]
    max_mismatches: usize,
    /// Known-differences file to use instead of the built-in list.
    #[arg(long, value_name = "FILE")]
    known_differences: Option<PathBuf>,
    /// Also check Suricata's TCP flag fields.
    #[arg(long)]
    suricata_tcp_flags: bool,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    /// Exit with status 4 when an acceptance threshold is not met.
    #[arg(long)]
    strict: bool,
}

/// Run `vigil conformance`.
pub fn run(args: ConformanceArgs) -> anyhow::Result<Outcome> {
    let data = args.data.unwrap_or_else(conformance::default_data_dir);
    let opts = ConformanceOptions {
        sources: args.sources,
        capture_filter: args.capture,
        max_mismatches: args.max_mismatches,
        known_differences: args.known_differences,
        suricata_tcp_flags: args.suricata_tcp_flags,
        ..ConformanceOptions::default()
    };
    let report = conformance::run(&data, &opts)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("{report}");
    }
    let failures = report.acceptance_failures();
    Ok(if args.strict && !failures.is_empty() {
        Outcome::BelowThreshold
    } else {
        Outcome::Complete
    })
}
