//! `vigil bench`: end-to-end throughput figures.

use std::path::PathBuf;

use crate::bench::{bench_flows, bench_netfound, bench_score, bench_sessions};
use clap::{Args, Subcommand};

use super::bench_pipeline::{self, PipelineArgs};
use crate::cli::Outcome;

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
    /// Model scoring through vigil-models against a bare onnxruntime Python session on
    /// the same model, inputs (the artifact's parity rows) and batch, one thread each.
    Score {
        /// The model directory (model.onnx, manifest.json, parity.json).
        model: PathBuf,
        /// Batch sizes.
        #[arg(long, value_delimiter = ',', default_values_t = [1usize, 32, 256])]
        batches: Vec<usize>,
        /// Timed calls per batch size.
        #[arg(long, default_value_t = 200)]
        iters: usize,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// One ONNX Runtime session shared by the scoring workers (one call at a time,
    /// `workers` threads) against one session per worker (one thread each, called at
    /// once): rows/s of each, per model.
    Sessions {
        /// Model directories (model.onnx, manifest.json, parity.json).
        #[arg(required = true)]
        models: Vec<PathBuf>,
        /// Rows per call.
        #[arg(long, default_value_t = 256)]
        batch: usize,
        /// Workers; default: the cores.
        #[arg(long)]
        workers: Option<usize>,
        /// Calls per arrangement.
        #[arg(long, default_value_t = 200)]
        calls: usize,
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
    /// The streaming runtime end to end per source type (capture → netFound, flow CSV →
    /// FlowTransformer, metrics → iTransformer, access log → HSTU, each into a store):
    /// records/s, time shares (decode, tokenize, score, write) and peak RSS; then our
    /// SQL against DuckDB on the same Parquet files.
    Pipeline(PipelineArgs),
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
        BenchWhat::Score { model, batches, iters, json } => {
            let rows = bench_score(&model, &batches, iters.max(1))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else {
                println!(
                    "{:>6} {:>12} {:>12} {:>10}",
                    "batch", "vigil ms", "python ms", "overhead"
                );
                for r in rows {
                    let (peer, over) = match r.peer_ms {
                        Some(p) => {
                            (format!("{p:.3}"), format!("{:+.1}%", 100.0 * (r.ours_ms / p - 1.0)))
                        }
                        None => ("-".into(), "-".into()),
                    };
                    println!("{:>6} {:>12.3} {:>12} {:>10}", r.batch, r.ours_ms, peer, over);
                }
            }
        }
        BenchWhat::Sessions { models, batch, workers, calls, json } => {
            let workers = workers
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
            let rows = models
                .iter()
                .map(|m| bench_sessions(m, batch.max(1), workers, calls))
                .collect::<anyhow::Result<Vec<_>>>()?;
            if json {
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else {
                println!(
                    "{:<28} {:>6} {:>8} {:>14} {:>14}  winner",
                    "model", "batch", "workers", "shared rows/s", "per-worker"
                );
                for r in rows {
                    println!(
                        "{:<28} {:>6} {:>8} {:>14.0} {:>14.0}  {}",
                        r.model,
                        r.batch,
                        r.workers,
                        r.shared_rows_s,
                        r.per_worker_rows_s,
                        r.winner()
                    );
                }
            }
        }
        BenchWhat::Pipeline(args) => return bench_pipeline::run(args),
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
