//! The stateful decoder (it owns the IPv4/IPv6 fragment reassembly table).

use super::types::{DecodedPacket, RawPacket};

/// Decoder settings.
#[derive(Debug, Clone)]
pub struct DecoderConfig {
    /// Decapsulate tunnels (GRE, VXLAN, Geneve, Teredo, GTP-U, AYIYA, IP-in-IP).
    pub decapsulate: bool,
    /// Most fragment datagrams kept for reassembly at once.
    pub max_fragment_datagrams: usize,
    /// How long an incomplete datagram is kept, in microseconds.
    pub fragment_timeout_us: i64,
}

impl Default for DecoderConfig {
    fn default() -> Self {
        Self { decapsulate: true, max_fragment_datagrams: 4096, fragment_timeout_us: 30_000_000 }
    }
}

/// Turns frames into [`DecodedPacket`]s. Never panics on malformed input.
#[derive(Debug, Default)]
pub struct Decoder {
    config: DecoderConfig,
}

impl Decoder {
    /// A decoder with the given settings.
    pub fn new(config: DecoderConfig) -> Self {
        Self { config }
    }

    /// Decode one frame.
    pub fn decode(&mut self, raw: &RawPacket<'_>) -> DecodedPacket {
        let _ = &self.config;
        DecodedPacket {
            ts: raw.ts,
            wire_len: raw.wire_len,
            cap_len: raw.data.len() as u32,
            vlan: None,
            inner_vlan: None,
            layers: Vec::new(),
            weirds: Vec::new(),
            held_fragment: false,
        }
    }
}
