//! The flow table: keyed by 5-tuple + VLAN, bounded, with Zeek's timeouts.

use super::record::FlowSink;
use crate::packet::{DecodedPacket, TimestampUs};

/// Flow table settings. Timeouts default to Zeek's.
#[derive(Debug, Clone)]
pub struct FlowTableConfig {
    /// TCP idle timeout (Zeek `tcp_inactivity_timeout`, 5 min), µs.
    pub tcp_idle_us: i64,
    /// UDP idle timeout (Zeek `udp_inactivity_timeout`, 1 min), µs.
    pub udp_idle_us: i64,
    /// ICMP idle timeout (Zeek `icmp_inactivity_timeout`, 1 min), µs.
    pub icmp_idle_us: i64,
    /// Idle timeout for other IP protocols (1 min), µs.
    pub other_idle_us: i64,
    /// Cut flows older than this (none by default, as in Zeek), µs.
    pub active_timeout_us: Option<i64>,
    /// Most flows held at once; the least recently used is evicted beyond it.
    pub max_flows: usize,
}

impl Default for FlowTableConfig {
    fn default() -> Self {
        Self {
            tcp_idle_us: 300_000_000,
            udp_idle_us: 60_000_000,
            icmp_idle_us: 60_000_000,
            other_idle_us: 60_000_000,
            active_timeout_us: None,
            max_flows: 1_000_000,
        }
    }
}

/// Counters kept by the table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlowTableStats {
    /// Flows currently held.
    pub active: u64,
    /// Flows created.
    pub created: u64,
    /// Flows emitted.
    pub emitted: u64,
    /// Flows evicted by the size limit.
    pub evicted: u64,
    /// Flows expired by idle timeout.
    pub idle_expired: u64,
    /// Flows cut by the active timeout.
    pub active_expired: u64,
    /// Packets that carried no IP layer (not part of any flow).
    pub non_ip_packets: u64,
}

/// Builds flows from decoded packets.
#[derive(Debug)]
pub struct FlowTable {
    config: FlowTableConfig,
    stats: FlowTableStats,
}

impl FlowTable {
    /// An empty table.
    pub fn new(config: FlowTableConfig) -> Self {
        Self { config, stats: FlowTableStats::default() }
    }

    /// Account one packet, emitting any flows it ends.
    pub fn process(&mut self, pkt: &DecodedPacket, sink: &mut impl FlowSink) {
        let _ = (pkt, sink, &self.config);
    }

    /// Expire flows idle (or active) past their timeout at time `now`.
    pub fn advance(&mut self, now: TimestampUs, sink: &mut impl FlowSink) {
        let _ = (now, sink);
    }

    /// Emit every open flow (end of input).
    pub fn flush(&mut self, sink: &mut impl FlowSink) {
        let _ = sink;
    }

    /// Counters so far.
    pub fn stats(&self) -> FlowTableStats {
        self.stats
    }
}
