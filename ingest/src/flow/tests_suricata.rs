//! Suricata-semantics rules, one test each, with synthetic packets.

use std::net::IpAddr;

use super::tests::{A, F, R, S, icmp_layer, pkt, tcp_layer, udp_layer};
use super::{EndReason, FlowRecord, FlowTable, FlowTableConfig, Semantics};
use crate::packet::{DecodedPacket, Encapsulation, NetLayer, QuotedPacket, Transport};

const SEC: i64 = 1_000_000;

fn suricata() -> FlowTableConfig {
    FlowTableConfig { semantics: Semantics::Suricata, ..FlowTableConfig::default() }
}

fn run_with(config: FlowTableConfig, pkts: &[DecodedPacket]) -> (Vec<FlowRecord>, FlowTable) {
    let mut t = FlowTable::new(config);
    let mut out = Vec::new();
    for p in pkts {
        t.process(p, &mut out);
    }
    t.flush(&mut out);
    (out, t)
}

fn run(pkts: &[DecodedPacket]) -> Vec<FlowRecord> {
    run_with(suricata(), pkts).0
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
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
) -> DecodedPacket {
    pkt(ts, vec![tcp_layer(src, sport, dst, dport, flags, seq, 0, 0, 8192)])
}

#[test]
fn direction_is_the_first_packet_without_port_heuristics() {
    // A DNS reply seen first: Zeek flips it (source port 53 is a likely server port),
    // Suricata keeps the first packet's sender as toserver.
    let p = [
        pkt(0, vec![udp_layer("10.0.0.2", 53, "10.0.0.1", 33000, 40)]),
        pkt(SEC, vec![udp_layer("10.0.0.1", 33000, "10.0.0.2", 53, 20)]),
    ];
    let zeek = run_with(FlowTableConfig::default(), &p).0;
    assert_eq!(zeek[0].orig_p, 33000);
    let suri = run(&p);
    assert_eq!((suri[0].orig_h, suri[0].orig_p), (ip("10.0.0.2"), 53));
    assert_eq!((suri[0].orig.pkts, suri[0].resp.pkts), (1, 1));
}

#[test]
fn syn_ack_first_is_reversed_only_with_midstream() {
    let p = [
        tcp(0, "10.0.0.2", 80, "10.0.0.1", 40000, S | A, 500),
        tcp(SEC, "10.0.0.1", 40000, "10.0.0.2", 80, A, 101),
    ];
    let f = &run(&p)[0];
    assert_eq!((f.orig_h, f.orig_p), (ip("10.0.0.2"), 80));
    let mut cfg = suricata();
    cfg.suricata.midstream = true;
    let f = &run_with(cfg, &p).0[0];
    assert_eq!((f.orig_h, f.orig_p), (ip("10.0.0.1"), 40000));
    assert_eq!((f.orig.pkts, f.resp.pkts), (1, 1));
}

#[test]
fn late_fin_retransmissions_stay_in_the_closed_flow() {
    // Zeek logs the connection tcp_close_delay (5 s) after the close, so a FIN retransmitted
    // 20 s later starts a new connection; Suricata's closed timeout is 60 s.
    let p = [
        tcp(0, "10.0.0.1", 40000, "10.0.0.2", 443, S, 100),
        tcp(SEC / 10, "10.0.0.2", 443, "10.0.0.1", 40000, S | A, 500),
        tcp(2 * SEC / 10, "10.0.0.1", 40000, "10.0.0.2", 443, A, 101),
        tcp(SEC, "10.0.0.1", 40000, "10.0.0.2", 443, F | A, 101),
        tcp(SEC + 1, "10.0.0.2", 443, "10.0.0.1", 40000, F | A, 501),
        tcp(SEC + 2, "10.0.0.1", 40000, "10.0.0.2", 443, A, 102),
        tcp(20 * SEC, "10.0.0.2", 443, "10.0.0.1", 40000, F | A, 501),
        tcp(57 * SEC, "10.0.0.2", 443, "10.0.0.1", 40000, F | A, 501),
    ];
    assert!(run_with(FlowTableConfig::default(), &p).0.len() > 1);
    let f = run(&p);
    assert_eq!(f.len(), 1);
    assert_eq!((f[0].orig.pkts, f[0].resp.pkts), (4, 4));
    assert_eq!(f[0].end_reason, EndReason::Flush);
    // Past the closed timeout (60 s) the flow ends by idle timeout.
    let mut q = p.to_vec();
    q.push(tcp(200 * SEC, "10.0.0.2", 443, "10.0.0.1", 40000, F | A, 501));
    let f = run(&q);
    assert_eq!(f.len(), 2);
    assert_eq!(f[0].end_reason, EndReason::IdleTimeout);
}

