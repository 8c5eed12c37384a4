//! Bidirectional flows with Zeek's semantics (one [`FlowRecord`] = one `conn.log` row), or,
//! with [`FlowTableConfig::semantics`] = [`Semantics::Suricata`], Suricata's (one record = one
//! Suricata flow event; the rules and their sources in Suricata are in the `suricata` module).
//!
//! Modules: `key` (canonical 5-tuple + VLAN key, Fx hasher), `lru` (slab threaded on
//! intrusive idle/timer lists), `tcp_state` (Zeek's TCP endpoint state machine, sequence-space
//! sizes, TCP history letters, `WantConnection`, `IsReuse`), `history`, `conn_state`, `icmp`
//! (type/counterpart "ports"), `ports` (`likely_server_ports`), `community_id`, `uid`, and
//! `table`, the [`FlowTable`] tying them together; `suricata` holds the Suricata-only rules.
//!
//! Zeek rules followed:
//! - every IP layer of a packet is a connection (UDP tunnels included), except IP tunnel
//!   headers (GRE, IP-in-IP), which only give their inner connections a tunnel uid; the inner
//!   connection's `tunnel_parents` is the union of the innermost enclosing tunnel per packet;
//!   IPv6 "no next header" and undecodable TCP/UDP/ICMP headers make no connection;
//! - originator = first packet's sender, flipped at creation by the likely-server-port rule
//!   (TCP: not for a pure SYN; both ports likely: flip only a non-SYN toward the lower port;
//!   UDP: source likely and destination not; never toward 255.255.255.255), and mid-stream when
//!   a history of just `H` meets an ACK or data (`^h`), or when a SYN answers a SYN-ACK;
//! - TCP endpoint states, `conn_state`, history letters (`S H A D F R I Q ^`, scaled `T W`),
//!   payload sizes from the sequence space (with 32-bit wraps), UDP `D d` and sizes from the
//!   UDP length, ICMP sizes from the IP payload minus 8, `unknown_transport` with ports 0;
//! - timers: inactivity per protocol (UDP timeout while a TCP connection is in its handshake),
//!   `tcp_attempt_delay` for unanswered SYNs, `tcp_close_delay` after a complete close or reset,
//!   the DNS analyzer's `dns_session_timeout` for UDP DNS, connection reuse by a new SYN;
//!   plus an optional active timeout and an LRU bound.
//!
//! Not modelled: checksum validation (`C`), TCP reassembly (`G`/`g`, `missed_bytes`),
//! analyzer-driven history (`X`, NTP's `^`), close deferral while data is pending.

mod community_id;
mod conn_state;
mod history;
mod icmp;
mod key;
mod lru;
mod ports;
mod record;
mod suricata;
mod table;
mod tcp_state;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_suricata;
mod uid;

pub use community_id::community_id_v1;
pub use ports::{DEFAULT_TCP_SERVER_PORTS, DEFAULT_UDP_SERVER_PORTS};
pub use record::{DirectionStats, EndReason, FlowRecord, FlowSink};
pub use suricata::{Semantics, SuricataConfig};
pub use table::{FlowTable, FlowTableConfig, FlowTableStats, LayerFlow};
pub use uid::{record_uid, sensor_seed};

/// The sensor name when none is given (`vigil flows --sensor`, a topology's
/// `sensor`); the flow table's default uid seed is this sensor's.
pub const DEFAULT_SENSOR: &str = "vigil";
