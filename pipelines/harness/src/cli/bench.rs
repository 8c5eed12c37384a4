//! `vigil bench`: end-to-end throughput figures.

use std::path::PathBuf;

use crate::bench::bench_sessions;
use anyhow::Context;
use clap::{Args, Subcommand};
use vigil_models::Device;

use crate::bench::kafka::{KafkaBench, bench_kafka};
use crate::bench::{Budget, ScoreOptions, bench_flows, bench_netfound, bench_score, peer_python};

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
    /// The state caps under adversarial keys (flow table, fragment reassembly, HSTU
    /// entities, alert suppression): items/s, keys held and evicted at 10 k, 100 k and
    /// 1 M distinct keys.
    Caps {
        /// Distinct keys per run.
        #[arg(long, value_delimiter = ',', default_values_t = [10_000, 100_000, 1_000_000])]
        keys: Vec<usize>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Model scoring through vigil-models against a bare onnxruntime Python session on
    /// the same model, inputs (the artifact's parity rows), batch sizes, device and threads:
    /// rows/s and p50/p99 milliseconds per call, each call timed on its own.
    Score(ScoreArgs),
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
    /// Kafka → FlowTransformer → store with `vigil run` children in one consumer
    /// group: rows/s and peak RSS for one and two instances (a 4-partition topic), and
    /// the latency from produce to a row `vigil sql` sees at a steady rate.
    Kafka(KafkaArgs),
}

