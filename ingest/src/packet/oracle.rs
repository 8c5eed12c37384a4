//! A differential oracle: decodes a frame with [etherparse], an independent
//! parser, and lists the fields where it and our [`Decoder`] disagree.
//!
//! etherparse reads Ethernet II (with up to three 802.1Q/802.1ad tags and
//! MACsec), Linux cooked capture v1 and raw IP; after IP it reads IPv4 AH,
//! the IPv6 hop-by-hop, routing, destination-options, fragment and AH
//! extension headers, then TCP, UDP, ICMP, ICMPv6 and IGMP. It neither
//! reassembles fragments nor decapsulates tunnels, so both decoders are asked
//! about the frame's outermost IP header only (see [`Field`]):
//!
//! - whether there is an IP header, the VLAN tags, where the IP header starts;
//! - IP version, addresses, protocol (after extension headers), fragment,
//!   TTL, TOS, IPv4 id and DF/MF, header and payload lengths;
//! - which transport header, ports, TCP flags, header length, sequence and
//!   acknowledgement numbers, window, urgent pointer and options, the UDP
//!   length, ICMP type and code, and the packet an ICMP error quotes;
//! - the TCP/UDP payload's offset in the frame, its length and first bytes.
//!
//! etherparse is tried strictly first ([`SlicedPacket`]); when it refuses
//! the frame (a length that overruns the capture, say) it is asked again
//! leniently ([`LaxSlicedPacket`]), and lengths it could then only take from
//! the capture are not compared. Its SLL reader refuses ARPHRD types it does
//! not list (loopback, PPP, ...): those 16 header bytes are skipped here and
//! the protocol field handed to it as an ethertype. Every [`Disagreement`]
//! carries a [`Class`] from [`classify`]: a known etherparse limitation, a
//! deliberate difference of scope (fragments, our bounds, Zeek's conventions,
//! ...), or [`Class::Unexplained`], which is a bug until shown otherwise.
//!
//! Everything here is deterministic and never panics, whatever the bytes
//! (the `decode_differential` fuzz target checks that).

use std::fmt;
use std::net::IpAddr;

use etherparse::err::Layer;
use etherparse::err::ipv6_exts::HeaderError as Ipv6ExtsError;
use etherparse::err::linux_sll::HeaderSliceError;
use etherparse::err::packet::SliceError;
use etherparse::{
    EtherType, Ipv4HeaderSlice, Ipv6ExtensionsSlice, Ipv6HeaderSlice, LaxLinkExtSlice, LaxNetSlice,
    LaxSlicedPacket, LinkExtSlice, LinkSlice, LinuxSllProtocolType, LinuxSllSlice, NetSlice,
    SlicedPacket, TransportSlice,
};

use super::decoder::Decoder;
use super::types::{DecodedPacket, LinkType, NetLayer, QuotedPacket, RawPacket, Transport};

/// How etherparse is asked to read a frame of a given link type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entry {
    /// `from_ethernet`: Ethernet II.
    Ethernet,
    /// `from_linux_sll`: Linux cooked capture v1.
    LinuxSll,
    /// `from_ip` after `skip` link bytes: raw IP (0), BSD NULL/LOOP (4, the
    /// address family, which etherparse does not read: the version nibble decides).
    Ip {
        /// Link header bytes before the IP header.
        skip: usize,
    },
}

/// The etherparse entry point for a link type, or `None` when etherparse
/// cannot read it (802.11, radiotap, PPI, PPP, Cisco HDLC, NFLOG, SLL2): such
/// frames are not compared.
pub fn entry(linktype: LinkType) -> Option<Entry> {
    match linktype.0 {
        1 => Some(Entry::Ethernet),
        113 => Some(Entry::LinuxSll),
        12 | 14 | 101 | 228 | 229 => Some(Entry::Ip { skip: 0 }),
        0 | 108 => Some(Entry::Ip { skip: 4 }),
        _ => None,
    }
}

/// How far etherparse got with a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TheirParse {
    /// The link type has no etherparse entry point ([`entry`]); nothing compared.
    Unsupported,
    /// Neither the strict nor the lax slicer accepted the link header.
    Failed,
    /// [`SlicedPacket`] accepted the whole frame.
    Strict,
    /// Only [`LaxSlicedPacket`] accepted it (possibly stopping early).
    Lax,
}

/// A compared field (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Field {
    /// Whether an IP header was found, and which version.
    Ip,
    /// The 802.1Q tags (outer first; ours keeps two).
    Vlan,
    /// Offset of the IP header in the frame.
    L2Len,
    /// IP version.
    IpVersion,
    /// Source address.
    Src,
    /// Destination address.
    Dst,
    /// IP protocol after the extension headers.
    Proto,
    /// Whether the IP payload is a fragment.
    Fragment,
    /// IPv4 TTL / IPv6 hop limit.
    Ttl,
    /// IPv4 TOS / IPv6 traffic class.
    Tos,
    /// IPv4 identification.
    IpId,
    /// IPv4 DF and MF flags.
    IpFlags,
    /// IP header length, IPv6 extension headers (and IPv4 AH for etherparse) included.
    IpHeaderLen,
    /// IP payload length as the headers declare it.
    IpPayloadLen,
    /// Which transport header was read (tcp, udp, icmp, icmpv6, other, none).
    Transport,
    /// Source port (TCP, UDP).
    SrcPort,
    /// Destination port (TCP, UDP).
    DstPort,
    /// The TCP flags byte (FIN … CWR).
    TcpFlags,
    /// TCP header length (data offset × 4).
    TcpHeaderLen,
    /// TCP sequence number.
    TcpSeq,
    /// TCP acknowledgement number.
    TcpAck,
    /// TCP window (unscaled).
    TcpWindow,
    /// TCP urgent pointer.
    TcpUrgent,
    /// The TCP options bytes (as captured).
    TcpOptions,
    /// The UDP length field.
    UdpLength,
    /// ICMP/ICMPv6 type.
    IcmpType,
    /// ICMP/ICMPv6 code.
    IcmpCode,
    /// Source address of the packet quoted by an ICMP error ("none" when not read).
    QuotedSrc,
    /// Destination address of the quoted packet.
    QuotedDst,
    /// IP protocol of the quoted packet.
    QuotedProto,
    /// Ports of the quoted packet (when both read them).
    QuotedPorts,
    /// Offset of the TCP/UDP payload in the frame.
    PayloadOffset,
    /// TCP/UDP payload length.
    PayloadLen,
    /// The first payload bytes (up to 12).
    PayloadPrefix,
}

