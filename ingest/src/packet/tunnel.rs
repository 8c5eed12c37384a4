//! Tunnel decapsulation: IP-in-IP, GRE (with PPTP, ERSPAN I/II/III, TEB,
//! Aruba 802.11), and the UDP tunnels VXLAN, Geneve, GTP-U, Teredo, AYIYA
//! and GRE-in-UDP. Each tunnel adds a layer after the one carrying it.

use super::bytes::{be16, tail, u8_at};
use super::decoder::{Ctx, MAX_TUNNEL_DEPTH};
use super::ip;
use super::l2;
use super::transport::proto;
use super::types::{Encapsulation, Transport, UdpHeader};
use super::wlan;

/// Well-known UDP ports of the tunnels.
pub(crate) mod ports {
    /// VXLAN.
    pub const VXLAN: u16 = 4789;
    /// Geneve.
    pub const GENEVE: u16 = 6081;
    /// GTP-U.
    pub const GTPU: u16 = 2152;
    /// Teredo.
    pub const TEREDO: u16 = 3544;
    /// AYIYA.
    pub const AYIYA: u16 = 5072;
    /// GRE in UDP (RFC 8086).
    pub const GRE_UDP: u16 = 4754;
}

/// Look for a tunnel in the payload `d` of a layer with IP protocol `p`.
pub(crate) fn decap(ctx: &mut Ctx<'_>, p: u8, transport: &Transport, d: &[u8]) {
    match p {
        proto::IPIP if enter(ctx) => {
            ctx.mark_l2(d);
            ip::ipv4(ctx, d, Encapsulation::IpInIp)
        }
        proto::IPV6 if enter(ctx) => {
            ctx.mark_l2(d);
            ip::ipv6(ctx, d, Encapsulation::IpInIp)
        }
        proto::GRE if enter(ctx) => gre(ctx, d),
        proto::UDP => {
            if let Transport::Udp(u) = transport {
                udp(ctx, u, d);
            }
        }
        _ => {}
    }
}

/// True when one more tunnel level is allowed; a weird otherwise.
fn enter(ctx: &mut Ctx<'_>) -> bool {
    if ctx.tunnel_depth() >= MAX_TUNNEL_DEPTH {
        ctx.weird("exceeded_tunnel_max_depth");
        return false;
    }
    true
}

fn udp(ctx: &mut Ctx<'_>, u: &UdpHeader, d: &[u8]) {
    let is = |port: u16| u.dst_port == port || u.src_port == port;
    let handler: fn(&mut Ctx<'_>, &[u8]) = if is(ports::VXLAN) {
        vxlan
    } else if is(ports::GENEVE) {
        geneve
    } else if is(ports::GTPU) {
        gtpu
    } else if is(ports::TEREDO) {
        teredo
    } else if is(ports::AYIYA) {
        ayiya
    } else if is(ports::GRE_UDP) {
        gre
    } else if teredo_inner(d).is_some_and(has_teredo_address) {
        // Teredo on other ports (relays, direct peers), told by its 2001:0::/32 addresses.
        teredo
    } else {
        return;
    };
    if enter(ctx) {
        handler(ctx, d);
    }
}

/// GRE versions 0 and 1 (PPTP).
pub(crate) fn gre(ctx: &mut Ctx<'_>, d: &[u8]) {
    const E: Encapsulation = Encapsulation::Gre;
    let (Some(flags), Some(ptype)) = (be16(d, 0), be16(d, 2)) else {
        return ctx.weird("truncated_GRE");
    };
    let version = flags & 0x0007;
    if version > 1 {
        return ctx.weird_addl("unknown_gre_version", version.to_string());
    }
    if flags & 0x4000 != 0 {
        return ctx.weird("gre_routing");
    }
    if flags & 0x0078 != 0 {
        return ctx.weird("unknown_gre_flags");
    }
    // Checksum+reserved, key, sequence, and (PPTP) acknowledgement words.
    let hl = 4 + 4
        * ((flags & 0x8000 != 0) as usize
            + (flags & 0x2000 != 0) as usize
            + (flags & 0x1000 != 0) as usize
            + (flags & 0x0080 != 0) as usize);
    if d.len() < hl {
        return ctx.weird("truncated_GRE");
    }
    let body = &d[hl..];
    ctx.mark_l2(body);
    if version == 1 {
        if ptype != 0x880b {
            return ctx.weird_addl("egre_protocol_type", ptype.to_string());
        }
        if body.is_empty() {
            return; // a bare PPTP acknowledgement
        }
        return l2::ppp_frame(ctx, body, E);
    }
    match ptype {
        0x0800 => ip::ipv4(ctx, body, E),
        0x86dd => ip::ipv6(ctx, body, E),
        0x6558 => l2::ethernet(ctx, body, E),
        // ERSPAN type II has an 8-byte header (GRE sequence present); type I none.
        0x88be => {
            let skip = if flags & 0x1000 != 0 { 8 } else { 0 };
            if body.len() < skip + 14 {
                return ctx.weird("truncated_GRE");
            }
            ctx.mark_l2(&body[skip..]);
            l2::ethernet(ctx, &body[skip..], E);
        }
        // ERSPAN type III: 12-byte header, +8 with the platform sub-header (O bit).
        0x22eb => {
            if body.len() < 12 + 14 {
                return ctx.weird("truncated_GRE");
            }
            let skip = if body[11] & 0x01 != 0 { 20 } else { 12 };
            if body.len() < skip + 14 {
                return ctx.weird("truncated_GRE");
            }
            ctx.mark_l2(&body[skip..]);
            l2::ethernet(ctx, &body[skip..], E);
        }
        0x880b => l2::ppp_frame(ctx, body, E),
        // Aruba access points wrap 802.11 frames in GRE.
        p if ((p & 0x8200) == 0x8200 && p & 0x0f == 0)
            || ((p & 0x8300) == 0x8300 && p & 0x0f == 0 && p <= 0x8370)
            || p == 0x9000 =>
        {
            wlan::ieee80211(ctx, body, E)
        }
        p if p >= 0x0600 => l2::dispatch(ctx, p, body, E),
        _ => {}
    }
}

