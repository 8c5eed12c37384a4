//! Flow-table tests with hand-built packets, and packet sequences transcribed (with tshark)
//! from Zeek's test traces, checked against Zeek's conn.log baselines.

use std::net::IpAddr;

use super::{EndReason, FlowRecord, FlowTable, FlowTableConfig};
use crate::packet::{
    DecodedPacket, Encapsulation, IcmpHeader, NetLayer, PAYLOAD_PREFIX_LEN, SctpHeader,
    TCP_OPTIONS_MAX, TcpHeader, Transport, UdpHeader,
};

pub(crate) const S: u8 = 0x02;
pub(crate) const A: u8 = 0x10;
pub(crate) const F: u8 = 0x01;
pub(crate) const R: u8 = 0x04;
pub(crate) const P: u8 = 0x08;

/// Seconds to microseconds.
fn sec(s: f64) -> i64 {
    (s * 1e6).round() as i64
}

fn ip(s: &str) -> IpAddr {
    s.parse().expect("address")
}

/// A layer with IPv4/IPv6 lengths filled for `l4_len` bytes of transport header + payload.
pub(crate) fn layer(
    src: &str,
    dst: &str,
    proto: u8,
    transport: Transport,
    l4_len: u32,
    payload_len: u32,
) -> NetLayer {
    let src = ip(src);
    let hdr: u16 = if src.is_ipv4() { 20 } else { 40 };
    NetLayer {
        encap: Encapsulation::None,
        src,
        dst: ip(dst),
        proto,
        ip_header_len: hdr,
        l2_len: 0,
        ip_total_len: u32::from(hdr) + l4_len,
        tos: 0,
        ttl: 64,
        ip_flags: 0,
        ip_id: 0,
        reassembled: false,
        transport,
        payload_len,
        payload_prefix: [0; PAYLOAD_PREFIX_LEN],
        payload_prefix_len: 0,
        bad_checksum: false,
    }
}

/// A TCP layer with a 20-byte header.
#[allow(clippy::too_many_arguments)]
pub(crate) fn tcp_layer(
    src: &str,
    sport: u16,
    dst: &str,
    dport: u16,
    flags: u8,
    seq: u32,
    ack: u32,
    len: u32,
    win: u16,
) -> NetLayer {
    let t = TcpHeader {
        src_port: sport,
        dst_port: dport,
        seq,
        ack,
        flags,
        window: win,
        urgent: 0,
        header_len: 20,
        options: [0; TCP_OPTIONS_MAX],
        options_len: 0,
    };
    layer(src, dst, 6, Transport::Tcp(t), 20 + len, len)
}

pub(crate) fn udp_layer(src: &str, sport: u16, dst: &str, dport: u16, len: u32) -> NetLayer {
    let u = UdpHeader { src_port: sport, dst_port: dport, length: (8 + len) as u16 };
    layer(src, dst, 17, Transport::Udp(u), 8 + len, len)
}

pub(crate) fn icmp_layer(src: &str, dst: &str, icmp_type: u8, code: u8, len: u32) -> NetLayer {
    let h = IcmpHeader { icmp_type, code, quoted: None };
    let v6 = ip(src).is_ipv6();
    let (proto, t) = if v6 { (58, Transport::Icmpv6(h)) } else { (1, Transport::Icmp(h)) };
    layer(src, dst, proto, t, 8 + len, len)
}

pub(crate) fn pkt(ts: i64, layers: Vec<NetLayer>) -> DecodedPacket {
    let wire_len = layers.first().map_or(60, |l| l.ip_total_len + 14);
    DecodedPacket {
        ts,
        wire_len,
        cap_len: wire_len,
        vlan: None,
        inner_vlan: None,
        layers,
        weirds: Vec::new(),
        held_fragment: false,
    }
}

#[allow(clippy::too_many_arguments)]
fn tcp(
    ts: i64,
    src: &str,
    sport: u16,
    dst: &str,
    dport: u16,
    flags: u8,
    seq: u32,
    ack: u32,
    len: u32,
) -> DecodedPacket {
    pkt(ts, vec![tcp_layer(src, sport, dst, dport, flags, seq, ack, len, 8192)])
}

/// Parses `tshark -T fields` rows: time, ip.src, tcp.srcport, ip.dst, tcp.dstport,
/// tcp.flags.str, tcp.seq_raw, tcp.ack_raw, tcp.len, ip.len, tcp.window_size_value.
fn tshark_rows(text: &str) -> Vec<DecodedPacket> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let c: Vec<&str> = l.split('\t').collect();
            let flag_chars: Vec<char> = c[5].chars().collect();
            let mut flags = 0u8;
            for (i, ch) in flag_chars[flag_chars.len() - 8..].iter().enumerate() {
                if *ch != '·' {
                    flags |= 0x80 >> i;
                }
            }
            let len: u32 = c[8].parse().unwrap();
            let ip_len: u32 = c[9].parse().unwrap();
            let mut lay = tcp_layer(
                c[1],
                c[2].parse().unwrap(),
                c[3],
                c[4].parse().unwrap(),
                flags,
                c[6].parse().unwrap(),
                c[7].parse().unwrap(),
                len,
                c[10].parse().unwrap(),
            );
            lay.ip_total_len = ip_len;
            if let Transport::Tcp(t) = &mut lay.transport {
                t.header_len = (ip_len - 20 - len) as u8;
                t.options_len = t.header_len.saturating_sub(20);
            }
            pkt(sec(c[0].parse().unwrap()), vec![lay])
        })
        .collect()
}

