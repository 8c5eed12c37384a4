//! `vigil tokenize`: records in, model inputs out, as Parquet.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use vigil_ingest::packet::DecoderConfig;
use vigil_ingest::{FlowTableConfig, PcapReader};
use vigil_pipelines::output::BatchFileWriter;
use vigil_pipelines::tokenize::netfound_from_capture;
use vigil_tokenizers::{
    BurstSplit, FlowTokens, IpNetwork, NetfoundConfig, netfound_schema, to_record_batch,
};

use super::Outcome;
use super::inputs::expand_inputs;

/// Rows buffered before a record batch is written.
const BATCH_ROWS: usize = 4096;

/// Arguments of `vigil tokenize`.
#[derive(Debug, Args)]
pub struct TokenizeArgs {
    #[command(subcommand)]
    family: Family,
}

#[derive(Debug, Subcommand)]
enum Family {
    /// netFound packet tokens: per flow, bursts of protocol-aware header-field tokens
    /// plus per-burst metadata (one Parquet row per flow).
    Netfound(NetfoundArgs),
    /// iTransformer variate tokens: metrics resampled onto a regular grid, then windows of
    /// L steps over N variates, normalised per window and variate (one row per window).
    Variate(VariateArgs),
}

/// Input layout of a metrics file.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum MetricsLayout {
    /// Decide from the name and the header.
    Auto,
    /// One point per row: series, ts, value (or ts, value).
    Long,
    /// A timestamp column and one column per variate.
    Wide,
    /// JSON lines, long or wide objects.
    Jsonl,
}

/// Arguments of `vigil tokenize variate`.
#[derive(Debug, Args)]
#[command(
    after_help = "Example:\n  vigil tokenize variate ../shared/data/timeseries/ett/ETTh1.csv --step 3600 --out etth1.parquet"
)]
pub struct VariateArgs {
    /// Metrics file: long or wide CSV, or JSON lines (optionally gzip-compressed).
    input: PathBuf,
    /// The Parquet file to write.
    #[arg(short, long, value_name = "FILE.parquet")]
    out: PathBuf,
    /// Input layout.
    #[arg(long, value_enum, default_value_t = MetricsLayout::Auto)]
    layout: MetricsLayout,
    /// Grid step in seconds.
    #[arg(long, default_value_t = 3600.0, value_name = "SECS")]
    step: f64,
    /// Forward-fill a series over at most this many empty steps; longer gaps are marked missing.
    #[arg(long, default_value_t = 0, value_name = "N")]
    ffill: u32,
    /// Combine several points of one series in one step by their mean instead of the last.
    #[arg(long)]
    mean: bool,
    /// Lookback window length L, in steps.
    #[arg(long, default_value_t = 96, value_name = "L")]
    lookback: usize,
    /// Steps between consecutive windows.
    #[arg(long, default_value_t = 1, value_name = "N")]
    stride: usize,
    /// Add iTransformer's hourly time features (hour, weekday, day of month, day of year).
    #[arg(long)]
    time_features: bool,
    /// Write rows that could not be read as JSON lines to this file.
    #[arg(long, value_name = "FILE")]
    dead_letters: Option<PathBuf>,
}

/// Arguments of `vigil tokenize netfound`.
#[derive(Debug, Args)]
#[command(
    after_help = "Example:\n  vigil tokenize netfound samples/ssh.pcap --out ssh-tokens.parquet"
)]
pub struct NetfoundArgs {
    /// Capture files, directories of them, or `-` for standard input.
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// The Parquet file to write.
    #[arg(short, long, value_name = "FILE.parquet")]
    out: PathBuf,
    /// An internal network (CIDR, repeatable): its hosts' packets are the forward direction.
    /// Without any, the flow's originator is forward.
    #[arg(long = "internal-net", value_name = "CIDR")]
    internal_nets: Vec<IpNetwork>,
    /// Gap in milliseconds after which a packet starts a new burst.
    #[arg(long, default_value_t = 10.0, value_name = "MS")]
    burst_gap_ms: f64,
    /// Packets kept per burst.
    #[arg(long, default_value_t = 6, value_name = "N")]
    max_packets_per_burst: usize,
    /// Bursts kept per flow.
    #[arg(long, default_value_t = 12, value_name = "N")]
    max_bursts: usize,
    /// Also start a new burst whenever the direction changes (the reference splits each
    /// direction on its own).
    #[arg(long)]
    split_on_direction_change: bool,
    /// Leave out the first 12 payload bytes (6 tokens per packet).
    #[arg(long)]
    no_payload: bool,
    /// Add the TCP options (20 tokens per TCP packet).
    #[arg(long)]
    tcp_options: bool,
    /// Emit a flow early once this many bursts are complete (0: only when it ends).
    #[arg(long, default_value_t = 12, value_name = "N")]
    emit_after_bursts: usize,
}

impl NetfoundArgs {
    fn config(&self) -> anyhow::Result<NetfoundConfig> {
        if !(self.burst_gap_ms.is_finite() && self.burst_gap_ms >= 0.0) {
            bail!("--burst-gap-ms must be a non-negative number, got {}", self.burst_gap_ms);
        }
        Ok(NetfoundConfig {
            internal_networks: self.internal_nets.clone(),
            burst_gap_us: (self.burst_gap_ms * 1000.0).round() as i64,
            burst_split: if self.split_on_direction_change {
                BurstSplit::OnDirectionChange
            } else {
                BurstSplit::PerDirection
            },
            max_packets_per_burst: self.max_packets_per_burst,
            max_bursts: self.max_bursts,
            payload: !self.no_payload,
            tcp_options: self.tcp_options,
            emit_after_bursts: (self.emit_after_bursts > 0).then_some(self.emit_after_bursts),
            ..NetfoundConfig::default()
        })
    }
}