impl Field {
    /// The field's name, as printed in reports.
    pub fn name(self) -> &'static str {
        match self {
            Field::Ip => "ip",
            Field::Vlan => "vlan",
            Field::L2Len => "l2_len",
            Field::IpVersion => "ip_version",
            Field::Src => "src",
            Field::Dst => "dst",
            Field::Proto => "proto",
            Field::Fragment => "fragment",
            Field::Ttl => "ttl",
            Field::Tos => "tos",
            Field::IpId => "ip_id",
            Field::IpFlags => "ip_flags",
            Field::IpHeaderLen => "ip_header_len",
            Field::IpPayloadLen => "ip_payload_len",
            Field::Transport => "transport",
            Field::SrcPort => "src_port",
            Field::DstPort => "dst_port",
            Field::TcpFlags => "tcp_flags",
            Field::TcpHeaderLen => "tcp_header_len",
            Field::TcpSeq => "tcp_seq",
            Field::TcpAck => "tcp_ack",
            Field::TcpWindow => "tcp_window",
            Field::TcpUrgent => "tcp_urgent",
            Field::TcpOptions => "tcp_options",
            Field::UdpLength => "udp_length",
            Field::IcmpType => "icmp_type",
            Field::IcmpCode => "icmp_code",
            Field::QuotedSrc => "quoted_src",
            Field::QuotedDst => "quoted_dst",
            Field::QuotedProto => "quoted_proto",
            Field::QuotedPorts => "quoted_ports",
            Field::PayloadOffset => "payload_offset",
            Field::PayloadLen => "payload_len",
            Field::PayloadPrefix => "payload_prefix",
        }
    }

    /// The core fields: IP version, addresses, protocol and ports.
    pub fn is_core(self) -> bool {
        matches!(
            self,
            Field::IpVersion
                | Field::Src
                | Field::Dst
                | Field::Proto
                | Field::SrcPort
                | Field::DstPort
        )
    }

    /// Fields read after the fixed IP header (extension headers, protocol, transport).
    pub fn after_ip_header(self) -> bool {
        !matches!(
            self,
            Field::Ip
                | Field::Vlan
                | Field::L2Len
                | Field::IpVersion
                | Field::Src
                | Field::Dst
                | Field::Ttl
                | Field::Tos
                | Field::IpId
                | Field::IpFlags
        )
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Who is wrong about a [`Disagreement`], with the reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Class {
    /// Our decoder is wrong: a known bug, not fixed yet.
    OursWrong(&'static str),
    /// etherparse is wrong or does not go as far as we do (a limitation).
    TheirsWrong(&'static str),
    /// The decoders answer different questions by design (fragments,
    /// tunnels, Zeek's conventions, lengths of a cut capture, ...).
    OutOfScope(&'static str),
    /// No rule explains it: a bug in one of the decoders until investigated.
    Unexplained,
}

impl Class {
    /// `"ours wrong"`, `"theirs wrong"`, `"out of scope"` or `"unexplained"`.
    pub fn kind(self) -> &'static str {
        match self {
            Class::OursWrong(_) => "ours wrong",
            Class::TheirsWrong(_) => "theirs wrong",
            Class::OutOfScope(_) => "out of scope",
            Class::Unexplained => "unexplained",
        }
    }

    /// The reason ("" for [`Class::Unexplained`]).
    pub fn reason(self) -> &'static str {
        match self {
            Class::OursWrong(r) | Class::TheirsWrong(r) | Class::OutOfScope(r) => r,
            Class::Unexplained => "",
        }
    }
}

impl fmt::Display for Class {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Class::Unexplained => f.write_str("unexplained"),
            c => write!(f, "{}: {}", c.kind(), c.reason()),
        }
    }
}

/// One field on which the decoders disagree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disagreement {
    /// The field.
    pub field: Field,
    /// Our value, printed.
    pub ours: String,
    /// etherparse's value, printed.
    pub theirs: String,
    /// Who is wrong, from [`classify`].
    pub class: Class,
}

/// What [`classify`] may look at besides the two values: facts about the frame
/// gathered while comparing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    /// The capture's link type (tcpdump.org numbering).
    pub link_type: u32,
    /// Either decoder saw a fragment (ours held it or reassembled a datagram).
    pub fragment: bool,
    /// etherparse only accepted the frame leniently.
    pub lax: bool,
    /// etherparse's IP payload is shorter than the IP header declares (its
    /// lengths come from the capture).
    pub incomplete: bool,
    /// The IP version the link declares (raw IPv4/IPv6 link types, a BSD loopback
    /// family) is not the header's version nibble (which etherparse's `from_ip` follows).
    pub link_version_mismatch: bool,
    /// The ARPHRD type of a Linux SLL header.
    pub sll_hatype: Option<u16>,
    /// The packet an ICMP error quotes is IPv4 with an authentication header.
    pub quote_ipv4_auth: bool,
    /// etherparse refused the Linux SLL header's ARPHRD type, so the oracle skipped
    /// the 16 header bytes itself and handed etherparse the protocol field as an ethertype.
    pub sll_by_hand: bool,
    /// Where etherparse's lenient slicer stopped with an error, if it did.
    pub stop_layer: Option<Layer>,
    /// The ethertype etherparse stopped at without finding a network header.
    pub stop_ether_type: Option<u16>,
    /// How many link extensions (802.1Q tags, MACsec) etherparse read: it stops at three.
    pub link_exts: usize,
    /// etherparse read a MACsec header.
    pub macsec: bool,
    /// The IPv4 header is followed by an authentication header (etherparse skips it).
    pub ipv4_auth: bool,
    /// An IPv6 routing header with segments left (ours takes the final destination, as Zeek).
    pub ipv6_routing: bool,
    /// An IPv6 destination-options header (ours takes a home address option as source, as Zeek).
    pub ipv6_dest_options: bool,
    /// etherparse stopped at an IPv6 extension header it does not walk
    /// (mobility 135, HIP 139, shim6 140); the protocol number it stopped at.
    pub ipv6_unwalked_ext: Option<u8>,
    /// IPv6 payload length 0 and no hop-by-hop (jumbo) header: etherparse then reads
    /// the rest of the capture.
    pub ipv6_zero_payload_len: bool,
    /// etherparse's lax slicer stopped at a hop-by-hop header that is not the first
    /// extension header.
    pub hop_by_hop_not_first: bool,
    /// etherparse's lax slicer rejected an authentication header (too short, or bad content).
    pub bad_auth_header: bool,
    /// How many IPv6 extension headers etherparse walked in the packet quoted by an ICMPv6 error.
    pub quote_ext_headers: usize,
    /// etherparse stopped early in the quoted packet (a header cut short).
    pub quote_cut: bool,
    /// Names of our decoder's weirds for the packet.
    pub our_weirds: Vec<&'static str>,
}

