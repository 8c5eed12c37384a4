//! `vigil tokenize`: records in, model inputs out, as Parquet.

pub(crate) mod actions;
pub(crate) mod flow;
mod netfound;
mod variate;

use std::path::Path;

use anyhow::Context;
use clap::{Args, Subcommand};

use super::Outcome;

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
    Netfound(netfound::NetfoundArgs),
    /// FlowTransformer windows: each flow with its W-1 predecessors (per host or
    /// sensor-wide), encoded by a preprocessor fitted on training data (one row per flow).
    Flow(flow::FlowArgs),
    /// iTransformer variate tokens: metrics resampled onto a regular grid, then windows of
    /// L steps over N variates, normalised per window and variate (one row per window).
    Variate(variate::VariateArgs),
    /// HSTU action sequences: per entity (user, host), its latest actions and objects as
    /// vocabulary ids with time-gap buckets (one row per event).
    Actions(actions::ActionsArgs),
}

/// Run `vigil tokenize`.
pub fn run(args: TokenizeArgs, quiet: bool) -> anyhow::Result<Outcome> {
    match args.family {
        Family::Netfound(a) => netfound::run(a, quiet),
        Family::Flow(a) => flow::run(a, quiet),
        Family::Variate(a) => variate::run(a, quiet),
        Family::Actions(a) => actions::run(a, quiet),
    }
}

/// Write dead letters (rows that could not be read) as JSON lines: source, line, reason, raw.
pub(crate) fn write_dead_letters(
    path: &Path,
    dead: &[vigil_ingest::DeadLetter],
) -> anyhow::Result<()> {
    let mut text = String::new();
    for d in dead {
        let row = serde_json::json!({"source": d.source, "position": d.position.to_string(), "line": d.line(), "reason": d.reason, "raw": d.raw_lossy()});
        text.push_str(&row.to_string());
        text.push('\n');
    }
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

/// The dead letter of a capture whose reading stopped at packet `next` (1-based) with
/// `error`: the rest of that capture is not read.
pub(crate) fn capture_dead_letter(path: &Path, next: u64, error: &str) -> vigil_ingest::DeadLetter {
    vigil_ingest::DeadLetter::new(
        path.display().to_string(),
        vigil_ingest::position::Position::Packet(next),
        error,
        Vec::new(),
    )
}
