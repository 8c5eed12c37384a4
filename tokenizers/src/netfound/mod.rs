//! netFound's protocol-aware packet tokens, one packet at a time.
//!
//! ```text
//!  (FlowRef, ts, &NetLayer) ──► NetfoundTokenizer::push ──► FlowState (per flow, bounded, LRU)
//!                                      │   splits bursts per direction, tokenizes header fields
//!                                      ▼
//!           FlowTokens  (early: first N bursts final │ finish: flow closed │ evicted)
//!                                      ▼
//!                   to_record_batch ──► RecordBatch (netfound_schema)
//! ```

mod burst;
mod config;
mod fields;
mod schema;

use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasherDefault, Hasher};
use std::net::IpAddr;

use vigil_ingest::packet::TimestampUs;
use vigil_ingest::{NetLayer, Transport};

pub use burst::Burst;
pub use config::{BurstSplit, IpNetwork, NetfoundConfig};
pub use fields::{
    CLS_TOKEN, EOS_TOKEN, ICMP_TOKENS, IP_TOKENS, Layout, MASK_TOKEN, PAD_TOKEN, PAYLOAD_TOKENS,
    PacketContext, TCP_OPTIONS_TOKENS, TCP_TOKENS, UDP_TOKENS, packet_tokens,
};
pub use schema::{columns, from_record_batch, netfound_schema, to_record_batch};

use crate::TokenizerError;
use burst::FlowState;

/// Which flow a packet belongs to, as the flow table knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowRef<'a> {
    /// The flow table's id; scores join back to flows on it.
    pub flow_id: u64,
    /// The flow's Community ID.
    pub community_id: &'a str,
    /// Originator address (the side that sent the first packet, per the flow table).
    pub orig_addr: IpAddr,
    /// Originator port (ignored for ICMP).
    pub orig_port: u16,
}

impl<'a> From<vigil_ingest::flow::LayerFlow<'a>> for FlowRef<'a> {
    /// The flow a packet layer was counted in, as the flow table reports it.
    fn from(lf: vigil_ingest::flow::LayerFlow<'a>) -> Self {
        FlowRef {
            flow_id: lf.flow_id,
            community_id: lf.community_id,
            orig_addr: lf.orig_h,
            orig_port: lf.orig_p,
        }
    }
}

/// Why a [`FlowTokens`] was emitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EmitReason {
    /// `emit_after_bursts` bursts were complete before the flow closed.
    Early,
    /// The caller closed the flow ([`NetfoundTokenizer::finish`] or `finish_all`).
    Closed,
    /// The flow was evicted to keep within `max_open_flows`.
    Evicted,
}

/// The tokens of one flow: one row of [`netfound_schema`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowTokens {
    /// The flow table's id.
    pub flow_id: u64,
    /// The flow's Community ID.
    pub community_id: String,
    /// IP protocol number (6, 17, 1 or 58).
    pub protocol: u8,
    /// Microseconds between the first and the latest packet seen when emitted.
    pub flow_duration_us: u64,
    /// The bursts, in order of their first packet.
    pub bursts: Vec<Burst>,
    /// Why the row was emitted.
    pub reason: EmitReason,
}

/// Hashes flow ids, which are dense counters, with one multiplication (Fibonacci
/// hashing); the standard SipHash showed in profiles.
#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(*b)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// A map keyed by flow id.
type IdMap<V> = HashMap<u64, V, BuildHasherDefault<IdHasher>>;

/// Counters of a [`NetfoundTokenizer`], for the stage's metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NetfoundStats {
    /// Packets accepted.
    pub packets: u64,
    /// Packets refused with an error.
    pub packets_rejected: u64,
    /// Packets of flows already emitted early (absorbed, not tokenized).
    pub packets_after_emit: u64,
    /// Flows opened.
    pub flows_opened: u64,
    /// Flows emitted early.
    pub emitted_early: u64,
    /// Flows emitted on close.
    pub emitted_closed: u64,
    /// Flows evicted to respect `max_open_flows`.
    pub evicted: u64,
}

