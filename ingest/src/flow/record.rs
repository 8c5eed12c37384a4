//! The finished flow: one row of `conn.log`, one row of the `flows` table.

use std::net::IpAddr;

use crate::packet::TimestampUs;

/// Why the flow table emitted a flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EndReason {
    /// No packet for the protocol's idle timeout.
    IdleTimeout,
    /// The flow lived longer than the active timeout and was cut.
    ActiveTimeout,
    /// TCP close (FIN/RST) observed and the close delay passed.
    Closed,
    /// Evicted to keep the table under its size limit (least recently used).
    Evicted,
    /// End of input: every open flow is flushed.
    Flush,
    /// A new connection reused the same 5-tuple (e.g. SYN after a completed one).
    Reused,
}

/// Counters for one direction of a flow.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DirectionStats {
    /// Packets seen.
    pub pkts: u64,
    /// Payload bytes as Zeek reports them (TCP: from the sequence space; other: sum of payloads).
    pub bytes: u64,
    /// Sum of IP lengths (Zeek `ip_bytes`).
    pub ip_bytes: u64,
    /// Sum of on-the-wire frame lengths, link layer included (nDPI semantics). Under
    /// `Semantics::Suricata`, a tunnelled flow counts Suricata's decapsulated packet instead
    /// (`NetLayer::ip_total_len + NetLayer::l2_len`), and an ICMP error attached to the flow
    /// counts its own frame.
    pub wire_bytes: u64,
    /// OR of every TCP flag byte seen.
    pub tcp_flags: u8,
}

/// A finished bidirectional flow. Orientation follows Zeek: `orig` is the originator.
#[derive(Debug, Clone, PartialEq)]
pub struct FlowRecord {
    /// Unique within one run (monotonic), used to join scores back to flows.
    pub flow_id: u64,
    /// Zeek-style uid (`C` + base62), deterministic within a run.
    pub uid: String,
    /// Community ID v1 (`1:` + base64 SHA-1), seed 0.
    pub community_id: String,
    /// First packet timestamp.
    pub ts_start: TimestampUs,
    /// Last packet timestamp.
    pub ts_end: TimestampUs,
    /// Originator address.
    pub orig_h: IpAddr,
    /// Originator port (ICMP: type).
    pub orig_p: u16,
    /// Responder address.
    pub resp_h: IpAddr,
    /// Responder port (ICMP: code, or the counterpart type).
    pub resp_p: u16,
    /// IP protocol number.
    pub proto: u8,
    /// Outer VLAN id.
    pub vlan: Option<u16>,
    /// Inner VLAN id.
    pub inner_vlan: Option<u16>,
    /// Originator → responder counters.
    pub orig: DirectionStats,
    /// Responder → originator counters.
    pub resp: DirectionStats,
    /// Zeek `conn_state` (S0, S1, SF, REJ, S2, S3, RSTO, RSTR, RSTOS0, RSTRH, SH, SHR, OTH).
    pub conn_state: &'static str,
    /// Zeek `history` string.
    pub history: String,
    /// Zeek `missed_bytes` (TCP sequence gaps).
    pub missed_bytes: u64,
    /// uids of the tunnels the flow was seen through, as Zeek's `tunnel_parents`: for each
    /// packet the innermost enclosing tunnel (a UDP tunnel's flow, or a GRE/IP-in-IP tunnel,
    /// which has a uid but no flow of its own), unioned over the flow's life in order of first
    /// appearance; empty when not tunnelled.
    pub tunnel_parents: Vec<String>,
    /// Why the flow was emitted.
    pub end_reason: EndReason,
}

impl FlowRecord {
    /// Duration in microseconds.
    pub fn duration_us(&self) -> i64 {
        self.ts_end - self.ts_start
    }

    /// Zeek's `proto` column: `tcp`, `udp`, `icmp` or `unknown_transport`.
    pub fn proto_name(&self) -> &'static str {
        match self.proto {
            6 => "tcp",
            17 => "udp",
            1 | 58 => "icmp",
            _ => "unknown_transport",
        }
    }
}

/// Receives flows as the table finishes them (the table never learns where they go).
pub trait FlowSink {
    /// Called once per finished flow, in the order flows end.
    fn flow(&mut self, flow: FlowRecord);
}

impl FlowSink for Vec<FlowRecord> {
    fn flow(&mut self, flow: FlowRecord) {
        self.push(flow);
    }
}

impl<F: FnMut(FlowRecord)> FlowSink for F {
    fn flow(&mut self, flow: FlowRecord) {
        self(flow)
    }
}