#[test]
fn per_state_idle_timeouts() {
    // UDP: new 30 s, established 300 s.
    let one_way = [
        pkt(0, vec![udp_layer("10.0.0.1", 1000, "10.0.0.2", 2000, 10)]),
        pkt(31 * SEC, vec![udp_layer("10.0.0.1", 1000, "10.0.0.2", 2000, 10)]),
    ];
    assert_eq!(run(&one_way).len(), 2);
    let both = [
        pkt(0, vec![udp_layer("10.0.0.1", 1000, "10.0.0.2", 2000, 10)]),
        pkt(1, vec![udp_layer("10.0.0.2", 2000, "10.0.0.1", 1000, 10)]),
        pkt(200 * SEC, vec![udp_layer("10.0.0.1", 1000, "10.0.0.2", 2000, 10)]),
    ];
    assert_eq!(run(&both).len(), 1);
    // Zeek's DNS session timer (10 s) does not apply.
    let dns = [
        pkt(0, vec![udp_layer("10.0.0.1", 1000, "10.0.0.2", 53, 10)]),
        pkt(1, vec![udp_layer("10.0.0.2", 53, "10.0.0.1", 1000, 10)]),
        pkt(20 * SEC, vec![udp_layer("10.0.0.1", 1000, "10.0.0.2", 53, 10)]),
    ];
    assert_eq!(run_with(FlowTableConfig::default(), &dns).0.len(), 2);
    assert_eq!(run(&dns).len(), 1);
    // TCP: an unanswered SYN lives for the 60 s "new" timeout (no 5 s attempt timer).
    let syn = [
        tcp(0, "10.0.0.1", 40000, "10.0.0.2", 80, S, 1),
        tcp(50 * SEC, "10.0.0.1", 40000, "10.0.0.2", 80, A, 2),
    ];
    assert_eq!(run(&syn).len(), 1);
    let established = [
        tcp(0, "10.0.0.1", 40000, "10.0.0.2", 80, S, 1),
        tcp(1, "10.0.0.2", 80, "10.0.0.1", 40000, S | A, 9),
        tcp(2, "10.0.0.1", 40000, "10.0.0.2", 80, A, 2),
        tcp(500 * SEC, "10.0.0.1", 40000, "10.0.0.2", 80, A, 2),
        tcp(1200 * SEC, "10.0.0.1", 40000, "10.0.0.2", 80, A, 2),
    ];
    assert_eq!(run(&established).len(), 2);
}

#[test]
fn new_syn_reuses_a_closed_or_sessionless_flow_only() {
    let handshake = |sp: u16| {
        vec![
            tcp(0, "10.0.0.1", sp, "10.0.0.2", 80, S, 100),
            tcp(1, "10.0.0.2", 80, "10.0.0.1", sp, S | A, 500),
            tcp(2, "10.0.0.1", sp, "10.0.0.2", 80, A, 101),
        ]
    };
    // Established: a new SYN (other ISN) does not reuse.
    let mut p = handshake(40000);
    p.push(tcp(3, "10.0.0.1", 40000, "10.0.0.2", 80, S, 7000));
    assert_eq!(run(&p).len(), 1);
    // Reset (CLOSED): it does; a retransmitted SYN with the first ISN would not.
    let mut p = handshake(40000);
    p.push(tcp(3, "10.0.0.1", 40000, "10.0.0.2", 80, R, 101));
    p.push(tcp(4, "10.0.0.1", 40000, "10.0.0.2", 80, S, 100));
    assert_eq!(run(&p).len(), 1);
    p.push(tcp(5, "10.0.0.1", 40000, "10.0.0.2", 80, S, 7000));
    let f = run(&p);
    assert_eq!(f.len(), 2);
    assert_eq!(f[0].end_reason, EndReason::Reused);
    // TIME_WAIT (client closed first, server's FIN acked... still waiting): no reuse.
    let mut p = handshake(40000);
    p.push(tcp(3, "10.0.0.1", 40000, "10.0.0.2", 80, F | A, 101));
    p.push(tcp(4, "10.0.0.2", 80, "10.0.0.1", 40000, F | A, 501));
    p.push(tcp(5, "10.0.0.1", 40000, "10.0.0.2", 80, S, 9000));
    assert_eq!(run(&p).len(), 1);
    // No session (first packet not a SYN, midstream off): any SYN reuses.
    let p = [
        tcp(0, "10.0.0.1", 40000, "10.0.0.2", 80, A, 100),
        tcp(1, "10.0.0.1", 40000, "10.0.0.2", 80, S, 100),
    ];
    assert_eq!(run(&p).len(), 2);
}

