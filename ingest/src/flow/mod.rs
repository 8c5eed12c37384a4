//! Bidirectional flows with Zeek's semantics.
//!
//! - [`key`](self) — flow keys and the fast hasher;
//! - `lru` — slab with intrusive LRU/timer lists;
//! - `tcp_state`, `history`, `conn_state` — Zeek's TCP state machine, history letters, conn_state;
//! - `icmp` — ICMP type/counterpart "ports"; `ports` — likely server ports;
//! - `community_id`, `uid` — flow identifiers;
//! - `table` — the [`FlowTable`] tying them together.

mod community_id;
mod conn_state;
mod history;
mod icmp;
mod key;
mod lru;
mod ports;
mod record;
mod table;
mod tcp_state;
#[cfg(test)]
mod tests;
mod uid;

pub use community_id::community_id_v1;
pub use ports::{DEFAULT_TCP_SERVER_PORTS, DEFAULT_UDP_SERVER_PORTS};
pub use record::{DirectionStats, EndReason, FlowRecord, FlowSink};
pub use table::{FlowTable, FlowTableConfig, FlowTableStats};
