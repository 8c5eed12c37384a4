//! Why ours and etherparse disagree: [`classify`] and the reasons it gives.

use etherparse::err::Layer;

use super::{Class, Facts, Field};

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
