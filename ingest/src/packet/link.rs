//! Link-layer headers: dispatch on the capture's link type, plus the simple
//! ones (BSD NULL/LOOP, raw IP, Linux SLL/SLL2, PPP, Cisco HDLC, NFLOG).
//! 802.11 and its radio headers live in [`super::wlan`].

use super::bytes::{be16, be32, le16, le32, tail, u8_at};
use super::decoder::Ctx;
use super::types::{Encapsulation, LinkType};
use super::{ip, l2, wlan};

const NONE: Encapsulation = Encapsulation::None;

/// Decode a frame of link type `lt`.
pub(crate) fn decode_link(ctx: &mut Ctx<'_>, lt: LinkType, data: &[u8]) {
    match lt.0 {
        1 => l2::ethernet(ctx, data, NONE),
        0 | 108 => null(ctx, data),
        // RAW; 12 and 14 are DLT_RAW on some BSDs.
        101 | 12 | 14 => ip::ip_any(ctx, data, NONE),
        228 => ip::ipv4(ctx, data, NONE),
        229 => ip::ipv6(ctx, data, NONE),
        113 => sll(ctx, data),
        276 => sll2(ctx, data),
        // PPP, and PPP in HDLC-like framing (DLT 50).
        9 | 50 => ppp(ctx, data),
        104 => chdlc(ctx, data),
        105 => wlan::ieee80211(ctx, data, NONE),
        127 => wlan::radiotap(ctx, data, NONE),
        192 => wlan::ppi(ctx, data),
        239 => nflog(ctx, data),
        other => ctx.weird_addl("unknown_link_type", other.to_string()),
    }
}

/// BSD loopback: a 4-byte address family, in host byte order for NULL and
/// big-endian for LOOP; both orders are accepted.
fn null(ctx: &mut Ctx<'_>, data: &[u8]) {
    let Some(le) = le32(data, 0) else { return ctx.weird("truncated_null_header") };
    let fam = if le <= 0xffff { le } else { be32(data, 0).unwrap_or(0) };
    let d = &data[4..];
    match fam {
        2 => ip::ipv4(ctx, d, NONE),
        // AF_INET6 on Linux, NetBSD/OpenBSD, FreeBSD, Darwin.
        10 | 24 | 28 | 30 => ip::ipv6(ctx, d, NONE),
        _ => ctx.weird_addl("non_ip_packet_in_null_transport", fam.to_string()),
    }
}

/// Dispatch on a Linux cooked-capture protocol field, which is an ethertype except for
/// the ARPHRD types tcpdump.org's LINKTYPE_LINUX_SLL page lists.
fn sll_proto(ctx: &mut Ctx<'_>, hatype: u16, proto: u16, d: &[u8]) {
    match (hatype, proto) {
        // Netlink messages: not IP.
        (824, _) => {}
        // ARPHRD_FRAD: a Frame Relay LAPF frame, the protocol field is ignored.
        (770, _) => {}
        // ARPHRD_IEEE80211_RADIOTAP: radiotap and 802.11, the protocol field is ignored.
        (803, _) => wlan::radiotap(ctx, d, NONE),
        // 802.2 LLC frame follows.
        (_, 0x0004) => l2::llc(ctx, d, NONE),
        (_, p) if p >= 0x0600 => l2::dispatch(ctx, p, d, NONE),
        _ => {}
    }
}

/// Linux SLL: packet type, ARPHRD type, address length, 8 address bytes, protocol.
fn sll(ctx: &mut Ctx<'_>, data: &[u8]) {
    let (Some(hatype), Some(proto)) = (be16(data, 2), be16(data, 14)) else {
        return ctx.weird("truncated_Linux_SLL_header");
    };
    sll_proto(ctx, hatype, proto, tail(data, 16));
}

/// Linux SLL2: protocol, reserved, ifindex, ARPHRD type, packet type, address length, 8 address bytes.
fn sll2(ctx: &mut Ctx<'_>, data: &[u8]) {
    if data.len() < 20 {
        return ctx.weird("truncated_Linux_SLL2_header");
    }
    let proto = u16::from_be_bytes([data[0], data[1]]);
    let hatype = u16::from_be_bytes([data[8], data[9]]);
    sll_proto(ctx, hatype, proto, &data[20..]);
}

