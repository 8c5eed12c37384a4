//! Captures (files, directories, stdin, a live interface) → flow records, with the
//! netFound tokens of each flow when a netFound model reads this source.
//!
//! Packets go through the shared [`CaptureLoop`]; [`CaptureLoop::source`] and
//! [`CaptureLoop::position`] say which capture and packet (1-based) were read last.

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use vigil_ingest::capture::CaptureLoop;
use vigil_ingest::flow::LayerFlow;
use vigil_ingest::packet::DecoderConfig;
use vigil_ingest::{
    DeadLetter, DecodedPacket, FlowRecord, FlowTableConfig, IngestError, PcapReader, Position,
};
use vigil_tokenizers::{FlowTokens, NetfoundConfig, NetfoundTokenizer};

use super::capture_ledger::{CaptureCheckpoint, CaptureLedger, FileStart};
use super::{Pending, SourceContext};
use crate::inputs::expand_inputs;
use crate::runtime::checkpoint::FileIdentity;
use crate::runtime::record::{Envelope, RecordKind};
use crate::store::origin::{BatchOrigin, StoredRows};

/// How often a followed directory is listed again.
const FOLLOW_POLL: Duration = Duration::from_millis(500);

enum Input {
    Files { paths: Vec<PathBuf>, follow: bool },
    Interface(String),
}

/// Packets → flows (and tokens).
pub struct CaptureSource {
    input: Input,
    tokens: Option<NetfoundConfig>,
}

/// One pass's state: the capture loop, tokenizer, the rows waiting for their batch.
struct Flows<'a> {
    ctx: &'a SourceContext,
    capture: CaptureLoop,
    tokenizer: Option<NetfoundTokenizer>,
    /// Tokens emitted before their flow ended, by flow id.
    early: HashMap<u64, FlowTokens>,
    ended: Vec<FlowRecord>,
    pending: Pending<(FlowRecord, Option<FlowTokens>)>,
    /// Time in the tokenizer since the last batch (counted per batch, not per packet).
    tokenize: Duration,
    /// Flows' packet positions, for the checkpoint (file inputs only).
    ledger: Option<CaptureLedger>,
    /// Rows stored before a restart that the re-run may rebuild.
    stored_rows: Option<Arc<StoredRows>>,
}

/// The rows `ctx`'s sensor committed since the checkpointed batch was cut (at
/// `cut_at_us`; else since the checkpoint was written); `None` if there are none.
fn stored_rows(
    ctx: &SourceContext,
    cut_at_us: Option<i64>,
) -> anyhow::Result<Option<Arc<StoredRows>>> {
    let cut = cut_at_us
        .map(|us| std::time::UNIX_EPOCH + Duration::from_micros(us.max(0) as u64))
        .or_else(|| ctx.checkpoint_written());
    let Some(cut) = cut else { return Ok(None) };
    // Allow for coarse file times.
    let since = cut.checked_sub(Duration::from_secs(2)).unwrap_or(cut);
    let stored = StoredRows::since(&ctx.store, &ctx.sensor, since)?;
    if stored.is_empty() {
        return Ok(None);
    }
    tracing::info!(source = %ctx.name, rows = stored.len(), "rows committed after the checkpoint are in the store; they are not stored again");
    Ok(Some(Arc::new(stored)))
}

impl CaptureSource {
    /// Capture files and directories (`-` = stdin); `follow` keeps watching directories.
    pub fn files(paths: Vec<PathBuf>, follow: bool, tokens: Option<NetfoundConfig>) -> Self {
        CaptureSource { input: Input::Files { paths, follow }, tokens }
    }

    /// A live interface.
    pub fn interface(name: String, tokens: Option<NetfoundConfig>) -> Self {
        CaptureSource { input: Input::Interface(name), tokens }
    }

