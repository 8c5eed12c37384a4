//! `vigil tokenize variate`: metrics to iTransformer variate windows. The file's Parquet
//! metadata records the series, grid and window settings (its
//! [`TokenStamp`](vigil_tokenizers::TokenStamp)).

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Args;
use vigil_pipelines::output::BatchFileWriter;

use super::{BATCH_ROWS, write_dead_letters};
use crate::cli::Outcome;

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
    #[arg(short, long, visible_alias = "output", value_name = "FILE.parquet")]
    out: PathBuf,
    /// Input layout.
    #[arg(long, value_enum, default_value_t = MetricsLayout::Auto)]
    layout: MetricsLayout,
    /// Grid step in seconds.
    #[arg(long, visible_alias = "step-seconds", default_value_t = 3600.0, value_name = "SECS")]
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

/// Run `vigil tokenize variate`.
pub fn run(args: VariateArgs, quiet: bool) -> anyhow::Result<Outcome> {
    use vigil_ingest::metrics::{
        Aggregation, MetricsFormat, MetricsReader, MetricsReaderConfig, ResampleConfig, resample,
    };
    use vigil_tokenizers::TokenStamp;
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
        write_dead_letters(path, &dead)?;
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
    let stamp = TokenStamp::variate(&frame.series, &rs, &config).to_key_values();
    let ws = windows(frame.series.clone(), &frame.steps, config)?;
    let mut out = BatchFileWriter::create_with_metadata(&args.out, variate_schema(), stamp)
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
