//! `vigil score`: tokenized (or raw) records in, model verdicts added, Parquet out.
//! One module per model family.

mod actions;
mod flow;
mod netfound;
mod variate;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, Subcommand};
use vigil_models::{Device, Model, ModelOptions, Precision};

use super::Outcome;

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
    Flow(flow::FlowScoreArgs),
    /// netFound: captures (or their tokens) classified by traffic class, with a malicious
    /// probability and an embedding per flow.
    Netfound(netfound::NetfoundScoreArgs),
    /// iTransformer: metrics windows forecast, and the next step scored by its residual.
    Variate(variate::VariateScoreArgs),
    /// HSTU: each action event's surprise given its entity's earlier events, and the most
    /// likely next token.
    Actions(actions::ActionsScoreArgs),
}

/// `--device` and `--precision`, the same for every family.
#[derive(Debug, Args)]
struct GraphArgs {
    /// Where to score: cpu; cuda (the GPU, or exit 1 saying what is missing; needs a build
    /// with `--features vigil-models/cuda` and onnxruntime-gpu, see `benchmarks/gpu-env.sh`);
    /// auto (the GPU when CUDA can be used, else the CPU with one warning).
    #[arg(long, default_value = "cpu", value_name = "cpu|cuda|auto")]
    device: Device,
    /// Which graph to run: fp32 (model.onnx); int8 (dynamically quantised, for the CPU) or
    /// fp16 (for the GPU), when the artifact has that variant (its manifest states how far
    /// it is from fp32).
    #[arg(long, default_value = "fp32", value_name = "fp32|fp16|int8")]
    precision: Precision,
    /// A directory of model artifacts where a model name (`--model NAME`) is looked up
    /// first (repeatable); then $VIGIL_MODELS, /usr/share/vigil/models, and
    /// onnx/artifacts beside or above the executable and the working directory.
    #[arg(long, value_name = "DIR")]
    models: Vec<PathBuf>,
}

/// Loads the model `reference` (a directory, or a name looked up as
/// [`vigil_models::locate`] says) on `graph`'s device and precision, to be shared by
/// its scorer, with one scoring worker per core (see [`ModelOptions::workers`]).
fn load_model(reference: &Path, graph: &GraphArgs) -> anyhow::Result<Arc<Model>> {
    let dir = &vigil_models::locate::resolve_model(reference, &graph.models)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let options =
        ModelOptions::default().device(graph.device).precision(graph.precision).workers(cores);
    let model = Model::load_with(dir, &options)
        .with_context(|| format!("cannot load the model in {}", dir.display()))?;
    Ok(Arc::new(model))
}

/// Run `vigil score`.
pub fn run(args: ScoreArgs, quiet: bool) -> anyhow::Result<Outcome> {
    match args.family {
        Family::Flow(a) => flow::run(a, quiet),
        Family::Netfound(a) => netfound::run(a, quiet),
        Family::Variate(a) => variate::run(a, quiet),
        Family::Actions(a) => actions::run(a, quiet),
    }
}
