//! Transport headers: TCP, UDP, ICMP, ICMPv6, SCTP.

use super::bytes::{be16, be32};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::types::{
    IcmpHeader, QuotedPacket, SctpHeader, TCP_OPTIONS_MAX, TcpHeader, Transport, UdpHeader, Weird,
};

/// IP protocol numbers used across the decoder.
pub(crate) mod proto {
    /// ICMP.
    pub const ICMP: u8 = 1;
    /// IPv4 encapsulated in IP.
    pub const IPIP: u8 = 4;
    /// TCP.
    pub const TCP: u8 = 6;
    /// UDP.
    pub const UDP: u8 = 17;
    /// IPv6 encapsulated in IP.
    pub const IPV6: u8 = 41;
    /// GRE.
    pub const GRE: u8 = 47;
    /// ICMPv6.
    pub const ICMPV6: u8 = 58;
    /// SCTP.
    pub const SCTP: u8 = 132;
}

/// ICMP error messages, which quote the offending packet: ICMPv4 destination unreachable,
/// source quench, redirect, time exceeded, parameter problem; ICMPv6 destination
/// unreachable, packet too big, time exceeded, parameter problem.
pub(crate) fn is_icmp_error(v6: bool, icmp_type: u8) -> bool {
    if v6 { (1..=4).contains(&icmp_type) } else { matches!(icmp_type, 3 | 4 | 5 | 11 | 12) }
}

/// Parses the IP header (and the ports after it) quoted by an ICMP error, from the bytes after
/// the 8-byte ICMP header. `None` when they are not a plausible IPv4/IPv6 header.
pub(crate) fn quoted_packet(d: &[u8]) -> Option<QuotedPacket> {
    let (src, dst, proto, l4) = match d.first()? >> 4 {
        4 => {
            let ihl = usize::from(d[0] & 0x0f) * 4;
            if ihl < 20 || d.len() < ihl {
                return None;
            }
            let src = IpAddr::V4(Ipv4Addr::new(d[12], d[13], d[14], d[15]));
            let dst = IpAddr::V4(Ipv4Addr::new(d[16], d[17], d[18], d[19]));
            let first_fragment = u16::from_be_bytes([d[6], d[7]]) & 0x1fff == 0;
            (src, dst, d[9], first_fragment.then(|| &d[ihl..]))
        }
        6 => {
            if d.len() < 40 {
                return None;
            }
            let src = IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(&d[8..24]).ok()?));
            let dst = IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(&d[24..40]).ok()?));
            let (mut nh, mut off, mut first_fragment) = (d[6], 40usize, true);
            for _ in 0..8 {
                match nh {
                    // The extension headers `ip::walk_ext` walks: hop-by-hop, routing,
                    // destination options, mobility, HIP, shim6 (8-byte units) ...
                    0 | 43 | 60 | 135 | 139 | 140 => {
                        let (Some(&n), Some(&l)) = (d.get(off), d.get(off + 1)) else { break };
                        nh = n;
                        off += (usize::from(l) + 1) * 8;
                    }
                    // ... and the authentication header (4-byte units, minus 2).
                    51 => {
                        let (Some(&n), Some(&l)) = (d.get(off), d.get(off + 1)) else { break };
                        nh = n;
                        off += (usize::from(l) + 2) * 4;
                    }
                    44 => {
                        let (Some(&n), Some(o)) = (d.get(off), be16(d, off + 2)) else { break };
                        nh = n;
                        first_fragment = o & 0xfff8 == 0;
                        off += 8;
                    }
                    _ => break,
                }
            }
            (src, dst, nh, first_fragment.then(|| d.get(off..).unwrap_or(&[])))
        }
        _ => return None,
    };
    let need = match proto {
        proto::TCP | proto::SCTP => 4,
        proto::UDP => 8,
        _ => usize::MAX,
    };
    let ports = l4.filter(|t| t.len() >= need).and_then(|t| Some((be16(t, 0)?, be16(t, 2)?)));
    let (src_port, dst_port) = ports.unwrap_or((0, 0));
    Some(QuotedPacket { src, dst, proto, src_port, dst_port, has_ports: ports.is_some() })
}

/// A decoded transport header and how many bytes of header it claims.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ParsedTransport {
    /// The header.
    pub transport: Transport,
    /// Header length (0 for [`Transport::Other`]).
    pub header_len: u32,
    /// Payload length implied by the headers.
    pub payload_len: u32,
}

