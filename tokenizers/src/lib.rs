//! Vigil's tokenizers: records in, model inputs out.
//!
//! Tokenizers are pure and deterministic: the same packets in the same order
//! give the same tokens, and nothing here does I/O. Training data and serving
//! both come from this crate, so they cannot disagree.
//!
//! ```text
//!  vigil-ingest                         vigil-tokenizers                        models
//!  DecodedPacket.innermost() ─(FlowRef, ts, &NetLayer)─► NetfoundTokenizer ─► FlowTokens ─► to_record_batch ─► RecordBatch
//! ```
//!
//! - [`NetfoundTokenizer`] turns the packets of each flow into netFound's
//!   burst tokens ([SNL-UCSB/netFound]): header fields as 16-bit tokens,
//!   grouped in bursts per direction, with per-burst metadata. It is a
//!   streaming state machine with bounded state; a flow is emitted when its
//!   first bursts are final, when it is closed, or when it is evicted.
//! - [`NetfoundConfig`] holds the burst rules (reference values by default),
//!   field selection (payload, TCP options) and the state bounds.
//! - [`FlowTokens`] is one flow's output; [`to_record_batch`] writes a slice
//!   of them as one Arrow [`RecordBatch`](arrow_array::RecordBatch) with
//!   [`netfound_schema`].
//! - [`TokenizerError`] says why a packet or config was refused.
//! - [`TokenStamp`] says how a token file was made (tokenizer settings and the
//!   fingerprint of its vocabulary or preprocessor); `vigil tokenize` writes it into
//!   the file's Parquet metadata and a model's scorer refuses tokens not made its way.
//!
//! [SNL-UCSB/netFound]: https://github.com/SNL-UCSB/netFound
//!
//! ```
//! use std::net::{IpAddr, Ipv4Addr};
//! use vigil_ingest::packet::{Encapsulation, NetLayer, Transport, UdpHeader};
//! use vigil_tokenizers::{FlowRef, NetfoundConfig, NetfoundTokenizer, to_record_batch};
//!
//! let client = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
//! let server = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
//! let query = NetLayer {
//!     encap: Encapsulation::None,
//!     src: client,
//!     dst: server,
//!     proto: 17,
//!     ip_header_len: 20,
//!     ip_total_len: 28,
//!     tos: 0,
//!     ttl: 64,
//!     ip_flags: 2,
//!     ip_id: 1,
//!     reassembled: false,
//!     transport: Transport::Udp(UdpHeader { src_port: 5353, dst_port: 53, length: 8 }),
//!     payload_len: 0,
//!     payload_prefix: [0; 12],
//!     payload_prefix_len: 0,
//!     bad_checksum: false,
//!     l2_len: 0,
//! };
//! let flow = FlowRef { flow_id: 1, community_id: "1:x", orig_addr: client, orig_port: 5353 };
//! let config = NetfoundConfig { payload: false, ..NetfoundConfig::default() };
//! let mut tok = NetfoundTokenizer::new(config)?;
//! assert!(tok.push(flow, 1_000, &query)?.is_none());
//! let tokens = tok.finish(1).expect("the flow had a packet");
//! // CLS, then IP (hl 20, tos 0, len 28, flags 2, ttl 64) and UDP length 8, each +1.
//! assert_eq!(tokens.bursts[0].tokens, vec![65537, 21, 1, 29, 3, 65, 9]);
//! let batch = to_record_batch(&[tokens])?;
//! assert_eq!(batch.num_rows(), 1);
//! # Ok::<(), vigil_tokenizers::TokenizerError>(())
//! ```
#![deny(unsafe_code)]
#![deny(missing_docs)]

pub mod actions;
mod error;
pub mod flow_window;
pub mod netfound;
pub mod stamp;
pub mod variate;

pub use error::TokenizerError;
pub use netfound::{
    Burst, BurstSplit, EmitReason, FlowRef, FlowTokens, IpNetwork, NetfoundConfig, NetfoundStats,
    NetfoundTokenizer, netfound_schema, to_record_batch,
};
pub use stamp::{TokenStamp, TokenizerSettings};
