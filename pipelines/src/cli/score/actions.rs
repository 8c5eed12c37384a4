//! `vigil score actions`: HSTU surprise per event of an action log (or of a tokenized
//! actions table).

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Args;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use vigil_models::{HstuScorer, Scorer};
use vigil_pipelines::output::BatchFileWriter;
use vigil_pipelines::score::{events_schema, events_to_record_batch, scored_batch, scored_schema};
use vigil_pipelines::tokenize::read_token_stamp;
use vigil_tokenizers::actions::{from_record_batch, sequences};

use super::{GraphArgs, SCORE_ROWS, load_model};
use crate::cli::Outcome;
use crate::cli::tokenize::actions::LogArgs;

/// Arguments of `vigil score actions`.
#[derive(Debug, Args)]
#[command(
    after_help = "Example:\n  vigil score actions access.log --log access --out surprise.parquet"
)]
pub struct ActionsScoreArgs {
    /// An action log (read as `vigil tokenize actions` reads it), or a tokenized actions
    /// table (`.parquet`, made with the model's vocabulary and `--max-len`; a table
    /// tokenized otherwise, or without a record of how, is refused).
    input: PathBuf,
    /// The model directory (model.onnx + manifest.json).
    #[arg(long, value_name = "NAME|DIR", default_value = "hstu-user-actions")]
    model: PathBuf,
    /// The Parquet file to write: the input columns (entity, ts, action, object for a log)
    /// plus one struct column named after the model (`label`, `score` = surprise, `rank`).
    #[arg(short, long, visible_alias = "output", value_name = "FILE.parquet")]
    out: PathBuf,
    #[command(flatten)]
    reading: LogArgs,
    #[command(flatten)]
    graph: GraphArgs,
}

pub(super) fn run(args: ActionsScoreArgs, quiet: bool) -> anyhow::Result<Outcome> {
    let scorer = HstuScorer::new(load_model(&args.model, &args.graph)?)?;
    let is_table = args.input.extension().is_some_and(|e| e.eq_ignore_ascii_case("parquet"));
    let (rows, dead) = if is_table {
        (score_table(&args.input, &scorer, &args.out)?, 0)
    } else {
        score_log(&args, &scorer)?
    };
    if !quiet {
        eprintln!(
            "vigil: {rows} events scored by {} on {} into {} ({dead} dead letters)",
            scorer.model().name(),
            scorer.model().device(),
            args.out.display()
        );
    }
    Ok(if dead > 0 { Outcome::Partial } else { Outcome::Complete })
}

/// Reads the log, refuses it when none of its tokens is in the model's vocabulary, and
/// scores every event; returns the rows written and the dead letters.
fn score_log(args: &ActionsScoreArgs, scorer: &HstuScorer) -> anyhow::Result<(u64, u64)> {
    let name = scorer.model().name();
    let (events, dead) = args.reading.read_events(&args.input)?;
    let unknown = events.iter().filter(|e| !scorer.knows(&e.action, &e.object)).count();
    if unknown * 10 > events.len() * 9 {
        bail!(
            "{}: {unknown} of its {} events have an action or object model {name} has never seen \
             (vocabulary: {} actions, {} objects): the input does not match this model \
             (another kind of log, or a wrong --log?)",
            args.input.display(),
            events.len(),
            scorer.vocab().actions.tokens().len(),
            scorer.vocab().objects.tokens().len()
        );
    }
    if unknown * 2 > events.len() {
        eprintln!(
            "vigil: warning: {unknown} of {} events of {} have an action or object model {name} \
             has never seen",
            events.len(),
            args.input.display(),
        );
    }
    let snaps = sequences(&events, scorer.vocab().clone(), scorer.sequence_config())?;
    let schema = scored_schema(&events_schema(), name, scorer.verdict_type());
    let mut out = BatchFileWriter::create(&args.out, schema)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    for (evs, chunk) in events.chunks(SCORE_ROWS).zip(snaps.chunks(SCORE_ROWS)) {
        let batch = scored_batch(scorer, &events_to_record_batch(evs)?, chunk)?;
        out.write(&batch).context("cannot write the scores")?;
    }
    let rows = out.finish().with_context(|| format!("cannot finish {}", args.out.display()))?;
    Ok((rows, dead))
}

/// Scores a tokenized actions table batch by batch, keeping all its columns, after
/// checking that it was tokenized the model's way.
fn score_table(input: &Path, scorer: &HstuScorer, out_path: &Path) -> anyhow::Result<u64> {
    let source = input.display().to_string();
    scorer.check_tokens(read_token_stamp(input)?.as_ref(), &source)?;
    let file = std::fs::File::open(input).with_context(|| format!("cannot open {source}"))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .and_then(|b| b.with_batch_size(SCORE_ROWS).build())
        .with_context(|| format!("{source}: not a readable Parquet file"))?;
    let schema = scored_schema(
        &arrow_array::RecordBatchReader::schema(&reader),
        scorer.model().name(),
        scorer.verdict_type(),
    );
    let mut out = BatchFileWriter::create(out_path, schema)
        .with_context(|| format!("cannot create {}", out_path.display()))?;
    let mut seen = 0;
    for batch in reader {
        let batch = batch.with_context(|| format!("{source}: cannot read a row group"))?;
        let snaps = from_record_batch(&batch).with_context(|| {
            format!(
                "{source}: rows {seen}..{}: not a tokenized actions table",
                seen + batch.num_rows()
            )
        })?;
        out.write(&scored_batch(scorer, &batch, &snaps)?).context("cannot write the scores")?;
        seen += batch.num_rows();
    }
    out.finish().with_context(|| format!("cannot finish {}", out_path.display()))
}