/// The outcome of comparing one frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comparison {
    /// How far etherparse got.
    pub theirs: TheirParse,
    /// Our decoder found an IP header (a layer, or a fragment it held).
    pub ours_ip: bool,
    /// etherparse found an IP header.
    pub theirs_ip: bool,
    /// Both found an IP header, so its fields were compared.
    pub compared: bool,
    /// The fields that differ (empty when the decoders agree).
    pub disagreements: Vec<Disagreement>,
    /// Facts about the frame, for [`classify`].
    pub facts: Facts,
}

impl Comparison {
    /// True when nothing differs.
    pub fn agrees(&self) -> bool {
        self.disagreements.is_empty()
    }

    /// True when etherparse's strict slicer accepted the frame, our decoder
    /// met no anomaly (weird), and both found an IP header: the case where the
    /// core fields must agree.
    pub fn both_clean(&self) -> bool {
        self.theirs == TheirParse::Strict && self.compared && self.facts.our_weirds.is_empty()
    }
}

/// Decode `data` (link type `linktype`) with a fresh [`Decoder`] and with
/// etherparse, and compare them. Convenient for single frames (fuzzing, tests);
/// to follow reassembly across a capture, decode with one decoder and call [`compare`].
pub fn compare_frame(linktype: LinkType, data: &[u8]) -> Comparison {
    let raw = RawPacket { ts: 0, data, wire_len: data.len() as u32, linktype };
    let ours = Decoder::default().decode(&raw);
    compare(&raw, &ours)
}

/// Compare our decoding `ours` of the frame `raw` with etherparse's.
pub fn compare(raw: &RawPacket<'_>, ours: &DecodedPacket) -> Comparison {
    let first = ours.layers.first();
    let mut facts = Facts {
        link_type: raw.linktype.0,
        link_version_mismatch: link_version_mismatch(raw.linktype, raw.data),
        sll_hatype: (raw.linktype == LinkType::LINUX_SLL)
            .then(|| raw.data.get(2..4).map(|h| u16::from_be_bytes([h[0], h[1]])))
            .flatten(),
        fragment: ours.held_fragment || first.is_some_and(|l| l.reassembled),
        our_weirds: ours.weirds.iter().map(|w| w.name).collect(),
        ..Facts::default()
    };
    let ours_ip = first.is_some() || ours.held_fragment;
    let Some(entry) = entry(raw.linktype) else {
        return Comparison {
            theirs: TheirParse::Unsupported,
            ours_ip,
            theirs_ip: false,
            compared: false,
            disagreements: Vec::new(),
            facts,
        };
    };
    let (theirs, sll_by_hand) = TheirView::parse(entry, raw.data);
    facts.sll_by_hand = sll_by_hand;
    facts.lax = theirs.mode == TheirParse::Lax;
    facts.stop_layer = theirs.stop_layer;
    facts.hop_by_hop_not_first = theirs.hop_by_hop_not_first;
    facts.bad_auth_header = theirs.bad_auth_header;
    facts.stop_ether_type = theirs.stop_ether_type;
    facts.link_exts = theirs.link_exts;
    facts.macsec = theirs.macsec;
    if let Some(ip) = &theirs.ip {
        facts.fragment |= ip.fragmented;
        facts.incomplete = ip.incomplete;
        facts.ipv4_auth = ip.ipv4_auth;
        facts.ipv6_routing = ip.ipv6_routing;
        facts.ipv6_dest_options = ip.ipv6_dest_options;
        facts.ipv6_zero_payload_len = ip.ipv6_zero_payload_len;
        if matches!(ip.ip_number, 135 | 139 | 140) && ip.version == 6 {
            facts.ipv6_unwalked_ext = Some(ip.ip_number);
        }
    }
    let mut out = Diffs { facts, list: Vec::new() };
    if theirs.mode != TheirParse::Failed {
        let ours_vlans: Vec<u16> = ours.vlan.into_iter().chain(ours.inner_vlan).collect();
        let theirs_vlans: Vec<u16> = theirs.vlans.iter().copied().take(2).collect();
        out.check(Field::Vlan, fmt_list(&ours_vlans), fmt_list(&theirs_vlans));
    }
    let theirs_ip = theirs.ip.is_some();
    let ours_name = match first {
        Some(l) => ip_name(l.src).to_string(),
        None if ours.held_fragment => "held fragment".to_string(),
        None => "none".to_string(),
    };
    let theirs_name =
        theirs.ip.as_ref().map_or("none", |ip| if ip.version == 4 { "ipv4" } else { "ipv6" });
    let compared = matches!((first, &theirs.ip), (Some(_), Some(_)));
    if !(ours.held_fragment && theirs_ip) {
        // A held fragment is an IP header too, which our decoder does not expose.
        out.check(Field::Ip, ours_name, theirs_name.to_string());
    }
    if let (Some(l), Some(ip)) = (first, &theirs.ip) {
        compare_ip(&mut out, raw.data, l, ip, &theirs);
    }
    let Diffs { facts, list: disagreements } = out;
    Comparison { theirs: theirs.mode, ours_ip, theirs_ip, compared, disagreements, facts }
}

