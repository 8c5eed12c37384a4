//! Per-packet header fields and their 16-bit tokens.
//!
//! Every field is written big-endian into `2 × tokens` bytes and cut into
//! 16-bit words, each shifted by +1 so that 0 stays free for padding
//! (reference: `Tokenize.py` `tokenize_fields_df` and
//! `slice_bytes_to_16bit_tokens`, then `netFoundTokenizer.convert_to_tokens`
//! with `add_one=True`). Field order and widths follow
//! `configs/DefaultConfigNoTCPOptions.json` / `DefaultConfigWithTCPOptions.json`:
//!
//! | group | field (tokens) | sum |
//! |---|---|---|
//! | IP | `IP_hl` 1, `IP_tos` 1, `IP_tl` 1, `IP_Flags` 1, `IP_ttl` 1 | 5 |
//! | TCP | `TCP_Flags` 1, `TCP_wsize` 1, `TCP_seq` 2, `TCP_ackn` 2, `TCP_urp` 1 | 7 |
//! | TCP options (optional) | `TCP_options` 20 (40 bytes, zero-padded) | 20 |
//! | UDP | `UDP_len` 1 | 1 |
//! | ICMP | `ICMP_type` 1, `ICMP_code` 1 | 2 |
//! | payload (optional) | `Payload` 6 (first 12 bytes, zero-padded) | 6 |
//!
//! So a packet is TCP 5 + 7 = 12, UDP 5 + 1 = 6, ICMP 5 + 2 = 7 tokens without
//! payload, matching `PROTOCOLS_LENGTH_WITHOUT_PAYLOAD` in
//! `src/modules/netFoundTokenizer.py`; +6 with payload, +20 for TCP options.
//!
//! Where we differ from `3_field_extraction.cpp`, on purpose:
//! - `IP_hl` of IPv6 counts extension headers (the reference always writes 40);
//! - the ICMP payload is the bytes after the 8-byte ICMP header for every
//!   type (the reference does that for echo only, and starts at the ICMP
//!   type byte for other messages);
//! - ICMPv6 gets the ICMP layout (the reference refuses protocol 58) and
//!   keeps protocol 58 in the output; netFound's protocol embedding only
//!   covers 1, 6 and 17, so a scorer must map or skip it;
//! - `IP_tl` saturates at 65 535 for a reassembled jumbo datagram (the
//!   reference's `to_bytes(2)` would raise); the burst's `bytes` keep the
//!   real length.

use vigil_ingest::{NetLayer, Transport};

/// Padding id (the reference's `pad_token_id`).
pub const PAD_TOKEN: u32 = 0;
/// Classification id put at the start of each burst (`bos_token_id`, aka CLS).
pub const CLS_TOKEN: u32 = 65537;
/// Mask id used by masked-token pretraining (`mask_token`).
pub const MASK_TOKEN: u32 = 65538;
/// End-of-sequence id (`eos_token_id`).
pub const EOS_TOKEN: u32 = 65540;
/// Tokens of the IP fields.
pub const IP_TOKENS: usize = 5;
/// Tokens of the TCP fields without options.
pub const TCP_TOKENS: usize = 7;
/// Tokens of the TCP options block.
pub const TCP_OPTIONS_TOKENS: usize = 20;
/// Tokens of the UDP fields.
pub const UDP_TOKENS: usize = 1;
/// Tokens of the ICMP fields.
pub const ICMP_TOKENS: usize = 2;
/// Tokens of the payload prefix.
pub const PAYLOAD_TOKENS: usize = 6;

/// The field layout a transport header gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Layout {
    /// IP + TCP fields.
    Tcp,
    /// IP + UDP fields.
    Udp,
    /// IP + ICMP fields (ICMPv6 uses the same layout).
    Icmp,
}

impl Layout {
    /// The layout of a decoded transport, if netFound has one.
    pub fn of(transport: &Transport) -> Option<Layout> {
        match transport {
            Transport::Tcp(_) => Some(Layout::Tcp),
            Transport::Udp(_) => Some(Layout::Udp),
            Transport::Icmp(_) | Transport::Icmpv6(_) => Some(Layout::Icmp),
            Transport::Sctp(_) | Transport::Other => None,
        }
    }

