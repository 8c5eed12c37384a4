//! What etherparse makes of a frame: the view [`super::compare`] holds against ours.

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

use super::{Entry, TheirParse};
use crate::packet::types::LinkType;

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
pub(super) struct TheirView<'a> {
    pub(super) mode: TheirParse,
    pub(super) vlans: Vec<u16>,
    pub(super) macsec: bool,
    pub(super) link_exts: usize,
    pub(super) stop_ether_type: Option<u16>,
    pub(super) stop_layer: Option<Layer>,
    pub(super) hop_by_hop_not_first: bool,
    pub(super) bad_auth_header: bool,
    pub(super) ip: Option<TheirIp<'a>>,
    pub(super) transport: Option<TransportSlice<'a>>,
}

/// etherparse's network header.
pub(super) struct TheirIp<'a> {
    pub(super) version: u8,
    pub(super) src: IpAddr,
    pub(super) dst: IpAddr,
    /// Address of the IP header's first byte (locates it in the frame).
    pub(super) header_addr: usize,
    /// The payload after the extension headers (cut to the declared length, or to the capture).
    pub(super) payload: &'a [u8],
    pub(super) ip_number: u8,
    pub(super) fragmented: bool,
    pub(super) incomplete: bool,
    pub(super) ttl: u8,
    pub(super) tos: u8,
    /// IPv4 identification, DF and MF.
    pub(super) v4_id_flags: Option<(u16, bool, bool)>,
    pub(super) ipv4_auth: bool,
    pub(super) ipv6_routing: bool,
    pub(super) ipv6_dest_options: bool,
    pub(super) ipv6_zero_payload_len: bool,
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

    pub(super) fn parse(entry: Entry, data: &'a [u8]) -> (Self, bool) {
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
pub(super) struct ExtFacts {
    /// A routing header with segments left.
    pub(super) routing: bool,
    /// A destination-options header.
    pub(super) dest_options: bool,
    /// How many extension headers.
    pub(super) count: usize,
}

/// Walk the extension headers etherparse accepted (`exts.slice()`, from
/// `exts.first_header()`), bounds-checked. etherparse's own iterator is not
/// used: after the lax slicer stopped inside an extension header it reads past
/// the accepted bytes (an out-of-bounds `get_unchecked`, found by the
/// `decode_differential` fuzz target).
pub(super) fn ipv6_ext_facts(exts: &Ipv6ExtensionsSlice<'_>) -> ExtFacts {
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
pub(super) fn tcp_flags(s: &etherparse::TcpSlice<'_>) -> u8 {
    [s.fin(), s.syn(), s.rst(), s.psh(), s.ack(), s.urg(), s.ece(), s.cwr()]
        .iter()
        .enumerate()
        .fold(0u8, |acc, (i, &set)| acc | (u8::from(set) << i))
}

/// Whether the IP version a link declares (raw IPv4/IPv6, a BSD loopback family)
/// differs from the version nibble of the header after it.
pub(super) fn link_version_mismatch(linktype: LinkType, data: &[u8]) -> bool {
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
