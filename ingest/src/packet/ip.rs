//! IPv4 (with options) and IPv6 (with extension headers), fragment hand-off
//! to [`super::defrag`], then transport parsing and tunnel detection.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::bytes::{arr16, be16, be32, u8_at};
use super::checksum;
use super::decoder::Ctx;
use super::defrag::{FragKey, FragOutcome, Fragment};
use super::transport;
use super::tunnel;
use super::types::{Encapsulation, NetLayer, PAYLOAD_PREFIX_LEN, Transport};

/// The IP header facts a [`NetLayer`] is built from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct IpMeta {
    /// Source address (after an IPv6 home-address option).
    pub src: IpAddr,
    /// Destination address (after an IPv6 routing header with segments left).
    pub dst: IpAddr,
    /// TOS / traffic class.
    pub tos: u8,
    /// TTL / hop limit.
    pub ttl: u8,
    /// IPv4 flags (DF/MF) or 0.
    pub ip_flags: u8,
    /// IPv4 id or IPv6 fragment id.
    pub ip_id: u32,
    /// IPv4 header length, or IPv6 40 + extension headers up to the
    /// fragment header (the unfragmentable part).
    pub header_len: u16,
    /// Link-layer bytes before this IP header (see `NetLayer::l2_len`).
    pub l2_len: u16,
}

/// Decode an IP packet whose version is told by its first nibble.
pub(crate) fn ip_any(ctx: &mut Ctx<'_>, data: &[u8], encap: Encapsulation) {
    match u8_at(data, 0).map(|b| b >> 4) {
        Some(4) => ipv4(ctx, data, encap),
        Some(6) => ipv6(ctx, data, encap),
        Some(v) => ctx.weird_addl("unknown_ip_version", v.to_string()),
        None => ctx.weird("truncated_IP"),
    }
}

/// Decode an IPv4 packet.
pub(crate) fn ipv4(ctx: &mut Ctx<'_>, data: &[u8], encap: Encapsulation) {
    if data.len() < 20 {
        ctx.weird("truncated_IP");
        return;
    }
    if data[0] >> 4 != 4 {
        ctx.weird_addl("unknown_ip_version", (data[0] >> 4).to_string());
        return;
    }
    let ihl = (data[0] & 0x0f) as usize * 4;
    if ihl < 20 {
        ctx.weird("IPv4_min_header_size");
        return;
    }
    if data.len() < ihl {
        ctx.weird("truncated_IP");
        return;
    }
    if ctx.verify_checksums && !checksum::ipv4_header_ok(&data[..ihl]) {
        ctx.weird("bad_IP_checksum");
        return;
    }
    let mut total = u16::from_be_bytes([data[2], data[3]]) as usize;
    if total == 0 {
        // TSO/LRO captures leave the length at zero; trust the capture.
        ctx.weird("ip_hdr_len_zero");
        total = data.len();
    }
    if total < ihl {
        ctx.weird("invalid_IP_header_size");
        return;
    }
    if total > data.len() && !ctx.cut {
        ctx.weird("truncated_IP_len");
    }
    let body = &data[ihl..total.min(data.len())];
    let frag = u16::from_be_bytes([data[6], data[7]]);
    let meta = IpMeta {
        src: IpAddr::V4(Ipv4Addr::new(data[12], data[13], data[14], data[15])),
        dst: IpAddr::V4(Ipv4Addr::new(data[16], data[17], data[18], data[19])),
        tos: data[1],
        ttl: data[8],
        ip_flags: (frag >> 13) as u8,
        ip_id: u16::from_be_bytes([data[4], data[5]]) as u32,
        header_len: ihl as u16,
        l2_len: ctx.l2_len(data),
    };
    let proto = data[9];
    let more = frag & 0x2000 != 0;
    let offset = (frag & 0x1fff) as u32 * 8;
    if more || offset != 0 {
        let key = FragKey { src: meta.src, dst: meta.dst, proto, id: meta.ip_id };
        let f = Fragment {
            key,
            meta,
            proto,
            offset,
            more,
            declared_len: (total - ihl) as u32,
            data: body,
            dont_fragment: frag & 0x4000 != 0,
        };
        reassemble(ctx, f, encap);
        return;
    }
    finish(ctx, &meta, proto, ihl as u16, total as u32, body, false, encap);
}

/// Where an IPv6 extension header walk stopped.
struct ExtWalk {
    /// The protocol after the last extension header walked.
    proto: u8,
    /// Offset of the first byte after the walked headers.
    off: usize,
    /// A non-atomic fragment header: (next header, offset, more, id).
    frag: Option<(u8, u32, bool, u32)>,
}