fn run(pkts: &[DecodedPacket]) -> (Vec<FlowRecord>, FlowTable) {
    let mut t = FlowTable::new(FlowTableConfig::default());
    let mut out = Vec::new();
    for p in pkts {
        t.process(p, &mut out);
    }
    t.flush(&mut out);
    (out, t)
}

/// (orig_h, orig_p, resp_h, resp_p, orig_bytes, resp_bytes, conn_state, history,
///  orig_pkts, orig_ip_bytes, resp_pkts, resp_ip_bytes) as in Zeek's conn.log.
type ZeekRow<'a> = (&'a str, u16, &'a str, u16, u64, u64, &'a str, &'a str, u64, u64, u64, u64);

fn assert_zeek(r: &FlowRecord, z: ZeekRow) {
    let got = (
        r.orig_h.to_string(),
        r.orig_p,
        r.resp_h.to_string(),
        r.resp_p,
        r.orig.bytes,
        r.resp.bytes,
        r.conn_state,
        r.history.as_str(),
        r.orig.pkts,
        r.orig.ip_bytes,
        r.resp.pkts,
        r.resp.ip_bytes,
    );
    let want =
        (z.0.to_string(), z.1, z.2.to_string(), z.3, z.4, z.5, z.6, z.7, z.8, z.9, z.10, z.11);
    assert_eq!(got, want);
}

#[test]
fn zeek_missing_syn_history_flip() {
    // core.tcp.missing-syn / core.history-flip: starts with the server's SYN-ACK from port 80.
    let (flows, _) = run(&tshark_rows(include_str!("testdata/missing_syn.tsv")));
    assert_eq!(flows.len(), 1);
    let r = &flows[0];
    assert_zeek(
        r,
        (
            "141.42.64.125",
            56730,
            "125.190.109.199",
            80,
            98,
            9417,
            "SF",
            "^hADdFaf",
            11,
            670,
            10,
            9945,
        ),
    );
    assert_eq!(r.duration_us(), 1_550_793);
}

#[test]
fn zeek_flip_without_syn() {
    // core.tcp.flip-without-syn: SYN-ACK first, both ports likely server ports: no flip at
    // creation; the flip happens when the client ACKs (history "H" -> "^hA").
    let (flows, _) = run(&tshark_rows(include_str!("testdata/flip_without_syn.tsv")));
    assert_eq!(flows.len(), 1);
    let r = &flows[0];
    assert_zeek(
        r,
        ("141.142.228.5", 6669, "192.150.187.43", 80, 136, 5007, "SF", "^hADadFf", 6, 448, 7, 5379),
    );
    // The last ACK comes after both FINs: Zeek no longer updates the last time.
    assert_eq!(r.duration_us(), 141_744);
}

#[test]
fn zeek_ssh_rstr() {
    // scripts.base.protocols.ssh.basic, the port-2200 connection.
    let (flows, _) = run(&tshark_rows(include_str!("testdata/ssh_2200_rstr.tsv")));
    assert_eq!(flows.len(), 1);
    assert_zeek(
        &flows[0],
        (
            "192.168.2.1",
            55179,
            "192.168.2.158",
            2200,
            2757,
            1721,
            "RSTR",
            "ShADadFr",
            37,
            4693,
            29,
            3225,
        ),
    );
}

#[test]
fn zeek_half_duplex_sequence_wrap() {
    // scripts.base.protocols.ssh.half-duplex-server: only the server side was captured and
    // its sequence numbers wrap around 2^32.
    let (flows, _) = run(&tshark_rows(include_str!("testdata/ssh_half_duplex_56940.tsv")));
    assert_eq!(flows.len(), 1);
    assert_zeek(
        &flows[0],
        ("192.168.2.1", 56940, "192.168.2.158", 22, 0, 609, "SHR", "^hdaf", 0, 0, 10, 1137),
    );
}

#[test]
fn zeek_teredo_close_delay_and_reuse() {
    // core.tunnels.teredo, the plain IPv4 TCP connections on ports 1576/1577: FINs and RSTs
    // separated by more than tcp_close_delay make separate conns.
    let (flows, _) = run(&tshark_rows(include_str!("testdata/teredo_ipv4_tcp.tsv")));
    let mut rows: Vec<(String, u16, &str, &str, u64, u64, EndReason)> = flows
        .iter()
        .map(|r| {
            (
                r.orig_h.to_string(),
                r.orig_p,
                r.conn_state,
                r.history.as_str(),
                r.orig.pkts,
                r.resp.pkts,
                r.end_reason,
            )
        })
        .collect();
    rows.sort_by_key(|r| (r.1, r.4 + 2 * r.5, r.3.to_string()));
    let s = |x: &str| x.to_string();
    assert_eq!(
        rows,
        vec![
            (s("192.168.2.16"), 1576, "OTH", "R", 1, 0, EndReason::Closed),
            (s("192.168.2.16"), 1576, "RSTRH", "^r", 0, 1, EndReason::Flush),
            (s("192.168.2.16"), 1576, "SHR", "^fA", 1, 1, EndReason::Closed),
            (s("192.168.2.16"), 1577, "RSTRH", "^r", 0, 1, EndReason::Flush),
            (s("192.168.2.16"), 1577, "SH", "Fa", 1, 1, EndReason::Closed),
            (s("192.168.2.16"), 1577, "SHR", "^fA", 1, 1, EndReason::Closed),
        ]
    );
}

