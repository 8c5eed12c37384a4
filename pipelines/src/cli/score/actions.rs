//! `vigil score actions`: HSTU surprise per event of an action log (or of a tokenized
//! actions table).

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Args;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use vigil_models::{Device, Model, ModelOptions};
use vigil_pipelines::output::BatchFileWriter;
use vigil_pipelines::score::{
    ActionModelSpec, events_schema, events_to_record_batch, score_snapshots, scored_actions_schema,
    snapshots_from_batch, with_verdicts,
};
use vigil_tokenizers::actions::sequences;

use super::SCORE_ROWS;
use crate::cli::Outcome;
use crate::cli::tokenize::actions::LogArgs;

/// Arguments of `vigil score actions`.
#[derive(Debug, Args)]
#[command(
    after_help = "Example:\n  vigil score actions access.log --log access --out surprise.parquet"
)]
pub struct ActionsScoreArgs {
    /// An action log (read as `vigil tokenize actions` reads it), or a tokenized actions
    /// table (`.parquet`, made with the model's vocabulary).
    input: PathBuf,
    /// The model directory (model.onnx + manifest.json).
    #[arg(long, value_name = "DIR", default_value = "onnx/artifacts/hstu-user-actions")]
    model: PathBuf,
    /// The Parquet file to write: the input columns (entity, ts, action, object for a log)
    /// plus one struct column named after the model (`label`, `score` = surprise, `rank`).
    #[arg(short, long, value_name = "FILE.parquet")]
    out: PathBuf,
    #[command(flatten)]
    reading: LogArgs,
    /// Where to score.
    #[arg(long, default_value = "cpu", value_name = "cpu|cuda")]
    device: Device,
}

pub(super) fn run(args: ActionsScoreArgs, quiet: bool) -> anyhow::Result<Outcome> {
    let model = Model::load_with(&args.model, &ModelOptions::default().device(args.device))
        .with_context(|| format!("cannot load the model in {}", args.model.display()))?;
    let spec = ActionModelSpec::from_model(&model)?;
    let is_table = args.input.extension().is_some_and(|e| e.eq_ignore_ascii_case("parquet"));
    let (rows, dead) = if is_table {
        (score_table(&args.input, &model, &spec, &args.out)?, 0)
    } else {
        score_log(&args, &model, &spec)?
    };
    if !quiet {
        eprintln!(
            "vigil: {rows} events scored by {} on {} into {} ({dead} dead letters)",
            model.name(),
            model.device(),
            args.out.display()
        );
    }
    Ok(if dead > 0 { Outcome::Partial } else { Outcome::Complete })
}

/// Reads the log, refuses it when none of its tokens is in the model's vocabulary, and
/// scores every event; returns the rows written and the dead letters.
fn score_log(
    args: &ActionsScoreArgs,
    model: &Model,
    spec: &ActionModelSpec,
) -> anyhow::Result<(u64, u64)> {
    let (events, dead) = args.reading.read_events(&args.input)?;
    let unknown = events.iter().filter(|e| !spec.knows(e)).count();
    if unknown * 10 > events.len() * 9 {
        bail!(
            "{}: {unknown} of its {} events have an action or object model {} has never seen \
             (vocabulary: {} actions, {} objects): the input does not match this model \
             (another kind of log, or a wrong --log?)",
            args.input.display(),
            events.len(),
            model.name(),
            spec.vocab.actions.tokens().len(),
            spec.vocab.objects.tokens().len()
        );
    }
    if unknown * 2 > events.len() {
        eprintln!(
            "vigil: warning: {unknown} of {} events of {} have an action or object model {} has \
             never seen",
            events.len(),
            args.input.display(),
            model.name()
        );
    }
    let snaps = sequences(&events, spec.vocab.clone(), spec.sequence_config())?;
    let mut out =
        BatchFileWriter::create(&args.out, scored_actions_schema(&events_schema(), model.name()))
            .with_context(|| format!("cannot create {}", args.out.display()))?;
    for (evs, chunk) in events.chunks(SCORE_ROWS).zip(snaps.chunks(SCORE_ROWS)) {
        let verdicts = score_snapshots(model, spec, chunk)?;
        let batch = with_verdicts(&events_to_record_batch(evs)?, model.name(), &verdicts)?;
        out.write(&batch).context("cannot write the scores")?;
    }
    let rows = out.finish().with_context(|| format!("cannot finish {}", args.out.display()))?;
    Ok((rows, dead))
}

/// Scores a tokenized actions table batch by batch, keeping all its columns.
fn score_table(
    input: &Path,
    model: &Model,
    spec: &ActionModelSpec,
    out_path: &Path,
) -> anyhow::Result<u64> {
    let source = input.display().to_string();
    let file = std::fs::File::open(input).with_context(|| format!("cannot open {source}"))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .and_then(|b| b.with_batch_size(SCORE_ROWS).build())
        .with_context(|| format!("{source}: not a readable Parquet file"))?;
    let mut out = BatchFileWriter::create(
        out_path,
        scored_actions_schema(&arrow_array::RecordBatchReader::schema(&reader), model.name()),
    )
    .with_context(|| format!("cannot create {}", out_path.display()))?;
    let mut seen = 0;
    for batch in reader {
        let batch = batch.with_context(|| format!("{source}: cannot read a row group"))?;
        let snaps = snapshots_from_batch(&batch, spec, &source, seen)?;
        let verdicts = score_snapshots(model, spec, &snaps)?;
        out.write(&with_verdicts(&batch, model.name(), &verdicts)?)
            .context("cannot write the scores")?;
        seen += batch.num_rows();
    }
    out.finish().with_context(|| format!("cannot finish {}", out_path.display()))
}
