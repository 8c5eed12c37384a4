//! `vigil score variate`: iTransformer forecasts over a metrics file.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Args;
use vigil_models::{Scorer, VariateItem, VariateScorer};
use vigil_pipelines::output::BatchFileWriter;
use vigil_pipelines::score::{scored_batch, scored_schema};
use vigil_tokenizers::variate::{to_record_batch, variate_schema, windows};

use super::{GraphArgs, SCORE_ROWS, load_model};
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
    #[arg(long, value_name = "NAME|DIR", default_value = "itransformer-etth1")]
    model: PathBuf,
    /// The Parquet file to write: the window columns plus one struct column named after
    /// the model (`score`, `forecast`).
    #[arg(short, long, visible_alias = "output", value_name = "FILE.parquet")]
    out: PathBuf,
    /// The series to forecast, in model input order, instead of the manifest's
    /// `preprocessing.series` (a model with a dynamic variate axis takes any number;
    /// a CSV `timestamp,value` holds one series named after the file's stem).
    #[arg(long, value_name = "NAME,...", value_delimiter = ',')]
    series: Option<Vec<String>>,
    /// Grid step in seconds instead of the manifest's `preprocessing.step_seconds`.
    #[arg(long, visible_alias = "step-seconds", value_name = "SECS")]
    step: Option<f64>,
    /// Steps between scored windows.
    #[arg(long, default_value_t = 1, value_name = "N")]
    stride: usize,
    /// Write rows that could not be read as JSON lines to this file.
    #[arg(long, value_name = "FILE")]
    dead_letters: Option<PathBuf>,
    #[command(flatten)]
    graph: GraphArgs,
}

pub(super) fn run(args: VariateScoreArgs, quiet: bool) -> anyhow::Result<Outcome> {
    use vigil_ingest::metrics::{MetricsReader, MetricsReaderConfig, resample};

    let model = load_model(&args.model, &args.graph)?;
    let scorer =
        VariateScorer::new(model, args.series.clone(), args.step).map_err(|e| match e {
            vigil_models::Error::Preprocessing { .. } => {
                anyhow::anyhow!("{e} (give --series, --step)")
            }
            e => e.into(),
        })?;
    let series = scorer.series().to_vec();
    let mut reader = MetricsReader::open(&args.input, MetricsReaderConfig::default())?;
    let points = reader.read_all()?;
    let dead = reader.stats().dead_letters;
    if let Some(path) = &args.dead_letters {
        crate::cli::tokenize::write_dead_letters(path, &reader.take_dead_letters())?;
    }
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
    let frame = resample(&points, Some(series.clone()), scorer.resample_config())?;
    let ws = windows(series, &frame.steps, scorer.window_config(args.stride))?;
    if ws.is_empty() {
        bail!(
            "{}: fewer than {} steps, no window to score",
            args.input.display(),
            scorer.lookback()
        );
    }
    // The step after each window, for its anomaly score.
    let index: std::collections::HashMap<i64, usize> =
        frame.steps.iter().enumerate().map(|(i, s)| (s.ts, i)).collect();
    let next_of =
        |end: i64| index.get(&end).and_then(|&i| frame.steps.get(i + 1)).map(|s| s.values.clone());
    let items: Vec<VariateItem> =
        ws.into_iter().map(|w| VariateItem { next: next_of(w.window_end), window: w }).collect();
    let schema = scored_schema(&variate_schema(), scorer.model().name(), scorer.verdict_type());
    let mut out = BatchFileWriter::create(&args.out, schema)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    for chunk in items.chunks(SCORE_ROWS) {
        let windows: Vec<_> = chunk.iter().map(|i| i.window.clone()).collect();
        let base = to_record_batch(&windows)?;
        out.write(&scored_batch(&scorer, &base, chunk)?).context("cannot write the scores")?;
    }
    let rows = out.finish().with_context(|| format!("cannot finish {}", args.out.display()))?;
    if !quiet {
        eprintln!(
            "vigil: {rows} windows forecast by {} on {} into {} ({dead} dead letters)",
            scorer.model().name(),
            scorer.model().device(),
            args.out.display()
        );
    }
    Ok(if dead > 0 { Outcome::Partial } else { Outcome::Complete })
}
