//! Per-flow state: directions, burst splitting, TCP sequence bases.
//!
//! Follows `Tokenize.py` `get_bursts_from_flow_file`, `split_based_on_iat`
//! and `tokenize_file`, reworked for one packet at a time:
//!
//! - bursts are split per direction (a packet more than `burst_gap_us` after
//!   the previous packet *of its direction* starts a new one) and ordered by
//!   their first packet, which is arrival order here;
//! - splitting sees every packet, and only then are the first `max_bursts`
//!   bursts and the first `max_packets_per_burst` packets of each kept
//!   (`bursts["burstID"] < FLOW_SIZE_LIMIT`, `groupby(...).head(BURST_SIZE_LIMIT)`);
//! - a burst's bytes and count cover its kept packets only (the aggregation
//!   runs after `head`), its IAT is the time since the previous burst *of the
//!   same direction* started (0 for the first), in microseconds.

use vigil_ingest::packet::TimestampUs;
use vigil_ingest::{NetLayer, Transport};

use super::config::{BurstSplit, NetfoundConfig};
use super::fields::{CLS_TOKEN, Layout, PacketContext, packet_tokens};

/// One burst of a flow: its tokens and the metadata netFound embeds with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Burst {
    /// Tokens: CLS (when configured) then each kept packet's field tokens.
    pub tokens: Vec<u32>,
    /// True for the forward direction (sent by the internal side, else by the originator).
    pub direction: bool,
    /// Sum of the kept packets' IP total lengths.
    pub bytes: u32,
    /// Microseconds since the previous burst of the same direction started (0 for the first).
    pub iat_us: u64,
    /// Packets kept in the burst.
    pub packets: u32,
    /// Timestamp of the burst's first packet.
    pub ts_start: TimestampUs,
}

/// The open burst of one direction.
#[derive(Debug, Clone, Copy)]
struct OpenBurst {
    /// Index into `FlowState::bursts`, or `None` when the flow was already full.
    index: Option<usize>,
    /// Timestamp of the direction's latest packet.
    last_ts: TimestampUs,
}

/// The state of one open flow.
#[derive(Debug)]
pub(crate) struct FlowState {
    pub(crate) proto: u8,
    pub(crate) layout: Layout,
    /// True when the originator's packets are the forward direction.
    pub(crate) fwd_is_orig: bool,
    pub(crate) min_ts: TimestampUs,
    pub(crate) max_ts: TimestampUs,
    pub(crate) bursts: Vec<Burst>,
    open: [Option<OpenBurst>; 2],
    prev_burst_start: [Option<TimestampUs>; 2],
    last_dir: Option<bool>,
    /// TCP: first sequence number seen for each endpoint (index: forward = 1).
    seq_base: [Option<u32>; 2],
    /// Already emitted early: later packets are only counted.
    pub(crate) emitted: bool,
    /// LRU stamp.
    pub(crate) stamp: u64,
}

impl FlowState {
    pub(crate) fn new(proto: u8, layout: Layout, fwd_is_orig: bool, ts: TimestampUs) -> Self {
        FlowState {
            proto,
            layout,
            fwd_is_orig,
            min_ts: ts,
            max_ts: ts,
            bursts: Vec::new(),
            open: [None, None],
            prev_burst_start: [None, None],
            last_dir: None,
            seq_base: [None, None],
            emitted: false,
            stamp: 0,
        }
    }

    /// Flow duration so far in microseconds (latest minus earliest timestamp).
    pub(crate) fn duration_us(&self) -> u64 {
        u64::try_from(self.max_ts.saturating_sub(self.min_ts)).unwrap_or(0)
    }