#[test]
fn handshake_data_close_sf() {
    let c = "10.0.0.1";
    let s = "10.0.0.2";
    let pkts = vec![
        tcp(0, c, 40000, s, 80, S, 1000, 0, 0),
        tcp(10, s, 80, c, 40000, S | A, 5000, 1001, 0),
        tcp(20, c, 40000, s, 80, A, 1001, 5001, 0),
        tcp(30, c, 40000, s, 80, A | P, 1001, 5001, 100),
        tcp(40, s, 80, c, 40000, A | P, 5001, 1101, 300),
        tcp(50, c, 40000, s, 80, A | F, 1101, 5301, 0),
        tcp(60, s, 80, c, 40000, A | F, 5301, 1102, 0),
        tcp(70, c, 40000, s, 80, A, 1102, 5302, 0),
    ];
    let (flows, t) = run(&pkts);
    assert_eq!(flows.len(), 1);
    let r = &flows[0];
    assert_zeek(r, (c, 40000, s, 80, 100, 300, "SF", "ShADdFf", 5, 5 * 40 + 100, 3, 3 * 40 + 300));
    assert_eq!(r.orig.tcp_flags, S | A | P | F);
    assert_eq!(r.duration_us(), 60, "last ACK after both FINs does not count");
    assert!(r.uid.starts_with('C'));
    assert!(r.community_id.starts_with("1:"));
    assert_eq!(t.stats().created, 1);
}

#[test]
fn syn_only_attempt_s0_and_rej() {
    let pkts = vec![
        tcp(0, "10.0.0.1", 1111, "10.0.0.2", 22, S, 1, 0, 0),
        tcp(sec(1.0), "10.0.0.1", 1111, "10.0.0.2", 22, S, 1, 0, 0),
        tcp(0, "10.0.0.3", 2222, "10.0.0.4", 23, S, 7, 0, 0),
        tcp(5, "10.0.0.4", 23, "10.0.0.3", 2222, R | A, 0, 8, 0),
    ];
    let (flows, _) = run(&pkts);
    let s0 = flows.iter().find(|r| r.orig_p == 1111).unwrap();
    assert_eq!(
        (s0.conn_state, s0.history.as_str(), s0.orig.pkts, s0.orig.bytes),
        ("S0", "S", 2, 0)
    );
    let rej = flows.iter().find(|r| r.orig_p == 2222).unwrap();
    assert_eq!((rej.conn_state, rej.history.as_str()), ("REJ", "Sr"));
}

#[test]
fn attempt_timer_splits_late_retransmission() {
    // Zeek drops an unanswered attempt after tcp_attempt_delay (5 s); a later SYN
    // retransmission (same ISN) starts a new connection.
    let pkts = vec![
        tcp(0, "10.0.0.1", 1111, "10.0.0.2", 22, S, 1, 0, 0),
        tcp(sec(3.0), "10.0.0.1", 1111, "10.0.0.2", 22, S, 1, 0, 0),
        tcp(sec(9.0), "10.0.0.1", 1111, "10.0.0.2", 22, S, 1, 0, 0),
    ];
    let (flows, t) = run(&pkts);
    assert_eq!(flows.len(), 2);
    assert_eq!((flows[0].orig.pkts, flows[0].end_reason), (2, EndReason::IdleTimeout));
    assert_eq!(flows[1].orig.pkts, 1);
    assert_eq!(t.stats().attempt_expired, 1);
}

#[test]
fn new_syn_after_close_reuses_tuple() {
    let c = "10.0.0.1";
    let s = "10.0.0.2";
    let pkts = vec![
        tcp(0, c, 40000, s, 80, S, 1000, 0, 0),
        tcp(1, s, 80, c, 40000, S | A, 5000, 1001, 0),
        tcp(2, c, 40000, s, 80, A | R, 1001, 5001, 0),
        tcp(3, c, 40000, s, 80, S, 9000, 0, 0),
    ];
    let (flows, t) = run(&pkts);
    assert_eq!(flows.len(), 2);
    assert_eq!(flows[0].end_reason, EndReason::Reused);
    assert_eq!((flows[0].conn_state, flows[0].history.as_str()), ("RSTO", "ShR"));
    assert_eq!((flows[1].conn_state, flows[1].history.as_str()), ("S0", "S"));
    assert_eq!(t.stats().reused, 1);
}

#[test]
fn retransmission_and_zero_window_letters() {
    let c = "10.0.0.1";
    let s = "10.0.0.2";
    let mut pkts = vec![
        tcp(0, c, 40000, s, 80, S, 1000, 0, 0),
        tcp(1, s, 80, c, 40000, S | A, 5000, 1001, 0),
        tcp(2, c, 40000, s, 80, A, 1001, 5001, 0),
    ];
    for i in 0..10 {
        pkts.push(tcp(3 + i, c, 40000, s, 80, A, 1001, 5001, 10)); // same data again and again
    }
    let mut zw = tcp_layer(s, 80, c, 40000, A, 5001, 1011, 0, 0);
    zw.ip_total_len = 40;
    pkts.push(pkt(20, vec![zw]));
    let (flows, _) = run(&pkts);
    // First data packet D, then 9 retransmissions: T at the 1st, and no second T before the 10th.
    assert_eq!(flows[0].history, "ShADTaw");
    assert_eq!(flows[0].orig.bytes, 10);
}

