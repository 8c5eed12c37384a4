//! Ethernet and the layer-2 shims between it and IP: 802.1Q/802.1ad VLAN
//! tags, MPLS label stacks, PPPoE sessions, 802.1ah PBB, Cisco FabricPath,
//! VN-Tag, and 802.2 LLC/SNAP.

use super::bytes::{be16, tail};
use super::decoder::Ctx;
use super::ip;
use super::types::Encapsulation;

/// Ethertypes the decoder follows.
pub(crate) mod ethertype {
    /// IPv4.
    pub const IPV4: u16 = 0x0800;
    /// IPv6.
    pub const IPV6: u16 = 0x86dd;
    /// Transparent Ethernet bridging (an Ethernet frame follows).
    pub const TEB: u16 = 0x6558;
}

/// Most L2 shims (tags, labels) followed in one frame.
const MAX_L2_SHIMS: usize = 32;

/// Decode an Ethernet II / 802.3 frame.
pub(crate) fn ethernet(ctx: &mut Ctx<'_>, data: &[u8], encap: Encapsulation) {
    let mut d = data;
    if d.len() < 14 {
        ctx.weird("truncated_ethernet_frame");
        return;
    }
    if d[12] == 0x89 && d[13] == 0x03 {
        // Cisco FabricPath: outer DA, SA, ethertype + FTag/TTL (16 bytes),
        // then the classic Ethernet frame.
        if d.len() < 16 + 14 {
            ctx.weird("truncated_link_header_cfp");
            return;
        }
        d = &d[16..];
    }
    let et = u16::from_be_bytes([d[12], d[13]]);
    dispatch(ctx, et, &d[14..], encap);
}

/// Decode what follows an ethertype (also the 802.3 length case).
pub(crate) fn dispatch(ctx: &mut Ctx<'_>, mut et: u16, mut d: &[u8], encap: Encapsulation) {
    for _ in 0..MAX_L2_SHIMS {
        match et {
            ethertype::IPV4 => return ip::ipv4(ctx, d, encap),
            ethertype::IPV6 => return ip::ipv6(ctx, d, encap),
            0..=1500 => return llc(ctx, &d[..d.len().min(et as usize)], encap),
            1501..=0x05ff => return ctx.weird("undefined_ether_type"),
            // 802.1Q, 802.1ad, and the pre-standard Q-in-Q types.
            0x8100 | 0x88a8 | 0x9100 | 0x9200 | 0x9300 => {
                let (Some(tci), Some(next)) = (be16(d, 0), be16(d, 2)) else {
                    return ctx.weird("truncated_VLAN_header");
                };
                // Tags inside a tunnel belong to the inner frame; the
                // packet's vlan/inner_vlan describe the outer frame.
                if encap == Encapsulation::None {
                    ctx.set_vlan(tci & 0x0fff);
                }
                et = next;
                d = &d[4..];
            }
            0x8847 | 0x8848 => return mpls(ctx, d, encap),
            0x8864 => return pppoe(ctx, d, encap),
            // 802.1ah PBB: I-TAG (4) + customer DA/SA (12) + ethertype.
            0x88e7 => {
                let Some(next) = be16(d, 16) else { return ctx.weird("truncated_PBB_header") };
                et = next;
                d = &d[18..];
            }
            // VN-Tag: 4 tag bytes + ethertype.
            0x8926 => {
                let Some(next) = be16(d, 4) else { return ctx.weird("truncated_VN_tag_header") };
                et = next;
                d = &d[6..];
            }
            // FabricPath reached through a tag: FTag/TTL then Ethernet.
            0x8903 => return ethernet(ctx, tail(d, 2), encap),
            ethertype::TEB => return ethernet(ctx, d, encap),
            0x894f => return nsh(ctx, d, encap),
            // ARP, LLDP, EAPOL, ...: not IP.
            _ => return,
        }
    }
    ctx.weird("too_many_l2_headers");
}

/// 802.2 LLC, with SNAP carrying an ethertype.
pub(crate) fn llc(ctx: &mut Ctx<'_>, d: &[u8], encap: Encapsulation) {
    if d.len() >= 8 && d[0] == 0xaa && d[1] == 0xaa && d[2] == 0x03 {
        let et = u16::from_be_bytes([d[6], d[7]]);
        if et > 1500 {
            dispatch(ctx, et, &d[8..], encap);
        }
    }
    // Other SAPs (STP, NetBIOS, IPX, ...) carry no IP.
}

/// An MPLS label stack; after the bottom of stack, guess by version nibble.
pub(crate) fn mpls(ctx: &mut Ctx<'_>, data: &[u8], encap: Encapsulation) {
    let mut d = data;
    loop {
        if d.len() < 4 {
            return ctx.weird("truncated_link_header");
        }
        let bos = d[2] & 0x01 != 0;
        d = &d[4..];
        if bos {
            break;
        }
    }
    match d.first().map(|b| b >> 4) {
        Some(4) => ip::ipv4(ctx, d, encap),
        Some(6) => ip::ipv6(ctx, d, encap),
        // Pseudowire with the Ethernet control word (first nibble 0).
        Some(0) if d.len() >= 4 + 14 => ethernet(ctx, &d[4..], encap),
        Some(_) => ctx.weird("no_ip_in_mpls_payload"),
        None => ctx.weird("truncated_link_header"),
    }
}