/// PPP; some captures labelled PPP actually carry Cisco HDLC framing
/// (address 0x0f unicast or 0x8f broadcast, control 0).
fn ppp(ctx: &mut Ctx<'_>, data: &[u8]) {
    match data {
        [0x0f | 0x8f, 0x00, ..] => chdlc(ctx, data),
        _ => l2::ppp_frame(ctx, data, NONE),
    }
}

/// Cisco HDLC: address, control, then an ethertype.
fn chdlc(ctx: &mut Ctx<'_>, data: &[u8]) {
    let Some(proto) = be16(data, 2) else { return ctx.weird("truncated_chdlc_header") };
    if proto >= 0x0600 {
        l2::dispatch(ctx, proto, &data[4..], NONE);
    }
}

/// NFLOG: family, version, resource id, then TLVs (little-endian length
/// including the 4-byte TLV header, type; padded to 4 bytes). Type 9 is the
/// packet payload.
fn nflog(ctx: &mut Ctx<'_>, data: &[u8]) {
    let Some(family) = u8_at(data, 0) else { return ctx.weird("truncated_nflog_header") };
    if data.len() < 4 {
        return ctx.weird("truncated_nflog_header");
    }
    let mut off = 4usize;
    loop {
        let (Some(len), Some(typ)) = (le16(data, off), le16(data, off + 2)) else {
            return ctx.weird("nflog_no_pcap_payload");
        };
        let len = len as usize;
        if len < 4 || off + len > data.len() {
            return ctx.weird_addl("nflog_bad_tlv_len", len.to_string());
        }
        if typ & 0x7fff == 9 {
            let d = &data[off + 4..off + len];
            return match family {
                2 => ip::ipv4(ctx, d, NONE),
                10 => ip::ipv6(ctx, d, NONE),
                _ => ip::ip_any(ctx, d, NONE),
            };
        }
        off += (len + 3) & !3;
    }
}

#[cfg(test)]
mod tests {
    use super::super::Decoder;
    use super::super::types::{DecodedPacket, LinkType, RawPacket};

    /// IPv4/TCP SYN 192.168.0.1:40000 → 192.168.0.2:80, no payload.
    fn ipv4_tcp() -> Vec<u8> {
        vec![
            0x45, 0, 0, 40, 0, 1, 0x40, 0, 64, 6, 0, 0, // len 40, DF, ttl 64, tcp
            192, 168, 0, 1, 192, 168, 0, 2, //
            0x9c, 0x40, 0, 80, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0,
        ]
    }

    /// IPv6/UDP ::1:5 → ::2:6, 0 payload bytes.
    fn ipv6_udp() -> Vec<u8> {
        let mut v = vec![0x60, 0, 0, 0, 0, 8, 17, 64];
        v.extend_from_slice(&[0; 15]);
        v.push(1);
        v.extend_from_slice(&[0; 15]);
        v.push(2);
        v.extend_from_slice(&[0, 5, 0, 6, 0, 8, 0, 0]);
        v
    }

    fn decode(lt: u32, frame: &[u8]) -> DecodedPacket {
        Decoder::default().decode(&RawPacket {
            ts: 0,
            data: frame,
            wire_len: frame.len() as u32,
            linktype: LinkType(lt),
        })
    }

    #[test]
    fn raw_null_loop() {
        assert_eq!(decode(101, &ipv4_tcp()).layers.len(), 1);
        assert_eq!(decode(14, &ipv6_udp()).layers.len(), 1);
        assert_eq!(decode(228, &ipv4_tcp()).layers.len(), 1);
        assert_eq!(decode(229, &ipv6_udp()).layers.len(), 1);
        // NULL little-endian AF_INET, big-endian AF_INET6 (30, Darwin), LOOP big-endian.
        assert_eq!(decode(0, &[&[2, 0, 0, 0][..], &ipv4_tcp()].concat()).layers.len(), 1);
        assert_eq!(decode(0, &[&[0, 0, 0, 30][..], &ipv6_udp()].concat()).layers.len(), 1);
        assert_eq!(decode(108, &[&[0, 0, 0, 2][..], &ipv4_tcp()].concat()).layers.len(), 1);
    }

