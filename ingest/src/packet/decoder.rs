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
    /// Verify IPv4 header and TCP/UDP/ICMP checksums, as Zeek does unless run
    /// with `-C`. A bad IPv4 header drops the packet; a bad transport checksum
    /// marks the layer [`NetLayer::bad_checksum`](super::NetLayer::bad_checksum)
    /// and stops decapsulation. Off by default: captures taken on a host with
    /// checksum offload carry bad checksums on every packet it sent.
    pub verify_checksums: bool,
}

impl Default for DecoderConfig {
    fn default() -> Self {
        Self {
            decapsulate: true,
            max_fragment_datagrams: 4096,
            fragment_timeout_us: 30_000_000,
            verify_checksums: false,
        }
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
        self.decode_into(raw, &mut out);
        out
    }

    /// Decode one frame into `out`, reusing its buffers (no allocation per packet
    /// once they have grown). Every field of `out` is overwritten.
    pub fn decode_into(&mut self, raw: &RawPacket<'_>, out: &mut DecodedPacket) {
        out.reset(raw);
        self.defrag.configure(self.config.max_fragment_datagrams, self.config.fragment_timeout_us);
        let mut ctx = Ctx {
            out,
            decapsulate: self.config.decapsulate,
            verify_checksums: self.config.verify_checksums,
            defrag: &mut self.defrag,
            ts: raw.ts,
            cut: (raw.data.len() as u64) < raw.wire_len as u64,
            l2_base: 0,
            l2_end: 0,
        };
        ctx.mark_l2(raw.data);
        link::decode_link(&mut ctx, raw.linktype, raw.data);
    }
}

/// Per-frame decoding state shared by the protocol modules.
pub(crate) struct Ctx<'a> {
    /// The packet being built.
    pub out: &'a mut DecodedPacket,
    /// Whether tunnels are decapsulated.
    pub decapsulate: bool,
    /// Whether checksums are verified.
    pub verify_checksums: bool,
    /// The fragment reassembly table.
    pub defrag: &'a mut Defrag,
    /// Frame timestamp.
    pub ts: TimestampUs,
    /// True when the frame was cut by the snap length (missing bytes are expected).
    pub cut: bool,
    /// Address range of the buffer where the current encapsulation's payload starts (the
    /// frame, or a tunnel's payload): [`NetLayer::l2_len`](super::NetLayer::l2_len) is
    /// measured from `l2_base`.
    pub l2_base: usize,
    /// End of that buffer (exclusive).
    pub l2_end: usize,
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

    /// Marks `d` as the start of the current encapsulation's payload (a tunnel calls this
    /// with what it hands to the L2 or IP decoder).
    pub fn mark_l2(&mut self, d: &[u8]) {
        self.l2_base = d.as_ptr() as usize;
        self.l2_end = self.l2_base + d.len();
    }

    /// Bytes between the last [`Ctx::mark_l2`] and `ip` (an IP header inside that payload);
    /// 0 when `ip` lies in another buffer (a reassembled datagram).
    pub fn l2_len(&self, ip: &[u8]) -> u16 {
        let p = ip.as_ptr() as usize;
        if p >= self.l2_base && p <= self.l2_end {
            u16::try_from(p - self.l2_base).unwrap_or(u16::MAX)
        } else {
            0
        }
    }

    /// Number of tunnels already entered.
    pub fn tunnel_depth(&self) -> usize {
        self.out.layers.len().saturating_sub(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::LinkType;

    #[test]
    fn decode_into_leaves_nothing_from_the_previous_packet() {
        // An 802.1Q-tagged IPv4/UDP frame, then an ARP frame (no layers, no tag).
        let mut tagged = vec![0u8; 12];
        tagged.extend_from_slice(&[0x81, 0x00, 0x00, 0x07, 0x08, 0x00]);
        tagged.extend_from_slice(&[
            0x45, 0, 0, 28, 0, 1, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2, // IPv4
            0x03, 0xe8, 0x07, 0xd0, 0, 8, 0, 0, // UDP, no payload
        ]);
        let mut arp = vec![0u8; 12];
        arp.extend_from_slice(&[0x08, 0x06]);
        arp.extend_from_slice(&[0u8; 28]);
        fn raw(d: &[u8]) -> RawPacket<'_> {
            RawPacket { ts: 1, data: d, wire_len: d.len() as u32, linktype: LinkType::ETHERNET }
        }
        let mut dec = Decoder::default();
        let mut reused = DecodedPacket::default();
        dec.decode_into(&raw(&tagged), &mut reused);
        assert_eq!((reused.layers.len(), reused.vlan), (1, Some(7)));
        dec.decode_into(&raw(&arp), &mut reused);
        assert_eq!(reused, Decoder::default().decode(&raw(&arp)));
        assert!(reused.layers.is_empty() && reused.vlan.is_none());
    }
}