/// A streaming netFound tokenizer: feed packets with [`push`](Self::push),
/// close flows with [`finish`](Self::finish), and turn the emitted
/// [`FlowTokens`] into Arrow with [`to_record_batch`].
///
/// State is bounded by `max_open_flows`. When a new flow would exceed it,
/// the least recently seen flow is evicted; its tokens (if it has any that
/// were not yet emitted) wait in [`take_evicted`](Self::take_evicted).
#[derive(Debug)]
pub struct NetfoundTokenizer {
    config: NetfoundConfig,
    flows: IdMap<FlowState>,
    community_ids: IdMap<String>,
    lru: BTreeMap<u64, u64>,
    next_stamp: u64,
    evicted: Vec<FlowTokens>,
    stats: NetfoundStats,
}

impl NetfoundTokenizer {
    /// A tokenizer with `config`, after checking it.
    pub fn new(config: NetfoundConfig) -> Result<Self, TokenizerError> {
        config.validate()?;
        Ok(NetfoundTokenizer {
            config,
            flows: IdMap::default(),
            community_ids: IdMap::default(),
            lru: BTreeMap::new(),
            next_stamp: 0,
            evicted: Vec::new(),
            stats: NetfoundStats::default(),
        })
    }

    /// The configuration in use.
    pub fn config(&self) -> &NetfoundConfig {
        &self.config
    }

    /// Counters so far.
    pub fn stats(&self) -> NetfoundStats {
        self.stats
    }

    /// Flows currently held.
    pub fn open_flows(&self) -> usize {
        self.flows.len()
    }

    /// Tokenize one packet (`layer` is normally the innermost IP layer) of
    /// `flow`, seen at `ts`. Returns the flow's tokens when this packet
    /// completes its first `emit_after_bursts` bursts.
    ///
    /// A refused packet leaves the state unchanged and says why: an
    /// unsupported or missing transport, a protocol change within the flow,
    /// or addresses that do not involve the originator.
    pub fn push(
        &mut self,
        flow: FlowRef<'_>,
        ts: TimestampUs,
        layer: &NetLayer,
    ) -> Result<Option<FlowTokens>, TokenizerError> {
        let r = self.push_inner(flow, ts, layer);
        if r.is_err() {
            self.stats.packets_rejected += 1;
        }
        r
    }

    fn push_inner(
        &mut self,
        flow: FlowRef<'_>,
        ts: TimestampUs,
        layer: &NetLayer,
    ) -> Result<Option<FlowTokens>, TokenizerError> {
        let flow_id = flow.flow_id;
        let Some(layout) = Layout::of(&layer.transport) else {
            return Err(match (layer.proto, layer.transport) {
                (1 | 6 | 17 | 58, Transport::Other) => {
                    TokenizerError::MissingTransport { flow_id, proto: layer.proto }
                }
                _ => TokenizerError::UnsupportedProtocol { flow_id, proto: layer.proto },
            });
        };
        let from_orig = from_originator(&flow, layer)?;
        if !self.flows.contains_key(&flow_id) {
            if self.flows.len() >= self.config.max_open_flows {
                self.evict_oldest();
            }
            let responder = if from_orig { layer.dst } else { layer.src };
            let fwd_is_orig =
                self.config.is_internal(flow.orig_addr) || !self.config.is_internal(responder);
            self.flows.insert(flow_id, FlowState::new(layer.proto, layout, fwd_is_orig, ts));
            self.community_ids.insert(flow_id, flow.community_id.to_string());
            self.stats.flows_opened += 1;
        }
        let Some(state) = self.flows.get_mut(&flow_id) else { return Ok(None) };
        if state.proto != layer.proto {
            return Err(TokenizerError::ProtocolMismatch {
                flow_id,
                expected: state.proto,
                got: layer.proto,
            });
        }
        let stamp = self.next_stamp;
        self.next_stamp += 1;
        self.lru.remove(&state.stamp);
        state.stamp = stamp;
        self.lru.insert(stamp, flow_id);
        self.stats.packets += 1;
        if state.emitted {
            self.stats.packets_after_emit += 1;
            state.max_ts = state.max_ts.max(ts);
            return Ok(None);
        }
        let dir = from_orig == state.fwd_is_orig;
        state.push(&self.config, dir, ts, layer);
        let Some(n) = self.config.emit_after_bursts else { return Ok(None) };
        if !state.first_bursts_final(&self.config, n, ts) {
            return Ok(None);
        }
        state.emitted = true;
        let mut bursts = std::mem::take(&mut state.bursts);
        bursts.truncate(n);
        self.stats.emitted_early += 1;
        Ok(Some(FlowTokens {
            flow_id,
            community_id: self.community_ids.get(&flow_id).cloned().unwrap_or_default(),
            protocol: state.proto,
            flow_duration_us: state.duration_us(),
            bursts,
            reason: EmitReason::Early,
        }))
    }

