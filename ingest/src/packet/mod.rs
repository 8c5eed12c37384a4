//! Packet decoding: link layer → IP layers (outer to inner) → transport.
//!
//! - `link` dispatches on the capture link type (NULL/LOOP, raw IP,
//!   SLL/SLL2, PPP, Cisco HDLC, NFLOG); 802.11, radiotap and PPI are in `wlan`.
//! - `l2`: Ethernet, VLAN/Q-in-Q, MPLS, PPPoE, PBB, FabricPath, VN-Tag, LLC/SNAP.
//! - `ip`: IPv4/IPv6 and extension headers; `defrag`: fragment reassembly.
//! - `transport`: TCP, UDP, ICMP, ICMPv6, SCTP; `tunnel`: decapsulation.
//! - [`oracle`]: compares our decoding of a frame with etherparse's (differential testing).
//!
//! All parsing is bounds-checked over `&[u8]`; anomalies become weirds.

mod bytes;
mod checksum;
mod decoder;
mod defrag;
mod ip;
mod l2;
mod link;
pub mod oracle;
mod transport;
mod tunnel;
mod types;
mod wlan;

pub use decoder::{Decoder, DecoderConfig};
pub use types::*;