/// A Network Service Header (RFC 8300): its length field counts 4-byte words
/// of the whole header; the next protocol is 1 IPv4, 2 IPv6, 3 Ethernet,
/// 4 NSH, 5 MPLS.
pub(crate) fn nsh(ctx: &mut Ctx<'_>, d: &[u8], encap: Encapsulation) {
    if d.len() < 8 {
        return ctx.weird("nsh_truncated");
    }
    let len = usize::from(d[1] & 0x3f) * 4;
    if len < 8 || len > d.len() {
        return ctx.weird("nsh_bad_length");
    }
    let inner = &d[len..];
    match d[3] {
        1 => ip::ipv4(ctx, inner, encap),
        2 => ip::ipv6(ctx, inner, encap),
        3 => ethernet(ctx, inner, encap),
        4 => dispatch(ctx, 0x894f, inner, encap),
        5 => mpls(ctx, inner, encap),
        _ => ctx.weird("nsh_unknown_next_protocol"),
    }
}

/// A PPPoE session frame: 6-byte header, then the PPP protocol.
pub(crate) fn pppoe(ctx: &mut Ctx<'_>, d: &[u8], encap: Encapsulation) {
    let (Some(len), Some(proto)) = (be16(d, 4), be16(d, 6)) else {
        return ctx.weird("truncated_pppoe_header");
    };
    let end = (6 + len as usize).min(d.len());
    ppp_proto(ctx, proto, d.get(8..end).unwrap_or(&[]), encap);
}

/// A PPP frame: optional HDLC address/control bytes (0xff 0x03), then a
/// 2-byte protocol or a 1-byte compressed one (odd first byte).
pub(crate) fn ppp_frame(ctx: &mut Ctx<'_>, data: &[u8], encap: Encapsulation) {
    let d = if data.len() >= 2 && data[0] == 0xff && data[1] == 0x03 { &data[2..] } else { data };
    match d.first() {
        Some(&b) if b & 1 == 1 => ppp_proto(ctx, b as u16, &d[1..], encap),
        Some(_) => match be16(d, 0) {
            Some(p) => ppp_proto(ctx, p, &d[2..], encap),
            None => ctx.weird("truncated_ppp_header"),
        },
        None => ctx.weird("truncated_ppp_header"),
    }
}