/// Parse the transport header of protocol `proto` from `data` (the IP payload
/// as captured, already cut to the IP length). `declared` is the IP payload
/// length the IP header claims.
pub(crate) fn parse(
    proto: u8,
    data: &[u8],
    declared: u32,
    weirds: &mut Vec<Weird>,
) -> ParsedTransport {
    let other =
        ParsedTransport { transport: Transport::Other, header_len: 0, payload_len: declared };
    match proto {
        proto::TCP => {
            if data.len() < 20 {
                weirds.push(Weird { name: "truncated_header", addl: Some("tcp".into()) });
                return other;
            }
            let hl = (data[12] >> 4) as u32 * 4;
            if hl < 20 {
                weirds.push(Weird { name: "bad_TCP_header_len", addl: None });
                return other;
            }
            if hl > declared {
                weirds.push(Weird { name: "truncated_header", addl: Some("tcp".into()) });
            }
            let opt_avail = data.len().min(hl as usize).saturating_sub(20).min(TCP_OPTIONS_MAX);
            let mut options = [0u8; TCP_OPTIONS_MAX];
            options[..opt_avail].copy_from_slice(&data[20..20 + opt_avail]);
            let h = TcpHeader {
                src_port: u16::from_be_bytes([data[0], data[1]]),
                dst_port: u16::from_be_bytes([data[2], data[3]]),
                seq: be32(data, 4).unwrap_or(0),
                ack: be32(data, 8).unwrap_or(0),
                flags: data[13],
                window: be16(data, 14).unwrap_or(0),
                urgent: be16(data, 18).unwrap_or(0),
                header_len: hl as u8,
                options,
                options_len: opt_avail as u8,
            };
            ParsedTransport {
                transport: Transport::Tcp(h),
                header_len: hl,
                payload_len: declared.saturating_sub(hl),
            }
        }
        proto::UDP => {
            if data.len() < 8 {
                weirds.push(Weird { name: "truncated_header", addl: Some("udp".into()) });
                return other;
            }
            let length = u16::from_be_bytes([data[4], data[5]]);
            let ulen = length as u32;
            let payload_len = if ulen >= 8 && ulen <= declared {
                if ulen != declared {
                    weirds.push(Weird { name: "UDP_datagram_length_mismatch", addl: None });
                }
                ulen - 8
            } else {
                if ulen != declared {
                    weirds.push(Weird { name: "UDP_datagram_length_mismatch", addl: None });
                }
                declared.saturating_sub(8)
            };
            ParsedTransport {
                transport: Transport::Udp(UdpHeader {
                    src_port: u16::from_be_bytes([data[0], data[1]]),
                    dst_port: u16::from_be_bytes([data[2], data[3]]),
                    length,
                }),
                header_len: 8,
                payload_len,
            }
        }
        proto::ICMP | proto::ICMPV6 => {
            if data.len() < 4 {
                weirds.push(Weird { name: "truncated_header", addl: Some("icmp".into()) });
                return other;
            }
            let v6 = proto == proto::ICMPV6;
            let quoted = if is_icmp_error(v6, data[0]) {
                quoted_packet(data.get(8..).unwrap_or(&[]))
            } else {
                None
            };
            let h = IcmpHeader { icmp_type: data[0], code: data[1], quoted };
            let transport =
                if proto == proto::ICMP { Transport::Icmp(h) } else { Transport::Icmpv6(h) };
            ParsedTransport { transport, header_len: 8, payload_len: declared.saturating_sub(8) }
        }
        proto::SCTP => {
            if data.len() < 12 {
                weirds.push(Weird { name: "truncated_header", addl: Some("sctp".into()) });
                return other;
            }
            ParsedTransport {
                transport: Transport::Sctp(SctpHeader {
                    src_port: u16::from_be_bytes([data[0], data[1]]),
                    dst_port: u16::from_be_bytes([data[2], data[3]]),
                }),
                header_len: 12,
                payload_len: declared.saturating_sub(12),
            }
        }
        _ => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tcp_with_options() {
        // src 1234, dst 80, seq 1, ack 2, data offset 6 (24 bytes), SYN|ACK,
        // window 0x2000, checksum 0, urgent 0, then MSS option 1460.
        let d = [
            0x04, 0xd2, 0x00, 0x50, 0, 0, 0, 1, 0, 0, 0, 2, 0x60, 0x12, 0x20, 0x00, 0, 0, 0, 0,
            0x02, 0x04, 0x05, 0xb4, b'h', b'i',
        ];
        let mut w = Vec::new();
        let p = parse(proto::TCP, &d, d.len() as u32, &mut w);
        let Transport::Tcp(t) = p.transport else { panic!("not tcp") };
        assert_eq!((t.src_port, t.dst_port, t.seq, t.ack), (1234, 80, 1, 2));
        assert_eq!(t.flags, 0x12);
        assert_eq!(t.window, 0x2000);
        assert_eq!(t.header_len, 24);
        assert_eq!(&t.options[..t.options_len as usize], &[0x02, 0x04, 0x05, 0xb4]);
        assert_eq!(p.payload_len, 2);
        assert!(w.is_empty());
    }

    #[test]
    fn truncated_tcp_is_other_with_weird() {
        let mut w = Vec::new();
        let p = parse(proto::TCP, &[0x04, 0xd2, 0x00], 40, &mut w);
        assert_eq!(p.transport, Transport::Other);
        assert_eq!(w[0].name, "truncated_header");
    }

    #[test]
    fn tcp_bad_offset() {
        let mut d = [0u8; 20];
        d[12] = 0x20; // data offset 2 → 8 bytes: invalid
        let mut w = Vec::new();
        assert_eq!(parse(proto::TCP, &d, 20, &mut w).transport, Transport::Other);
        assert_eq!(w[0].name, "bad_TCP_header_len");
    }

    #[test]
    fn udp_and_icmp_and_sctp() {
        // UDP 53 → 5353, length 12, checksum 0, 4 payload bytes.
        let d = [0, 53, 0x14, 0xe9, 0, 12, 0, 0, 1, 2, 3, 4];
        let mut w = Vec::new();
        let p = parse(proto::UDP, &d, 12, &mut w);
        assert_eq!(
            p.transport,
            Transport::Udp(UdpHeader { src_port: 53, dst_port: 5353, length: 12 })
        );
        assert_eq!(p.payload_len, 4);
        // ICMP echo request (type 8 code 0), 8 header bytes + 56 payload declared.
        let p = parse(proto::ICMP, &[8, 0, 0, 0, 0, 1, 0, 1], 64, &mut w);
        assert_eq!(
            p.transport,
            Transport::Icmp(IcmpHeader { icmp_type: 8, code: 0, quoted: None })
        );
        assert_eq!(p.payload_len, 56);
        // SCTP 2905 → 2905, 12-byte common header.
        let d = [0x0b, 0x59, 0x0b, 0x59, 0, 0, 0, 0, 0, 0, 0, 0];
        let p = parse(proto::SCTP, &d, 12, &mut w);
        assert_eq!(p.transport, Transport::Sctp(SctpHeader { src_port: 2905, dst_port: 2905 }));
        assert!(w.is_empty());
        // Unknown protocol: the whole IP payload is payload.
        let p = parse(99, &[1, 2, 3], 3, &mut w);
        assert_eq!((p.transport, p.payload_len), (Transport::Other, 3));
    }

    /// An IPv4 header 10.0.0.1 → 10.0.0.2, protocol `p`, followed by `l4`.
    fn quoted_v4(p: u8, l4: &[u8]) -> Vec<u8> {
        let mut d = vec![0x45, 0, 0, 40, 0, 0, 0, 0, 64, p, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2];
        d.extend_from_slice(l4);
        d
    }

    #[test]
    fn icmp_error_quotes_the_offending_header() {
        // Destination unreachable (3/4) quoting a TCP segment 40000 → 25.
        let mut icmp = vec![3, 4, 0, 0, 0, 0, 0x05, 0xdc];
        icmp.extend(quoted_v4(6, &[0x9c, 0x40, 0, 25, 0, 0, 0, 1]));
        let mut w = Vec::new();
        let p = parse(proto::ICMP, &icmp, icmp.len() as u32, &mut w);
        let Transport::Icmp(h) = p.transport else { panic!("{:?}", p.transport) };
        let q = h.quoted.expect("quoted");
        assert_eq!((q.src.to_string(), q.dst.to_string()), ("10.0.0.1".into(), "10.0.0.2".into()));
        assert_eq!((q.proto, q.src_port, q.dst_port, q.has_ports), (6, 40000, 25, true));
        // A UDP quote needs the whole 8-byte header for its ports (as Suricata).
        let mut icmp = vec![11, 0, 0, 0, 0, 0, 0, 0];
        icmp.extend(quoted_v4(17, &[0, 53, 0, 54]));
        let p = parse(proto::ICMP, &icmp, icmp.len() as u32, &mut w);
        let Transport::Icmp(h) = p.transport else { panic!() };
        assert_eq!(h.quoted.map(|q| (q.proto, q.has_ports, q.src_port)), Some((17, false, 0)));
        // Echo requests quote nothing.
        let p = parse(proto::ICMP, &[8, 0, 0, 0, 0, 1, 0, 1, 0x45], 9, &mut w);
        assert!(matches!(p.transport, Transport::Icmp(h) if h.quoted.is_none()));
    }

    #[test]
    fn icmpv6_error_quote_walks_extension_headers() {
        // Packet too big quoting IPv6 2001:db8::1 → 2001:db8::2, hop-by-hop then UDP 5000 → 53.
        let mut d = vec![2, 0, 0, 0, 0, 0, 0x05, 0x00];
        let mut ip6 = vec![0x60, 0, 0, 0, 0, 24, 0, 64];
        let mut a = [0u8; 16];
        a[..4].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
        a[15] = 1;
        ip6.extend_from_slice(&a);
        a[15] = 2;
        ip6.extend_from_slice(&a);
        ip6.extend_from_slice(&[17, 0, 1, 4, 0, 0, 0, 0]); // hop-by-hop, 8 bytes
        ip6.extend_from_slice(&[0x13, 0x88, 0, 53, 0, 16, 0, 0]);
        d.extend(ip6);
        let mut w = Vec::new();
        let p = parse(proto::ICMPV6, &d, d.len() as u32, &mut w);
        let Transport::Icmpv6(h) = p.transport else { panic!() };
        let q = h.quoted.expect("quoted");
        assert_eq!(q.dst.to_string(), "2001:db8::2");
        assert_eq!((q.proto, q.src_port, q.dst_port, q.has_ports), (17, 5000, 53, true));
    }

    #[test]
    fn icmpv6_error_quote_walks_the_authentication_header() {
        // Parameter problem quoting IPv6 with an AH (payload length 4 → 24 bytes), then
        // ICMPv6, as in suricata-verify's ipv6-dos-with-ext-headers-5 (denial6-5.pcap #14).
        // etherparse found our quote stopping at the AH (protocol 51).
        let mut d = vec![4, 1, 0, 0, 0, 0, 0, 6];
        let mut ip6 = vec![0x60, 0, 0, 0, 0, 32, 51, 64];
        ip6.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
        ip6.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        ip6.extend_from_slice(&[58, 4, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1]);
        ip6.extend_from_slice(&[0; 12]); // ICV
        ip6.extend_from_slice(&[128, 0, 0, 0, 0, 1, 0, 1]); // echo request
        d.extend(ip6);
        let mut w = Vec::new();
        let p = parse(proto::ICMPV6, &d, d.len() as u32, &mut w);
        let Transport::Icmpv6(h) = p.transport else { panic!() };
        assert_eq!(h.quoted.map(|q| q.proto), Some(proto::ICMPV6));
    }

    #[test]
    fn icmp_error_garbage_quotes_never_panic() {
        let mut w = Vec::new();
        for len in 0..80usize {
            for fill in [0x00u8, 0x45, 0x4f, 0x60, 0xff] {
                for t in [3u8, 1] {
                    let mut d = vec![fill; len.max(4)];
                    d[0] = t;
                    let _ = parse(proto::ICMP, &d, d.len() as u32, &mut w);
                    let _ = parse(proto::ICMPV6, &d, d.len() as u32, &mut w);
                }
            }
        }
        // A header length beyond the quote, or a non-IP version: no quote.
        assert!(quoted_packet(&[0x4f; 30]).is_none());
        assert!(quoted_packet(&[0x50; 30]).is_none());
        assert!(quoted_packet(&[0x60; 39]).is_none());
        // A quoted non-first fragment has no ports.
        let mut frag = quoted_v4(6, &[1, 2, 3, 4]);
        frag[7] = 1;
        assert!(!quoted_packet(&frag).unwrap().has_ports);
    }
}