#[test]
fn bad_checksums_add_scaled_c_and_count_nothing() {
    // Zeek's core.tunnels.vxlan-unknown-internal-packet: one corrupt datagram gives a
    // connection with history C, no packets, and conn_state OTH. Ten give `CC`.
    let bad = |ts: i64| {
        let mut l = udp_layer("172.30.0.1", 36030, "172.30.0.2", 4789, 40);
        l.bad_checksum = true;
        pkt(ts, vec![l])
    };
    let (flows, _) = run(&[bad(0)]);
    let r = &flows[0];
    assert_eq!((r.conn_state, r.history.as_str()), ("OTH", "C"));
    assert_eq!((r.orig.pkts, r.orig.ip_bytes, r.resp.pkts), (0, 0, 0));
    let ten: Vec<DecodedPacket> = (0..10).map(|i| bad(i * 1000)).collect();
    let (flows, _) = run(&ten);
    assert_eq!(flows[0].history, "CC");
}

#[test]
fn udp_flip_by_server_port_and_states() {
    let pkts = vec![
        pkt(0, vec![udp_layer("8.8.8.8", 53, "10.0.0.1", 5555, 100)]),
        pkt(1, vec![udp_layer("10.0.0.1", 5555, "8.8.8.8", 53, 30)]),
        pkt(2, vec![udp_layer("10.0.0.9", 6000, "10.0.0.1", 7000, 0)]),
        pkt(3, vec![udp_layer("0.0.0.0", 68, "255.255.255.255", 67, 300)]),
        pkt(4, vec![udp_layer("10.0.0.1", 67, "255.255.255.255", 68, 300)]),
    ];
    let (flows, _) = run(&pkts);
    let dns = flows.iter().find(|r| r.resp_p == 53).unwrap();
    assert_zeek(dns, ("10.0.0.1", 5555, "8.8.8.8", 53, 30, 100, "SF", "^dD", 1, 58, 1, 128));
    let s0 = flows.iter().find(|r| r.orig_p == 6000).unwrap();
    assert_eq!((s0.conn_state, s0.history.as_str(), s0.orig.bytes), ("S0", "D", 0));
    // Never flipped towards a broadcast responder.
    let bc = flows.iter().find(|r| r.orig_p == 67).unwrap();
    assert_eq!((bc.resp_p, bc.history.as_str()), (68, "D"));
}

#[test]
fn udp_reply_only_is_shr() {
    // core.tunnels.teredo: a lone reply from the Teredo server port 3544.
    let (flows, _) =
        run(&[pkt(0, vec![udp_layer("65.55.158.81", 3544, "192.168.2.16", 3797, 109)])]);
    assert_zeek(
        &flows[0],
        ("192.168.2.16", 3797, "65.55.158.81", 3544, 0, 109, "SHR", "^d", 0, 0, 1, 137),
    );
}

#[test]
fn icmp_echo_pairs_and_one_way() {
    let pkts = vec![
        pkt(0, vec![icmp_layer("10.0.0.1", "10.0.0.2", 8, 0, 56)]),
        pkt(1, vec![icmp_layer("10.0.0.2", "10.0.0.1", 0, 0, 56)]),
        pkt(2, vec![icmp_layer("10.0.0.2", "10.0.0.1", 3, 3, 28)]),
        pkt(3, vec![icmp_layer("10.0.0.1", "10.0.0.2", 3, 3, 28)]),
        pkt(4, vec![icmp_layer("fe80::1", "ff02::2", 133, 0, 8)]),
    ];
    let (flows, _) = run(&pkts);
    assert_eq!(flows.len(), 4, "echo pair shares a flow, one-way messages do not");
    let echo = flows.iter().find(|r| r.orig_p == 8).unwrap();
    assert_zeek(echo, ("10.0.0.1", 8, "10.0.0.2", 0, 56, 56, "OTH", "", 1, 84, 1, 84));
    let unreach: Vec<_> = flows.iter().filter(|r| r.orig_p == 3).collect();
    assert_eq!(unreach.len(), 2);
    assert!(unreach.iter().all(|r| r.resp_p == 3 && r.resp.pkts == 0));
    let rs = flows.iter().find(|r| r.orig_p == 133).unwrap();
    assert_eq!((rs.resp_p, rs.proto_name()), (134, "icmp"));
}

#[test]
fn unknown_transport_and_sctp() {
    let other = layer("192.168.170.8", "192.168.170.56", 99, Transport::Other, 20, 20);
    let mut back = other;
    std::mem::swap(&mut back.src, &mut back.dst);
    let sctp = layer(
        "1.1.1.0",
        "2.2.2.2",
        132,
        Transport::Sctp(SctpHeader { src_port: 7, dst_port: 7 }),
        12,
        0,
    );
    let (flows, _) = run(&[pkt(0, vec![other]), pkt(1, vec![back]), pkt(2, vec![sctp])]);
    assert_eq!(flows.len(), 2);
    let u = flows.iter().find(|r| r.proto == 99).unwrap();
    assert_zeek(u, ("192.168.170.8", 0, "192.168.170.56", 0, 0, 0, "OTH", "", 1, 40, 1, 40));
    assert_eq!(u.proto_name(), "unknown_transport");
    let s = flows.iter().find(|r| r.proto == 132).unwrap();
    assert_eq!((s.orig_p, s.resp_p), (0, 0));
    assert_eq!(
        s.community_id,
        super::community_id_v1(0, &ip("1.1.1.0"), 7, &ip("2.2.2.2"), 7, 132, false)
    );
}

