//! Captures (files, directories, stdin, a live interface) → flow records, with the
//! netFound tokens of each flow when a netFound model reads this source.

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use vigil_ingest::packet::DecoderConfig;
use vigil_ingest::{
    DeadLetter, DecodedPacket, Decoder, FlowRecord, FlowTable, FlowTableConfig, PcapReader,
    Position,
};
use vigil_tokenizers::{FlowRef, FlowTokens, NetfoundConfig, NetfoundTokenizer};

use super::{Pending, SourceContext};
use crate::inputs::expand_inputs;
use crate::runtime::record::{Envelope, RecordKind};

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

/// One pass's state: decoder, flow table, tokenizer, the rows waiting for their batch.
struct Flows<'a> {
    ctx: &'a SourceContext,
    decoder: Decoder,
    decoded: DecodedPacket,
    table: FlowTable,
    tokenizer: Option<NetfoundTokenizer>,
    /// Tokens emitted before their flow ended, by flow id.
    early: HashMap<u64, FlowTokens>,
    ended: Vec<FlowRecord>,
    pending: Pending<(FlowRecord, Option<FlowTokens>)>,
    /// Time in the tokenizer since the last batch (counted per batch, not per packet).
    tokenize: Duration,
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
            decoder: Decoder::new(DecoderConfig::default()),
            decoded: DecodedPacket::default(),
            table: FlowTable::new(FlowTableConfig {
                uid_seed: vigil_ingest::flow::sensor_seed(&ctx.sensor),
                ..FlowTableConfig::default()
            }),
            tokenizer,
            early: HashMap::new(),
            ended: Vec::new(),
            pending: Pending::new(),
            tokenize: Duration::ZERO,
        };
        match self.input {
            Input::Interface(name) => {
                let mut reader = PcapReader::live(&name)?;
                reader.stop_when(ctx.stop.clone());
                flows.read(reader)?;
            }
            Input::Files { paths, follow } => {
                let mut seen = BTreeSet::new();
                loop {
                    for path in expand_inputs(&paths)? {
                        if !seen.insert(path.clone()) {
                            continue;
                        }
                        if ctx.stopped() {
                            break;
                        }
                        match PcapReader::open(&path) {
                            Ok(reader) => flows.read(reader)?,
                            Err(e) => {
                                tracing::error!("{e}");
                                let name = path.display().to_string();
                                flows.dead_letter(&name, Position::File, &e.to_string())?;
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
    fn read(&mut self, mut reader: PcapReader) -> anyhow::Result<()> {
        let name = reader.name().to_string();
        loop {
            let pkt = match reader.next_packet() {
                Ok(Some(p)) => p,
                Ok(None) => break,
                Err(e) => {
                    tracing::error!("{e}");
                    let position = Position::Packet(reader.packets_read() + 1);
                    self.dead_letter(&name, position, &e.to_string())?;
                    break;
                }
            };
            self.ctx.stats.add_in(1);
            self.decoder.decode_into(&pkt.raw(), &mut self.decoded);
            let index = pkt.index;
            self.process()?;
            if index % 64 == 0 {
                if self.ctx.stopped() {
                    break;
                }
                self.flush_if_due()?;
            }
        }
        Ok(())
    }

    /// Feed the decoded packet to the flow table (and the tokenizer).
    fn process(&mut self) -> anyhow::Result<()> {
        let Flows { decoded, table, tokenizer, early, ended, tokenize, .. } = self;
        match tokenizer {
            Some(tok) => {
                table.process_observed(decoded, ended, &mut |lf| {
                    let started = Instant::now();
                    let flow = FlowRef {
                        flow_id: lf.flow_id,
                        community_id: lf.community_id,
                        orig_addr: lf.orig_h,
                        orig_port: lf.orig_p,
                    };
                    // Layers netFound has no fields for (SCTP, ...) are simply not tokenized.
                    if let Ok(Some(t)) = tok.push(flow, decoded.ts, &decoded.layers[lf.layer]) {
                        early.insert(t.flow_id, t);
                    }
                    *tokenize += started.elapsed();
                });
                for t in tok.take_evicted() {
                    early.insert(t.flow_id, t);
                }
            }
            None => table.process(decoded, ended),
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
        if rows.is_empty() {
            return Ok(());
        }
        let (flows, tokens): (Vec<FlowRecord>, Vec<Option<FlowTokens>>) = rows.into_iter().unzip();
        let batch = vigil_ingest::flows_to_batch(&flows, &self.ctx.sensor)?;
        let mut env = Envelope::new(RecordKind::Flows, batch);
        if self.tokenizer.is_some() {
            env.tokens = Some(Arc::new(tokens));
        }
        self.ctx.emit(Some(env), &[], None, waited)?;
        Ok(())
    }

    fn dead_letter(&mut self, source: &str, position: Position, error: &str) -> anyhow::Result<()> {
        let letter = DeadLetter::new(source, position, error, Vec::new());
        self.ctx.emit(None, &[letter], None, Duration::ZERO)?;
        Ok(())
    }

    /// End of input: every open flow ends.
    fn finish(mut self) -> anyhow::Result<()> {
        self.table.flush(&mut self.ended);
        self.take_ended()?;
        self.flush()
    }
}
