//! `vigil score flow`: FlowTransformer over flow CSVs, captures or stored flows.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Args;
use vigil_ingest::flow_records::FlowFeatureSet;
use vigil_models::{FlowScorer, Scorer};
use vigil_pipelines::output::BatchFileWriter;
use vigil_pipelines::score::{scored_batch, scored_schema};
use vigil_tokenizers::flow_window::{flow_window_schema, windows_to_record_batch};

use super::{GraphArgs, SCORE_ROWS, load_model};
use crate::cli::Outcome;
use crate::cli::tokenize::flow::{read_flow_records, read_own_flows};

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
    #[arg(long, value_name = "NAME|DIR", default_value = "flow-transformer-cicids2017")]
    model: PathBuf,
    /// The Parquet file to write: the window columns plus one struct column named after
    /// the model (`label`, `score`, `probs`).
    #[arg(short, long, visible_alias = "output", value_name = "FILE.parquet")]
    out: PathBuf,
    /// Column mapping of a flow CSV, overriding the model's; `none` reads the input as
    /// our own flows (capture or stored flows table) with the model's features when our
    /// flows can provide them (zeek_conn, nf_v2_derivable), else NF-v2. A capture or flows
    /// table is recognised without it.
    #[arg(long, value_name = "NAME|FILE|none")]
    mapping: Option<String>,
    #[command(flatten)]
    graph: GraphArgs,
    /// Write rows that could not be read as JSON lines to this file.
    #[arg(long, value_name = "FILE")]
    dead_letters: Option<PathBuf>,
}

pub(super) fn run(args: FlowScoreArgs, quiet: bool) -> anyhow::Result<Outcome> {
    let scorer = FlowScorer::new(load_model(&args.model, &args.graph)?)?;
    let (recs, dead) = match args.mapping.as_deref() {
        // Our own flows, with the model's features when they can be derived (else NF-v2,
        // which the preprocessor refuses with a feature mismatch, as before).
        Some("none") => {
            let set = scorer
                .mapping()
                .and_then(FlowFeatureSet::for_mapping)
                .unwrap_or(FlowFeatureSet::NfV2);
            (read_own_flows(&args.input, set)?, 0)
        }
        // Scoring needs no labels: unlabelled files (a production conn.log) read as they are.
        Some(m) => read_flow_records(&args.input, Some(m), args.dead_letters.as_deref(), false)?,
        None => {
            read_flow_records(&args.input, scorer.mapping(), args.dead_letters.as_deref(), false)?
        }
    };
    if recs.is_empty() {
        bail!("{}: no flow records", args.input.display());
    }
    let mut tok = scorer.tokenizer()?;
    let schema = scored_schema(&flow_window_schema(), scorer.model().name(), scorer.verdict_type());
    let mut out = BatchFileWriter::create(&args.out, schema)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    for chunk in recs.chunks(SCORE_ROWS) {
        let windows = chunk.iter().map(|r| tok.push(r)).collect::<Result<Vec<_>, _>>()?;
        let base = windows_to_record_batch(&windows)?;
        out.write(&scored_batch(&scorer, &base, &windows)?).context("cannot write the scores")?;
    }
    let rows = out.finish().with_context(|| format!("cannot finish {}", args.out.display()))?;
    if !quiet {
        eprintln!(
            "vigil: {rows} flows scored by {} on {} into {} ({dead} dead letters)",
            scorer.model().name(),
            scorer.model().device(),
            args.out.display()
        );
    }
    Ok(if dead > 0 { Outcome::Partial } else { Outcome::Complete })
}
