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
//! - [`CaptureLoop`](capture::CaptureLoop) is the one loop tying them together
//!   (reader → decoder → flow table, with counters, a per-layer observer and the
//!   position of each packet); every command and the runtime read captures with it.
//!
//! ```no_run
//! use vigil_ingest::capture::CaptureLoop;
//! use vigil_ingest::{FlowRecord, PcapReader};
//! let mut capture = CaptureLoop::default();
//! let mut flows: Vec<FlowRecord> = Vec::new();
//! if let Some(e) = capture.read_capture(PcapReader::open("trace.pcap")?, &mut flows) {
//!     eprintln!("cut short: {e}");
//! }
//! let stats = capture.finish(&mut flows);
//! # Ok::<(), vigil_ingest::IngestError>(())
//! ```
#![deny(missing_docs)]

pub mod actions;
pub mod alert_state;
pub mod capture;
pub mod clock_guard;
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
pub mod synth;
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
