//! Packet builders shared by the integration tests.

use std::net::IpAddr;

use vigil_ingest::packet::{
    Encapsulation, IcmpHeader, NetLayer, TCP_OPTIONS_MAX, TcpHeader, Transport, UdpHeader,
};

pub fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

pub fn layer(src: &str, dst: &str, proto: u8, total_len: u32, transport: Transport) -> NetLayer {
    NetLayer {
        encap: Encapsulation::None,
        src: ip(src),
        dst: ip(dst),
        proto,
        ip_header_len: 20,
        ip_total_len: total_len,
        tos: 0,
        ttl: 64,
        ip_flags: 2,
        ip_id: 0,
        reassembled: false,
        transport,
        payload_len: 0,
        payload_prefix: [0; 12],
        payload_prefix_len: 0,
        bad_checksum: false,
        l2_len: 0,
    }
}

#[allow(clippy::too_many_arguments)]
pub fn tcp(
    src: &str,
    sport: u16,
    dst: &str,
    dport: u16,
    flags: u8,
    window: u16,
    seq: u32,
    ack: u32,
    total_len: u32,
) -> NetLayer {
    layer(
        src,
        dst,
        6,
        total_len,
        Transport::Tcp(TcpHeader {
            src_port: sport,
            dst_port: dport,
            seq,
            ack,
            flags,
            window,
            urgent: 0,
            header_len: 20,
            options: [0; TCP_OPTIONS_MAX],
            options_len: 0,
        }),
    )
}

pub fn udp(src: &str, sport: u16, dst: &str, dport: u16, length: u16) -> NetLayer {
    let mut l = layer(
        src,
        dst,
        17,
        20 + u32::from(length),
        Transport::Udp(UdpHeader { src_port: sport, dst_port: dport, length }),
    );
    l.ip_flags = 0;
    l
}

pub fn icmp(src: &str, dst: &str, icmp_type: u8, ttl: u8, payload: &[u8]) -> NetLayer {
    let mut l = layer(
        src,
        dst,
        1,
        28 + payload.len() as u32,
        Transport::Icmp(IcmpHeader { icmp_type, code: 0, quoted: None }),
    );
    l.ip_flags = 0;
    l.ttl = ttl;
    let n = payload.len().min(12);
    l.payload_prefix[..n].copy_from_slice(&payload[..n]);
    l.payload_prefix_len = n as u8;
    l.payload_len = payload.len() as u32;
    l
}