    /// Close `flow_id` and return its tokens, unless it was already emitted
    /// early (or is unknown).
    pub fn finish(&mut self, flow_id: u64) -> Option<FlowTokens> {
        let t = self.remove(flow_id, EmitReason::Closed);
        if t.is_some() {
            self.stats.emitted_closed += 1;
        }
        t
    }

    /// Close every open flow (end of input), in flow-id order so output is deterministic.
    pub fn finish_all(&mut self) -> Vec<FlowTokens> {
        let mut ids: Vec<u64> = self.flows.keys().copied().collect();
        ids.sort_unstable();
        ids.into_iter().filter_map(|id| self.finish(id)).collect()
    }

    /// Flows evicted since the last call, with the tokens they had.
    pub fn take_evicted(&mut self) -> Vec<FlowTokens> {
        std::mem::take(&mut self.evicted)
    }

    fn evict_oldest(&mut self) {
        let Some((_, flow_id)) = self.lru.pop_first() else { return };
        self.stats.evicted += 1;
        if let Some(t) = self.remove(flow_id, EmitReason::Evicted) {
            self.evicted.push(t);
        }
    }

    fn remove(&mut self, flow_id: u64, reason: EmitReason) -> Option<FlowTokens> {
        let state = self.flows.remove(&flow_id)?;
        self.lru.remove(&state.stamp);
        let community_id = self.community_ids.remove(&flow_id).unwrap_or_default();
        if state.emitted || state.bursts.is_empty() {
            return None;
        }
        Some(FlowTokens {
            flow_id,
            community_id,
            protocol: state.proto,
            flow_duration_us: state.duration_us(),
            bursts: state.bursts,
            reason,
        })
    }
}

/// Ports of the transport, if it has them.
fn ports(layer: &NetLayer) -> Option<(u16, u16)> {
    match layer.transport {
        Transport::Tcp(t) => Some((t.src_port, t.dst_port)),
        Transport::Udp(u) => Some((u.src_port, u.dst_port)),
        _ => None,
    }
}

/// True when the packet was sent by the flow's originator.
fn from_originator(flow: &FlowRef<'_>, layer: &NetLayer) -> Result<bool, TokenizerError> {
    let (sp, dp) = match ports(layer) {
        Some((s, d)) => (Some(s), Some(d)),
        None => (None, None),
    };
    let src_is_orig = layer.src == flow.orig_addr && sp.is_none_or(|p| p == flow.orig_port);
    let dst_is_orig = layer.dst == flow.orig_addr && dp.is_none_or(|p| p == flow.orig_port);
    match (src_is_orig, dst_is_orig) {
        (true, _) => Ok(true),
        (false, true) => Ok(false),
        (false, false) => Err(TokenizerError::EndpointMismatch {
            flow_id: flow.flow_id,
            src: layer.src,
            dst: layer.dst,
            orig: flow.orig_addr,
        }),
    }
}
