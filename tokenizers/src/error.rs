//! The crate's one error type.

use std::net::IpAddr;

use arrow_schema::ArrowError;

/// Everything a tokenizer can refuse.
///
/// Variants say who has to act: [`TokenizerError::Config`] is for the user,
/// the per-packet variants describe bad input (count it or dead-letter it,
/// the tokenizer state is left unchanged), and [`TokenizerError::Arrow`] is
/// a failure to assemble the output batch.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TokenizerError {
    /// The configuration cannot work (for example `max_bursts = 0`).
    #[error("invalid netFound tokenizer config: {0}")]
    Config(String),
    /// The packet's transport has no netFound field layout.
    #[error(
        "flow {flow_id}: IP protocol {proto} has no netFound field layout (only TCP, UDP, ICMP and ICMPv6 do)"
    )]
    UnsupportedProtocol {
        /// The flow the packet was pushed for.
        flow_id: u64,
        /// The packet's IP protocol number.
        proto: u8,
    },
    /// The protocol says TCP, UDP or ICMP but the transport header was not decoded (truncated).
    #[error("flow {flow_id}: IP protocol {proto} but the transport header is missing or truncated")]
    MissingTransport {
        /// The flow the packet was pushed for.
        flow_id: u64,
        /// The packet's IP protocol number.
        proto: u8,
    },
    /// A packet of another protocol was pushed for an open flow.
    #[error(
        "flow {flow_id}: packet has IP protocol {got}, but the flow started as protocol {expected}"
    )]
    ProtocolMismatch {
        /// The flow the packet was pushed for.
        flow_id: u64,
        /// The protocol of the flow's first packet.
        expected: u8,
        /// The protocol of this packet.
        got: u8,
    },
    /// Neither end of the packet is the flow's originator.
    #[error("flow {flow_id}: packet {src} -> {dst} does not involve the flow originator {orig}")]
    EndpointMismatch {
        /// The flow the packet was pushed for.
        flow_id: u64,
        /// Packet source address.
        src: IpAddr,
        /// Packet destination address.
        dst: IpAddr,
        /// The originator address given in the flow reference.
        orig: IpAddr,
    },
    /// The iTransformer window configuration cannot work (for example `lookback = 0`).
    #[error("invalid variate tokenizer config: {0}")]
    VariateConfig(String),
    /// A step or forecast has the wrong number of variates.
    #[error("expected {expected} variates, got {got} values")]
    VariateShape {
        /// Variates the tokenizer or the statistics have.
        expected: usize,
        /// Values given (or the remainder that did not divide evenly).
        got: usize,
    },
    /// A step's time is not after the previous step's.
    #[error("step at {got} µs is not after the previous step at {previous} µs")]
    NonIncreasingTime {
        /// The previous step's time.
        previous: i64,
        /// The refused step's time.
        got: i64,
    },
    /// The HSTU sequence configuration cannot work (for example `max_len = 0`).
    #[error("invalid HSTU action sequence config: {0}")]
    ActionConfig(String),
    /// An action vocabulary could not be fitted or read back (bad size, bad JSON).
    #[error("HSTU action vocabulary: {0}")]
    Vocab(String),
    /// The flow-window configuration cannot work (for example `window = 0`).
    #[error("invalid flow-window config: {0}")]
    FlowWindowConfig(String),
    /// A record's feature names differ from those the preprocessor was fitted on.
    #[error("flow {flow_id}: features do not match the preprocessor: {message}")]
    FeatureMismatch {
        /// The record's flow id.
        flow_id: u64,
        /// Which names differ.
        message: String,
    },
    /// A saved preprocessor could not be read back.
    #[error("preprocessor JSON: {0}")]
    PreprocessorJson(String),
    /// A token file's stamp (its `vigil.tokenizer` metadata) could not be read.
    #[error("token file metadata: {0}")]
    Stamp(String),
    /// Building the Arrow output failed.
    #[error("building the netFound record batch: {0}")]
    Arrow(#[from] ArrowError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_stays_small() {
        assert!(
            std::mem::size_of::<TokenizerError>() <= 64,
            "{}",
            std::mem::size_of::<TokenizerError>()
        );
    }
}
