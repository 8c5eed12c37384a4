//! The stateful decoder (it owns the IPv4/IPv6 fragment reassembly table).

use super::defrag::Defrag;
use super::link;
use super::types::{DecodedPacket, RawPacket, TimestampUs, Weird};

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

/// Most tunnels decapsulated in one frame (more is a decapsulation bomb).
pub(crate) const MAX_TUNNEL_DEPTH: usize = 4;

/// Turns frames into [`DecodedPacket`]s. Never panics on malformed input.
#[derive(Debug, Default)]
pub struct Decoder {
    config: DecoderConfig,
    defrag: Defrag,
}

impl Decoder {
    /// A decoder with the given settings.
    pub fn new(config: DecoderConfig) -> Self {
        Self { config, defrag: Defrag::default() }
    }

    /// Number of incomplete fragmented datagrams currently held.
    pub fn pending_fragments(&self) -> usize {
        self.defrag.len()
    }

    /// Decode one frame.
    pub fn decode(&mut self, raw: &RawPacket<'_>) -> DecodedPacket {
        let mut out = DecodedPacket {
            ts: raw.ts,
            wire_len: raw.wire_len,
            cap_len: raw.data.len() as u32,
            vlan: None,
            inner_vlan: None,
            layers: Vec::new(),
            weirds: Vec::new(),
            held_fragment: false,
        };
        self.defrag.configure(self.config.max_fragment_datagrams, self.config.fragment_timeout_us);
        let mut ctx = Ctx {
            out: &mut out,
            decapsulate: self.config.decapsulate,
            defrag: &mut self.defrag,
            ts: raw.ts,
            cut: (raw.data.len() as u64) < raw.wire_len as u64,
        };
        link::decode_link(&mut ctx, raw.linktype, raw.data);
        out
    }
}

/// Per-frame decoding state shared by the protocol modules.
pub(crate) struct Ctx<'a> {
    /// The packet being built.
    pub out: &'a mut DecodedPacket,
    /// Whether tunnels are decapsulated.
    pub decapsulate: bool,
    /// The fragment reassembly table.
    pub defrag: &'a mut Defrag,
    /// Frame timestamp.
    pub ts: TimestampUs,
    /// True when the frame was cut by the snap length (missing bytes are expected).
    pub cut: bool,
}

impl Ctx<'_> {
    /// Record a weird without detail.
    pub fn weird(&mut self, name: &'static str) {
        self.out.weirds.push(Weird { name, addl: None });
    }

    /// Record a weird with a detail string.
    pub fn weird_addl(&mut self, name: &'static str, addl: String) {
        self.out.weirds.push(Weird { name, addl: Some(addl) });
    }

    /// Record an 802.1Q tag: the first fills `vlan`, the second `inner_vlan`.
    pub fn set_vlan(&mut self, id: u16) {
        if self.out.vlan.is_none() {
            self.out.vlan = Some(id);
        } else if self.out.inner_vlan.is_none() {
            self.out.inner_vlan = Some(id);
        } else {
            self.weird("triple_tagged_vlan_unsupported");
        }
    }

    /// Number of tunnels already entered.
    pub fn tunnel_depth(&self) -> usize {
        self.out.layers.len().saturating_sub(1)
    }
}