/// VXLAN: 8-byte header, then Ethernet.
fn vxlan(ctx: &mut Ctx<'_>, d: &[u8]) {
    if d.len() <= 8 {
        return ctx.weird("vxlan_truncated");
    }
    ctx.mark_l2(&d[8..]);
    l2::ethernet(ctx, &d[8..], Encapsulation::Vxlan);
}

/// Geneve: 8-byte header plus options; the protocol field is an ethertype.
fn geneve(ctx: &mut Ctx<'_>, d: &[u8]) {
    let (Some(b0), Some(p)) = (u8_at(d, 0), be16(d, 2)) else {
        return ctx.weird("geneve_truncated");
    };
    if b0 >> 6 != 0 {
        return ctx.weird_addl("geneve_invalid_version", (b0 >> 6).to_string());
    }
    let hl = 8 + (b0 & 0x3f) as usize * 4;
    if d.len() <= hl {
        return ctx.weird(if d.len() == hl { "geneve_empty_packet" } else { "geneve_truncated" });
    }
    ctx.mark_l2(&d[hl..]);
    l2::dispatch(ctx, p, &d[hl..], Encapsulation::Geneve);
}

/// GTP-U version 1 G-PDU (message type 255), with optional fields and extension headers.
fn gtpu(ctx: &mut Ctx<'_>, d: &[u8]) {
    let (Some(flags), Some(msg), Some(len)) = (u8_at(d, 0), u8_at(d, 1), be16(d, 2)) else {
        return;
    };
    if flags >> 5 != 1 || flags & 0x10 == 0 || msg != 255 || d.len() < 8 {
        return; // not GTPv1-U user data
    }
    let end = (8 + len as usize).min(d.len());
    let mut hl = 8;
    if flags & 0x07 != 0 {
        // Sequence number, N-PDU number, next extension header type.
        let Some(mut next) = u8_at(d, 11) else { return ctx.weird("truncated_GTPv1") };
        hl = 12;
        let mut n = 0;
        while next != 0 {
            let Some(l) = u8_at(d, hl).map(|x| x as usize * 4) else {
                return ctx.weird("truncated_GTPv1");
            };
            n += 1;
            if l == 0 || n > 16 {
                return ctx.weird("bad_GTPv1_extension_header");
            }
            let Some(nx) = u8_at(d, hl + l - 1) else { return ctx.weird("truncated_GTPv1") };
            next = nx;
            hl += l;
        }
    }
    if hl >= end {
        return;
    }
    let inner = &d[hl..end];
    ctx.mark_l2(inner);
    match inner[0] >> 4 {
        4 => ip::ipv4(ctx, inner, Encapsulation::GtpU),
        6 => ip::ipv6(ctx, inner, Encapsulation::GtpU),
        _ => {}
    }
}

/// Teredo: optional origin indication and authentication headers, then IPv6
/// (only decapsulated when it really is a well-formed IPv6 packet).
fn teredo(ctx: &mut Ctx<'_>, data: &[u8]) {
    if let Some(inner) = teredo_inner(data) {
        let fits = 40 + be16(inner, 4).unwrap_or(0) as usize == inner.len();
        let bubble = inner[6] == 59 && inner[4] == 0 && inner[5] == 0;
        if fits || bubble || ctx.cut {
            ctx.mark_l2(inner);
            ip::ipv6(ctx, inner, Encapsulation::Teredo);
        }
    }
}

