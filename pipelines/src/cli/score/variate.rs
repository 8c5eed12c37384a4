//! `vigil score variate`: iTransformer forecasts over a metrics file.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Args;
use vigil_models::{Device, Model, ModelOptions};
use vigil_pipelines::output::BatchFileWriter;

use super::SCORE_ROWS;
use crate::cli::Outcome;

/// Arguments of `vigil score variate`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  vigil score variate ../shared/data/timeseries/ett/ETTh1.csv --stride 24 --out forecasts.parquet\n  vigil score variate nab/data/realKnownCause/nyc_taxi.csv --series nyc_taxi --step 1800 --out taxi.parquet"
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
    /// The series to forecast, in model input order, instead of the manifest's
    /// `preprocessing.series` (a model with a dynamic variate axis takes any number;
    /// a CSV `timestamp,value` holds one series named after the file's stem).
    #[arg(long, value_name = "NAME,...", value_delimiter = ',')]
    series: Option<Vec<String>>,
    /// Grid step in seconds instead of the manifest's `preprocessing.step_seconds`.
    #[arg(long, value_name = "SECS")]
    step: Option<f64>,
    /// Steps between scored windows.
    #[arg(long, default_value_t = 1, value_name = "N")]
    stride: usize,
    /// Where to score.
    #[arg(long, default_value = "cpu", value_name = "cpu|cuda")]
    device: Device,
}

pub(super) fn run(args: VariateScoreArgs, quiet: bool) -> anyhow::Result<Outcome> {
    use vigil_ingest::metrics::{MetricsReader, MetricsReaderConfig, ResampleConfig, resample};
    use vigil_pipelines::score::{score_variate_windows, scored_variate_schema};
    use vigil_tokenizers::variate::{VariateConfig, windows};

    let model = Model::load_with(&args.model, &ModelOptions::default().device(args.device))
        .with_context(|| format!("cannot load the model in {}", args.model.display()))?;
    let prep = &model.manifest().preprocessing;
    let series: Vec<String> = match args.series {
        Some(s) => s,
        None => serde_json::from_value(prep["series"].clone())
            .context("the manifest has no preprocessing.series (or give --series)")?,
    };
    let step = match args.step {
        Some(s) => s,
        None => prep["step_seconds"]
            .as_f64()
            .context("no preprocessing.step_seconds (or give --step)")?,
    };
    if !(step.is_finite() && step > 0.0) {
        bail!("the step must be a positive number of seconds, got {step}");
    }
    let lookback = prep["lookback"].as_u64().context("no preprocessing.lookback")? as usize;
    let mut reader = MetricsReader::open(&args.input, MetricsReaderConfig::default())?;
    let points = reader.read_all()?;
    let dead = reader.stats().dead_letters;
    let present: std::collections::BTreeSet<&str> =
        points.iter().map(|p| p.series.as_str()).collect();
    if let Some(absent) = series.iter().find(|s| !present.contains(s.as_str())) {
        let some: Vec<&str> = present.iter().take(10).copied().collect();
        bail!(
            "{}: no series `{absent}` (it has {} series: {}{}); choose with --series",
            args.input.display(),
            present.len(),
            some.join(", "),
            if present.len() > some.len() { ", ..." } else { "" }
        );
    }
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