#[test]
fn tunnels_outer_udp_and_gre() {
    // VXLAN: the outer UDP flow is logged and is the inner flow's tunnel parent.
    let outer = udp_layer("192.168.56.12", 40908, "192.168.56.11", 4789, 8 + 14 + 84);
    let mut inner = icmp_layer("10.0.0.1", "10.0.0.2", 8, 0, 56);
    inner.encap = Encapsulation::Vxlan;
    // GRE: no flow for the outer IP header, but a tunnel uid as parent.
    let gre = layer("172.16.0.1", "172.16.0.2", 47, Transport::Other, 4 + 84, 4 + 84);
    let mut inner2 = icmp_layer("10.9.0.1", "10.9.0.2", 8, 0, 56);
    inner2.encap = Encapsulation::Gre;
    let (flows, t) =
        run(&[pkt(0, vec![outer, inner]), pkt(1, vec![gre, inner2]), pkt(2, vec![gre, inner2])]);
    assert_eq!(flows.len(), 3, "VXLAN outer + inner, GRE inner only");
    let o = flows.iter().find(|r| r.resp_p == 4789).unwrap();
    let i = flows.iter().find(|r| r.orig_h == ip("10.0.0.1")).unwrap();
    assert_eq!(i.tunnel_parents, vec![o.uid.clone()]);
    assert!(o.tunnel_parents.is_empty());
    let g = flows.iter().find(|r| r.orig_h == ip("10.9.0.1")).unwrap();
    assert_eq!(g.tunnel_parents.len(), 1);
    assert_eq!(g.orig.pkts, 2);
    assert!(flows.iter().all(|r| r.uid != g.tunnel_parents[0]));
    assert_eq!(t.stats().tunnel_layers, 1);
}

#[test]
fn tunnel_parents_union() {
    let inner = icmp_layer("2001::1", "2001::2", 128, 0, 4);
    let o1 = udp_layer("192.168.2.16", 3797, "83.170.1.38", 32900, 60);
    let o2 = udp_layer("192.168.2.16", 3797, "65.55.158.80", 3544, 60);
    let (flows, _) =
        run(&[pkt(0, vec![o1, inner]), pkt(1, vec![o2, inner]), pkt(2, vec![o1, inner])]);
    let i = flows.iter().find(|r| r.proto == 58).unwrap();
    assert_eq!(i.tunnel_parents.len(), 2);
    assert_eq!(i.orig.pkts, 3);
}

#[test]
fn idle_timeouts_and_advance() {
    let mut t = FlowTable::new(FlowTableConfig::default());
    let mut out = Vec::new();
    t.process(&pkt(0, vec![udp_layer("10.0.0.1", 1000, "10.0.0.2", 2000, 10)]), &mut out);
    t.process(&pkt(sec(30.0), vec![udp_layer("10.0.0.1", 1001, "10.0.0.2", 2000, 10)]), &mut out);
    t.process(&pkt(sec(59.0), vec![udp_layer("10.0.0.2", 2000, "10.0.0.1", 1000, 10)]), &mut out);
    assert!(out.is_empty());
    t.advance(sec(100.0), &mut out);
    assert_eq!(out.len(), 1, "1001 idle since 30 s");
    assert_eq!(out[0].orig_p, 1001);
    t.process(&pkt(sec(200.0), vec![icmp_layer("10.0.0.1", "10.0.0.2", 8, 0, 1)]), &mut out);
    assert_eq!(out.len(), 2);
    assert_eq!(out[1].end_reason, EndReason::IdleTimeout);
    let st = t.stats();
    assert_eq!((st.idle_expired, st.active, st.created), (2, 1, 3));
}

#[test]
fn lru_eviction_under_max_flows() {
    let cfg = FlowTableConfig { max_flows: 2, ..FlowTableConfig::default() };
    let mut t = FlowTable::new(cfg);
    let mut out = Vec::new();
    t.process(&pkt(0, vec![udp_layer("10.0.0.1", 1, "10.0.0.2", 2, 0)]), &mut out);
    t.process(&pkt(1, vec![udp_layer("10.0.0.1", 3, "10.0.0.2", 4, 0)]), &mut out);
    t.process(&pkt(2, vec![udp_layer("10.0.0.2", 2, "10.0.0.1", 1, 0)]), &mut out); // touch the first
    t.process(&pkt(3, vec![tcp_layer("10.0.0.1", 5, "10.0.0.2", 6, S, 0, 0, 0, 100)]), &mut out);
    assert_eq!(out.len(), 1);
    assert_eq!((out[0].orig_p, out[0].end_reason), (3, EndReason::Evicted));
    assert_eq!(t.stats().evicted, 1);
    t.flush(&mut out);
    assert_eq!(out.len(), 3);
    assert_eq!(t.stats().active, 0);
}

