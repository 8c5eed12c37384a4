//! `vigil tokenize flow`: flow records (imported CSV or our own from a capture) to
//! FlowTransformer windows. The file's Parquet metadata records the window settings and
//! the preprocessor's sha256 (its [`TokenStamp`]).

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use vigil_ingest::flow_records::{ColumnMapping, FlowCsvReader, FlowFeatureSet, FlowFeatures};
use vigil_ingest::packet::DecoderConfig;
use vigil_ingest::{FlowRecord, FlowTableConfig, flows_from_batch};
use vigil_pipelines::extract::flows_from_capture;
use vigil_pipelines::output::BatchFileWriter;
use vigil_tokenizers::TokenStamp;
use vigil_tokenizers::flow_window::{
    FlowWindowConfig, FlowWindowTokenizer, GroupBy, PreprocessConfig, Preprocessor,
    flow_window_schema, windows_to_record_batch,
};

use super::{BATCH_ROWS, write_dead_letters};
use crate::cli::Outcome;
use crate::cli::inputs::{is_capture, is_parquet, parquet_batches};

/// Which flows a window may hold.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum Group {
    /// All flows of the sensor.
    None,
    /// Flows from the same source address.
    Src,
    /// Flows to the same destination address.
    Dst,
    /// Flows between the same two addresses.
    SrcDst,
}

/// Arguments of `vigil tokenize flow`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  vigil tokenize flow samples/ssh.pcap --out w.parquet --save-preprocessor prep.json\n  vigil tokenize flow flows.csv --mapping cicflowmeter --preprocessor prep.json --out w.parquet"
)]
pub struct FlowArgs {
    /// A flow CSV (read with --mapping) or our own flows: a capture, or a Parquet `flows`
    /// table from `vigil flows -f parquet`; these get the features of --mapping when it is
    /// zeek_conn or nf_v2_derivable, else (no --mapping) the NF-v2 features derivable from
    /// headers.
    input: PathBuf,
    /// The Parquet file to write.
    #[arg(short, long, visible_alias = "output", value_name = "FILE.parquet")]
    out: PathBuf,
    /// Column mapping of a flow CSV: a built-in name (cicflowmeter, nf_v2, nf_v2_derivable,
    /// nsl_kdd, zeek_conn) or a mapping JSON file.
    #[arg(long, value_name = "NAME|FILE")]
    mapping: Option<String>,
    /// Encode with this saved preprocessor instead of fitting one on the input.
    #[arg(long, value_name = "FILE.json")]
    preprocessor: Option<PathBuf>,
    /// Save the preprocessor (fitted or loaded) here, for training and serving alike.
    #[arg(long, value_name = "FILE.json")]
    save_preprocessor: Option<PathBuf>,
    /// Categorical levels kept per feature when fitting (the rest encode as 0, unseen).
    #[arg(long, default_value_t = 32, value_name = "K")]
    top_k: usize,
    /// Flows per window, the scored flow last.
    #[arg(long, default_value_t = 8, value_name = "W")]
    window: usize,
    /// Which flows a window may hold.
    #[arg(long, value_enum, default_value_t = Group::None)]
    group_by: Group,
    /// Write rows that could not be read as JSON lines to this file.
    #[arg(long, value_name = "FILE")]
    dead_letters: Option<PathBuf>,
    /// Refuse an input without labels (the mapping's label column), as training data
    /// needs them. Without it an unlabelled flow CSV or conn.log gives windows with no
    /// label (to score); our own flows never carry labels.
    #[arg(long)]
    require_label: bool,
}

/// Records of `input`, in start-time order, and how many rows were dead letters
/// (kept in `dead_letters` when given). With `require_label`, an input without labels
/// is an error; otherwise unlabelled records have `label: None`.
///
/// - Our own flows (a capture or a stored `flows` table, recognised by content or
///   name; any input when `mapping` is `None`) get the features of `mapping` when our
///   flows can provide them ([`FlowFeatureSet::for_mapping`]: `zeek_conn`,
///   `nf_v2_derivable`), NF-v2 without a mapping; another mapping is an error.
/// - Any other input is a flow CSV read with `mapping`.
pub(crate) fn read_flow_records(
    input: &Path,
    mapping: Option<&str>,
    dead_letters: Option<&Path>,
    require_label: bool,
) -> anyhow::Result<(Vec<FlowFeatures>, u64)> {
    let own = is_parquet(input)? || is_capture(input)?;
    let name = match mapping {
        Some(name) if !own => name,
        _ if require_label => {
            bail!(
                "{}: our own flows carry no labels (a labelled flow CSV needs --mapping)",
                input.display()
            )
        }
        _ => return Ok((read_own_flows(input, own_feature_set(mapping)?)?, 0)),
    };
    let mapping = match ColumnMapping::builtin(name) {
        Some(m) => m,
        None => ColumnMapping::from_path(name).with_context(|| {
            let known: Vec<&str> = ColumnMapping::builtin_names().collect();
            format!(
                "`{name}` is neither a built-in mapping ({}) nor a mapping file",
                known.join(", ")
            )
        })?,
    };
    let mut reader = FlowCsvReader::open(input, &mapping)?;
    if require_label && !reader.has_label() {
        let column = mapping.label.as_deref().unwrap_or("(none in the mapping)");
        bail!("{}: no label column `{column}` (mapping {})", input.display(), mapping.name);
    }
    let mut recs = Vec::new();
    while let Some(r) = reader.next_record()? {
        recs.push(r);
    }
    let dead = reader.dead_letter_count();
    if let Some(path) = dead_letters {
        let kept = reader.take_dead_letters();
        write_dead_letters(path, &kept)?;
    }
    recs.sort_by_key(|r| (r.tuple.ts_us, r.tuple.flow_id));
    Ok((recs, dead))
}