/// Walk IPv6 extension headers in `d` from `off`, starting with `nh`.
/// Routing headers with segments left change `meta.dst`, a home-address
/// option changes `meta.src`, like Zeek does.
fn walk_ext(ctx: &mut Ctx<'_>, d: &[u8], mut off: usize, mut nh: u8, meta: &mut IpMeta) -> ExtWalk {
    for _ in 0..32 {
        match nh {
            // Hop-by-hop, routing, destination options, mobility, HIP, shim6.
            0 | 43 | 60 | 135 | 139 | 140 => {
                let (Some(next), Some(l)) = (u8_at(d, off), u8_at(d, off + 1)) else {
                    ctx.weird("truncated_IPv6_extension_header");
                    return ExtWalk { proto: nh, off, frag: None };
                };
                let len = (l as usize + 1) * 8;
                if off + len > d.len() {
                    ctx.weird("truncated_IPv6_extension_header");
                    return ExtWalk { proto: nh, off, frag: None };
                }
                let h = &d[off..off + len];
                if nh == 43 {
                    let (rtype, segleft) = (h[2], h[3]);
                    if segleft > 0 {
                        let addr = match rtype {
                            // Type 0: the last address is the final destination.
                            0 if l >= 2 => arr16(h, 8 + 16 * (l as usize / 2 - 1)),
                            // Type 2 (Mobile IPv6): the home address.
                            2 if l >= 2 => arr16(h, 8),
                            _ => None,
                        };
                        if let Some(a) = addr {
                            meta.dst = IpAddr::V6(Ipv6Addr::from(a));
                        }
                    }
                } else if nh == 60 {
                    // Options TLVs: Pad1 (0) has no length; 201 is home address.
                    let mut p = 2;
                    while p < h.len() {
                        let t = h[p];
                        if t == 0 {
                            p += 1;
                            continue;
                        }
                        let Some(ol) = u8_at(h, p + 1) else { break };
                        if let (201, 16, Some(a)) = (t, ol, arr16(h, p + 2)) {
                            meta.src = IpAddr::V6(Ipv6Addr::from(a));
                        }
                        p += 2 + ol as usize;
                    }
                }
                nh = next;
                off += len;
            }
            // Authentication header: length in 4-byte units, minus 2.
            51 => {
                let (Some(next), Some(l)) = (u8_at(d, off), u8_at(d, off + 1)) else {
                    ctx.weird("truncated_IPv6_extension_header");
                    return ExtWalk { proto: nh, off, frag: None };
                };
                let len = (l as usize + 2) * 4;
                if off + len > d.len() {
                    ctx.weird("truncated_IPv6_extension_header");
                    return ExtWalk { proto: nh, off, frag: None };
                }
                nh = next;
                off += len;
            }
            // Fragment header.
            44 => {
                let (Some(next), Some(fo), Some(id)) =
                    (u8_at(d, off), be16(d, off + 2), be32(d, off + 4))
                else {
                    ctx.weird("truncated_IPv6_extension_header");
                    return ExtWalk { proto: nh, off, frag: None };
                };
                off += 8;
                let offset = (fo >> 3) as u32 * 8;
                let more = fo & 1 != 0;
                meta.ip_id = id;
                if offset == 0 && !more {
                    // Atomic fragment: nothing to reassemble.
                    nh = next;
                    continue;
                }
                return ExtWalk { proto: next, off, frag: Some((next, offset, more, id)) };
            }
            _ => return ExtWalk { proto: nh, off, frag: None },
        }
    }
    ctx.weird("too_many_IPv6_extension_headers");
    ExtWalk { proto: nh, off, frag: None }
}

/// Decode an IPv6 packet.
pub(crate) fn ipv6(ctx: &mut Ctx<'_>, data: &[u8], encap: Encapsulation) {
    if data.len() < 40 {
        ctx.weird("truncated_IP");
        return;
    }
    if data[0] >> 4 != 6 {
        ctx.weird_addl("unknown_ip_version", (data[0] >> 4).to_string());
        return;
    }
    let plen = u16::from_be_bytes([data[4], data[5]]) as usize;
    let nh = data[6];
    let mut total = 40 + plen;
    if plen == 0 && nh == 0 {
        // Jumbogram (or TSO): trust the capture.
        total = data.len();
    }
    if total > data.len() && !ctx.cut {
        ctx.weird("truncated_IP_len");
    }
    let body = &data[..total.min(data.len())];
    let raw_src = IpAddr::V6(Ipv6Addr::from(arr16(data, 8).unwrap_or_default()));
    let raw_dst = IpAddr::V6(Ipv6Addr::from(arr16(data, 24).unwrap_or_default()));
    let mut meta = IpMeta {
        src: raw_src,
        dst: raw_dst,
        tos: ((data[0] & 0x0f) << 4) | (data[1] >> 4),
        ttl: data[7],
        ip_flags: 0,
        ip_id: 0,
        header_len: 40,
        l2_len: ctx.l2_len(data),
    };
    let w = walk_ext(ctx, body, 40, nh, &mut meta);
    if let Some((next, offset, more, id)) = w.frag {
        meta.header_len = (w.off - 8) as u16;
        let f = Fragment {
            key: FragKey { src: raw_src, dst: raw_dst, proto: 0, id },
            meta,
            proto: next,
            offset,
            more,
            declared_len: total.saturating_sub(w.off) as u32,
            data: &body[w.off.min(body.len())..],
            dont_fragment: false,
        };
        reassemble(ctx, f, encap);
        return;
    }
    let payload = &body[w.off.min(body.len())..];
    finish(ctx, &meta, w.proto, w.off as u16, total as u32, payload, false, encap);
}

