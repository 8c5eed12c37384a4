//! `vigil tokenize netfound`: captures to netFound packet tokens. The file's Parquet
//! metadata records the settings that decide the tokens (its [`TokenStamp`]), which
//! `vigil score netfound` checks against the model's.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Args;
use vigil_ingest::packet::DecoderConfig;
use vigil_ingest::{FlowRecord, FlowTableConfig};
use vigil_pipelines::output::BatchFileWriter;
use vigil_pipelines::tokenize::netfound_from_capture;
use vigil_tokenizers::{
    BurstSplit, FlowTokens, IpNetwork, NetfoundConfig, TokenStamp, netfound_schema, to_record_batch,
};

use super::BATCH_ROWS;
use crate::cli::Outcome;
use crate::cli::inputs::CaptureInputs;

/// Arguments of `vigil tokenize netfound`.
#[derive(Debug, Args)]
#[command(
    after_help = "Example:\n  vigil tokenize netfound samples/ssh.pcap --out ssh-tokens.parquet"
)]
pub struct NetfoundArgs {
    /// Capture files, directories of them, or `-` for standard input.
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// The Parquet file to write.
    #[arg(short, long, visible_alias = "output", value_name = "FILE.parquet")]
    out: PathBuf,
    /// Write captures whose reading stopped early (truncated, corrupt) to this file as
    /// JSON lines (source, position, reason).
    #[arg(long, value_name = "FILE")]
    dead_letters: Option<PathBuf>,
    /// An internal network (CIDR, repeatable): its hosts' packets are the forward direction.
    /// Without any, the flow's originator is forward.
    #[arg(long = "internal-net", value_name = "CIDR")]
    internal_nets: Vec<IpNetwork>,
    /// Gap in milliseconds after which a packet starts a new burst.
    #[arg(long, default_value_t = 10.0, value_name = "MS")]
    burst_gap_ms: f64,
    /// Packets kept per burst.
    #[arg(long, default_value_t = 6, value_name = "N")]
    max_packets_per_burst: usize,
    /// Bursts kept per flow.
    #[arg(long, default_value_t = 12, value_name = "N")]
    max_bursts: usize,
    /// Also start a new burst whenever the direction changes (the reference splits each
    /// direction on its own).
    #[arg(long)]
    split_on_direction_change: bool,
    /// Leave out the first 12 payload bytes (6 tokens per packet).
    #[arg(long)]
    no_payload: bool,
    /// Add the TCP options (20 tokens per TCP packet).
    #[arg(long)]
    tcp_options: bool,
    /// Emit a flow early once this many bursts are complete (0: only when it ends;
    /// default: --max-bursts).
    #[arg(long, value_name = "N")]
    emit_after_bursts: Option<usize>,
}

impl NetfoundArgs {
    fn config(&self) -> anyhow::Result<NetfoundConfig> {
        if !(self.burst_gap_ms.is_finite() && self.burst_gap_ms >= 0.0) {
            bail!("--burst-gap-ms must be a non-negative number, got {}", self.burst_gap_ms);
        }
        Ok(NetfoundConfig {
            internal_networks: self.internal_nets.clone(),
            burst_gap_us: (self.burst_gap_ms * 1000.0).round() as i64,
            burst_split: if self.split_on_direction_change {
                BurstSplit::OnDirectionChange
            } else {
                BurstSplit::PerDirection
            },
            max_packets_per_burst: self.max_packets_per_burst,
            max_bursts: self.max_bursts,
            payload: !self.no_payload,
            tcp_options: self.tcp_options,
            emit_after_bursts: match self.emit_after_bursts {
                None => Some(self.max_bursts),
                Some(0) => None,
                Some(n) => Some(n),
            },
            ..NetfoundConfig::default()
        })
    }
}

/// Run `vigil tokenize netfound`.
pub fn run(args: NetfoundArgs, quiet: bool) -> anyhow::Result<Outcome> {
    let config = args.config()?;
    let captures = CaptureInputs::open(&args.inputs)?;
    config.validate()?;
    let stamp = TokenStamp::netfound(&config).to_key_values();
    let mut out = BatchFileWriter::create_with_metadata(&args.out, netfound_schema(), stamp)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let mut pending: Vec<FlowTokens> = Vec::with_capacity(BATCH_ROWS);
    let mut write_error: Option<anyhow::Error> = None;
    let flush = |pending: &mut Vec<FlowTokens>, out: &mut BatchFileWriter| -> anyhow::Result<()> {
        if pending.is_empty() {
            return Ok(());
        }
        let batch = to_record_batch(pending)?;
        pending.clear();
        out.write(&batch).context("cannot write the tokens")
    };
    let mut dead = Vec::new();
    let (mut packets, mut rows) = (0u64, 0u64);
    for input in captures {
        let (name, reader) = input?;
        let run = netfound_from_capture(
            reader,
            DecoderConfig::default(),
            FlowTableConfig::default(),
            config.clone(),
            &mut |t| {
                pending.push(t);
                if pending.len() >= BATCH_ROWS
                    && write_error.is_none()
                    && let Err(e) = flush(&mut pending, &mut out)
                {
                    write_error = Some(e);
                }
            },
            &mut |_: FlowRecord| {},
        )?;
        if let Some(e) = write_error.take() {
            return Err(e);
        }
        if let Some(e) = &run.error {
            tracing::error!("{e}");
            dead.push(super::capture_dead_letter(&name, run.packets + 1, e));
        }
        for (kind, n) in &run.rejected {
            tracing::info!(count = n, "packets not tokenized: {kind}");
        }
        packets += run.packets;
        rows += run.token_rows;
    }
    flush(&mut pending, &mut out)?;
    out.finish().with_context(|| format!("cannot finish {}", args.out.display()))?;
    if let Some(path) = &args.dead_letters {
        super::write_dead_letters(path, &dead)?;
    }
    if !quiet {
        eprintln!("vigil: {packets} packets, {rows} flows tokenized into {}", args.out.display());
    }
    Ok(if dead.is_empty() { Outcome::Complete } else { Outcome::Partial })
}