/// Compare the IP and transport fields of our outermost layer with etherparse's.
fn compare_ip(out: &mut Diffs, frame: &[u8], l: &NetLayer, ip: &TheirIp<'_>, t: &TheirView<'_>) {
    out.check(Field::IpVersion, ip_version(l.src), ip.version);
    out.check(Field::Src, l.src, ip.src);
    out.check(Field::Dst, l.dst, ip.dst);
    out.check(Field::Proto, l.proto, ip.ip_number);
    out.check(Field::Fragment, l.reassembled, ip.fragmented);
    out.check(Field::Ttl, l.ttl, ip.ttl);
    out.check(Field::Tos, l.tos, ip.tos);
    if let Some((id, df, mf)) = ip.v4_id_flags {
        out.check(Field::IpId, l.ip_id, id);
        let theirs_flags = (u8::from(df) << 1) | u8::from(mf);
        // Bit 2 is the reserved ("evil") bit, which etherparse does not expose.
        out.check(Field::IpFlags, l.ip_flags & 0x03, theirs_flags);
    }
    let ip_start = ip.header_addr.wrapping_sub(frame.as_ptr() as usize);
    let payload_start = offset(frame, ip.payload);
    if !l.reassembled {
        // A reassembled layer's header facts come from the first fragment's frame.
        out.check(Field::L2Len, l.l2_len, ip_start);
    }
    out.check(Field::IpHeaderLen, l.ip_header_len, payload_start.saturating_sub(ip_start));
    if !ip.incomplete {
        let ours = l.ip_total_len.saturating_sub(u32::from(l.ip_header_len));
        out.check(Field::IpPayloadLen, ours, ip.payload.len());
    }
    let ours_kind = match l.transport {
        Transport::Tcp(_) => "tcp",
        Transport::Udp(_) => "udp",
        Transport::Icmp(_) => "icmp",
        Transport::Icmpv6(_) => "icmpv6",
        Transport::Sctp(_) => "sctp",
        Transport::Other => "other",
    };
    let theirs_kind = match &t.transport {
        Some(TransportSlice::Tcp(_)) => "tcp",
        Some(TransportSlice::Udp(_)) => "udp",
        Some(TransportSlice::Icmpv4(_)) => "icmp",
        Some(TransportSlice::Icmpv6(_)) => "icmpv6",
        // IGMP is not a transport our decoder reads.
        Some(TransportSlice::Igmp(_)) => "other",
        None => "none",
    };
    // etherparse reads no SCTP and nothing else past IP: "none" matches our "other"/"sctp".
    let same_kind = ours_kind == theirs_kind
        || (theirs_kind == "none" && matches!(ours_kind, "other" | "sctp"));
    if !same_kind {
        out.push(Field::Transport, ours_kind.to_string(), theirs_kind.to_string());
        return;
    }
    let (ours_payload, theirs_payload): (u32, &[u8]) = match (&l.transport, &t.transport) {
        (Transport::Tcp(o), Some(TransportSlice::Tcp(s))) => {
            out.check(Field::SrcPort, o.src_port, s.source_port());
            out.check(Field::DstPort, o.dst_port, s.destination_port());
            out.check(Field::TcpFlags, fmt_flags(o.flags), fmt_flags(tcp_flags(s)));
            out.check(Field::TcpHeaderLen, o.header_len, s.header_len());
            out.check(Field::TcpSeq, o.seq, s.sequence_number());
            out.check(Field::TcpAck, o.ack, s.acknowledgment_number());
            out.check(Field::TcpWindow, o.window, s.window_size());
            out.check(Field::TcpUrgent, o.urgent, s.urgent_pointer());
            let opts = &o.options[..usize::from(o.options_len).min(o.options.len())];
            out.check(Field::TcpOptions, hex(opts), hex(s.options()));
            let ours_off =
                usize::from(l.l2_len) + usize::from(l.ip_header_len) + usize::from(o.header_len);
            if !l.reassembled {
                out.check(Field::PayloadOffset, ours_off, offset(frame, s.payload()));
            }
            (l.payload_len, s.payload())
        }
        (Transport::Udp(o), Some(TransportSlice::Udp(s))) => {
            out.check(Field::SrcPort, o.src_port, s.source_port());
            out.check(Field::DstPort, o.dst_port, s.destination_port());
            out.check(Field::UdpLength, o.length, s.length());
            let ours_off = usize::from(l.l2_len) + usize::from(l.ip_header_len) + 8;
            if !l.reassembled {
                out.check(Field::PayloadOffset, ours_off, offset(frame, s.payload()));
            }
            (l.payload_len, s.payload())
        }
        (Transport::Icmp(o), Some(TransportSlice::Icmpv4(s))) => {
            out.check(Field::IcmpType, o.icmp_type, s.type_u8());
            out.check(Field::IcmpCode, o.code, s.code_u8());
            if let Some(q) = &o.quoted {
                compare_quote(out, q, s.payload());
            }
            return;
        }
        (Transport::Icmpv6(o), Some(TransportSlice::Icmpv6(s))) => {
            out.check(Field::IcmpType, o.icmp_type, s.type_u8());
            out.check(Field::IcmpCode, o.code, s.code_u8());
            if let Some(q) = &o.quoted {
                compare_quote(out, q, s.payload());
            }
            return;
        }
        _ => return,
    };
    let ours_prefix =
        &l.payload_prefix[..usize::from(l.payload_prefix_len).min(l.payload_prefix.len())];
    let n = theirs_payload.len().min(l.payload_prefix.len());
    if ip.incomplete {
        // Lengths come from the capture on etherparse's side: compare the common bytes only.
        let m = n.min(ours_prefix.len());
        out.check(Field::PayloadPrefix, hex(&ours_prefix[..m]), hex(&theirs_payload[..m]));
    } else {
        out.check(Field::PayloadLen, ours_payload, theirs_payload.len());
        out.check(Field::PayloadPrefix, hex(ours_prefix), hex(&theirs_payload[..n]));
    }
}

/// Compare our reading of the packet quoted by an ICMP error with etherparse's
/// lenient reading of the ICMP payload (a quote is usually cut short).
fn compare_quote(out: &mut Diffs, q: &QuotedPacket, quote: &[u8]) {
    let Ok(p) = LaxSlicedPacket::from_ip(quote) else {
        out.check(Field::QuotedSrc, q.src, "none");
        return;
    };
    out.facts.quote_ipv4_auth =
        matches!(&p.net, Some(LaxNetSlice::Ipv4(s)) if s.extensions().auth.is_some());
    let (src, dst, proto) = match &p.net {
        Some(LaxNetSlice::Ipv4(s)) => (
            IpAddr::V4(s.header().source_addr()),
            IpAddr::V4(s.header().destination_addr()),
            s.payload().ip_number.0,
        ),
        Some(LaxNetSlice::Ipv6(s)) => (
            IpAddr::V6(s.header().source_addr()),
            IpAddr::V6(s.header().destination_addr()),
            s.payload().ip_number.0,
        ),
        Some(LaxNetSlice::Arp(_)) | None => {
            out.check(Field::QuotedSrc, q.src, "none");
            return;
        }
    };
    if let Some(LaxNetSlice::Ipv6(s)) = &p.net {
        out.facts.quote_ext_headers = ipv6_ext_facts(s.extensions()).count;
    }
    out.facts.quote_cut = p.stop_err.is_some();
    out.check(Field::QuotedSrc, q.src, src);
    out.check(Field::QuotedDst, q.dst, dst);
    out.check(Field::QuotedProto, q.proto, proto);
    let theirs_ports = match &p.transport {
        Some(TransportSlice::Tcp(t)) => Some((t.source_port(), t.destination_port())),
        Some(TransportSlice::Udp(u)) => Some((u.source_port(), u.destination_port())),
        _ => None,
    };
    if let (true, Some((sp, dp))) = (q.has_ports, theirs_ports) {
        out.check(
            Field::QuotedPorts,
            format!("{}>{}", q.src_port, q.dst_port),
            format!("{sp}>{dp}"),
        );
    }
}

/// The list being built, with the facts to classify each entry.
struct Diffs {
    facts: Facts,
    list: Vec<Disagreement>,
}

