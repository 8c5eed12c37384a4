//! [`FlowTuple`]: the identity of one flow (id, start time and 5-tuple).

use std::net::IpAddr;

/// Which flow a record is: its id, start time and 5-tuple.
///
/// Shared by [`FlowFeatures`](super::FlowFeatures) and the flow windows built
/// from them. Every part but the id is optional: NF-v2 has no timestamp and
/// UNSW-NB15 no addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct FlowTuple {
    /// Identifies the flow within its source: the `FlowRecord::flow_id`, or the CSV line number.
    pub flow_id: u64,
    /// Flow start time, µs since the Unix epoch (UTC); `None` when the source has none (NF-v2).
    pub ts_us: Option<i64>,
    /// Source (originator) address.
    pub src_addr: Option<IpAddr>,
    /// Source port.
    pub src_port: Option<u16>,
    /// Destination (responder) address.
    pub dst_addr: Option<IpAddr>,
    /// Destination port.
    pub dst_port: Option<u16>,
    /// IP protocol number.
    pub proto: Option<u8>,
}
