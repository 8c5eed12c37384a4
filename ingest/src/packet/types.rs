//! What the packet decoder hands to the flow table and the tokenizers.
//!
//! A captured frame decodes into a [`DecodedPacket`]: the link-layer facts
//! (VLAN tags, wire length) plus one [`NetLayer`] per IP header found, from
//! the outermost to the innermost. A VXLAN frame therefore has two layers: the
//! outer UDP datagram and the encapsulated inner connection. Zeek logs both as
//! connections, with the outer one as the inner one's tunnel parent, and the
//! flow table does the same.
//!
//! All types are owned and small (no borrows into the capture buffer), so a
//! decoded packet can cross a channel. The first bytes of the payload and the
//! TCP options are copied because the netFound tokenizer needs them.

use std::net::IpAddr;

/// Microseconds since the Unix epoch, UTC.
pub type TimestampUs = i64;

/// How many payload bytes a [`NetLayer`] keeps (netFound uses the first 12).
pub const PAYLOAD_PREFIX_LEN: usize = 12;

/// The longest TCP options block (60-byte header minus the fixed 20).
pub const TCP_OPTIONS_MAX: usize = 40;

/// Link-layer header type of a capture, as numbered by tcpdump.org's LINKTYPE_* list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LinkType(pub u32);

impl LinkType {
    /// BSD loopback: a 4-byte address family in host byte order.
    pub const NULL: LinkType = LinkType(0);
    /// Ethernet II / 802.3.
    pub const ETHERNET: LinkType = LinkType(1);
    /// PPP in HDLC-like framing.
    pub const PPP: LinkType = LinkType(9);
    /// Raw IP (the version nibble tells IPv4 from IPv6).
    pub const RAW: LinkType = LinkType(101);
    /// Cisco HDLC.
    pub const C_HDLC: LinkType = LinkType(104);
    /// Bare 802.11 frames.
    pub const IEEE802_11: LinkType = LinkType(105);
    /// OpenBSD loopback: like NULL but the family is big-endian.
    pub const LOOP: LinkType = LinkType(108);
    /// Linux "cooked" capture v1.
    pub const LINUX_SLL: LinkType = LinkType(113);
    /// 802.11 with a radiotap header.
    pub const IEEE802_11_RADIOTAP: LinkType = LinkType(127);
    /// Per-Packet Information header followed by another link type.
    pub const PPI: LinkType = LinkType(192);
    /// Raw IPv4.
    pub const IPV4: LinkType = LinkType(228);
    /// Raw IPv6.
    pub const IPV6: LinkType = LinkType(229);
    /// Linux netfilter NFLOG.
    pub const NFLOG: LinkType = LinkType(239);
    /// Linux "cooked" capture v2.
    pub const LINUX_SLL2: LinkType = LinkType(276);
}

/// One captured frame, as read from a capture file or interface.
#[derive(Debug, Clone, Copy)]
pub struct RawPacket<'a> {
    /// Capture timestamp.
    pub ts: TimestampUs,
    /// The captured bytes (may be shorter than `wire_len` after a snaplen cut).
    pub data: &'a [u8],
    /// Length of the frame on the wire, link layer included.
    pub wire_len: u32,
    /// Link type of the capture (per interface in pcapng).
    pub linktype: LinkType,
}

/// The kind of encapsulation that led to a [`NetLayer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encapsulation {
    /// The outermost IP header of the frame.
    None,
    /// IP directly inside IP (IPv4-in-IPv4, 6in4, 4in6, 6in6).
    IpInIp,
    /// GRE, including ERSPAN types I, II and III and Aruba/PPTP variants.
    Gre,
    /// VXLAN (UDP 4789).
    Vxlan,
    /// Geneve (UDP 6081).
    Geneve,
    /// Teredo (UDP 3544).
    Teredo,
    /// GTP-U (UDP 2152).
    GtpU,
    /// AYIYA (UDP 5072).
    Ayiya,
}

/// The transport header of a [`NetLayer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// TCP segment.
    Tcp(TcpHeader),
    /// UDP datagram.
    Udp(UdpHeader),
    /// ICMPv4 message.
    Icmp(IcmpHeader),
    /// ICMPv6 message.
    Icmpv6(IcmpHeader),
    /// SCTP packet (common header only).
    Sctp(SctpHeader),
    /// Any other IP protocol, or a transport header too short to decode.
    Other,
}

/// The TCP fields that flows and tokens need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpHeader {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgement number.
    pub ack: u32,
    /// Flags byte (FIN 0x01, SYN 0x02, RST 0x04, PSH 0x08, ACK 0x10, URG 0x20, ECE 0x40, CWR 0x80).
    pub flags: u8,
    /// Receive window (unscaled).
    pub window: u16,
    /// Urgent pointer.
    pub urgent: u16,
    /// Header length in bytes (data offset × 4).
    pub header_len: u8,
    /// The options block, zero-padded; `options_len` bytes are valid.
    pub options: [u8; TCP_OPTIONS_MAX],
    /// Number of valid bytes in `options` (may be less than the header claims after a snaplen cut).
    pub options_len: u8,
}

/// TCP flag bits.
pub mod tcp_flags {
    /// FIN.
    pub const FIN: u8 = 0x01;
    /// SYN.
    pub const SYN: u8 = 0x02;
    /// RST.
    pub const RST: u8 = 0x04;
    /// PSH.
    pub const PSH: u8 = 0x08;
    /// ACK.
    pub const ACK: u8 = 0x10;
    /// URG.
    pub const URG: u8 = 0x20;
    /// ECE.
    pub const ECE: u8 = 0x40;
    /// CWR.
    pub const CWR: u8 = 0x80;
}