impl Diffs {
    /// Record a disagreement when the printed values differ.
    fn check(&mut self, field: Field, ours: impl fmt::Display, theirs: impl fmt::Display) {
        let (ours, theirs) = (ours.to_string(), theirs.to_string());
        if ours != theirs {
            self.push(field, ours, theirs);
        }
    }

    fn push(&mut self, field: Field, ours: String, theirs: String) {
        let class = classify(field, &ours, &theirs, &self.facts);
        self.list.push(Disagreement { field, ours, theirs, class });
    }
}

/// Classify a disagreement on `field` (ours printed as `ours`, etherparse's as
/// `theirs`) given what is known about the frame. The rules are narrow, and
/// anything they do not explain is [`Class::Unexplained`].
pub fn classify(field: Field, ours: &str, theirs: &str, facts: &Facts) -> Class {
    let weird = |name: &str| facts.our_weirds.contains(&name);
    let theirs_ip = theirs == "ipv4" || theirs == "ipv6";
    if facts.fragment {
        return Class::OutOfScope(FRAGMENT);
    }
    if matches!(field, Field::Ip | Field::Vlan) {
        if facts.macsec {
            return Class::OutOfScope(MACSEC);
        }
        // A link-layer shim etherparse does not read: it stops before the IP header
        // (and before the tags after the shim).
        if let Some(reason) = facts.stop_ether_type.and_then(unread_shim).filter(|_| !theirs_ip) {
            return Class::TheirsWrong(reason);
        }
        if facts.link_exts >= 3 && !theirs_ip {
            return Class::TheirsWrong(LINK_EXTS_CAP);
        }
    }
    if field == Field::Ip && ours == "none" && facts.link_version_mismatch {
        return Class::OutOfScope(LINK_VERSION);
    }
    if field == Field::Ip && ours == "none" && facts.lax && weird("unknown_ip_version") {
        return Class::TheirsWrong(LAX_VERSION_NIBBLE);
    }
    if matches!(field, Field::Ip | Field::Vlan)
        && !theirs_ip
        && facts.sll_hatype.is_some_and(|h| h == 778 || h == 803)
    {
        return Class::TheirsWrong(SLL_HATYPE);
    }
    if field == Field::Ip && ours == "none" && facts.lax && weird("invalid_IP_header_size") {
        return Class::OutOfScope(LAX_SHORT_TOTAL_LEN);
    }
    if field == Field::Ip && ours == "none" && weird("non_ip_packet_in_null_transport") {
        return Class::OutOfScope(NULL_FAMILY);
    }
    if field == Field::Dst && facts.ipv6_routing {
        return Class::OutOfScope(IPV6_ROUTING);
    }
    if field == Field::Src && facts.ipv6_dest_options {
        return Class::OutOfScope(IPV6_HOME_ADDRESS);
    }
    if field == Field::QuotedProto {
        return if matches!(theirs, "135" | "139" | "140") {
            Class::TheirsWrong(IPV6_UNWALKED_EXT)
        } else if facts.quote_ipv4_auth {
            Class::OutOfScope(IPV4_AUTH)
        } else if facts.quote_ext_headers > 8 {
            Class::OutOfScope(QUOTE_EXT_HEADER_BOUND)
        } else if facts.quote_cut {
            Class::OutOfScope(QUOTE_CUT)
        } else {
            Class::Unexplained
        };
    }
    if field == Field::Transport
        && theirs == "none"
        && matches!(
            facts.stop_layer,
            Some(Layer::TcpHeader | Layer::Icmpv4 | Layer::Icmpv6 | Layer::UdpHeader)
        )
    {
        return Class::OutOfScope(CUT_TRANSPORT_HEADER);
    }
    // The rest concern what the extension headers decide: where they end, the
    // protocol, the transport header (and the addresses a routing header or a home
    // address option changes, when the walks part before reaching it).
    if !field.after_ip_header() && !matches!(field, Field::Src | Field::Dst) {
        return Class::Unexplained;
    }
    if facts.ipv6_zero_payload_len {
        Class::TheirsWrong(IPV6_ZERO_PAYLOAD_LEN)
    } else if facts.ipv4_auth && field.after_ip_header() {
        Class::OutOfScope(IPV4_AUTH)
    } else if facts.ipv6_unwalked_ext.is_some() {
        Class::TheirsWrong(IPV6_UNWALKED_EXT)
    } else if weird("too_many_IPv6_extension_headers") {
        Class::OutOfScope(EXT_HEADER_BOUND)
    } else if facts.hop_by_hop_not_first {
        Class::OutOfScope(HOP_BY_HOP_NOT_FIRST)
    } else if facts.bad_auth_header {
        Class::OutOfScope(BAD_AUTH_HEADER)
    } else {
        Class::Unexplained
    }
}

/// [`Class::OutOfScope`]: fragments.
pub const FRAGMENT: &str = "IP fragment: ours reassembles the datagram (or holds the fragment), etherparse reads the fragment alone";
/// [`Class::OutOfScope`]: MACsec.
pub const MACSEC: &str =
    "MACsec: ours reads no 802.1AE SecTAG, etherparse reads what an unencrypted one carries";
/// [`Class::TheirsWrong`]: the lax slicer's version nibble.
pub const LAX_VERSION_NIBBLE: &str = "etherparse's lax slicer decodes the IP version nibble, not the ethertype (IPv6 bytes under ethertype IPv4)";
/// [`Class::OutOfScope`]: the version nibble under a link type (or BSD family) that names the version.
pub const LINK_VERSION: &str = "IP version nibble unlike the link type (raw IPv4/IPv6) or BSD loopback family: ours trusts the link, etherparse's from_ip the nibble";
/// [`Class::OutOfScope`]: an IPv4 total length shorter than the header.
pub const LAX_SHORT_TOTAL_LEN: &str = "IPv4 total length shorter than the header: ours drops the packet (a weird), etherparse's lax slicer reads the capture";
/// [`Class::TheirsWrong`]: SLL ARPHRD types etherparse does not follow.
pub const SLL_HATYPE: &str = "Linux SLL with ARPHRD_IPGRE (a GRE protocol type, an ethertype) or ARPHRD_IEEE80211_RADIOTAP (radiotap, 802.11): etherparse stops";
/// [`Class::OutOfScope`]: the BSD loopback family.
pub const NULL_FAMILY: &str = "BSD loopback: etherparse has no NULL/LOOP reader, the oracle skips the address family, ours rejects an unknown one";
/// [`Class::TheirsWrong`]: etherparse's bound on link extensions.
pub const LINK_EXTS_CAP: &str =
    "etherparse stops after three link extensions (802.1Q tags, MACsec)";
