//! Suricata EVE `flow` events, one JSON object per line
//! (`vigil flows --semantics suricata --format eve`), so that tools written for
//! Suricata's `eve.json` read our flows.
//!
//! Under Suricata semantics our originator is Suricata's `toserver` side (the first
//! packet's sender) and `bytes_*` are whole frames (our `wire_bytes`), as the conformance
//! harness checks against suricata-verify. Fields:
//! - `timestamp` (the flow's end, as Suricata logs a flow when it ends), `flow_id`,
//!   `event_type: "flow"`, `src_ip`/`src_port`/`dest_ip`/`dest_port` (no ports for
//!   ICMP), `proto` (Suricata's name), `vlan`, `community_id`;
//! - `flow`: `pkts_toserver`, `pkts_toclient`, `bytes_toserver`, `bytes_toclient`,
//!   `start`, `end`, `age` (whole seconds), `state` (`new`: one side seen; `closed`: TCP
//!   with a FIN or RST; else `established`), `reason` (`timeout` for an idle, active or
//!   close timeout and a reused tuple, `forced` for an eviction, `shutdown` at the end
//!   of input), `alerted: false`;
//! - `tcp` (TCP only): `tcp_flags`, `tcp_flags_ts`, `tcp_flags_tc` (hex) and a `true`
//!   for each flag seen.
//!
//! Not modelled: `app_proto`, `tcp.state`, `flow.action`, ICMP type and code.

use std::io::{self, Write};

use serde_json::{Map, Value, json};
use vigil_ingest::FlowRecord;
use vigil_ingest::flow::EndReason;

use super::FlowWriter;

/// TCP flag bits by Suricata's names (`tcp.syn`, …).
pub const TCP_FLAGS: [(&str, u8); 8] = [
    ("fin", 0x01),
    ("syn", 0x02),
    ("rst", 0x04),
    ("psh", 0x08),
    ("ack", 0x10),
    ("urg", 0x20),
    ("ecn", 0x40),
    ("cwr", 0x80),
];

/// Suricata's EVE name for an IP protocol (the number when it has none).
pub fn proto_name(p: u8) -> String {
    match p {
        1 => "ICMP".into(),
        2 => "IGMP".into(),
        6 => "TCP".into(),
        17 => "UDP".into(),
        47 => "GRE".into(),
        50 => "ESP".into(),
        51 => "AH".into(),
        58 => "IPv6-ICMP".into(),
        132 => "SCTP".into(),
        other => other.to_string(),
    }
}

/// A time as EVE writes it: `2015-01-10T03:24:43.029061+0000`.
pub fn eve_time(ts_us: i64) -> String {
    let utc = vigil_ingest::time::rfc3339_us(ts_us);
    format!("{}+0000", utc.trim_end_matches('Z'))
}

fn flow_state(f: &FlowRecord) -> &'static str {
    let flags = f.orig.tcp_flags | f.resp.tcp_flags;
    if f.proto == 6 && flags & 0x05 != 0 {
        "closed"
    } else if f.orig.pkts == 0 || f.resp.pkts == 0 {
        "new"
    } else {
        "established"
    }
}

fn reason(r: EndReason) -> &'static str {
    match r {
        EndReason::IdleTimeout
        | EndReason::ActiveTimeout
        | EndReason::Closed
        | EndReason::Reused => "timeout",
        EndReason::Evicted => "forced",
        EndReason::Flush => "shutdown",
    }
}

/// Suricata's order of an event's first keys; the rest follow in name order.
const EVE_KEY_ORDER: [&str; 15] = [
    "timestamp",
    "flow_id",
    "event_type",
    "src_ip",
    "src_port",
    "dest_ip",
    "dest_port",
    "proto",
    "app_proto",
    "flow",
    "tcp",
    "community_id",
    "alert",
    "vigil",
    "host",
];

/// An EVE event as one JSON line, its keys in Suricata's order (`timestamp` first), so
/// that line-oriented parsers written for Suricata's output read it.
pub fn eve_text(mut e: Map<String, Value>) -> String {
    let mut out = String::from("{");
    let mut put = |k: &str, v: &Value| {
        if out.len() > 1 {
            out.push(',');
        }
        out.push_str(&Value::String(k.to_string()).to_string());
        out.push(':');
        out.push_str(&v.to_string());
    };
    for k in EVE_KEY_ORDER {
        if let Some(v) = e.remove(k) {
            put(k, &v);
        }
    }
    for (k, v) in &e {
        put(k, v);
    }
    out.push('}');
    out
}

/// The EVE `flow` event of one flow.
pub fn eve_flow(f: &FlowRecord) -> Value {
    let mut e = Map::new();
    e.insert("timestamp".into(), json!(eve_time(f.ts_end)));
    e.insert("flow_id".into(), json!(f.flow_id));
    e.insert("event_type".into(), json!("flow"));
    e.insert("src_ip".into(), json!(f.orig_h.to_string()));
    let ports = matches!(f.proto, 6 | 17 | 132);
    if ports {
        e.insert("src_port".into(), json!(f.orig_p));
    }
    e.insert("dest_ip".into(), json!(f.resp_h.to_string()));
    if ports {
        e.insert("dest_port".into(), json!(f.resp_p));
    }
    e.insert("proto".into(), json!(proto_name(f.proto)));
    let vlan: Vec<u16> = f.vlan.into_iter().chain(f.inner_vlan).collect();
    if !vlan.is_empty() {
        e.insert("vlan".into(), json!(vlan));
    }
    e.insert(
        "flow".into(),
        json!({
            "pkts_toserver": f.orig.pkts,
            "pkts_toclient": f.resp.pkts,
            "bytes_toserver": f.orig.wire_bytes,
            "bytes_toclient": f.resp.wire_bytes,
            "start": eve_time(f.ts_start),
            "end": eve_time(f.ts_end),
            "age": (f.ts_end - f.ts_start).max(0) / 1_000_000,
            "state": flow_state(f),
            "reason": reason(f.end_reason),
            "alerted": false,
        }),
    );
    if f.proto == 6 {
        let all = f.orig.tcp_flags | f.resp.tcp_flags;
        let mut tcp = Map::new();
        tcp.insert("tcp_flags".into(), json!(format!("{all:02x}")));
        tcp.insert("tcp_flags_ts".into(), json!(format!("{:02x}", f.orig.tcp_flags)));
        tcp.insert("tcp_flags_tc".into(), json!(format!("{:02x}", f.resp.tcp_flags)));
        for (name, bit) in TCP_FLAGS {
            if all & bit != 0 {
                tcp.insert(name.into(), json!(true));
            }
        }
        e.insert("tcp".into(), Value::Object(tcp));
    }
    if !f.community_id.is_empty() {
        e.insert("community_id".into(), json!(f.community_id));
    }
    Value::Object(e)
}

/// Writes one EVE `flow` event per line.
pub struct EveFlowWriter {
    out: io::BufWriter<Box<dyn Write + Send>>,
}

impl EveFlowWriter {
    /// A writer over `out`.
    pub fn new(out: Box<dyn Write + Send>) -> Self {
        Self { out: io::BufWriter::with_capacity(1 << 16, out) }
    }
}

impl FlowWriter for EveFlowWriter {
    fn write(&mut self, flow: &FlowRecord) -> io::Result<()> {
        let Value::Object(e) = eve_flow(flow) else { unreachable!("an object") };
        self.out.write_all(eve_text(e).as_bytes())?;
        self.out.write_all(b"\n")
    }

    fn finish(mut self: Box<Self>) -> io::Result<()> {
        self.out.flush()
    }
}