    /// Read until the end of input, or until stopped.
    pub fn run(self, ctx: &SourceContext) -> anyhow::Result<()> {
        let tokenizer = self.tokens.map(NetfoundTokenizer::new).transpose()?;
        let mut flows = Flows {
            ctx,
            capture: CaptureLoop::new(
                DecoderConfig::default(),
                FlowTableConfig {
                    uid_seed: vigil_ingest::flow::sensor_seed(&ctx.sensor),
                    ..FlowTableConfig::default()
                },
            ),
            tokenizer,
            early: HashMap::new(),
            ended: Vec::new(),
            pending: Pending::new(),
            tokenize: Duration::ZERO,
            ledger: None,
            stored_rows: None,
        };
        match self.input {
            Input::Interface(name) => {
                ctx.no_checkpoint();
                let mut reader = PcapReader::live(&name)?;
                reader.stop_when(ctx.stop.clone());
                flows.read(reader, 1)?;
            }
            Input::Files { paths, follow } => {
                if paths.iter().any(|p| p.as_os_str() == "-") {
                    ctx.no_checkpoint();
                } else {
                    let saved = ctx.resume_state::<CaptureCheckpoint>()?;
                    if let Some(r) = saved.as_ref().and_then(|s| s.resume) {
                        tracing::info!(source = %ctx.name, file = r.file, packet = r.packet, "resuming after the checkpoint");
                    }
                    let cut = saved.as_ref().map(|s| s.cut_at_us);
                    let mut ledger = CaptureLedger::resume(saved);
                    match cut {
                        // Rows a crash left committed after the checkpoint are in files
                        // written since its batch was cut: they are not stored again.
                        Some(cut) => flows.stored_rows = stored_rows(ctx, cut)?,
                        None => ctx.start_checkpoint(serde_json::to_value(ledger.checkpoint())?)?,
                    }
                    flows.ledger = Some(ledger);
                }
                let mut seen = BTreeSet::new();
                loop {
                    for path in expand_inputs(&paths)? {
                        if !seen.insert(path.clone()) {
                            continue;
                        }
                        if ctx.stopped() {
                            break;
                        }
                        let from = match flows.start_file(&path)? {
                            FileStart::Done => continue,
                            FileStart::From(n) => n,
                        };
                        match PcapReader::open(&path) {
                            Ok(reader) => flows.read(reader, from)?,
                            Err(e) => {
                                tracing::error!("{e}");
                                let name = path.display().to_string();
                                flows.dead_letter(&name, Position::File, &e)?;
                            }
                        }
                    }
                    if !follow || ctx.stopped() {
                        break;
                    }
                    std::thread::sleep(FOLLOW_POLL);
                    flows.flush_if_due()?;
                }
            }
        }
        flows.finish()
    }
}