/// The UDP fields that flows and tokens need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdpHeader {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// The length field (header + payload).
    pub length: u16,
}

/// ICMP or ICMPv6 type and code, plus the quoted packet of an error message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IcmpHeader {
    /// Message type.
    pub icmp_type: u8,
    /// Message code.
    pub code: u8,
    /// For an error message (ICMPv4 types 3, 4, 5, 11, 12; ICMPv6 types 1-4), the IP header
    /// (and transport ports) of the packet that caused it, when the quote is well formed.
    pub quoted: Option<QuotedPacket>,
}

/// The packet quoted by an ICMP error message: the offending packet's own tuple, in the
/// offending packet's direction (its `src` is the host the error is sent back to).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotedPacket {
    /// Source address of the quoted packet.
    pub src: IpAddr,
    /// Destination address of the quoted packet.
    pub dst: IpAddr,
    /// IP protocol of the quoted packet (after IPv6 extension headers we can walk).
    pub proto: u8,
    /// Source port (TCP, UDP, SCTP), 0 otherwise or when not quoted.
    pub src_port: u16,
    /// Destination port (TCP, UDP, SCTP), 0 otherwise or when not quoted.
    pub dst_port: u16,
    /// True when the quote reaches the ports of a TCP, UDP or SCTP header
    /// (Suricata's `emb_ports_set`: 4 bytes for TCP/SCTP, the full 8-byte UDP header).
    pub has_ports: bool,
}

/// SCTP common header ports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SctpHeader {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
}

/// One IP header plus its transport header, and how we got there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NetLayer {
    /// How this layer was encapsulated in the one before it.
    pub encap: Encapsulation,
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// The IP protocol of the transport header (after IPv6 extension headers).
    pub proto: u8,
    /// IPv4 header length or IPv6 40 + extension headers, in bytes.
    pub ip_header_len: u16,
    /// Link-layer bytes between the start of this layer's encapsulation payload and its IP
    /// header: the frame's link header (Ethernet, VLAN tags, ...) for the outermost layer,
    /// the inner Ethernet header (plus tags) of a VXLAN / Geneve / GRE-TEB / ERSPAN tunnel,
    /// PPP framing inside GRE, and 0 for IP carried directly (IP-in-IP, GTP-U, Teredo).
    /// Suricata counts a decapsulated packet from there (`ip_total_len + l2_len`).
    pub l2_len: u16,
    /// IP length as Zeek counts `ip_bytes`: IPv4 total length, IPv6 40 + payload length.
    /// For a reassembled datagram, the reassembled length.
    pub ip_total_len: u32,
    /// IPv4 TOS / IPv6 traffic class.
    pub tos: u8,
    /// IPv4 TTL / IPv6 hop limit.
    pub ttl: u8,
    /// IPv4 flags (bit 1 = DF, bit 0 = MF, i.e. the top 3 bits of the fragment field shifted down); 0 for IPv6.
    pub ip_flags: u8,
    /// IPv4 identification; 0 for IPv6 unless a fragment header was present.
    pub ip_id: u32,
    /// True when this layer is the result of fragment reassembly.
    pub reassembled: bool,
    /// The transport header.
    pub transport: Transport,
    /// Transport payload length implied by the headers (not by the capture length).
    pub payload_len: u32,
    /// The first payload bytes, zero-padded; `payload_prefix_len` of them are valid.
    pub payload_prefix: [u8; PAYLOAD_PREFIX_LEN],
    /// Number of valid bytes in `payload_prefix`.
    pub payload_prefix_len: u8,
    /// The transport checksum was verified and is wrong (only with
    /// `DecoderConfig::verify_checksums`; Zeek then ignores the packet's content).
    pub bad_checksum: bool,
}

/// A decoding anomaly worth counting, named like Zeek's weird.log entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Weird {
    /// Zeek-style name, e.g. `truncated_IP`, `unknown_protocol`.
    pub name: &'static str,
    /// Optional detail (a protocol number, a length).
    pub addl: Option<String>,
}

/// What came out of one frame.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DecodedPacket {
    /// Capture timestamp.
    pub ts: TimestampUs,
    /// Length on the wire, link layer included (nDPI and Suricata count these bytes).
    pub wire_len: u32,
    /// Captured length.
    pub cap_len: u32,
    /// Outer VLAN id, if tagged.
    pub vlan: Option<u16>,
    /// Inner VLAN id (Q-in-Q), if double-tagged.
    pub inner_vlan: Option<u16>,
    /// IP layers, outermost first. Empty for non-IP frames (ARP, LLDP, ...).
    pub layers: Vec<NetLayer>,
    /// Anomalies met while decoding.
    pub weirds: Vec<Weird>,
    /// True when the innermost IP header was a fragment kept for reassembly:
    /// `layers` then stops before it, and the datagram shows up in a later
    /// packet's layers once it is complete.
    pub held_fragment: bool,
}

impl DecodedPacket {
    /// Nothing decoded yet from `raw`: its timestamp and lengths, no layers or weirds
    /// (buffers kept for reuse).
    pub fn reset(&mut self, raw: &RawPacket<'_>) {
        self.ts = raw.ts;
        self.wire_len = raw.wire_len;
        self.cap_len = raw.data.len() as u32;
        self.vlan = None;
        self.inner_vlan = None;
        self.layers.clear();
        self.weirds.clear();
        self.held_fragment = false;
    }
}

impl DecodedPacket {
    /// The innermost IP layer, which is the connection an analyst cares about.
    pub fn innermost(&self) -> Option<&NetLayer> {
        self.layers.last()
    }
}