    /// Tokens per packet: IP fields + transport fields (+ options) (+ payload).
    pub fn tokens_per_packet(self, payload: bool, tcp_options: bool) -> usize {
        let transport = match self {
            Layout::Tcp => TCP_TOKENS + if tcp_options { TCP_OPTIONS_TOKENS } else { 0 },
            Layout::Udp => UDP_TOKENS,
            Layout::Icmp => ICMP_TOKENS,
        };
        IP_TOKENS + transport + if payload { PAYLOAD_TOKENS } else { 0 }
    }
}

/// One 16-bit field value as a token.
#[inline]
fn tok(v: u16) -> u32 {
    u32::from(v) + 1
}

/// A 32-bit value as two tokens, high word first.
#[inline]
fn push_u32(out: &mut Vec<u32>, v: u32) {
    out.push(tok((v >> 16) as u16));
    out.push(tok(v as u16));
}

/// Bytes as big-endian 16-bit tokens (`bytes.len()` must be even).
#[inline]
fn push_bytes(out: &mut Vec<u32>, bytes: &[u8]) {
    out.extend(bytes.chunks_exact(2).map(|w| tok(u16::from_be_bytes([w[0], w[1]]))));
}

/// What the caller works out per packet beyond the header itself.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PacketContext {
    /// TCP sequence number relative to its direction's base.
    pub rel_seq: u32,
    /// TCP acknowledgement number relative to the other direction's base.
    pub rel_ack: u32,
}

/// Append the tokens of one packet to `out`. Returns `false` (and appends
/// nothing) when the transport has no layout.
///
/// The IP total length is saturated at 65 535 (one 16-bit token, as in the
/// reference); only a reassembled jumbo datagram can exceed it.
pub fn packet_tokens(
    layer: &NetLayer,
    cx: PacketContext,
    payload: bool,
    tcp_options: bool,
    out: &mut Vec<u32>,
) -> bool {
    if Layout::of(&layer.transport).is_none() {
        return false;
    }
    out.push(tok(layer.ip_header_len));
    out.push(tok(u16::from(layer.tos)));
    out.push(tok(u16::try_from(layer.ip_total_len).unwrap_or(u16::MAX)));
    out.push(tok(u16::from(layer.ip_flags)));
    out.push(tok(u16::from(layer.ttl)));
    match &layer.transport {
        Transport::Tcp(t) => {
            out.push(tok(u16::from(t.flags)));
            out.push(tok(t.window));
            push_u32(out, cx.rel_seq);
            push_u32(out, cx.rel_ack);
            out.push(tok(t.urgent));
            if tcp_options {
                let mut opts = [0u8; 40];
                let n = usize::from(t.options_len).min(t.options.len()).min(opts.len());
                opts[..n].copy_from_slice(&t.options[..n]);
                push_bytes(out, &opts);
            }
        }
        Transport::Udp(u) => out.push(tok(u.length)),
        Transport::Icmp(i) | Transport::Icmpv6(i) => {
            out.push(tok(u16::from(i.icmp_type)));
            out.push(tok(u16::from(i.code)));
        }
        // Refused by `Layout::of` above.
        Transport::Sctp(_) | Transport::Other => {}
    }
    if payload {
        let mut p = [0u8; 12];
        let n = usize::from(layer.payload_prefix_len).min(layer.payload_prefix.len()).min(12);
        p[..n].copy_from_slice(&layer.payload_prefix[..n]);
        push_bytes(out, &p);
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_match_the_reference_table() {
        // netFoundTokenizer.py PROTOCOLS_LENGTH_WITHOUT_PAYLOAD = {6: 12, 1: 7, 17: 6}.
        assert_eq!(Layout::Tcp.tokens_per_packet(false, false), 12);
        assert_eq!(Layout::Udp.tokens_per_packet(false, false), 6);
        assert_eq!(Layout::Icmp.tokens_per_packet(false, false), 7);
        // max_burst_length = 108 + 1 in netFoundConfigBase.py: 6 TCP packets × 18 + CLS.
        assert_eq!(6 * Layout::Tcp.tokens_per_packet(true, false) + 1, 109);
        assert_eq!(Layout::Tcp.tokens_per_packet(true, true), 38);
    }

    #[test]
    fn words_are_big_endian_and_shifted() {
        let mut out = Vec::new();
        push_u32(&mut out, 0x0001_0002);
        push_bytes(&mut out, &[0xab, 0xcd]);
        assert_eq!(out, vec![2, 3, 0xabcd + 1]);
        let mut out = Vec::new();
        push_u32(&mut out, u32::MAX);
        assert_eq!(out, vec![65536, 65536]);
    }
}