/// Arguments of `vigil-harness bench kafka`.
#[derive(Debug, Args)]
struct KafkaArgs {
    /// Bootstrap brokers [default: $VIGIL_KAFKA_BROKERS].
    #[arg(long)]
    brokers: Option<String>,
    /// Rows per throughput run.
    #[arg(long, default_value_t = 100_000)]
    rows: usize,
    /// Rows of the latency run.
    #[arg(long, default_value_t = 10_000)]
    latency_rows: usize,
    /// Their rate, rows/s.
    #[arg(long, default_value_t = 1000.0)]
    rate: f64,
    /// The FlowTransformer model [default: onnx/artifacts/flow-transformer-cicids2017].
    #[arg(long)]
    model: Option<PathBuf>,
    /// Rows to cycle (CICFlowMeter columns) [default: samples/flows/cicids2017-sample.csv].
    #[arg(long)]
    csv: Option<PathBuf>,
    /// Where stores go [default: a temporary directory].
    #[arg(long)]
    scratch: Option<PathBuf>,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

/// Arguments of `vigil-harness bench score`.
#[derive(Debug, Args)]
struct ScoreArgs {
    /// The model directory (model.onnx, manifest.json, parity.json).
    model: PathBuf,
    /// Batch sizes.
    #[arg(long, alias = "batch", value_delimiter = ',', default_values_t = [1usize, 32, 256])]
    batches: Vec<usize>,
    /// Where to score: cpu, cuda (an error when CUDA cannot be used) or auto (CUDA, else
    /// the CPU). The peer runs on the device ours uses.
    #[arg(long, default_value = "cpu", value_name = "cpu|cuda|auto")]
    device: Device,
    /// Timed calls per batch size and side, at most.
    #[arg(long, default_value_t = 1000)]
    iters: usize,
    /// Seconds of timed calls per batch size and side, at most (at least one call is timed).
    #[arg(long, default_value_t = 1.0)]
    max_seconds: f64,
    /// Untimed calls per batch size and side first.
    #[arg(long, default_value_t = 3)]
    warmup: usize,
    /// Intra-op threads, both sides.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// The peer's Python (default: $VIGIL_PEER_PYTHON, else the project's .venv/bin/python3);
    /// on a GPU machine one whose onnxruntime is onnxruntime-gpu.
    #[arg(long, value_name = "PYTHON")]
    python: Option<PathBuf>,
    /// Time ours only.
    #[arg(long)]
    no_peer: bool,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
    /// Also write the JSON report to this file.
    #[arg(long, value_name = "FILE")]
    json_out: Option<PathBuf>,
}

/// Run `vigil-harness bench score`; fails (exit 1) when our model could not be loaded, after
/// reporting the peer's figures.
fn score(args: ScoreArgs) -> anyhow::Result<()> {
    let python = if args.no_peer {
        None
    } else {
        peer_python(args.python.as_deref(), crate::cli::checkout_root(None).ok().as_deref())
    };
    let options = ScoreOptions {
        batches: args.batches,
        budget: Budget {
            warmup: args.warmup,
            iters: args.iters.max(1),
            max_seconds: args.max_seconds,
        },
        device: args.device,
        threads: args.threads.max(1),
        python,
    };
    let report = bench_score(&args.model, &options)?;
    let json = serde_json::to_string_pretty(&report)?;
    if let Some(path) = &args.json_out {
        std::fs::write(path, &json).with_context(|| format!("cannot write {}", path.display()))?;
    }
    if args.json {
        println!("{json}");
    } else {
        print!("{report}");
    }
    match report.load_error {
        Some(e) => Err(anyhow::anyhow!(e)),
        None => Ok(()),
    }
}

/// Run `vigil bench`.
pub fn run(args: BenchArgs) -> anyhow::Result<Outcome> {
    match args.what {
        BenchWhat::Caps { keys, json } => {
            let rows = crate::bench::caps::bench_caps(&keys);
            if json {
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else {
                print!("{}", crate::bench::caps::caps_table(&rows));
            }
        }
        BenchWhat::Flows { capture, repeat, peers, json } => {
            let b = bench_flows(&capture, repeat, peers)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&b)?);
            } else {
                print!("{b}");
            }
        }
        BenchWhat::Score(args) => score(args)?,
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
        BenchWhat::Kafka(args) => return kafka(args),
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

/// Run `vigil-harness bench kafka`.
fn kafka(a: KafkaArgs) -> anyhow::Result<Outcome> {
    let root = crate::cli::checkout_root(None)?;
    let brokers = a
        .brokers
        .or_else(|| std::env::var("VIGIL_KAFKA_BROKERS").ok())
        .context("no brokers: give --brokers or set VIGIL_KAFKA_BROKERS")?;
    let vigil = std::env::current_exe()?.with_file_name("vigil");
    anyhow::ensure!(vigil.exists(), "no {} (build the vigil binary too)", vigil.display());
    let scratch = tempfile_dir(a.scratch)?;
    let bench = KafkaBench {
        brokers,
        vigil,
        model: a.model.unwrap_or_else(|| root.join("onnx/artifacts/flow-transformer-cicids2017")),
        mapping: "cicflowmeter".into(),
        csv: a.csv.unwrap_or_else(|| root.join("samples/flows/cicids2017-sample.csv")),
        rows: a.rows,
        latency_rows: a.latency_rows,
        latency_rate: a.rate,
        scratch: scratch.clone(),
    };
    let report = bench_kafka(&bench);
    let _ = std::fs::remove_dir_all(&scratch);
    let report = report?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("Kafka → FlowTransformer → store (vigil run children, one group, 4 partitions)");
        for t in &report.throughput {
            println!(
                "  {} instance(s): {} rows in {:.1} s = {:.0} rows/s, peak RSS {:.0} MiB",
                t.instances, t.rows, t.secs, t.rows_per_s, t.peak_rss_mib
            );
        }
        let l = &report.latency;
        println!(
            "  latency at {:.0} rows/s ({} rows), produce → visible to SQL: p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
            l.rate, l.rows, l.p50_ms, l.p99_ms, l.max_ms
        );
    }
    Ok(Outcome::Complete)
}

/// `dir`, or a new directory under the system's temporary one.
fn tempfile_dir(dir: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    let dir = dir.unwrap_or_else(|| {
        std::env::temp_dir().join(format!("vigil-bench-kafka-{}", std::process::id()))
    });
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
