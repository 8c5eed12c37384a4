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
//! etherparse is tried strictly first ([`SlicedPacket`](etherparse::SlicedPacket)); when it refuses
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
use etherparse::{LaxNetSlice, LaxSlicedPacket, TransportSlice};

use super::decoder::Decoder;
use super::types::{DecodedPacket, LinkType, NetLayer, QuotedPacket, RawPacket, Transport};

mod classify;
mod their_view;

pub use classify::*;
use their_view::{TheirIp, TheirView, ipv6_ext_facts, link_version_mismatch, tcp_flags};

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
    /// [`SlicedPacket`](etherparse::SlicedPacket) accepted the whole frame.
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