    #[test]
    fn sll_sll2_ppp_chdlc() {
        // SLL: outgoing (4), ARPHRD_ETHER (1), addr len 6, addr, protocol IPv4.
        let sll =
            [&[0, 4, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0, 0x08, 0x00][..], &ipv4_tcp()].concat();
        assert_eq!(decode(113, &sll).layers.len(), 1);
        // SLL2: protocol IPv6, reserved, ifindex 2, ARPHRD_ETHER, pkt type, addr len, addr.
        let sll2 =
            [&[0x86, 0xdd, 0, 0, 0, 0, 0, 2, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0][..], &ipv6_udp()]
                .concat();
        assert_eq!(decode(276, &sll2).layers.len(), 1);
        // PPP with address/control and protocol 0x0021.
        assert_eq!(decode(9, &[&[0xff, 0x03, 0, 0x21][..], &ipv4_tcp()].concat()).layers.len(), 1);
        // Cisco HDLC unicast, control 0, ethertype IPv4.
        assert_eq!(decode(104, &[&[0x0f, 0, 0x08, 0][..], &ipv4_tcp()].concat()).layers.len(), 1);
    }

    #[test]
    fn sll_arphrd_types_whose_protocol_is_not_an_ethertype() {
        // SLL header with ARPHRD type `hatype` and protocol 0x0800.
        let sll = |hatype: u16, payload: &[u8]| {
            let h = hatype.to_be_bytes();
            [&[0, 0, h[0], h[1], 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x08, 0x00][..], payload].concat()
        };
        // ARPHRD_FRAD: a Frame Relay frame, not IPv4 whatever the protocol field says
        // (etherparse's oracle found us reading one as an ethertype).
        assert!(decode(113, &sll(770, &ipv4_tcp())).layers.is_empty());
        // ARPHRD_IEEE80211_RADIOTAP: radiotap (8 bytes), 802.11 data, LLC/SNAP, IPv4.
        let mut wlan = vec![0, 0, 8, 0, 0, 0, 0, 0, 0x08, 0x02, 0, 0];
        wlan.extend_from_slice(&[0x11; 18]);
        wlan.extend_from_slice(&[0, 0, 0xaa, 0xaa, 0x03, 0, 0, 0, 0x08, 0x00]);
        wlan.extend_from_slice(&ipv4_tcp());
        assert_eq!(decode(113, &sll(803, &wlan)).layers.len(), 1);
        // ARPHRD_ETHER: the protocol is an ethertype.
        assert_eq!(decode(113, &sll(1, &ipv4_tcp())).layers.len(), 1);
    }

    #[test]
    fn nflog_tlvs() {
        // Header: AF_INET, v0, resource 0. TLV prefix (len 8, type 1, hw proto+hook),
        // then TLV payload (type 9).
        let mut f = vec![2, 0, 0, 0, 8, 0, 1, 0, 0x08, 0x00, 3, 0];
        let p = ipv4_tcp();
        f.extend_from_slice(&((p.len() + 4) as u16).to_le_bytes());
        f.extend_from_slice(&[9, 0]);
        f.extend_from_slice(&p);
        assert_eq!(decode(239, &f).layers.len(), 1);
        // A TLV with length 2 (< 4): a weird, no loop, no panic.
        let bad = decode(239, &[2, 0, 0, 0, 2, 0, 1, 0, 0, 0]);
        assert!(bad.layers.is_empty());
        assert_eq!(bad.weirds[0].name, "nflog_bad_tlv_len");
        // A TLV longer than the frame.
        assert!(!decode(239, &[2, 0, 0, 0, 0xff, 0, 9, 0, 0x45]).weirds.is_empty());
    }

    #[test]
    fn unknown_and_empty() {
        assert_eq!(decode(9999, &[1, 2, 3]).weirds[0].name, "unknown_link_type");
        for lt in [0, 1, 9, 12, 101, 104, 105, 108, 113, 127, 192, 228, 229, 239, 276] {
            let _ = decode(lt, &[]);
            let _ = decode(lt, &[0x45]);
        }
    }
}