    /// TCP relative numbers: seq against the first seq of this direction, ack
    /// against the first seq of the other direction. Before the other side has
    /// sent anything, a non-zero ack becomes that side's base (a capture
    /// started mid-connection), as `3_field_extraction.cpp` lines 239-265 do.
    fn tcp_context(&mut self, dir: bool, seq: u32, ack: u32) -> PacketContext {
        let (me, peer) = (usize::from(dir), usize::from(!dir));
        let seq_base = *self.seq_base[me].get_or_insert(seq);
        let rel_ack = match self.seq_base[peer] {
            Some(base) => ack.wrapping_sub(base),
            None if ack != 0 => {
                self.seq_base[peer] = Some(ack);
                0
            }
            None => 0,
        };
        PacketContext { rel_seq: seq.wrapping_sub(seq_base), rel_ack }
    }

    /// Add one packet. `dir` is true for forward. Timestamps that go backwards
    /// are treated as simultaneous with the latest packet (gaps never negative).
    pub(crate) fn push(
        &mut self,
        config: &NetfoundConfig,
        dir: bool,
        ts: TimestampUs,
        layer: &NetLayer,
    ) {
        self.min_ts = self.min_ts.min(ts);
        self.max_ts = self.max_ts.max(ts);
        let d = usize::from(dir);
        let cx = match layer.transport {
            Transport::Tcp(t) => self.tcp_context(dir, t.seq, t.ack),
            _ => PacketContext::default(),
        };
        let direction_changed = self.last_dir.is_some_and(|l| l != dir);
        self.last_dir = Some(dir);
        let new_burst = match self.open[d] {
            None => true,
            Some(o) => {
                ts.saturating_sub(o.last_ts) > config.burst_gap_us
                    || (config.burst_split == BurstSplit::OnDirectionChange && direction_changed)
            }
        };
        if new_burst {
            let iat_us = self.prev_burst_start[d]
                .map_or(0, |p| u64::try_from(ts.saturating_sub(p)).unwrap_or(0));
            self.prev_burst_start[d] = Some(ts);
            let index = (self.bursts.len() < config.max_bursts && !self.emitted).then(|| {
                let per_packet = self.layout.tokens_per_packet(config.payload, config.tcp_options);
                let mut tokens = Vec::with_capacity(per_packet * config.max_packets_per_burst + 1);
                if config.prepend_cls {
                    tokens.push(CLS_TOKEN);
                }
                self.bursts.push(Burst {
                    tokens,
                    direction: dir,
                    bytes: 0,
                    iat_us,
                    packets: 0,
                    ts_start: ts,
                });
                self.bursts.len() - 1
            });
            self.open[d] = Some(OpenBurst { index, last_ts: ts });
        } else if let Some(o) = &mut self.open[d] {
            o.last_ts = o.last_ts.max(ts);
        }
        let Some(i) = self.open[d].and_then(|o| o.index) else { return };
        let Some(b) = self.bursts.get_mut(i) else { return };
        if (b.packets as usize) < config.max_packets_per_burst {
            packet_tokens(layer, cx, config.payload, config.tcp_options, &mut b.tokens);
            b.bytes = b.bytes.saturating_add(layer.ip_total_len);
            b.packets += 1;
        }
    }

    /// True when the first `n` bursts exist and none of them can change any
    /// more, judged at time `now`: each is full, or its direction has moved on
    /// to a newer burst, or more than the gap has passed since its direction's
    /// latest packet (or, with [`BurstSplit::OnDirectionChange`], the latest
    /// packet went the other way).
    pub(crate) fn first_bursts_final(
        &self,
        config: &NetfoundConfig,
        n: usize,
        now: TimestampUs,
    ) -> bool {
        if self.bursts.len() < n {
            return false;
        }
        self.bursts[..n].iter().enumerate().all(|(i, b)| {
            let d = usize::from(b.direction);
            let full = b.packets as usize >= config.max_packets_per_burst;
            match self.open[d] {
                Some(o) if o.index == Some(i) => {
                    full || now.saturating_sub(o.last_ts) > config.burst_gap_us
                        || (config.burst_split == BurstSplit::OnDirectionChange
                            && self.last_dir != Some(b.direction))
                }
                _ => true,
            }
        })
    }
}