fn unreachable(src: &str, dst: &str, quoted: QuotedPacket) -> NetLayer {
    let mut l = icmp_layer(src, dst, 3, 4, 48);
    if let Transport::Icmp(h) = &mut l.transport {
        h.quoted = Some(quoted);
    }
    l
}

fn quote(src: &str, sport: u16, dst: &str, dport: u16, proto: u8) -> QuotedPacket {
    QuotedPacket {
        src: ip(src),
        dst: ip(dst),
        proto,
        src_port: sport,
        dst_port: dport,
        has_ports: true,
    }
}

#[test]
fn icmp_unreachable_counts_in_the_quoted_flow() {
    let q = quote("10.0.0.1", 40000, "10.0.0.2", 25, 6);
    let p = [
        tcp(0, "10.0.0.1", 40000, "10.0.0.2", 25, S, 100),
        tcp(1, "10.0.0.2", 25, "10.0.0.1", 40000, S | A, 500),
        // A router says "fragmentation needed" to the client: toclient.
        pkt(2, vec![unreachable("192.168.1.1", "10.0.0.1", q)]),
        // The client itself sends one (quoting the server's packet): toserver.
        pkt(
            3,
            vec![unreachable("10.0.0.1", "10.0.0.2", quote("10.0.0.2", 25, "10.0.0.1", 40000, 6))],
        ),
    ];
    let (f, t) = run_with(suricata(), &p);
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!((f[0].orig.pkts, f[0].resp.pkts), (2, 2));
    let icmp_wire = u64::from(p[2].wire_len);
    assert_eq!(f[0].resp.wire_bytes, u64::from(p[1].wire_len) + icmp_wire);
    assert_eq!(t.stats().icmp_errors_attached, 2);
    // Under Zeek semantics the errors are ICMP connections of their own.
    assert_eq!(run_with(FlowTableConfig::default(), &p).0.len(), 3);
}

#[test]
fn icmp_errors_without_a_flow_are_in_none() {
    let q = quote("10.0.0.1", 40000, "10.0.0.2", 25, 6);
    let mut no_ports = q;
    no_ports.has_ports = false;
    let mut ttl = icmp_layer("192.168.1.1", "10.0.0.1", 11, 0, 48);
    if let Transport::Icmp(h) = &mut ttl.transport {
        h.quoted = Some(q);
    }
    let p = [
        pkt(0, vec![unreachable("192.168.1.1", "10.0.0.1", q)]),
        tcp(1, "10.0.0.1", 40000, "10.0.0.2", 25, S, 100),
        // Time exceeded is an error but not attached (Suricata only attaches unreachables).
        pkt(2, vec![ttl]),
        // An unreachable whose quote stops before the ports is not attached either.
        pkt(3, vec![unreachable("192.168.1.1", "10.0.0.1", no_ports)]),
        // An echo request is an ordinary ICMP flow.
        pkt(4, vec![icmp_layer("10.0.0.1", "10.0.0.2", 8, 0, 56)]),
    ];
    let (f, t) = run_with(suricata(), &p);
    assert_eq!(f.len(), 2, "{f:?}");
    assert_eq!((f[0].proto, f[0].orig.pkts, f[0].resp.pkts), (6, 1, 0));
    assert_eq!(f[1].proto, 1);
    assert_eq!(t.stats().icmp_errors_unattached, 3);
}