/// [`Class::OutOfScope`]: transport headers cut short.
pub const CUT_TRANSPORT_HEADER: &str = "transport header cut short: ours keeps the ports of the fixed header (Zeek's connection tuple) with a weird, etherparse drops the header";
/// [`Class::TheirsWrong`]: IPv6 payload length 0.
pub const IPV6_ZERO_PAYLOAD_LEN: &str = "IPv6 payload length 0 without a hop-by-hop (jumbo) header: ours reads an empty payload, etherparse the rest of the capture (Ethernet padding)";
/// [`Class::OutOfScope`]: IPv6 routing headers.
pub const IPV6_ROUTING: &str = "IPv6 routing header with segments left: ours reports the final destination (as Zeek), etherparse the header's";
/// [`Class::OutOfScope`]: the Mobile IPv6 home address option.
pub const IPV6_HOME_ADDRESS: &str = "IPv6 home address option: ours reports the home address as the source (as Zeek), etherparse the header's";
/// [`Class::OutOfScope`]: IPv4 AH.
pub const IPV4_AUTH: &str =
    "IPv4 authentication header: ours reports protocol 51 (as Zeek), etherparse skips the AH";
/// [`Class::TheirsWrong`]: IPv6 extension headers etherparse does not walk.
pub const IPV6_UNWALKED_EXT: &str =
    "etherparse does not walk the IPv6 mobility, HIP and shim6 extension headers";
/// [`Class::OutOfScope`]: our bound on IPv6 extension headers.
pub const EXT_HEADER_BOUND: &str =
    "more than 32 IPv6 extension headers: ours stops walking them (a bound), etherparse walks on";
/// [`Class::OutOfScope`]: a hop-by-hop header after the first extension header.
pub const HOP_BY_HOP_NOT_FIRST: &str = "IPv6 hop-by-hop header after another extension header: etherparse stops (RFC 8200), ours walks it (as Zeek)";
/// [`Class::OutOfScope`]: an authentication header etherparse rejects.
pub const BAD_AUTH_HEADER: &str = "IPv6 authentication header with payload length 0: etherparse rejects it (12 bytes at least), ours walks its 8 bytes (as Zeek)";
/// [`Class::OutOfScope`]: our bound on the extension headers of an ICMPv6 quote.
pub const QUOTE_EXT_HEADER_BOUND: &str = "ICMPv6 quote with more than 8 extension headers: ours stops walking them (a bound), etherparse walks on";
/// [`Class::OutOfScope`]: a quote cut inside a header.
pub const QUOTE_CUT: &str = "ICMP quote cut inside an extension header: ours reads on from its next-header byte, etherparse stops at it";

/// [`Class::TheirsWrong`]: link-layer shims etherparse does not read.
pub const NO_MPLS: &str = "etherparse reads no MPLS";
/// See [`NO_MPLS`].
pub const NO_PPPOE: &str = "etherparse reads no PPPoE";
/// See [`NO_MPLS`].
pub const NO_PBB: &str = "etherparse reads no 802.1ah PBB";
/// See [`NO_MPLS`].
pub const NO_VN_TAG: &str = "etherparse reads no VN-Tag";
/// See [`NO_MPLS`].
pub const NO_FABRICPATH: &str = "etherparse reads no Cisco FabricPath";
/// See [`NO_MPLS`].
pub const NO_NSH: &str = "etherparse reads no NSH";
/// See [`NO_MPLS`].
pub const NO_TEB: &str = "etherparse reads no transparent Ethernet bridging";
/// See [`NO_MPLS`].
pub const NO_OLD_QINQ: &str = "etherparse reads no pre-standard Q-in-Q tag (0x9200, 0x9300)";
/// See [`NO_MPLS`].
pub const NO_LLC: &str = "etherparse reads no 802.3 length field (LLC/SNAP)";

/// The reason etherparse stops at a link-layer ethertype our decoder follows.
fn unread_shim(ether_type: u16) -> Option<&'static str> {
    Some(match ether_type {
        0x8847 | 0x8848 => NO_MPLS,
        0x8864 => NO_PPPOE,
        0x88e7 => NO_PBB,
        0x8926 => NO_VN_TAG,
        0x8903 => NO_FABRICPATH,
        0x894f => NO_NSH,
        0x6558 => NO_TEB,
        0x9200 | 0x9300 => NO_OLD_QINQ,
        0..=1500 => NO_LLC,
        _ => return None,
    })
}