/// Found by the `flow_table` fuzz target: conns created by truncated TCP headers (which
/// Zeek creates but does not count) were on no idle list, so they never idled out and a
/// full table looped forever looking for one to evict.
#[test]
fn conns_of_truncated_tcp_headers_idle_out_and_are_evicted() {
    let truncated = |ts: i64, sport: u16| {
        let mut l = tcp_layer("10.0.0.1", sport, "10.0.0.2", 80, S, 0, 0, 0, 100);
        if let Transport::Tcp(h) = &mut l.transport {
            h.header_len = 60; // longer than the 20-byte IP payload
        }
        pkt(ts, vec![l])
    };
    let cfg = FlowTableConfig { max_flows: 2, ..FlowTableConfig::default() };
    let mut t = FlowTable::new(cfg);
    let mut out = Vec::new();
    for (i, sport) in (1..=3).enumerate() {
        t.process(&truncated(sec(i as f64), sport), &mut out);
    }
    assert_eq!(out.len(), 1, "the third conn evicts the first");
    assert_eq!((out[0].orig_p, out[0].end_reason), (1, EndReason::Evicted));
    assert_eq!(out[0].orig.pkts + out[0].resp.pkts, 0, "the packet is not counted");
    assert_eq!(t.stats().active, 2);
    // An hour later both remaining conns have idled out.
    t.process(&pkt(sec(3600.0), vec![udp_layer("10.0.0.3", 1, "10.0.0.4", 2, 0)]), &mut out);
    let idle: Vec<_> =
        out.iter().filter(|r| r.end_reason == EndReason::IdleTimeout).map(|r| r.orig_p).collect();
    assert_eq!(idle, vec![2, 3]);
    assert_eq!(t.stats().active, 1);
}

#[test]
fn active_timeout_cuts_flow() {
    let cfg = FlowTableConfig { active_timeout_us: Some(sec(10.0)), ..FlowTableConfig::default() };
    let mut t = FlowTable::new(cfg);
    let mut out = Vec::new();
    for i in 0..25 {
        t.process(
            &pkt(sec(f64::from(i)), vec![udp_layer("10.0.0.1", 1, "10.0.0.2", 2, 0)]),
            &mut out,
        );
    }
    t.flush(&mut out);
    assert_eq!(out.iter().map(|r| r.orig.pkts).collect::<Vec<_>>(), vec![10, 10, 5]);
    assert_eq!(out[0].end_reason, EndReason::ActiveTimeout);
    assert!(out.windows(2).all(|w| w[0].ts_start < w[1].ts_start));
    let ids: std::collections::HashSet<_> = out.iter().map(|r| (r.flow_id, &r.uid)).collect();
    assert_eq!(ids.len(), 3, "each cut is a flow of its own");
}

#[test]
fn vlan_is_part_of_the_key() {
    let mut a = pkt(0, vec![udp_layer("10.0.0.1", 1, "10.0.0.2", 2, 0)]);
    let mut b = a.clone();
    a.vlan = Some(10);
    b.vlan = Some(20);
    let (flows, _) = run(&[a.clone(), b.clone()]);
    assert_eq!(flows.len(), 2);
    let mut t =
        FlowTable::new(FlowTableConfig { key_by_vlan: false, ..FlowTableConfig::default() });
    let mut out = Vec::new();
    t.process(&a, &mut out);
    t.process(&b, &mut out);
    t.flush(&mut out);
    assert_eq!(out.len(), 1);
}

#[test]
fn deterministic_uids_and_non_ip() {
    let pkts = vec![
        pkt(0, vec![udp_layer("10.0.0.1", 1, "10.0.0.2", 2, 0)]),
        pkt(1, vec![]),
        pkt(2, vec![udp_layer("10.0.0.1", 3, "10.0.0.2", 4, 0)]),
    ];
    let (a, t) = run(&pkts);
    let (b, _) = run(&pkts);
    assert_eq!(
        a.iter().map(|r| &r.uid).collect::<Vec<_>>(),
        b.iter().map(|r| &r.uid).collect::<Vec<_>>()
    );
    assert_ne!(a[0].uid, a[1].uid);
    assert_eq!(t.stats().non_ip_packets, 1);
}

