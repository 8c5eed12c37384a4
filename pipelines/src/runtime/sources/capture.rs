//! Captures (files, directories, stdin, a live interface) → flow records, with the
//! netFound tokens of each flow when a netFound model reads this source.
//!
//! Packets go through the shared [`vigil_ingest::capture::CaptureLoop`]; its `source` and
//! `position` say which capture and packet (1-based) were read last.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use vigil_ingest::{DeadLetter, IngestError, PcapReader, Position};
use vigil_tokenizers::NetfoundConfig;

use super::capture_ledger::{CaptureCheckpoint, CaptureLedger, FileStart};
use super::packet_flows::{EndedFlow, PacketFlows};
use super::{Pending, SourceContext};
use crate::inputs::expand_inputs;
use crate::runtime::checkpoint::FileIdentity;
use crate::store::origin::{BatchOrigin, StoredRows};

/// How often a followed directory is listed again.
const FOLLOW_POLL: Duration = Duration::from_millis(500);

enum Input {
    Files {
        paths: Vec<PathBuf>,
        follow: bool,
    },
    /// A live interface, opened early when the run drops root once it is open.
    Interface(String, Option<PcapReader>),
}

/// Packets → flows (and tokens).
pub struct CaptureSource {
    input: Input,
    tokens: Option<NetfoundConfig>,
}

/// One pass's state: the flows being built, the rows waiting for their batch.
struct Flows<'a> {
    ctx: &'a SourceContext,
    packets: PacketFlows,
    pending: Pending<EndedFlow>,
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
        CaptureSource { input: Input::Interface(name, None), tokens }
    }

    /// Open a live interface now (while the process may still capture); whether this
    /// source reads one.
    pub fn open_live(&mut self) -> anyhow::Result<bool> {
        let Input::Interface(name, opened) = &mut self.input else { return Ok(false) };
        if opened.is_none() {
            *opened = Some(PcapReader::live(name)?);
        }
        Ok(true)
    }

    /// Read until the end of input, or until stopped.
    pub fn run(self, ctx: &SourceContext) -> anyhow::Result<()> {
        let mut flows = Flows {
            ctx,
            packets: PacketFlows::new(&ctx.sensor, self.tokens)?,
            pending: Pending::new(),
            ledger: None,
            stored_rows: None,
        };
        match self.input {
            Input::Interface(name, opened) => {
                ctx.no_checkpoint();
                let mut reader = match opened {
                    Some(r) => r,
                    None => PcapReader::live(&name)?,
                };
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
        let capture = &mut self.packets.capture;
        capture.open(reader);
        loop {
            let capture = &mut self.packets.capture;
            // Packets before `from` are read past, not decoded.
            let read = if capture.packet() + 1 < from {
                capture.skip_next()
            } else {
                capture.decode_next()
            };
            match read {
                Ok(true) => {}
                Ok(false) => break,
                Err(e) => {
                    tracing::error!("{e}");
                    let name = capture.source().to_string();
                    let position = Position::Packet(capture.packet() + 1);
                    self.dead_letter(&name, position, &e)?;
                    break;
                }
            }
            let packet = capture.packet();
            if packet < from {
                continue;
            }
            self.ctx.stats.add_in(1);
            if let Some(ledger) = &mut self.ledger {
                ledger.packet(packet);
                if ledger.is_straddler(self.packets.capture.decoded()) {
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

    /// Give the packet just decoded to the flow table, which tells the ledger which
    /// flow each layer is in.
    fn account(&mut self) -> anyhow::Result<()> {
        let ledger = &mut self.ledger;
        self.packets.account(|flow_id| {
            if let Some(l) = ledger.as_mut() {
                l.observe(flow_id);
            }
        });
        self.take_ended()
    }

    fn take_ended(&mut self) -> anyhow::Result<()> {
        for (f, tokens) in self.packets.take_ended() {
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
        self.ctx.stats.add_tokenize(self.packets.take_tokenize_time());
        self.ctx.stats.set_weirds(self.packets.capture.weirds());
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
        let env = self.packets.envelope(rows, &self.ctx.sensor)?;
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
        self.packets.end_all();
        self.take_ended()?;
        if let Some(l) = self.ledger.as_ref().filter(|l| l.replayed() > 0) {
            tracing::info!(source = %self.ctx.name, flows = l.replayed(), "flows stored before the restart were not sent again");
        }
        self.flush()
    }
}