/// The features our own flows get for `mapping` (NF-v2 without one).
fn own_feature_set(mapping: Option<&str>) -> anyhow::Result<FlowFeatureSet> {
    let Some(name) = mapping else { return Ok(FlowFeatureSet::NfV2) };
    FlowFeatureSet::for_mapping(name).with_context(|| {
        format!(
            "our flows cannot provide the features of mapping `{name}` (derivable: {}, {})",
            FlowFeatureSet::ZeekConn.mapping_name(),
            FlowFeatureSet::NfV2.mapping_name()
        )
    })
}

/// Our own flows of `input` (a capture, or a stored `flows` table) as `set` features,
/// in start-time order.
pub(crate) fn read_own_flows(
    input: &Path,
    set: FlowFeatureSet,
) -> anyhow::Result<Vec<FlowFeatures>> {
    let flows = if is_parquet(input)? {
        read_flows_parquet(input)?
    } else {
        let (flows, error) =
            flows_from_capture(input, DecoderConfig::default(), FlowTableConfig::default());
        if let Some(e) = error {
            tracing::error!("{e}");
        }
        flows
    };
    let mut recs: Vec<FlowFeatures> = flows.iter().map(|f| set.features(f)).collect();
    recs.sort_by_key(|r| (r.tuple.ts_us, r.tuple.flow_id));
    Ok(recs)
}

/// Flows stored by `vigil flows -f parquet` (the `flows` table schema).
fn read_flows_parquet(path: &Path) -> anyhow::Result<Vec<FlowRecord>> {
    let mut flows = Vec::new();
    for batch in parquet_batches(path)? {
        let batch = batch?;
        flows.extend(
            flows_from_batch(&batch)
                .with_context(|| format!("{}: not a `flows` table", path.display()))?,
        );
    }
    Ok(flows)
}

fn preprocessor(args: &FlowArgs, recs: &[FlowFeatures]) -> anyhow::Result<Preprocessor> {
    let p = match &args.preprocessor {
        Some(path) => Preprocessor::from_json(&read_text(path)?)?,
        None => {
            let config = PreprocessConfig { top_k: args.top_k, ..PreprocessConfig::default() };
            Preprocessor::fit(config, recs)?
        }
    };
    if let Some(path) = &args.save_preprocessor {
        std::fs::write(path, p.to_json())
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(p)
}

fn read_text(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

/// Run `vigil tokenize flow`.
pub fn run(args: FlowArgs, quiet: bool) -> anyhow::Result<Outcome> {
    let (recs, dead) = read_flow_records(
        &args.input,
        args.mapping.as_deref(),
        args.dead_letters.as_deref(),
        args.require_label,
    )?;
    if recs.is_empty() {
        bail!("{}: no flow records", args.input.display());
    }
    let group_by = match args.group_by {
        Group::None => GroupBy::None,
        Group::Src => GroupBy::SrcAddr,
        Group::Dst => GroupBy::DstAddr,
        Group::SrcDst => GroupBy::SrcDst,
    };
    let config = FlowWindowConfig { window: args.window, group_by, ..FlowWindowConfig::default() };
    let preprocessor = preprocessor(&args, &recs)?;
    let stamp = TokenStamp::flow(&preprocessor, &config).to_key_values();
    let mut tok = FlowWindowTokenizer::new(preprocessor, config)?;
    let mut out = BatchFileWriter::create_with_metadata(&args.out, flow_window_schema(), stamp)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let mut pending = Vec::with_capacity(BATCH_ROWS);
    for r in &recs {
        pending.push(tok.push(r)?);
        if pending.len() >= BATCH_ROWS {
            out.write(&windows_to_record_batch(&pending)?).context("cannot write the windows")?;
            pending.clear();
        }
    }
    if !pending.is_empty() {
        out.write(&windows_to_record_batch(&pending)?).context("cannot write the windows")?;
    }
    let rows = out.finish().with_context(|| format!("cannot finish {}", args.out.display()))?;
    if !quiet {
        eprintln!("vigil: {rows} flow windows into {} ({dead} dead letters)", args.out.display());
    }
    Ok(if dead > 0 { Outcome::Partial } else { Outcome::Complete })
}
