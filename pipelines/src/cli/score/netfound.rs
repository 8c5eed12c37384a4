//! `vigil score netfound`: netFound over captures (tokenized on the way, with the
//! model's own tokenizer settings) or over a `vigil tokenize netfound` Parquet file.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Args;
use vigil_ingest::packet::DecoderConfig;
use vigil_ingest::{FlowRecord, FlowTableConfig};
use vigil_models::{NetfoundScorer, Scorer};
use vigil_pipelines::output::BatchFileWriter;
use vigil_pipelines::score::{scored_batch, scored_schema};
use vigil_pipelines::tokenize::{netfound_from_capture, read_token_stamp};
use vigil_tokenizers::netfound::{from_record_batch, to_record_batch};
use vigil_tokenizers::{FlowTokens, IpNetwork, netfound_schema};

use super::{GraphArgs, SCORE_ROWS, load_model};
use crate::cli::Outcome;
use crate::cli::inputs::{CaptureInputs, is_parquet, parquet_batches};

/// Arguments of `vigil score netfound`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  vigil score netfound samples/ssh.pcap --out scored.parquet\n  vigil tokenize netfound capture.pcap --out tokens.parquet && vigil score netfound tokens.parquet --out scored.parquet"
)]
pub struct NetfoundScoreArgs {
    /// Capture files, directories of them, `-` for standard input, or one Parquet file
    /// written by `vigil tokenize netfound` with the model's tokenizer settings (a file
    /// tokenized otherwise, or without a record of its settings, is refused).
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// The model directory (model.onnx + manifest.json).
    #[arg(long, value_name = "NAME|DIR", default_value = "netfound")]
    model: PathBuf,
    /// The Parquet file to write: the token columns plus one struct column named after
    /// the model (`label`, `score`, `probs`, `malicious`, `embedding`).
    #[arg(short, long, visible_alias = "output", value_name = "FILE.parquet")]
    out: PathBuf,
    /// An internal network (CIDR, repeatable): its hosts' packets are the forward
    /// direction. Without any, the flow's originator is forward.
    #[arg(long = "internal-net", value_name = "CIDR")]
    internal_nets: Vec<IpNetwork>,
    /// Write captures whose reading stopped early (truncated, corrupt) to this file as
    /// JSON lines (source, position, reason).
    #[arg(long, value_name = "FILE")]
    dead_letters: Option<PathBuf>,
    #[command(flatten)]
    graph: GraphArgs,
}

/// Scores flows in batches of [`SCORE_ROWS`] and writes them.
struct Batcher {
    scorer: NetfoundScorer,
    out: BatchFileWriter,
    pending: Vec<FlowTokens>,
}

impl Batcher {
    fn push(&mut self, flow: FlowTokens) -> anyhow::Result<()> {
        self.pending.push(flow);
        if self.pending.len() >= SCORE_ROWS {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> anyhow::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let base = to_record_batch(&self.pending)?;
        let batch = scored_batch(&self.scorer, &base, &self.pending)?;
        self.pending.clear();
        self.out.write(&batch).context("cannot write the scores")
    }
}

/// What `vigil score netfound` reads.
enum Input {
    /// A `vigil tokenize netfound` Parquet file, its batches being read.
    Tokens(PathBuf, Box<dyn Iterator<Item = anyhow::Result<arrow_array::RecordBatch>>>),
    /// Captures (checked readable).
    Captures(CaptureInputs),
}

impl Input {
    /// A single input that is (or is named as) a Parquet file is a token table; else captures.
    fn open(inputs: &[PathBuf]) -> anyhow::Result<Input> {
        let named_parquet = |p: &PathBuf| p.extension().is_some_and(|e| e == "parquet");
        match inputs {
            [one]
                if one.as_os_str() != "-"
                    && (named_parquet(one) || (one.is_file() && is_parquet(one)?)) =>
            {
                Ok(Input::Tokens(one.clone(), Box::new(parquet_batches(one)?)))
            }
            _ if inputs.iter().any(named_parquet) => {
                bail!("a Parquet token file must be the only input")
            }
            _ => Ok(Input::Captures(CaptureInputs::open(inputs)?)),
        }
    }
}

/// Run `vigil score netfound`.
pub(super) fn run(args: NetfoundScoreArgs, quiet: bool) -> anyhow::Result<Outcome> {
    let scorer = NetfoundScorer::new(load_model(&args.model, &args.graph)?)?;
    let config = scorer.tokenizer_config(&args.internal_nets);
    let input = Input::open(&args.inputs)?;
    if let Input::Tokens(path, _) = &input {
        scorer.check_tokens(read_token_stamp(path)?.as_ref(), &path.display().to_string())?;
    }
    let schema = scored_schema(&netfound_schema(), scorer.model().name(), scorer.verdict_type());
    let out = BatchFileWriter::create(&args.out, schema)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let mut batcher = Batcher { scorer, out, pending: Vec::with_capacity(SCORE_ROWS) };

    let mut dead = Vec::new();
    match input {
        Input::Tokens(path, batches) => {
            for batch in batches {
                let flows = from_record_batch(&batch?)
                    .with_context(|| format!("{}: not a netFound token table", path.display()))?;
                flows.into_iter().try_for_each(|f| batcher.push(f))?;
            }
        }
        Input::Captures(captures) => {
            for input in captures {
                let (name, reader) = input?;
                let mut error = None;
                let run = netfound_from_capture(
                    reader,
                    DecoderConfig::default(),
                    FlowTableConfig::default(),
                    config.clone(),
                    &mut |t| {
                        if error.is_none()
                            && let Err(e) = batcher.push(t)
                        {
                            error = Some(e);
                        }
                    },
                    &mut |_: FlowRecord| {},
                )?;
                if let Some(e) = error {
                    return Err(e);
                }
                if let Some(e) = &run.error {
                    tracing::error!("{e}");
                    dead.push(crate::cli::tokenize::capture_dead_letter(&name, run.packets + 1, e));
                }
            }
        }
    }
    batcher.flush()?;
    let Batcher { scorer, out, .. } = batcher;
    let rows = out.finish().with_context(|| format!("cannot finish {}", args.out.display()))?;
    if let Some(path) = &args.dead_letters {
        crate::cli::tokenize::write_dead_letters(path, &dead)?;
    }
    if !quiet {
        let (name, device) = (scorer.model().name(), scorer.model().device());
        eprintln!("vigil: {rows} flows scored by {name} on {device} into {}", args.out.display());
    }
    Ok(if dead.is_empty() { Outcome::Complete } else { Outcome::Partial })
}