impl Flows<'_> {
    /// A capture file comes up: what the checkpoint says to do with it.
    fn start_file(&mut self, path: &std::path::Path) -> anyhow::Result<FileStart> {
        let Some(ledger) = &mut self.ledger else { return Ok(FileStart::From(1)) };
        let start = ledger.start_file(FileIdentity::of(path)?);
        if start != FileStart::From(1) {
            tracing::info!(file = %path.display(), ?start, "resuming a capture");
        }
        Ok(start)
    }

    /// Read a capture to its end, processing packets from the 1-based index `from`.
    fn read(&mut self, reader: PcapReader, from: u64) -> anyhow::Result<()> {
        self.capture.open(reader);
        loop {
            // Packets before `from` are read past, not decoded.
            let read = if self.capture.packet() + 1 < from {
                self.capture.skip_next()
            } else {
                self.capture.decode_next()
            };
            match read {
                Ok(true) => {}
                Ok(false) => break,
                Err(e) => {
                    tracing::error!("{e}");
                    let name = self.capture.source().to_string();
                    self.dead_letter(&name, Position::Packet(self.capture.packet() + 1), &e)?;
                    break;
                }
            }
            let packet = self.capture.packet();
            if packet < from {
                continue;
            }
            self.ctx.stats.add_in(1);
            if let Some(ledger) = &mut self.ledger {
                ledger.packet(packet);
                if ledger.is_straddler(self.capture.decoded()) {
                    continue;
                }
            }
            self.account()?;
            if packet % 64 == 1 {
                if self.ctx.stopped() {
                    break;
                }
                self.flush_if_due()?;
            }
        }
        Ok(())
    }

    /// Give the packet just decoded to the flow table, which tells the ledger and the
    /// tokenizer which flow each layer is in.
    fn account(&mut self) -> anyhow::Result<()> {
        let Flows { capture, tokenizer, early, ended, tokenize, ledger, .. } = self;
        let mut observe = |pkt: &DecodedPacket, lf: LayerFlow<'_>| {
            if let Some(l) = ledger.as_mut() {
                l.observe(lf.flow_id);
            }
            if let Some(tok) = tokenizer.as_mut() {
                let started = Instant::now();
                // Layers netFound has no fields for (SCTP, ...) are simply not tokenized.
                if let Ok(Some(t)) = tok.push(lf.into(), pkt.ts, &pkt.layers[lf.layer]) {
                    early.insert(t.flow_id, t);
                }
                *tokenize += started.elapsed();
            }
        };
        capture.account(ended, &mut observe);
        if let Some(tok) = tokenizer {
            for t in tok.take_evicted() {
                early.insert(t.flow_id, t);
            }
        }
        self.take_ended()
    }

    fn take_ended(&mut self) -> anyhow::Result<()> {
        for f in std::mem::take(&mut self.ended) {
            let started = Instant::now();
            let tokens = self
                .tokenizer
                .as_mut()
                .and_then(|tok| self.early.remove(&f.flow_id).or_else(|| tok.finish(f.flow_id)));
            self.tokenize += started.elapsed();
            if self.ledger.as_mut().is_some_and(|l| !l.ended(&f)) {
                continue; // stored before a restart
            }
            self.pending.push((f, tokens));
            if self.pending.items.len() >= self.ctx.batch.max_rows {
                self.flush()?;
            }
        }
        Ok(())
    }

    fn flush_if_due(&mut self) -> anyhow::Result<()> {
        if self.pending.due(&self.ctx.batch) { self.flush() } else { Ok(()) }
    }

    fn flush(&mut self) -> anyhow::Result<()> {
        self.ctx.stats.add_tokenize(std::mem::take(&mut self.tokenize));
        let (rows, waited) = self.pending.take();
        let state = match &mut self.ledger {
            Some(l) => Some(serde_json::to_value(l.checkpoint())?),
            None => None,
        };
        if rows.is_empty() {
            // Nothing to send, but the position may have moved (the end of input).
            if state.is_some() {
                self.ctx.emit_from(None, &[], state, waited, self.origin())?;
            }
            return Ok(());
        }
        let (flows, tokens): (Vec<FlowRecord>, Vec<Option<FlowTokens>>) = rows.into_iter().unzip();
        let batch = vigil_ingest::flows_to_batch(&flows, &self.ctx.sensor)?;
        let mut env = Envelope::new(RecordKind::Flows, batch);
        if self.tokenizer.is_some() {
            env.tokens = Some(Arc::new(tokens));
        }
        self.ctx.emit_from(Some(env), &[], state, waited, self.origin())?;
        Ok(())
    }

    /// Where a batch comes from: the rows stored before a restart, if any, are not
    /// written again (the source rebuilds flows from a resume point).
    fn origin(&self) -> Option<BatchOrigin> {
        self.stored_rows.clone().map(|s| BatchOrigin::rows(Some(s)))
    }

    /// An input not read to its end.
    fn dead_letter(
        &mut self,
        source: &str,
        position: Position,
        error: &IngestError,
    ) -> anyhow::Result<()> {
        let letter = DeadLetter::new(source, position, error.to_string(), Vec::new());
        self.ctx.emit_from(None, &[letter], None, Duration::ZERO, self.origin())?;
        Ok(())
    }

    /// End of input: every open flow ends.
    fn finish(mut self) -> anyhow::Result<()> {
        self.capture.flush(&mut self.ended);
        self.take_ended()?;
        if let Some(l) = self.ledger.as_ref().filter(|l| l.replayed() > 0) {
            tracing::info!(source = %self.ctx.name, flows = l.replayed(), "flows stored before the restart were not sent again");
        }
        self.flush()
    }
}
