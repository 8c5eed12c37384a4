//! `vigil score`: tokenized (or raw) records in, model verdicts added, Parquet out.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use vigil_models::{Device, Model, ModelOptions};
use vigil_pipelines::output::BatchFileWriter;
use vigil_pipelines::score::{score_flow_windows, scored_flow_schema};
use vigil_tokenizers::flow_window::{FlowWindowConfig, FlowWindowTokenizer, GroupBy, Preprocessor};

use super::Outcome;
use super::tokenize::flow::read_flow_records;

/// Rows scored per model call batch and per Parquet batch.
const SCORE_ROWS: usize = 4096;

/// Arguments of `vigil score`.
#[derive(Debug, Args)]
pub struct ScoreArgs {
    #[command(subcommand)]
    family: Family,
}

#[derive(Debug, Subcommand)]
enum Family {
    /// FlowTransformer: flow windows encoded with the model's own preprocessor, classified.
    Flow(FlowScoreArgs),
    /// iTransformer: metrics windows forecast, and the next step scored by its residual.
    Variate(VariateScoreArgs),
}

/// Arguments of `vigil score variate`.
#[derive(Debug, Args)]
#[command(
    after_help = "Example:\n  vigil score variate ../shared/data/timeseries/ett/ETTh1.csv --stride 24 --out forecasts.parquet"
)]
pub struct VariateScoreArgs {
    /// Metrics file (long or wide CSV, JSON lines) holding the model's series.
    input: PathBuf,
    /// The model directory (model.onnx + manifest.json).
    #[arg(long, value_name = "DIR", default_value = "onnx/artifacts/itransformer-etth1")]
    model: PathBuf,
    /// The Parquet file to write: the window columns plus one struct column named after
    /// the model (`score`, `forecast`).
    #[arg(short, long, value_name = "FILE.parquet")]
    out: PathBuf,
    /// Steps between scored windows.
    #[arg(long, default_value_t = 1, value_name = "N")]
    stride: usize,
    /// Where to score.
    #[arg(long, default_value = "cpu", value_name = "cpu|cuda")]
    device: Device,
}

/// Arguments of `vigil score flow`.
#[derive(Debug, Args)]
#[command(
    after_help = "Example:\n  vigil score flow flows.csv --model onnx/artifacts/flow-transformer-cicids2017 --out scored.parquet"
)]
pub struct FlowScoreArgs {
    /// A flow CSV (read with the model's column mapping, or --mapping), a capture, or a
    /// stored `flows` table (Parquet).
    input: PathBuf,
    /// The model directory (model.onnx + manifest.json).
    #[arg(long, value_name = "DIR", default_value = "onnx/artifacts/flow-transformer-cicids2017")]
    model: PathBuf,
    /// The Parquet file to write: the window columns plus one struct column named after
    /// the model (`label`, `score`, `probs`).
    #[arg(short, long, value_name = "FILE.parquet")]
    out: PathBuf,
    /// Column mapping of a flow CSV, overriding the model's; `none` reads the input as
    /// our own flows (capture or stored flows table).
    #[arg(long, value_name = "NAME|FILE|none")]
    mapping: Option<String>,
    /// Where to score.
    #[arg(long, default_value = "cpu", value_name = "cpu|cuda")]
    device: Device,
    /// Write rows that could not be read as JSON lines to this file.
    #[arg(long, value_name = "FILE")]
    dead_letters: Option<PathBuf>,
}

/// Run `vigil score`.
pub fn run(args: ScoreArgs, quiet: bool) -> anyhow::Result<Outcome> {
    match args.family {
        Family::Flow(a) => flow(a, quiet),
        Family::Variate(a) => variate(a, quiet),
    }
}