#[test]
fn icmpv6_errors_stay_their_own_flow() {
    let mut l = icmp_layer("2001:db8::9", "2001:db8::1", 1, 4, 48);
    if let Transport::Icmpv6(h) = &mut l.transport {
        h.quoted = Some(quote("2001:db8::1", 40000, "2001:db8::2", 53, 17));
    }
    let p = [pkt(0, vec![udp_layer("2001:db8::1", 40000, "2001:db8::2", 53, 20)]), pkt(1, vec![l])];
    assert_eq!(run(&p).len(), 2);
}

/// An outer UDP (VXLAN) layer and an inner layer with a 14-byte inner Ethernet header.
fn vxlan(ts: i64, inner: NetLayer) -> DecodedPacket {
    let mut inner = inner;
    inner.encap = Encapsulation::Vxlan;
    inner.l2_len = 14;
    let outer_len = 8 + 8 + 14 + inner.ip_total_len;
    let outer = udp_layer("192.168.0.1", 50000, "192.168.0.2", 4789, outer_len);
    pkt(ts, vec![outer, inner])
}

#[test]
fn tunnel_depth_is_part_of_the_key_and_inner_bytes_start_at_inner_l2() {
    let req = icmp_layer("10.0.0.1", "10.0.0.2", 8, 0, 56);
    let rep = icmp_layer("10.0.0.2", "10.0.0.1", 0, 0, 56);
    // Request inside VXLAN, reply outside: Suricata sees two flows, Zeek one.
    let p = [vxlan(0, req), pkt(1, vec![rep])];
    let f = run(&p);
    let icmp: Vec<_> = f.iter().filter(|r| r.proto == 1).collect();
    assert_eq!(icmp.len(), 2, "{f:?}");
    let inner = icmp
        .iter()
        .find(|r| r.orig.pkts == 1 && r.resp.pkts == 0 && r.orig_h == ip("10.0.0.1"))
        .unwrap();
    assert_eq!(inner.orig.wire_bytes, 84 + 14);
    // The outer UDP flow counts the whole frame.
    let udp = f.iter().find(|r| r.proto == 17).unwrap();
    assert_eq!(udp.orig.wire_bytes, u64::from(p[0].wire_len));
    assert_eq!(
        run_with(FlowTableConfig::default(), &p).0.iter().filter(|r| r.proto == 1).count(),
        1
    );
    // With use-for-tracking off, depth is not in the key.
    let mut cfg = suricata();
    cfg.suricata.recursion_level_tracking = false;
    assert_eq!(run_with(cfg, &p).0.iter().filter(|r| r.proto == 1).count(), 1);
    // Zeek semantics keep counting the outer frame for inner flows.
    let z = run_with(FlowTableConfig::default(), &p[..1]).0;
    let zi = z.iter().find(|r| r.proto == 1).unwrap();
    assert_eq!(zi.orig.wire_bytes, u64::from(p[0].wire_len));
}

#[test]
fn ip_in_ip_outer_has_a_flow_gre_does_not() {
    let mut outer = crate::flow::tests::layer(
        "192.168.0.1",
        "192.168.0.2",
        4,
        Transport::Other,
        20 + 36,
        20 + 36,
    );
    let mut inner = udp_layer("10.0.0.1", 1000, "10.0.0.2", 2000, 8);
    inner.encap = Encapsulation::IpInIp;
    let ipip = pkt(0, vec![outer, inner]);
    let f = run(std::slice::from_ref(&ipip));
    assert_eq!(f.iter().map(|r| r.proto).collect::<Vec<_>>(), vec![4, 17]);
    assert!(!f[1].tunnel_parents.is_empty());
    // Zeek: the IP tunnel is only a parent.
    assert_eq!(run_with(FlowTableConfig::default(), &[ipip]).0.len(), 1);
    outer.proto = 47;
    inner.encap = Encapsulation::Gre;
    let f = run(&[pkt(0, vec![outer, inner])]);
    assert_eq!(f.iter().map(|r| r.proto).collect::<Vec<_>>(), vec![17]);
    // A lone GRE packet (nothing decapsulated) has no flow either.
    assert!(run(&[pkt(0, vec![outer])]).is_empty());
}
