//! Vigil's readers and decoders.
//!
//! ```text
//!  capture file / iface ──► source::PcapReader ──► RawPacket
//!                                                    │
//!                                   packet::Decoder ─┘──► DecodedPacket (layers, outer → inner)
//!                                                            │
//!                                      flow::FlowTable ──────┘──► FlowRecord ──► FlowSink
//! ```
//!
//! - [`PcapReader`] reads pcap, pcapng (also `.gz`, also stdin) and live
//!   interfaces through libpcap, and yields [`RawPacket`]s with their index.
//! - [`Decoder`] turns a frame into a [`DecodedPacket`]: link layers, VLAN,
//!   MPLS, PPPoE, tunnels, IPv4 reassembly, IPv6 extension headers, transport.
//!   It never panics on bad bytes; anomalies become [`Weird`]s.
//! - [`FlowTable`] builds bidirectional flows with Zeek's originator,
//!   `conn_state` and `history` rules, bounded in memory.
//!
//! ```no_run
//! use vigil_ingest::{Decoder, FlowRecord, FlowTable, FlowTableConfig, PcapReader};
//! let mut reader = PcapReader::open("trace.pcap").unwrap();
//! let mut decoder = Decoder::default();
//! let mut table = FlowTable::new(FlowTableConfig::default());
//! let mut flows: Vec<FlowRecord> = Vec::new();
//! while let Some(pkt) = reader.next_packet().unwrap() {
//!     let decoded = decoder.decode(&pkt.raw());
//!     table.process(&decoded, &mut flows);
//! }
//! table.flush(&mut flows);
//! ```
#![deny(missing_docs)]

pub mod actions;
pub mod data_dir;
pub mod dead_letter;
mod error;
pub mod flow;
pub mod flow_records;
pub mod gzip;
pub mod metrics;
pub mod packet;
pub mod position;
pub mod schema;
pub mod source;
pub mod stage_stats;
pub mod tables;
pub mod time;

pub use dead_letter::{DeadLetter, DeadLetters, MAX_KEPT_DEAD_LETTERS, MAX_RAW_LEN};
pub use error::{IngestError, Result};
pub use flow::{
    DirectionStats, EndReason, FlowRecord, FlowSink, FlowTable, FlowTableConfig, FlowTableStats,
};
pub use packet::{DecodedPacket, Decoder, LinkType, NetLayer, RawPacket, Transport, Weird};
pub use position::Position;
pub use schema::{flows_from_batch, flows_schema, flows_to_batch};
pub use source::{PcapReader, ReadPacket};