/// Development aid: runs the table over `tshark -T fields` rows (see the column list below)
/// named by `VIGIL_ORACLE_TSV` and prints conn.log-like CSV rows, to diff against Zeek.
#[test]
#[ignore = "needs VIGIL_ORACLE_TSV"]
fn oracle_from_tshark_fields() {
    let Ok(path) = std::env::var("VIGIL_ORACLE_TSV") else {
        return;
    };
    let text = std::fs::read_to_string(path).expect("tsv");
    let mut t = FlowTable::new(FlowTableConfig::default());
    let mut out = Vec::new();
    for l in text.lines() {
        // time, frame.len, ip.src, ip.dst, ipv6.src, ipv6.dst, ip.len, ip.hdr_len, ipv6.plen,
        // tcp.srcport, tcp.dstport, tcp.flags, tcp.seq_raw, tcp.ack_raw, tcp.len, tcp.hdr_len, win,
        // udp.srcport, udp.dstport, udp.length, icmp.type, icmp.code, icmpv6.type, icmpv6.code,
        // ip.proto, ipv6.nxt, vlan.id, ip.flags.mf, ip.frag_offset, sctp.srcport, sctp.dstport
        let c: Vec<&str> = l.split('\t').collect();
        // Values may be `;`-separated lists (one per layer): `g` takes the first, `g2` the second.
        let g = |i: usize| c.get(i).copied().unwrap_or("").split(';').next().unwrap_or("");
        let g2 = |i: usize| c.get(i).copied().unwrap_or("").split(';').nth(1).unwrap_or("");
        let n = |i: usize| g(i).parse::<u64>().unwrap_or(0);
        let n2 = |i: usize| g2(i).parse::<u64>().unwrap_or(0);
        let ts = sec(g(0).parse().unwrap());
        if n(27) != 0 || n(28) != 0 {
            continue;
        }
        if !g(2).is_empty() && !g(4).is_empty() && !g(17).is_empty() {
            // IPv4/UDP tunnel (Teredo) carrying IPv6.
            let mut outer =
                udp_layer(g(2), n(17) as u16, g(3), n(18) as u16, (n(19) as u32).saturating_sub(8));
            outer.ip_total_len = n(6) as u32;
            let (s6, d6, total6) = (g(4), g(5), 40 + n(8) as u32);
            let mut inner = if !g(9).is_empty() {
                let flags = u16::from_str_radix(g(11).trim_start_matches("0x"), 16)
                    .map_or(0, |f| (f & 0xff) as u8);
                let mut l = tcp_layer(
                    s6,
                    n(9) as u16,
                    d6,
                    n(10) as u16,
                    flags,
                    n(12) as u32,
                    n(13) as u32,
                    n(14) as u32,
                    n(16) as u16,
                );
                if let Transport::Tcp(h) = &mut l.transport {
                    h.header_len = n(15) as u8;
                    h.options_len = (n(15) as u8).saturating_sub(20);
                }
                l.ip_header_len = (u64::from(total6) - n(15) - n(14)) as u16;
                l
            } else if !g(22).is_empty() {
                icmp_layer(s6, d6, n(22) as u8, n(23) as u8, 0)
            } else if !g2(17).is_empty() {
                let mut l = udp_layer(
                    s6,
                    n2(17) as u16,
                    d6,
                    n2(18) as u16,
                    (n2(19) as u32).saturating_sub(8),
                );
                l.ip_header_len = (u64::from(total6).saturating_sub(n2(19))) as u16;
                l
            } else {
                layer(s6, d6, n(25) as u8, Transport::Other, 0, 0)
            };
            inner.ip_total_len = total6;
            inner.encap = Encapsulation::Teredo;
            let mut p = pkt(ts, vec![outer, inner]);
            p.wire_len = n(1) as u32;
            t.process(&p, &mut out);
            continue;
        }
        let (src, dst, total, v6) = if !g(2).is_empty() {
            (g(2), g(3), n(6) as u32, false)
        } else if !g(4).is_empty() {
            (g(4), g(5), 40 + n(8) as u32, true)
        } else {
            t.process(&pkt(ts, vec![]), &mut out);
            continue;
        };
        let mut lay = if !g(9).is_empty() {
            let flags = u16::from_str_radix(g(11).trim_start_matches("0x"), 16)
                .map_or(0, |f| (f & 0xff) as u8);
            let mut l = tcp_layer(
                src,
                n(9) as u16,
                dst,
                n(10) as u16,
                flags,
                n(12) as u32,
                n(13) as u32,
                n(14) as u32,
                n(16) as u16,
            );
            if let Transport::Tcp(h) = &mut l.transport {
                h.header_len = n(15) as u8;
                h.options_len = (n(15) as u8).saturating_sub(20);
            }
            l.ip_header_len = (u64::from(total) - n(15) - n(14)) as u16;
            l
        } else if !g(17).is_empty() {
            let mut l =
                udp_layer(src, n(17) as u16, dst, n(18) as u16, (n(19) as u32).saturating_sub(8));
            l.ip_header_len = (u64::from(total).saturating_sub(n(19))) as u16;
            l
        } else if !g(20).is_empty() && !v6 {
            let mut l = icmp_layer(src, dst, n(20) as u8, n(21) as u8, 0);
            l.ip_header_len = n(7) as u16;
            l
        } else if !g(22).is_empty() {
            let mut l = icmp_layer(src, dst, n(22) as u8, n(23) as u8, 0);
            l.ip_header_len = 40;
            l
        } else if !g(29).is_empty() {
            layer(
                src,
                dst,
                132,
                Transport::Sctp(SctpHeader { src_port: n(29) as u16, dst_port: n(30) as u16 }),
                0,
                0,
            )
        } else {
            let proto = if v6 { n(25) } else { n(24) } as u8;
            layer(src, dst, proto, Transport::Other, 0, 0)
        };
        lay.ip_total_len = total;
        let mut p = pkt(ts, vec![lay]);
        p.wire_len = n(1) as u32;
        p.vlan = g(26).split(',').next().and_then(|v| v.parse().ok());
        t.process(&p, &mut out);
    }
    t.flush(&mut out);
    for r in &out {
        let parents: Vec<String> = r
            .tunnel_parents
            .iter()
            .map(|u| {
                out.iter().position(|x| &x.uid == u).map_or("?".to_string(), |i| format!("#{i}"))
            })
            .collect();
        println!("PARENTS,{},{},{}", r.orig_h, r.orig_p, parents.join(";"));
        println!(
            "ROW,{},{},{},{},{},{},{},{},{},{},{},{},{}",
            r.orig_h,
            r.orig_p,
            r.resp_h,
            r.resp_p,
            r.proto_name(),
            if r.duration_us() > 0 { r.orig.bytes.to_string() } else { "-".into() },
            if r.duration_us() > 0 { r.resp.bytes.to_string() } else { "-".into() },
            r.conn_state,
            if r.history.is_empty() { "-" } else { &r.history },
            r.orig.pkts,
            r.orig.ip_bytes,
            r.resp.pkts,
            r.resp.ip_bytes
        );
    }
}

