//! The part of a [`FlowRecord`] the comparisons use.
//!
//! The comparisons work on [`OurFlow`], a copy of the few `FlowRecord` fields they need, so
//! that `FlowRecord` can grow without touching this module or its tests.

use std::net::IpAddr;

use serde::Serialize;
use vigil_ingest::{DirectionStats, FlowRecord};

/// One direction's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct DirView {
    /// Packets.
    pub pkts: u64,
    /// Payload bytes (Zeek `orig_bytes`/`resp_bytes`).
    pub bytes: u64,
    /// Sum of IP lengths (Zeek `ip_bytes`).
    pub ip_bytes: u64,
    /// Sum of frame lengths on the wire (nDPI, Suricata).
    pub wire_bytes: u64,
    /// OR of the TCP flags seen.
    pub tcp_flags: u8,
}

impl From<&DirectionStats> for DirView {
    fn from(d: &DirectionStats) -> Self {
        Self {
            pkts: d.pkts,
            bytes: d.bytes,
            ip_bytes: d.ip_bytes,
            wire_bytes: d.wire_bytes,
            tcp_flags: d.tcp_flags,
        }
    }
}

/// Our flow as the comparisons see it (Zeek orientation: `orig` is the originator).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OurFlow {
    /// Zeek-style uid.
    pub uid: String,
    /// Originator address.
    pub orig_h: IpAddr,
    /// Originator port (ICMP: type).
    pub orig_p: u16,
    /// Responder address.
    pub resp_h: IpAddr,
    /// Responder port.
    pub resp_p: u16,
    /// IP protocol number.
    pub proto: u8,
    /// Outer VLAN id.
    pub vlan: Option<u16>,
    /// Originator → responder.
    pub orig: DirView,
    /// Responder → originator.
    pub resp: DirView,
    /// Zeek `conn_state`.
    pub conn_state: String,
    /// Zeek `history`.
    pub history: String,
    /// uids of enclosing tunnel flows (empty when not tunnelled).
    pub tunnel_parents: Vec<String>,
}

impl OurFlow {
    /// Copy the fields we use out of a `FlowRecord`.
    pub fn from_record(r: &FlowRecord) -> Self {
        Self {
            uid: r.uid.clone(),
            orig_h: r.orig_h,
            orig_p: r.orig_p,
            resp_h: r.resp_h,
            resp_p: r.resp_p,
            proto: r.proto,
            vlan: r.vlan,
            orig: (&r.orig).into(),
            resp: (&r.resp).into(),
            conn_state: r.conn_state.to_string(),
            history: r.history.clone(),
            tunnel_parents: r.tunnel_parents.clone(),
        }
    }

    /// A bare flow for tests and examples: given tuple, zero counters, state `OTH`.
    pub fn new(orig: (&str, u16), resp: (&str, u16), proto: u8) -> Self {
        Self {
            uid: String::new(),
            orig_h: orig.0.parse().expect("orig address"),
            orig_p: orig.1,
            resp_h: resp.0.parse().expect("resp address"),
            resp_p: resp.1,
            proto,
            vlan: None,
            orig: DirView::default(),
            resp: DirView::default(),
            conn_state: "OTH".into(),
            history: String::new(),
            tunnel_parents: Vec::new(),
        }
    }

    /// Set per-direction packet counts (builder, for tests).
    pub fn with_pkts(mut self, orig: u64, resp: u64) -> Self {
        self.orig.pkts = orig;
        self.resp.pkts = resp;
        self
    }

    /// Whether Zeek flipped the originator away from the first packet's sender (`^` in history).
    pub fn flipped(&self) -> bool {
        self.history.contains('^')
    }

    /// Whether the flow was seen inside a tunnel.
    pub fn tunnelled(&self) -> bool {
        !self.tunnel_parents.is_empty()
    }

    /// Compact one-line description: `tcp 1.2.3.4:5 > 6.7.8.9:80`.
    pub fn tuple_string(&self) -> String {
        format!(
            "{} {} > {}",
            proto_label(self.proto),
            endpoint(self.orig_h, self.orig_p),
            endpoint(self.resp_h, self.resp_p)
        )
    }
}

/// `1.2.3.4:80` / `[::1]:80`.
pub(crate) fn endpoint(h: IpAddr, p: u16) -> String {
    match h {
        IpAddr::V4(a) => format!("{a}:{p}"),
        IpAddr::V6(a) => format!("[{a}]:{p}"),
    }
}

/// Short protocol label for reports.
pub(crate) fn proto_label(proto: u8) -> String {
    match proto {
        1 => "icmp".into(),
        6 => "tcp".into(),
        17 => "udp".into(),
        58 => "icmp6".into(),
        132 => "sctp".into(),
        p => format!("ip{p}"),
    }
}

/// Whether the protocol has ports in the tuple (TCP, UDP, SCTP).
pub(crate) fn has_ports(proto: u8) -> bool {
    matches!(proto, 6 | 17 | 132)
}