fn variate(args: VariateScoreArgs, quiet: bool) -> anyhow::Result<Outcome> {
    use vigil_ingest::metrics::{MetricsReader, MetricsReaderConfig, ResampleConfig, resample};
    use vigil_pipelines::score::{score_variate_windows, scored_variate_schema};
    use vigil_tokenizers::variate::{VariateConfig, windows};

    let model = Model::load_with(&args.model, &ModelOptions::default().device(args.device))
        .with_context(|| format!("cannot load the model in {}", args.model.display()))?;
    let prep = &model.manifest().preprocessing;
    let series: Vec<String> = serde_json::from_value(prep["series"].clone())
        .context("the manifest has no preprocessing.series")?;
    let step = prep["step_seconds"].as_f64().context("no preprocessing.step_seconds")?;
    let lookback = prep["lookback"].as_u64().context("no preprocessing.lookback")? as usize;
    let mut reader = MetricsReader::open(&args.input, MetricsReaderConfig::default())?;
    let points = reader.read_all()?;
    let dead = reader.stats().dead_letters;
    let rs = ResampleConfig { step_us: (step * 1e6).round() as i64, ..ResampleConfig::default() };
    let frame = resample(&points, Some(series.clone()), rs)?;
    let config = VariateConfig { lookback, stride: args.stride, ..VariateConfig::default() };
    let ws = windows(series, &frame.steps, config)?;
    if ws.is_empty() {
        bail!("{}: fewer than {lookback} steps, no window to score", args.input.display());
    }
    // The step after each window, for its anomaly score.
    let index: std::collections::HashMap<i64, usize> =
        frame.steps.iter().enumerate().map(|(i, s)| (s.ts, i)).collect();
    let next: Vec<Option<Vec<f64>>> = ws
        .iter()
        .map(|w| {
            index.get(&w.window_end).and_then(|&i| frame.steps.get(i + 1)).map(|s| s.values.clone())
        })
        .collect();
    let mut out = BatchFileWriter::create(&args.out, scored_variate_schema(model.name()))
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    for (chunk, nexts) in ws.chunks(SCORE_ROWS).zip(next.chunks(SCORE_ROWS)) {
        out.write(&score_variate_windows(&model, chunk, nexts)?)
            .context("cannot write the scores")?;
    }
    let rows = out.finish().with_context(|| format!("cannot finish {}", args.out.display()))?;
    if !quiet {
        eprintln!(
            "vigil: {rows} windows forecast by {} on {} into {} ({dead} dead letters)",
            model.name(),
            model.device(),
            args.out.display()
        );
    }
    Ok(if dead > 0 { Outcome::Partial } else { Outcome::Complete })
}

fn flow(args: FlowScoreArgs, quiet: bool) -> anyhow::Result<Outcome> {
    let model = Model::load_with(&args.model, &ModelOptions::default().device(args.device))
        .with_context(|| format!("cannot load the model in {}", args.model.display()))?;
    let prep = &model.manifest().preprocessing;
    let preprocessor = Preprocessor::from_json(&prep["preprocessor"].to_string())
        .context("the manifest's preprocessing.preprocessor")?;
    let window = prep["window"].as_u64().context("the manifest has no preprocessing.window")?;
    let group_by = match prep["group_by"].as_str().unwrap_or("none") {
        "none" => GroupBy::None,
        "src" => GroupBy::SrcAddr,
        "dst" => GroupBy::DstAddr,
        "src_dst" | "src-dst" => GroupBy::SrcDst,
        other => bail!("the manifest's preprocessing.group_by `{other}` is unknown"),
    };
    let mapping = match args.mapping.as_deref() {
        Some("none") => None,
        Some(m) => Some(m.to_string()),
        None if prep["mapping"].is_string() => prep["mapping"].as_str().map(str::to_string),
        None => None,
    };
    let (recs, dead) =
        read_flow_records(&args.input, mapping.as_deref(), args.dead_letters.as_deref())?;
    if recs.is_empty() {
        bail!("{}: no flow records", args.input.display());
    }
    let config =
        FlowWindowConfig { window: window as usize, group_by, ..FlowWindowConfig::default() };
    let mut tok = FlowWindowTokenizer::new(preprocessor, config)?;
    let mut out = BatchFileWriter::create(&args.out, scored_flow_schema(model.name()))
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    for chunk in recs.chunks(SCORE_ROWS) {
        let windows = chunk.iter().map(|r| tok.push(r)).collect::<Result<Vec<_>, _>>()?;
        out.write(&score_flow_windows(&model, &windows)?).context("cannot write the scores")?;
    }
    let rows = out.finish().with_context(|| format!("cannot finish {}", args.out.display()))?;
    if !quiet {
        eprintln!(
            "vigil: {rows} flows scored by {} on {} into {} ({dead} dead letters)",
            model.name(),
            model.device(),
            args.out.display()
        );
    }
    Ok(if dead > 0 { Outcome::Partial } else { Outcome::Complete })
}