/// The IPv6 packet inside a Teredo payload, if the payload is Teredo.
fn teredo_inner(data: &[u8]) -> Option<&[u8]> {
    let mut d = data;
    let (mut origin, mut auth) = (false, false);
    for _ in 0..3 {
        let tag = be16(d, 0)?;
        if tag == 0 {
            if origin || d.len() < 8 {
                return None;
            }
            origin = true;
            d = &d[8..];
        } else if tag == 1 {
            if origin || auth || d.len() < 4 {
                return None;
            }
            let tot = 4 + d[2] as usize + d[3] as usize + 9;
            if d.len() < tot {
                return None;
            }
            auth = true;
            d = &d[tot..];
        } else if tag >> 12 == 6 && d.len() >= 40 {
            return Some(d);
        } else {
            return None;
        }
    }
    None
}

/// True when the IPv6 source or destination is in the Teredo prefix 2001:0::/32
/// and the payload length matches.
fn has_teredo_address(d: &[u8]) -> bool {
    const PREFIX: [u8; 4] = [0x20, 0x01, 0x00, 0x00];
    let fits = 40 + be16(d, 4).unwrap_or(0) as usize == d.len();
    fits && (d.get(8..12) == Some(&PREFIX[..]) || d.get(24..28) == Some(&PREFIX[..]))
}