/// Run `vigil tokenize`.
pub fn run(args: TokenizeArgs, quiet: bool) -> anyhow::Result<Outcome> {
    match args.family {
        Family::Netfound(a) => netfound(a, quiet),
        Family::Variate(a) => variate(a, quiet),
    }
}

fn variate(args: VariateArgs, quiet: bool) -> anyhow::Result<Outcome> {
    use vigil_ingest::metrics::{
        Aggregation, MetricsFormat, MetricsReader, MetricsReaderConfig, ResampleConfig, resample,
    };
    use vigil_tokenizers::variate::{VariateConfig, to_record_batch, variate_schema, windows};

    if !(args.step.is_finite() && args.step > 0.0) {
        bail!("--step must be a positive number of seconds, got {}", args.step);
    }
    let format = match args.layout {
        MetricsLayout::Auto => MetricsFormat::Auto,
        MetricsLayout::Long => MetricsFormat::LongCsv,
        MetricsLayout::Wide => MetricsFormat::WideCsv,
        MetricsLayout::Jsonl => MetricsFormat::JsonLines,
    };
    let mut reader =
        MetricsReader::open(&args.input, MetricsReaderConfig { format, ..Default::default() })?;
    let points = reader.read_all()?;
    let dead = reader.take_dead_letters();
    let stats = reader.stats();
    if let Some(path) = &args.dead_letters {
        let lines: Vec<String> = dead
            .iter()
            .map(|d| {
                serde_json::json!({"source": d.source, "line": d.line, "reason": d.reason, "raw": d.raw})
                    .to_string()
            })
            .collect();
        std::fs::write(path, lines.join("\n") + if lines.is_empty() { "" } else { "\n" })
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    let rs = ResampleConfig {
        step_us: (args.step * 1e6).round() as i64,
        max_ffill_steps: args.ffill,
        aggregation: if args.mean { Aggregation::Mean } else { Aggregation::Last },
        ..ResampleConfig::default()
    };
    let frame = resample(&points, reader.wide_series(), rs)?;
    let config = VariateConfig {
        lookback: args.lookback,
        stride: args.stride,
        time_features: args.time_features,
        ..VariateConfig::default()
    };
    let ws = windows(frame.series.clone(), &frame.steps, config)?;
    let mut out = BatchFileWriter::create(&args.out, variate_schema())
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    for chunk in ws.chunks(BATCH_ROWS) {
        out.write(&to_record_batch(chunk)?).context("cannot write the windows")?;
    }
    out.finish().with_context(|| format!("cannot finish {}", args.out.display()))?;
    if !quiet {
        eprintln!(
            "vigil: {} points of {} series, {} steps, {} windows into {} ({} dead letters)",
            points.len(),
            frame.series.len(),
            frame.steps.len(),
            ws.len(),
            args.out.display(),
            stats.dead_letters
        );
    }
    Ok(if stats.dead_letters > 0 { Outcome::Partial } else { Outcome::Complete })
}

fn netfound(args: NetfoundArgs, quiet: bool) -> anyhow::Result<Outcome> {
    let config = args.config()?;
    let mut out = BatchFileWriter::create(&args.out, netfound_schema())
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let mut pending: Vec<FlowTokens> = Vec::with_capacity(BATCH_ROWS);
    let mut write_error: Option<anyhow::Error> = None;
    let flush = |pending: &mut Vec<FlowTokens>, out: &mut BatchFileWriter| -> anyhow::Result<()> {
        if pending.is_empty() {
            return Ok(());
        }
        let batch = to_record_batch(pending)?;
        pending.clear();
        out.write(&batch).context("cannot write the tokens")
    };
    let mut partial = false;
    let (mut packets, mut rows) = (0u64, 0u64);
    for path in expand_inputs(&args.inputs)? {
        let reader = match PcapReader::open(&path) {
            Ok(r) => r,
            Err(e) => {
                tracing::error!("{e}");
                partial = true;
                continue;
            }
        };
        let run = netfound_from_capture(
            reader,
            DecoderConfig::default(),
            FlowTableConfig::default(),
            config.clone(),
            &mut |t| {
                pending.push(t);
                if pending.len() >= BATCH_ROWS
                    && write_error.is_none()
                    && let Err(e) = flush(&mut pending, &mut out)
                {
                    write_error = Some(e);
                }
            },
        )?;
        if let Some(e) = write_error.take() {
            return Err(e);
        }
        if let Some(e) = &run.error {
            tracing::error!("{e}");
            partial = true;
        }
        for (kind, n) in &run.rejected {
            tracing::info!(count = n, "packets not tokenized: {kind}");
        }
        packets += run.packets;
        rows += run.token_rows;
    }
    flush(&mut pending, &mut out)?;
    out.finish().with_context(|| format!("cannot finish {}", args.out.display()))?;
    if !quiet {
        eprintln!("vigil: {packets} packets, {rows} flows tokenized into {}", args.out.display());
    }
    Ok(if partial { Outcome::Partial } else { Outcome::Complete })
}
