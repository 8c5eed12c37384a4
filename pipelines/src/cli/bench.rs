//! `vigil bench`: end-to-end throughput figures.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use vigil_pipelines::bench::{bench_flows, bench_netfound};

use super::Outcome;

/// Arguments of `vigil bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    what: BenchWhat,
}

#[derive(Debug, Subcommand)]
enum BenchWhat {
    /// Capture → flows: packets/s and flows/s, optionally against ndpiReader,
    /// softflowd and tshark run side by side on the same file.
    Flows {
        /// The capture (build a 1M-packet one with `benchmarks/make-capture.py`).
        capture: PathBuf,
        /// Runs per contender; the fastest is kept.
        #[arg(long, default_value_t = 3)]
        repeat: usize,
        /// Also run the peer tools found on PATH and print ratios.
        #[arg(long)]
        peers: bool,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Capture → flows → netFound tokens: packets/s and tokens/s, and the rate as a
    /// fraction of the flow-only path on the same capture.
    Netfound {
        /// The capture.
        capture: PathBuf,
        /// Runs per measurement; the fastest is kept.
        #[arg(long, default_value_t = 3)]
        repeat: usize,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

/// Run `vigil bench`.
pub fn run(args: BenchArgs) -> anyhow::Result<Outcome> {
    match args.what {
        BenchWhat::Flows { capture, repeat, peers, json } => {
            let b = bench_flows(&capture, repeat, peers)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&b)?);
            } else {
                print!("{b}");
            }
        }
        BenchWhat::Netfound { capture, repeat, json } => {
            let b = bench_netfound(&capture, repeat)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&b)?);
            } else {
                print!("{b}");
            }
        }
    }
    Ok(Outcome::Complete)
}