/// AYIYA: identity and signature lengths in the header; forward opcode only.
fn ayiya(ctx: &mut Ctx<'_>, d: &[u8]) {
    if d.len() < 8 {
        return;
    }
    let hl = 8 + (1usize << (d[0] >> 4)) + (d[1] >> 4) as usize * 4;
    if d.len() < hl || d[2] & 0x0f != 1 {
        return;
    }
    let inner = tail(d, hl);
    if inner.is_empty() {
        return ctx.weird("ayiya_empty_packet");
    }
    ctx.mark_l2(inner);
    match d[3] {
        proto::IPIP => ip::ipv4(ctx, inner, Encapsulation::Ayiya),
        proto::IPV6 => ip::ipv6(ctx, inner, Encapsulation::Ayiya),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::super::types::{DecodedPacket, Encapsulation, LinkType, RawPacket};
    use super::super::{Decoder, DecoderConfig};

    fn decode_with(cfg: DecoderConfig, f: &[u8]) -> DecodedPacket {
        Decoder::new(cfg).decode(&RawPacket {
            ts: 0,
            data: f,
            wire_len: f.len() as u32,
            linktype: LinkType::RAW,
        })
    }

    fn decode(f: &[u8]) -> DecodedPacket {
        decode_with(DecoderConfig::default(), f)
    }

    /// IPv4 10.0.0.1 → 10.0.0.2 with protocol `p` around `payload`.
    fn v4(p: u8, payload: &[u8]) -> Vec<u8> {
        let mut h = vec![0x45, 0];
        h.extend_from_slice(&((20 + payload.len()) as u16).to_be_bytes());
        h.extend_from_slice(&[0, 0, 0, 0, 64, p, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]);
        h.extend_from_slice(payload);
        h
    }

    fn udp(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
        let mut u = sport.to_be_bytes().to_vec();
        u.extend_from_slice(&dport.to_be_bytes());
        u.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
        u.extend_from_slice(&[0, 0]);
        u.extend_from_slice(payload);
        u
    }

    fn inner() -> Vec<u8> {
        v4(17, &udp(1, 2, b"x"))
    }

    #[test]
    fn ip_in_ip_and_gre() {
        let p = decode(&v4(4, &inner()));
        assert_eq!(p.layers.len(), 2);
        assert_eq!(p.layers[1].encap, Encapsulation::IpInIp);
        // GRE v0 with key: flags 0x2000, proto IPv4, key.
        let gre = [&[0x20, 0x00, 0x08, 0x00, 0, 0, 0, 1][..], &inner()].concat();
        let p = decode(&v4(47, &gre));
        assert_eq!(p.layers.len(), 2);
        assert_eq!(p.layers[1].encap, Encapsulation::Gre);
        // PPTP (GRE v1, key + seq) with PPP FF 03 00 21.
        let gre =
            [&[0x30, 0x01, 0x88, 0x0b, 0, 5, 0, 0, 0, 0, 0, 1, 0xff, 0x03, 0, 0x21][..], &inner()]
                .concat();
        assert_eq!(decode(&v4(47, &gre)).layers.len(), 2);
        // Decapsulation off: only the outer layer.
        let cfg = DecoderConfig { decapsulate: false, ..DecoderConfig::default() };
        assert_eq!(decode_with(cfg, &v4(4, &inner())).layers.len(), 1);
    }

    #[test]
    fn udp_tunnels() {
        // VXLAN: flags I, VNI 42, then Ethernet + IPv4.
        let eth = [&[0u8; 12][..], &[0x08, 0x00], &inner()].concat();
        let vx = [&[0x08, 0, 0, 0, 0, 0, 42, 0][..], &eth].concat();
        let p = decode(&v4(17, &udp(5000, 4789, &vx)));
        assert_eq!((p.layers.len(), p.layers[1].encap), (2, Encapsulation::Vxlan));
        // Geneve: no options, protocol 0x6558 (Ethernet).
        let gn = [&[0, 0, 0x65, 0x58, 0, 0, 1, 0][..], &eth].concat();
        assert_eq!(decode(&v4(17, &udp(5000, 6081, &gn))).layers[1].encap, Encapsulation::Geneve);
        // GTP-U: v1, PT, E flag set, G-PDU; seq/npdu/next-ext 0x85, one 4-byte extension.
        let ip = inner();
        let mut gtp = vec![0x34, 0xff];
        gtp.extend_from_slice(&((8 + ip.len()) as u16).to_be_bytes());
        gtp.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0x85, 1, 0x10, 0, 0]);
        gtp.extend_from_slice(&ip);
        assert_eq!(decode(&v4(17, &udp(2152, 2152, &gtp))).layers[1].encap, Encapsulation::GtpU);
        // AYIYA: identity len 2^0=1... (nibble 0 → 1 byte), no signature, opcode 1, next header 4.
        let ay = [&[0x01, 0x00, 0x01, 4, 0, 0, 0, 0, 0xaa][..], &ip].concat();
        assert_eq!(decode(&v4(17, &udp(5072, 5072, &ay))).layers[1].encap, Encapsulation::Ayiya);
        // Not a tunnel port: one layer.
        assert_eq!(decode(&v4(17, &udp(5000, 5001, &vx))).layers.len(), 1);
    }

    #[test]
    fn tunnel_depth_is_bounded() {
        let mut f = inner();
        for _ in 0..10 {
            f = v4(4, &f);
        }
        let p = decode(&f);
        assert_eq!(p.layers.len(), super::MAX_TUNNEL_DEPTH + 1);
        assert!(p.weirds.iter().any(|w| w.name == "exceeded_tunnel_max_depth"));
    }

    #[test]
    fn l2_len_counts_the_link_bytes_before_each_ip_header() {
        // IP-in-IP: the inner IP header follows the outer directly.
        let p = decode(&v4(4, &inner()));
        assert_eq!((p.layers[0].l2_len, p.layers[1].l2_len), (0, 0));
        // VXLAN: inner Ethernet (14 bytes) before the inner IP.
        let mut eth = vec![0u8; 12];
        eth.extend_from_slice(&[0x08, 0x00]);
        eth.extend(inner());
        let vx = [&[0x08, 0, 0, 0, 0, 0, 1, 0][..], &eth].concat();
        let p = decode(&v4(17, &udp(5000, 4789, &vx)));
        assert_eq!(p.layers[1].l2_len, 14);
        // Same with a VLAN tag in the inner frame: 18 bytes.
        let mut tagged = vec![0u8; 12];
        tagged.extend_from_slice(&[0x81, 0x00, 0x00, 0x05, 0x08, 0x00]);
        tagged.extend(inner());
        let vx = [&[0x08, 0, 0, 0, 0, 0, 1, 0][..], &tagged].concat();
        let p = decode(&v4(17, &udp(5000, 4789, &vx)));
        assert_eq!(p.layers[1].l2_len, 18);
        // GRE transparent Ethernet bridging: 14; GRE carrying IPv4 directly: 0.
        let teb = [&[0x00, 0x00, 0x65, 0x58][..], &eth].concat();
        assert_eq!(decode(&v4(47, &teb)).layers[1].l2_len, 14);
        let gre = [&[0x00, 0x00, 0x08, 0x00][..], &inner()].concat();
        assert_eq!(decode(&v4(47, &gre)).layers[1].l2_len, 0);
        // The outermost layer of an Ethernet frame: the Ethernet header.
        let frame = [&eth[..12], &[0x08, 0x00], &v4(17, &udp(5000, 4789, &vx))[..]].concat();
        let p = Decoder::default().decode(&RawPacket {
            ts: 0,
            data: &frame,
            wire_len: frame.len() as u32,
            linktype: LinkType::ETHERNET,
        });
        assert_eq!(p.layers.iter().map(|l| l.l2_len).collect::<Vec<_>>(), vec![14, 18]);
    }
}