/// Hand a fragment to the reassembly table; decode the datagram once complete.
fn reassemble(ctx: &mut Ctx<'_>, f: Fragment<'_>, encap: Encapsulation) {
    let is_v6 = f.key.src.is_ipv6();
    let ts = ctx.ts;
    match ctx.defrag.add(ts, f, &mut ctx.out.weirds) {
        FragOutcome::Held => ctx.out.held_fragment = true,
        FragOutcome::Complete { mut meta, proto, payload } => {
            let unfrag = meta.header_len as usize;
            let (proto, extra) = if is_v6 {
                let w = walk_ext(ctx, &payload, 0, proto, &mut meta);
                (w.proto, w.off)
            } else {
                meta.ip_flags &= !1;
                (proto, 0)
            };
            let total = (unfrag + payload.len()) as u32;
            let body = &payload[extra.min(payload.len())..];
            finish(ctx, &meta, proto, (unfrag + extra) as u16, total, body, true, encap);
        }
    }
}

/// Parse the transport header, push the layer, and look for a tunnel inside.
/// `payload` is the IP payload after all IP headers, as captured.
#[allow(clippy::too_many_arguments)]
pub(crate) fn finish(
    ctx: &mut Ctx<'_>,
    meta: &IpMeta,
    proto: u8,
    header_len: u16,
    total_len: u32,
    payload: &[u8],
    reassembled: bool,
    encap: Encapsulation,
) {
    let declared = total_len.saturating_sub(header_len as u32);
    let pt = transport::parse(proto, payload, declared, &mut ctx.out.weirds);
    // Like Zeek, only a segment captured whole can be checked.
    let bad_checksum = ctx.verify_checksums
        && matches!(
            pt.transport,
            Transport::Tcp(_) | Transport::Udp(_) | Transport::Icmp(_) | Transport::Icmpv6(_)
        )
        && payload.len() >= declared as usize
        && !checksum::transport_ok(meta.src, meta.dst, proto, &payload[..declared as usize]);
    if bad_checksum {
        let name = match proto {
            6 => "bad_TCP_checksum",
            17 => "bad_UDP_checksum",
            _ => "bad_ICMP_checksum",
        };
        ctx.weird(name);
    }
    let data = payload.get(pt.header_len as usize..).unwrap_or(&[]);
    let n = data.len().min(PAYLOAD_PREFIX_LEN).min(pt.payload_len as usize);
    let mut payload_prefix = [0u8; PAYLOAD_PREFIX_LEN];
    payload_prefix[..n].copy_from_slice(&data[..n]);
    ctx.out.layers.push(NetLayer {
        encap,
        src: meta.src,
        dst: meta.dst,
        proto,
        ip_header_len: header_len,
        l2_len: meta.l2_len,
        ip_total_len: total_len,
        tos: meta.tos,
        ttl: meta.ttl,
        ip_flags: meta.ip_flags,
        ip_id: meta.ip_id,
        reassembled,
        transport: pt.transport,
        payload_len: pt.payload_len,
        payload_prefix,
        payload_prefix_len: n as u8,
        bad_checksum,
    });
    if ctx.decapsulate && !bad_checksum {
        let inner = &data[..data.len().min(pt.payload_len as usize)];
        tunnel::decap(ctx, proto, &pt.transport, inner);
    }
}

#[cfg(test)]
mod tests {
    use super::super::Decoder;
    use super::super::types::{DecodedPacket, LinkType, RawPacket, Transport};

    fn raw(dec: &mut Decoder, f: &[u8]) -> DecodedPacket {
        dec.decode(&RawPacket { ts: 0, data: f, wire_len: f.len() as u32, linktype: LinkType::RAW })
    }

