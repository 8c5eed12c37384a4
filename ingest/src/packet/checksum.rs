//! Internet checksums (RFC 1071) of IPv4 headers and TCP/UDP/ICMP segments,
//! checked only when [`super::DecoderConfig::verify_checksums`] asks for it.

use std::net::IpAddr;

/// One's-complement sum of big-endian 16-bit words (an odd last byte is padded).
fn add(data: &[u8], mut acc: u64) -> u64 {
    let mut chunks = data.chunks_exact(2);
    for w in &mut chunks {
        acc += u64::from(u16::from_be_bytes([w[0], w[1]]));
    }
    if let [last] = chunks.remainder() {
        acc += u64::from(*last) << 8;
    }
    acc
}

fn fold(mut acc: u64) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

/// Whether an IPv4 header (options included) sums to all ones.
pub(crate) fn ipv4_header_ok(header: &[u8]) -> bool {
    fold(add(header, 0)) == 0xffff
}

/// Whether a whole TCP, UDP, ICMP or ICMPv6 segment carries a valid checksum.
/// Other protocols, and UDP over IPv4 without a checksum (zero), pass.
pub(crate) fn transport_ok(src: IpAddr, dst: IpAddr, proto: u8, segment: &[u8]) -> bool {
    if proto == 17 && src.is_ipv4() && segment.get(6..8) == Some(&[0, 0]) {
        return true;
    }
    let len = segment.len() as u64;
    let pseudo = match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => add(&s.octets(), add(&d.octets(), 0)),
        (IpAddr::V6(s), IpAddr::V6(d)) => add(&s.octets(), add(&d.octets(), 0)),
        _ => return true,
    };
    let acc = match proto {
        1 => add(segment, 0),
        6 | 17 | 58 => add(segment, pseudo + u64::from(proto) + (len & 0xffff) + (len >> 16)),
        _ => return true,
    };
    fold(acc) == 0xffff
}

#[cfg(test)]
mod tests {
    use super::*;

    // IPv4 header from RFC 1071-style worked examples (checksum 0xb861).
    const IPV4: [u8; 20] = [
        0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8, 0x00,
        0x01, 0xc0, 0xa8, 0x00, 0xc7,
    ];

    #[test]
    fn ipv4_header_checksum() {
        assert!(ipv4_header_ok(&IPV4));
        let mut bad = IPV4;
        bad[11] ^= 1;
        assert!(!ipv4_header_ok(&bad));
    }

    #[test]
    fn udp_checksum_with_pseudo_header() {
        let src: IpAddr = "10.0.0.1".parse().unwrap();
        let dst: IpAddr = "10.0.0.2".parse().unwrap();
        // UDP 1000 -> 2000, length 12, payload "abcd"; checksum computed below.
        let mut seg = vec![0x03, 0xe8, 0x07, 0xd0, 0x00, 0x0c, 0, 0, b'a', b'b', b'c', b'd'];
        assert!(transport_ok(src, dst, 17, &seg), "zero checksum means none over IPv4");
        let sum = fold(add(&seg, add(&[10, 0, 0, 1, 10, 0, 0, 2], 17 + 12)));
        seg[6..8].copy_from_slice(&(!sum).to_be_bytes());
        assert!(transport_ok(src, dst, 17, &seg));
        seg[9] ^= 0x40;
        assert!(!transport_ok(src, dst, 17, &seg));
    }

    #[test]
    fn icmp_has_no_pseudo_header() {
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        // Echo request id 1 seq 1, no data: checksum 0xf7fd.
        let echo = [8, 0, 0xf7, 0xfd, 0, 1, 0, 1];
        assert!(transport_ok(a, a, 1, &echo));
        assert!(!transport_ok(a, a, 1, &[8, 0, 0xf7, 0xfc, 0, 1, 0, 1]));
    }
}