/// Where etherparse starts reading.
#[derive(Clone, Copy)]
enum Start<'a> {
    Ethernet(&'a [u8]),
    LinuxSll(&'a [u8]),
    /// After a link header skipped by hand (an SLL header etherparse refuses).
    EtherType(u16, &'a [u8]),
    Ip(&'a [u8]),
}

/// What etherparse made of a frame.
struct TheirView<'a> {
    mode: TheirParse,
    vlans: Vec<u16>,
    macsec: bool,
    link_exts: usize,
    stop_ether_type: Option<u16>,
    stop_layer: Option<Layer>,
    hop_by_hop_not_first: bool,
    bad_auth_header: bool,
    ip: Option<TheirIp<'a>>,
    transport: Option<TransportSlice<'a>>,
}

/// etherparse's network header.
struct TheirIp<'a> {
    version: u8,
    src: IpAddr,
    dst: IpAddr,
    /// Address of the IP header's first byte (locates it in the frame).
    header_addr: usize,
    /// The payload after the extension headers (cut to the declared length, or to the capture).
    payload: &'a [u8],
    ip_number: u8,
    fragmented: bool,
    incomplete: bool,
    ttl: u8,
    tos: u8,
    /// IPv4 identification, DF and MF.
    v4_id_flags: Option<(u16, bool, bool)>,
    ipv4_auth: bool,
    ipv6_routing: bool,
    ipv6_dest_options: bool,
    ipv6_zero_payload_len: bool,
}

impl<'a> TheirView<'a> {
    fn failed() -> Self {
        TheirView {
            mode: TheirParse::Failed,
            vlans: Vec::new(),
            macsec: false,
            link_exts: 0,
            stop_ether_type: None,
            stop_layer: None,
            hop_by_hop_not_first: false,
            bad_auth_header: false,
            ip: None,
            transport: None,
        }
    }

    fn parse(entry: Entry, data: &'a [u8]) -> (Self, bool) {
        let mut sll_by_hand = false;
        let start = match entry {
            Entry::Ethernet => Start::Ethernet(data),
            Entry::LinuxSll => match LinuxSllSlice::from_slice(data) {
                // etherparse refuses the ARPHRD types it does not list (loopback, PPP,
                // raw IP, ...) although the protocol field is an ethertype all the same.
                Err(HeaderSliceError::Content(_)) if data.len() >= 16 => {
                    sll_by_hand = true;
                    Start::EtherType(u16::from_be_bytes([data[14], data[15]]), &data[16..])
                }
                _ => Start::LinuxSll(data),
            },
            Entry::Ip { skip } => match data.get(skip..) {
                Some(d) => Start::Ip(d),
                None => return (Self::failed(), false),
            },
        };
        let strict = match start {
            Start::Ethernet(d) => SlicedPacket::from_ethernet(d),
            Start::LinuxSll(d) => SlicedPacket::from_linux_sll(d),
            Start::EtherType(et, d) => SlicedPacket::from_ether_type(EtherType(et), d),
            Start::Ip(d) => SlicedPacket::from_ip(d),
        };
        if let Ok(p) = strict {
            return (Self::from_strict(p), sll_by_hand);
        }
        let lax = match start {
            Start::Ethernet(d) => LaxSlicedPacket::from_ethernet(d).ok(),
            Start::LinuxSll(d) => match LinuxSllSlice::from_slice(d) {
                Ok(sll) => match sll.protocol_type() {
                    LinuxSllProtocolType::EtherType(et) => {
                        Some(LaxSlicedPacket::from_ether_type(et, sll.payload_slice()))
                    }
                    _ => None,
                },
                Err(_) => None,
            },
            Start::EtherType(et, d) => Some(LaxSlicedPacket::from_ether_type(EtherType(et), d)),
            Start::Ip(d) => LaxSlicedPacket::from_ip(d).ok(),
        };
        match lax {
            Some(p) => (Self::from_lax(p), sll_by_hand),
            None => (Self::failed(), sll_by_hand),
        }
    }

    fn from_strict(p: SlicedPacket<'a>) -> Self {
        let vlans = p.vlan_ids().iter().map(|v| v.value()).collect();
        let stop_ether_type = p.payload_ether_type().map(|e| e.0);
        let ip = match &p.net {
            Some(NetSlice::Ipv4(s)) => {
                let pl = s.payload();
                let auth = s.extensions().auth.is_some();
                Some(TheirIp::v4(
                    &s.header(),
                    auth,
                    pl.ip_number.0,
                    pl.fragmented,
                    false,
                    pl.payload,
                ))
            }
            Some(NetSlice::Ipv6(s)) => {
                let pl = s.payload();
                let (number, fragmented) = (pl.ip_number.0, pl.fragmented);
                Some(TheirIp::v6(
                    &s.header(),
                    s.extensions(),
                    number,
                    fragmented,
                    false,
                    pl.payload,
                ))
            }
            Some(NetSlice::Arp(_)) | None => None,
        };
        TheirView {
            mode: TheirParse::Strict,
            macsec: p.link_exts.iter().any(|e| matches!(e, LinkExtSlice::Macsec(_))),
            link_exts: p.link_exts.len(),
            vlans,
            stop_ether_type,
            stop_layer: None,
            hop_by_hop_not_first: false,
            bad_auth_header: false,
            ip,
            transport: p.transport,
        }
    }

    fn from_lax(p: LaxSlicedPacket<'a>) -> Self {
        let vlans = p.vlan_ids().iter().map(|v| v.value()).collect();
        let stop_ether_type = if p.net.is_some() {
            None
        } else {
            match p.link_exts.last() {
                Some(LaxLinkExtSlice::Vlan(v)) => Some(v.ether_type().0),
                Some(LaxLinkExtSlice::Macsec(m)) => m.next_ether_type().map(|e: EtherType| e.0),
                None => match &p.link {
                    Some(LinkSlice::Ethernet2(e)) => Some(e.ether_type().0),
                    Some(LinkSlice::EtherPayload(e)) => Some(e.ether_type.0),
                    _ => None,
                },
            }
        };
        let ip = match &p.net {
            Some(LaxNetSlice::Ipv4(s)) => {
                let pl = s.payload();
                let auth = s.extensions().auth.is_some();
                let (number, fragmented, incomplete) =
                    (pl.ip_number.0, pl.fragmented, pl.incomplete);
                Some(TheirIp::v4(&s.header(), auth, number, fragmented, incomplete, pl.payload))
            }
            Some(LaxNetSlice::Ipv6(s)) => {
                let pl = s.payload();
                let (number, fragmented, incomplete) =
                    (pl.ip_number.0, pl.fragmented, pl.incomplete);
                Some(TheirIp::v6(
                    &s.header(),
                    s.extensions(),
                    number,
                    fragmented,
                    incomplete,
                    pl.payload,
                ))
            }
            Some(LaxNetSlice::Arp(_)) | None => None,
        };
        TheirView {
            mode: TheirParse::Lax,
            macsec: p.link_exts.iter().any(|e| matches!(e, LaxLinkExtSlice::Macsec(_))),
            link_exts: p.link_exts.len(),
            vlans,
            stop_ether_type,
            stop_layer: p.stop_err.as_ref().map(|(_, layer)| *layer),
            hop_by_hop_not_first: matches!(
                &p.stop_err,
                Some((SliceError::Ipv6Exts(Ipv6ExtsError::HopByHopNotAtStart), _))
            ),
            bad_auth_header: matches!(
                &p.stop_err,
                Some((SliceError::Ipv6Exts(Ipv6ExtsError::IpAuth(_)) | SliceError::Ipv4Exts(_), _))
                    | Some((_, Layer::IpAuthHeader))
            ),
            ip,
            transport: p.transport,
        }
    }
}

impl<'a> TheirIp<'a> {
    fn v4(
        h: &Ipv4HeaderSlice<'_>,
        auth: bool,
        ip_number: u8,
        fragmented: bool,
        incomplete: bool,
        payload: &'a [u8],
    ) -> Self {
        TheirIp {
            version: 4,
            src: IpAddr::V4(h.source_addr()),
            dst: IpAddr::V4(h.destination_addr()),
            header_addr: h.slice().as_ptr() as usize,
            payload,
            ip_number,
            fragmented,
            incomplete,
            ttl: h.ttl(),
            tos: (h.dcp().value() << 2) | h.ecn().value(),
            v4_id_flags: Some((h.identification(), h.dont_fragment(), h.more_fragments())),
            ipv4_auth: auth,
            ipv6_routing: false,
            ipv6_dest_options: false,
            ipv6_zero_payload_len: false,
        }
    }

    fn v6(
        h: &Ipv6HeaderSlice<'_>,
        exts: &Ipv6ExtensionsSlice<'_>,
        ip_number: u8,
        fragmented: bool,
        incomplete: bool,
        payload: &'a [u8],
    ) -> Self {
        let ext = ipv6_ext_facts(exts);
        TheirIp {
            version: 6,
            src: IpAddr::V6(h.source_addr()),
            dst: IpAddr::V6(h.destination_addr()),
            header_addr: h.slice().as_ptr() as usize,
            payload,
            ip_number,
            fragmented,
            incomplete,
            ttl: h.hop_limit(),
            tos: h.traffic_class(),
            v4_id_flags: None,
            ipv4_auth: false,
            ipv6_routing: ext.routing,
            ipv6_dest_options: ext.dest_options,
            ipv6_zero_payload_len: h.payload_length() == 0 && h.next_header().0 != 0,
        }
    }
}

/// What etherparse's IPv6 extension headers hold.
#[derive(Debug, Clone, Copy, Default)]
struct ExtFacts {
    /// A routing header with segments left.
    routing: bool,
    /// A destination-options header.
    dest_options: bool,
    /// How many extension headers.
    count: usize,
}

/// Walk the extension headers etherparse accepted (`exts.slice()`, from
/// `exts.first_header()`), bounds-checked. etherparse's own iterator is not
/// used: after the lax slicer stopped inside an extension header it reads past
/// the accepted bytes (an out-of-bounds `get_unchecked`, found by the
/// `decode_differential` fuzz target).
fn ipv6_ext_facts(exts: &Ipv6ExtensionsSlice<'_>) -> ExtFacts {
    let mut f = ExtFacts::default();
    let Some(mut nh) = exts.first_header().map(|n| n.0) else { return f };
    let d = exts.slice();
    let mut off = 0usize;
    while let (Some(&next), Some(&l)) = (d.get(off), d.get(off + 1)) {
        let len = match nh {
            51 => (usize::from(l) + 2) * 4,
            44 => 8,
            _ => (usize::from(l) + 1) * 8,
        };
        match nh {
            43 => f.routing |= d.get(off + 3).is_some_and(|&left| left > 0),
            60 => f.dest_options = true,
            _ => {}
        }
        f.count += 1;
        nh = next;
        off += len;
    }
    f
}

/// etherparse's TCP flags as our flags byte.
fn tcp_flags(s: &etherparse::TcpSlice<'_>) -> u8 {
    [s.fin(), s.syn(), s.rst(), s.psh(), s.ack(), s.urg(), s.ece(), s.cwr()]
        .iter()
        .enumerate()
        .fold(0u8, |acc, (i, &set)| acc | (u8::from(set) << i))
}

/// Whether the IP version a link declares (raw IPv4/IPv6, a BSD loopback family)
/// differs from the version nibble of the header after it.
fn link_version_mismatch(linktype: LinkType, data: &[u8]) -> bool {
    let family = |d: &[u8]| {
        let b: [u8; 4] = d.get(..4)?.try_into().ok()?;
        let le = u32::from_le_bytes(b);
        Some(if le <= 0xffff { le } else { u32::from_be_bytes(b) })
    };
    let (declared, skip) = match linktype.0 {
        228 => (Some(4), 0),
        229 => (Some(6), 0),
        0 | 108 => match family(data) {
            Some(2) => (Some(4), 4),
            Some(10 | 24 | 28 | 30) => (Some(6), 4),
            _ => (None, 4),
        },
        _ => (None, 0),
    };
    match (declared, data.get(skip)) {
        (Some(v), Some(b)) => b >> 4 != v,
        _ => false,
    }
}

/// Offset of `sub` (a subslice of `frame`) in `frame`.
fn offset(frame: &[u8], sub: &[u8]) -> usize {
    (sub.as_ptr() as usize).wrapping_sub(frame.as_ptr() as usize)
}

fn ip_version(a: IpAddr) -> u8 {
    if a.is_ipv4() { 4 } else { 6 }
}

fn ip_name(a: IpAddr) -> &'static str {
    if a.is_ipv4() { "ipv4" } else { "ipv6" }
}