/// Dispatch on a PPP protocol number.
pub(crate) fn ppp_proto(ctx: &mut Ctx<'_>, proto: u16, d: &[u8], encap: Encapsulation) {
    match proto {
        0x0021 => ip::ipv4(ctx, d, encap),
        0x0057 => ip::ipv6(ctx, d, encap),
        // LCP, IPCP, CHAP, ...: control traffic.
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::super::Decoder;
    use super::super::types::{DecodedPacket, LinkType, RawPacket};
    use std::net::IpAddr;

    /// A minimal IPv4/UDP packet 10.0.0.1:1000 → 10.0.0.2:2000, 4 payload bytes.
    pub(crate) fn ipv4_udp() -> Vec<u8> {
        vec![
            0x45, 0, 0, 32, 0, 1, 0, 0, 64, 17, 0,
            0, // ver/ihl, tos, len 32, id 1, ttl 64, udp
            10, 0, 0, 1, 10, 0, 0, 2, // src, dst
            0x03, 0xe8, 0x07, 0xd0, 0, 12, 0, 0, // udp 1000 → 2000, len 12
            b'a', b'b', b'c', b'd',
        ]
    }

    fn eth(ethertype_and_rest: &[u8]) -> Vec<u8> {
        let mut f = vec![0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]; // dst, src MACs
        f.extend_from_slice(ethertype_and_rest);
        f
    }

    fn decode(frame: &[u8]) -> DecodedPacket {
        Decoder::default().decode(&RawPacket {
            ts: 0,
            data: frame,
            wire_len: frame.len() as u32,
            linktype: LinkType::ETHERNET,
        })
    }

    fn src_of(p: &DecodedPacket) -> IpAddr {
        p.innermost().expect("a layer").src
    }

    #[test]
    fn plain_and_qinq() {
        let p = decode(&eth(&[&[0x08, 0x00][..], &ipv4_udp()].concat()));
        assert_eq!(p.layers.len(), 1);
        assert_eq!(src_of(&p).to_string(), "10.0.0.1");
        assert_eq!(p.layers[0].payload_len, 4);
        assert_eq!(&p.layers[0].payload_prefix[..4], b"abcd");
        // 802.1ad outer tag 100, 802.1Q inner tag 200, then IPv4.
        let f =
            eth(&[&[0x88, 0xa8, 0x00, 100, 0x81, 0x00, 0x00, 200, 0x08, 0x00][..], &ipv4_udp()]
                .concat());
        let p = decode(&f);
        assert_eq!((p.vlan, p.inner_vlan), (Some(100), Some(200)));
        assert_eq!(p.layers.len(), 1);
    }

    #[test]
    fn nsh_md_type_1_and_2() {
        // NSH (0x894f): ver 0, TTL 63, length 6 words (24 bytes), MD type 1,
        // next protocol 1 (IPv4); service path 4 bytes; 16 bytes of context.
        let mut nsh1 = vec![0x0f, 0xc6, 0x01, 0x01, 0, 0, 1, 255];
        nsh1.extend_from_slice(&[0; 16]);
        let p = decode(&eth(&[&[0x89, 0x4f][..], &nsh1, &ipv4_udp()].concat()));
        assert_eq!(src_of(&p).to_string(), "10.0.0.1");
        // MD type 2 with no metadata (2 words), next protocol 3 (Ethernet).
        let nsh2 = [0x0f, 0xc2, 0x02, 0x03, 0, 0, 1, 255];
        let inner = eth(&[&[0x08, 0x00][..], &ipv4_udp()].concat());
        let p = decode(&eth(&[&[0x89, 0x4f][..], &nsh2, &inner].concat()));
        assert_eq!(p.layers.len(), 1);
        // A length past the frame is a weird, not a panic.
        let bad = [0x0f, 0xff, 0x02, 0x01, 0, 0, 1, 255];
        let p = decode(&eth(&[&[0x89, 0x4f][..], &bad[..]].concat()));
        assert!(p.layers.is_empty());
        assert_eq!(p.weirds[0].name, "nsh_bad_length");
    }

    #[test]
    fn mpls_pppoe_pbb_vntag() {
        // Two MPLS labels (second has bottom-of-stack bit), then IPv4.
        let f =
            eth(&[&[0x88, 0x47, 0, 0x01, 0x00, 64, 0, 0x02, 0x01, 64][..], &ipv4_udp()].concat());
        assert_eq!(decode(&f).layers.len(), 1);
        // MPLS pseudowire: label, control word, Ethernet, IPv4.
        let inner = eth(&[&[0x08, 0x00][..], &ipv4_udp()].concat());
        let f = eth(&[&[0x88, 0x47, 0, 0x01, 0x01, 64, 0, 0, 0, 0][..], &inner].concat());
        assert_eq!(decode(&f).layers.len(), 1);
        // PPPoE session: ver/type 0x11, code 0, session 1, length 34, PPP 0x0021.
        let f = eth(&[&[0x88, 0x64, 0x11, 0, 0, 1, 0, 34, 0, 0x21][..], &ipv4_udp()].concat());
        assert_eq!(decode(&f).layers.len(), 1);
        // PBB: I-TAG then customer MACs and ethertype IPv4.
        let mut pbb = vec![0x88, 0xe7, 0, 0, 0, 1];
        pbb.extend_from_slice(&[0; 12]);
        pbb.extend_from_slice(&[0x08, 0x00]);
        pbb.extend_from_slice(&ipv4_udp());
        assert_eq!(decode(&eth(&pbb)).layers.len(), 1);
        // VN-Tag: 4 bytes then IPv4.
        let f = eth(&[&[0x89, 0x26, 0, 0, 0, 0, 0x08, 0x00][..], &ipv4_udp()].concat());
        assert_eq!(decode(&f).layers.len(), 1);
    }

    #[test]
    fn llc_snap_and_non_ip() {
        // 802.3 length 40, LLC/SNAP with ethertype IPv4.
        let f =
            eth(&[&[0x00, 40, 0xaa, 0xaa, 0x03, 0, 0, 0, 0x08, 0x00][..], &ipv4_udp()].concat());
        assert_eq!(decode(&f).layers.len(), 1);
        // ARP: no layers, no weirds.
        let p = decode(&eth(&[0x08, 0x06, 0, 1, 8, 0, 6, 4, 0, 1]));
        assert!(p.layers.is_empty() && p.weirds.is_empty());
        // STP over LLC: no layers.
        assert!(decode(&eth(&[0x00, 0x26, 0x42, 0x42, 0x03, 0, 0])).layers.is_empty());
        // Truncated frames: a weird, no panic.
        assert!(!decode(&[0, 1, 2]).weirds.is_empty());
        assert!(!decode(&eth(&[0x81, 0x00, 0x00])).weirds.is_empty());
    }

    #[test]
    fn fabricpath() {
        // Outer DA/SA, 0x8903, FTag/TTL, then the classic frame.
        let mut f = eth(&[0x89, 0x03, 0x00, 0x3f]);
        f.extend_from_slice(&eth(&[&[0x08, 0x00][..], &ipv4_udp()].concat()));
        assert_eq!(decode(&f).layers.len(), 1);
    }
}