#[test]
fn truncated_transport_makes_no_flow() {
    let bad = layer("10.0.0.1", "10.0.0.2", 6, Transport::Other, 10, 10);
    let (flows, t) = run(&[pkt(0, vec![bad])]);
    assert!(flows.is_empty());
    assert_eq!(t.stats().created, 0);
}

#[test]
fn truncated_tcp_header_creates_conn_without_counting() {
    // core.vntag-in-vlan: the TCP header claims more bytes than the packet has.
    let mut l = tcp_layer("10.10.10.1", 443, "10.10.10.2", 56960, S | A, 1, 2, 0, 100);
    if let Transport::Tcp(h) = &mut l.transport {
        h.header_len = 40;
        h.options_len = 0;
    }
    let mut t =
        FlowTable::new(FlowTableConfig { tcp_server_ports: vec![], ..FlowTableConfig::default() });
    let mut out = Vec::new();
    t.process(&pkt(0, vec![l]), &mut out);
    t.flush(&mut out);
    assert_zeek(&out[0], ("10.10.10.1", 443, "10.10.10.2", 56960, 0, 0, "OTH", "", 0, 0, 0, 0));
}

#[test]
fn teredo_bubble_makes_no_inner_flow() {
    let outer = udp_layer("192.168.2.16", 3797, "65.55.158.80", 3544, 40);
    let mut bubble = layer("2001::1", "2001::2", 59, Transport::Other, 0, 0);
    bubble.encap = Encapsulation::Teredo;
    let (flows, _) = run(&[pkt(0, vec![outer, bubble])]);
    assert_eq!(flows.len(), 1);
    assert_eq!(flows[0].proto, 17);
}

#[test]
fn dns_session_timeout_splits_udp_dns() {
    // core.tunnels.teredo: the same DNS 5-tuple 16 s apart makes two conns (Zeek's DNS
    // analyzer expires idle UDP sessions after dns_session_timeout).
    let q =
        |ts: f64, len| pkt(sec(ts), vec![udp_layer("192.168.2.16", 1920, "192.168.2.1", 53, len)]);
    let r =
        |ts: f64, len| pkt(sec(ts), vec![udp_layer("192.168.2.1", 53, "192.168.2.16", 1920, len)]);
    let (flows, _) = run(&[
        q(0.0, 33),
        r(0.087, 321),
        q(0.087, 33),
        r(0.223, 117),
        q(15.9, 35),
        r(16.1, 35),
        q(16.2, 53),
    ]);
    assert_eq!(
        flows.iter().map(|f| (f.orig.pkts, f.resp.pkts)).collect::<Vec<_>>(),
        vec![(2, 2), (2, 1)]
    );
    assert_eq!(flows[0].end_reason, EndReason::IdleTimeout);
    // Not for other UDP ports, nor when the session keeps talking.
    let o = |ts: f64| pkt(sec(ts), vec![udp_layer("10.0.0.1", 1000, "10.0.0.2", 2000, 1)]);
    let d = |ts: f64| pkt(sec(ts), vec![udp_layer("10.0.0.1", 1000, "10.0.0.2", 53, 1)]);
    let (flows, _) = run(&[o(0.0), o(16.0), d(0.0), d(8.5), d(17.0), d(26.0)]);
    assert_eq!(flows.len(), 2);
}

/// Rough throughput check: `cargo test --config 'profile.dev.package.vigil-ingest.opt-level=3'
/// -p vigil-ingest --lib bench_process -- --ignored --nocapture`.
#[test]
#[ignore = "timing, run by hand"]
fn bench_process() {
    let flows: u32 =
        std::env::var("BENCH_FLOWS").ok().and_then(|v| v.parse().ok()).unwrap_or(100_000);
    let per_flow = 2_000_000 / flows;
    let mut pkts = Vec::with_capacity((flows * 2) as usize);
    for i in 0..flows {
        let c = format!("10.{}.{}.{}", (i >> 16) & 255, (i >> 8) & 255, i & 255);
        pkts.push(tcp_layer(&c, 40000, "192.168.0.1", 443, A, 1000, 5000, 100, 8192));
        pkts.push(tcp_layer("192.168.0.1", 443, &c, 40000, A, 5000, 1100, 1000, 8192));
    }
    let mut t = FlowTable::new(FlowTableConfig::default());
    let mut n = 0u64;
    let mut sink = |_r: FlowRecord| n += 1;
    let mut p = pkt(0, vec![pkts[0]]);
    let start = std::time::Instant::now();
    let mut count = 0u64;
    for round in 0..per_flow {
        for (j, l) in pkts.iter().enumerate() {
            let mut l = *l;
            if let Transport::Tcp(h) = &mut l.transport {
                let k = round * if j % 2 == 0 { 100 } else { 1000 };
                h.seq = h.seq.wrapping_add(k);
            }
            p.layers[0] = l;
            p.ts = i64::from(round) * 1000 + j as i64 / 1000;
            t.process(&p, &mut sink);
            count += 1;
        }
    }
    t.flush(&mut sink);
    let el = start.elapsed();
    println!("{count} packets, {n} flows: {:.1} ns/packet", el.as_nanos() as f64 / count as f64);
}
