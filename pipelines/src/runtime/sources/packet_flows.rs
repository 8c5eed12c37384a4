//! Decoded packets → flows, with each flow's netFound tokens when a netFound model
//! reads the source: the flow table and tokenizer a packet source (capture files,
//! a Kafka topic of packets) keeps from one batch to the next.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use vigil_ingest::capture::CaptureLoop;
use vigil_ingest::flow::LayerFlow;
use vigil_ingest::packet::DecoderConfig;
use vigil_ingest::{DecodedPacket, FlowRecord, FlowTableConfig};
use vigil_tokenizers::{FlowTokens, NetfoundConfig, NetfoundTokenizer};

use crate::runtime::record::{Envelope, RecordKind};

/// A flow that ended, with its tokens when the source tokenizes.
pub type EndedFlow = (FlowRecord, Option<FlowTokens>);

/// The flow table and tokenizer of one packet source.
pub struct PacketFlows {
    /// Decoder and flow table.
    pub capture: CaptureLoop,
    tokenizer: Option<NetfoundTokenizer>,
    /// Tokens emitted before their flow ended, by flow id.
    early: HashMap<u64, FlowTokens>,
    ended: Vec<FlowRecord>,
    /// Time in the tokenizer since it was last taken.
    tokenize: Duration,
}

impl PacketFlows {
    /// Empty state for `sensor` (its uids' seed), tokenizing with `tokens` if given.
    pub fn new(sensor: &str, tokens: Option<NetfoundConfig>) -> anyhow::Result<PacketFlows> {
        let table = FlowTableConfig {
            uid_seed: vigil_ingest::flow::sensor_seed(sensor),
            ..FlowTableConfig::default()
        };
        Ok(PacketFlows {
            capture: CaptureLoop::new(DecoderConfig::default(), table),
            tokenizer: tokens.map(NetfoundTokenizer::new).transpose()?,
            early: HashMap::new(),
            ended: Vec::new(),
            tokenize: Duration::ZERO,
        })
    }

    /// Whether flows come with tokens.
    pub fn tokenizes(&self) -> bool {
        self.tokenizer.is_some()
    }

    /// Give the packet just decoded to the flow table (and the tokenizer);
    /// `on_flow` hears the id of the flow each of its layers was counted in.
    pub fn account(&mut self, mut on_flow: impl FnMut(u64)) {
        let PacketFlows { capture, tokenizer, early, ended, tokenize } = self;
        let mut observe = |pkt: &DecodedPacket, lf: LayerFlow<'_>| {
            on_flow(lf.flow_id);
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
    }

    /// Time moved to `now` (µs) with no packet: flows past their timeouts by then end.
    pub fn advance(&mut self, now: i64) {
        self.capture.advance(now, &mut self.ended);
    }

    /// End every open flow (end of input).
    pub fn end_all(&mut self) {
        self.capture.flush(&mut self.ended);
    }

    /// The flows ended since the last call, in the order they ended, with their tokens.
    pub fn take_ended(&mut self) -> Vec<EndedFlow> {
        let started = Instant::now();
        let ended: Vec<EndedFlow> = std::mem::take(&mut self.ended)
            .into_iter()
            .map(|f| {
                let tokens = self.tokenizer.as_mut().and_then(|tok| {
                    self.early.remove(&f.flow_id).or_else(|| tok.finish(f.flow_id))
                });
                (f, tokens)
            })
            .collect();
        self.tokenize += started.elapsed();
        ended
    }

    /// Time spent tokenizing since the last call.
    pub fn take_tokenize_time(&mut self) -> Duration {
        std::mem::take(&mut self.tokenize)
    }

    /// A `flows` envelope of `rows` stamped with `sensor`, with their tokens when
    /// this source tokenizes.
    pub fn envelope(&self, rows: Vec<EndedFlow>, sensor: &str) -> anyhow::Result<Envelope> {
        let (flows, tokens): (Vec<FlowRecord>, Vec<Option<FlowTokens>>) = rows.into_iter().unzip();
        let mut env =
            Envelope::new(RecordKind::Flows, vigil_ingest::flows_to_batch(&flows, sensor)?);
        if self.tokenizes() {
            env.tokens = Some(Arc::new(tokens));
        }
        Ok(env)
    }
}