    /// IPv4 header with `opts` option bytes, protocol `p`, flags/offset `frag`, then `payload`.
    fn v4(p: u8, id: u16, frag: u16, opts: &[u8], payload: &[u8]) -> Vec<u8> {
        let hl = 20 + opts.len();
        let total = (hl + payload.len()) as u16;
        let mut h = vec![0x40 | (hl / 4) as u8, 0x10];
        h.extend_from_slice(&total.to_be_bytes());
        h.extend_from_slice(&id.to_be_bytes());
        h.extend_from_slice(&frag.to_be_bytes());
        h.extend_from_slice(&[64, p, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]);
        h.extend_from_slice(opts);
        h.extend_from_slice(payload);
        h
    }

    #[test]
    fn ipv4_options_and_padding() {
        // Router-alert option (4 bytes), UDP 8 bytes + 2 payload, then 4 bytes of link padding.
        let mut f = v4(17, 1, 0, &[0x94, 0x04, 0, 0], &[0, 1, 0, 2, 0, 10, 0, 0, b'h', b'i']);
        f.extend_from_slice(&[0; 4]);
        let p = raw(&mut Decoder::default(), &f);
        let l = p.layers[0];
        assert_eq!((l.ip_header_len, l.ip_total_len, l.payload_len, l.tos), (24, 34, 2, 0x10));
        assert_eq!(&l.payload_prefix[..l.payload_prefix_len as usize], b"hi");
    }

    #[test]
    fn ipv4_fragments_reassemble() {
        let mut udp = vec![0x13, 0x88, 0x13, 0x89, 0, 88, 0, 0];
        udp.extend_from_slice(&[7u8; 80]);
        let mut dec = Decoder::default();
        // MF set, offset 0: first 64 bytes.
        let p = raw(&mut dec, &v4(17, 9, 0x2000, &[], &udp[..64]));
        assert!(p.held_fragment && p.layers.is_empty());
        // Offset 8 (64 bytes), last.
        let p = raw(&mut dec, &v4(17, 9, 8, &[], &udp[64..]));
        assert!(!p.held_fragment);
        let l = p.layers[0];
        assert!(l.reassembled);
        assert_eq!((l.ip_total_len, l.payload_len, l.ip_id), (108, 80, 9));
        assert!(matches!(l.transport, Transport::Udp(u) if u.dst_port == 5001));
    }

    /// IPv6 header: payload length from `rest`, next header `nh`.
    fn v6(nh: u8, rest: &[u8]) -> Vec<u8> {
        let mut h = vec![0x60, 0, 0, 0];
        h.extend_from_slice(&(rest.len() as u16).to_be_bytes());
        h.extend_from_slice(&[nh, 64]);
        h.extend_from_slice(&[0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        h.extend_from_slice(&[0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
        h.extend_from_slice(rest);
        h
    }

    #[test]
    fn ipv6_extension_headers() {
        // Hop-by-hop (8 bytes, PadN) → routing type 0 with 1 address, segments left 1 → UDP.
        let mut rest = vec![43, 0, 1, 4, 0, 0, 0, 0];
        rest.extend_from_slice(&[17, 2, 0, 1, 0, 0, 0, 0]);
        rest.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9]);
        rest.extend_from_slice(&[0, 1, 0, 2, 0, 8, 0, 0]);
        let p = raw(&mut Decoder::default(), &v6(0, &rest));
        let l = p.layers[0];
        assert_eq!(l.proto, 17);
        assert_eq!(l.ip_header_len, 40 + 8 + 24);
        assert_eq!(l.ip_total_len, 40 + rest.len() as u32);
        assert_eq!(l.dst.to_string(), "2001:db8::9");
        // A truncated extension header: weird, no panic.
        let p = raw(&mut Decoder::default(), &v6(60, &[17, 9]));
        assert!(!p.weirds.is_empty());
    }

    #[test]
    fn ipv6_fragments_reassemble() {
        let mut tcp = vec![0, 80, 0x30, 0x39, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x10, 1, 0, 0, 0, 0, 0];
        tcp.extend_from_slice(&[1u8; 60]);
        let mut dec = Decoder::default();
        // Fragment header: next TCP, offset 0, M=1, id 0x1234.
        let mut a = vec![6, 0, 0, 1, 0, 0, 0x12, 0x34];
        a.extend_from_slice(&tcp[..48]);
        let p = raw(&mut dec, &v6(44, &a));
        assert!(p.held_fragment);
        let mut b = vec![6, 0, 0, 48, 0, 0, 0x12, 0x34]; // offset 48 (6 × 8), last
        b.extend_from_slice(&tcp[48..]);
        let p = raw(&mut dec, &v6(44, &b));
        let l = p.layers[0];
        assert!(l.reassembled);
        assert_eq!((l.ip_total_len, l.payload_len, l.ip_id), (40 + 80, 60, 0x1234));
        assert!(matches!(l.transport, Transport::Tcp(t) if t.src_port == 80));
    }
}