fn fmt_list(v: &[u16]) -> String {
    format!("{v:?}")
}

fn fmt_flags(f: u8) -> String {
    format!("{f:#04x}")
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ethernet + 802.1Q 7 + IPv4/TCP SYN 10.0.0.1:40000 → 10.0.0.2:80 with 3 payload bytes.
    fn tagged_tcp() -> Vec<u8> {
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&[0x81, 0x00, 0x00, 0x07, 0x08, 0x00]);
        f.extend_from_slice(&[
            0x45, 0, 0, 43, 0, 1, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ]);
        f.extend_from_slice(&[0x9c, 0x40, 0, 80, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff]);
        f.extend_from_slice(&[0, 0, 0, 0, b'a', b'b', b'c']);
        f
    }

    #[test]
    fn a_plain_frame_agrees() {
        let c = compare_frame(LinkType::ETHERNET, &tagged_tcp());
        assert_eq!(c.theirs, TheirParse::Strict);
        assert!(c.compared && c.both_clean());
        assert!(c.agrees(), "{:?}", c.disagreements);
    }

    #[test]
    fn unsupported_links_are_not_compared() {
        let c = compare_frame(LinkType::IEEE802_11, &[0u8; 40]);
        assert_eq!((c.theirs, c.compared), (TheirParse::Unsupported, false));
        assert!(c.agrees());
    }

    #[test]
    fn a_quote_cut_inside_an_extension_header() {
        // Raw IPv6, ICMPv6 packet too big quoting IPv6 → hop-by-hop → destination options
        // claiming 48 bytes of which 4 are quoted. etherparse's extension iterator reads
        // past the bytes its lax slicer accepted here (found by the fuzz target).
        let quote = [
            &[0x60, 0, 0, 0, 0, 100, 0, 64][..],
            &[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
            &[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2],
            &[60, 0, 1, 4, 0, 0, 0, 0],
            &[17, 5, 0, 0],
        ]
        .concat();
        let icmp = [&[2, 0, 0, 0, 0, 0, 5, 0][..], &quote].concat();
        let mut f = vec![0x60, 0, 0, 0, 0, icmp.len() as u8, 58, 64];
        f.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3]);
        f.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        f.extend_from_slice(&icmp);
        let c = compare_frame(LinkType::IPV6, &f);
        assert!(c.compared && c.facts.quote_cut);
        for d in &c.disagreements {
            assert_ne!(d.class, Class::Unexplained, "{d:?}");
        }
    }

    #[test]
    fn garbage_never_panics() {
        let base = tagged_tcp();
        for lt in [0, 1, 12, 101, 108, 113, 228, 229, 276, 105] {
            for cut in 0..base.len() {
                let _ = compare_frame(LinkType(lt), &base[..cut]);
                let mut bad = base.clone();
                bad[cut] ^= 0xff;
                let _ = compare_frame(LinkType(lt), &bad);
            }
        }
    }
}
