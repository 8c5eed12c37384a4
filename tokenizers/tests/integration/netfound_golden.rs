//! Golden tests: every expected token below was worked out by hand from the
//! field table in `src/netfound/fields.rs` (value + 1 per 16-bit word,
//! CLS = 65537 at the start of each burst), not copied from the output.

use vigil_ingest::packet::{TcpHeader, Transport};
use vigil_tokenizers::netfound::{CLS_TOKEN, IpNetwork};
use vigil_tokenizers::{
    BurstSplit, EmitReason, FlowRef, NetfoundConfig, NetfoundTokenizer, TokenizerError,
    to_record_batch,
};

use super::support::{icmp, ip, tcp, udp};

const C: &str = "10.0.0.1";
const S: &str = "10.0.0.2";

fn flow(id: u64, orig: &str, port: u16) -> FlowRef<'static> {
    FlowRef { flow_id: id, community_id: "1:golden", orig_addr: ip(orig), orig_port: port }
}

/// The three packets of a TCP handshake, client 10.0.0.1:40000 -> server 10.0.0.2:22.
fn handshake() -> Vec<(i64, vigil_ingest::NetLayer)> {
    vec![
        // t=0: SYN, seq 1000, ack 0, window 64240, IP total length 60.
        (0, tcp(C, 40000, S, 22, 0x02, 64240, 1000, 0, 60)),
        // t=0.5 ms: SYN-ACK, seq 5000, ack 1001, window 65160, length 60.
        (500, tcp(S, 22, C, 40000, 0x12, 65160, 5000, 1001, 60)),
        // t=1 ms: ACK, seq 1001, ack 5001, window 502, length 52.
        (1000, tcp(C, 40000, S, 22, 0x10, 502, 1001, 5001, 52)),
    ]
}

#[test]
fn tcp_handshake_per_direction_bursts() {
    let mut t = NetfoundTokenizer::new(NetfoundConfig::default()).unwrap();
    for (ts, l) in handshake() {
        assert!(t.push(flow(1, C, 40000), ts, &l).unwrap().is_none());
    }
    let f = t.finish(1).unwrap();
    assert_eq!(f.reason, EmitReason::Closed);
    assert_eq!((f.protocol, f.flow_duration_us), (6, 1000));
    // The ACK is 1 ms after the SYN in the same direction (<= 10 ms), so it
    // joins the SYN's burst even though the SYN-ACK came in between
    // (Tokenize.py splits each direction on its own).
    assert_eq!(f.bursts.len(), 2);
    #[rustfmt::skip]
    let fwd = vec![
        65537,
        // SYN: IP hl 20, tos 0, len 60, flags 2 (DF), ttl 64 -> +1
        21, 1, 61, 3, 65,
        // TCP flags 0x02, window 64240, rel seq 0 (hi, lo), rel ack 0 (no base yet), urgent 0
        3, 64241, 1, 1, 1, 1, 1,
        // 12 payload bytes, all absent: six zero words
        1, 1, 1, 1, 1, 1,
        // ACK: IP len 52
        21, 1, 53, 3, 65,
        // flags 0x10, window 502, rel seq 1001-1000 = 1, rel ack 5001-5000 = 1, urgent 0
        17, 503, 1, 2, 1, 2, 1,
        1, 1, 1, 1, 1, 1,
    ];
    #[rustfmt::skip]
    let bkd = vec![
        65537,
        21, 1, 61, 3, 65,
        // flags 0x12 = 18, window 65160, rel seq 0, rel ack 1001-1000 = 1, urgent 0
        19, 65161, 1, 1, 1, 2, 1,
        1, 1, 1, 1, 1, 1,
    ];
    assert_eq!(f.bursts[0].tokens, fwd);
    assert_eq!(f.bursts[1].tokens, bkd);
    let meta: Vec<_> =
        f.bursts.iter().map(|b| (b.direction, b.bytes, b.packets, b.iat_us)).collect();
    assert_eq!(meta, vec![(true, 60 + 52, 2, 0), (false, 60, 1, 0)]);
    assert!(t.finish(1).is_none(), "a flow is emitted once");
}

#[test]
fn tcp_handshake_split_on_direction_change() {
    let config = NetfoundConfig {
        burst_split: BurstSplit::OnDirectionChange,
        payload: false,
        ..Default::default()
    };
    let mut t = NetfoundTokenizer::new(config).unwrap();
    for (ts, l) in handshake() {
        t.push(flow(1, C, 40000), ts, &l).unwrap();
    }
    let f = t.finish(1).unwrap();
    let toks: Vec<_> = f.bursts.iter().map(|b| b.tokens.clone()).collect();
    assert_eq!(
        toks,
        vec![
            vec![65537, 21, 1, 61, 3, 65, 3, 64241, 1, 1, 1, 1, 1],
            vec![65537, 21, 1, 61, 3, 65, 19, 65161, 1, 1, 1, 2, 1],
            vec![65537, 21, 1, 53, 3, 65, 17, 503, 1, 2, 1, 2, 1],
        ]
    );
    // IAT is per direction: the ACK burst started 1000 µs after the SYN burst.
    let iats: Vec<_> = f.bursts.iter().map(|b| b.iat_us).collect();
    assert_eq!(iats, vec![0, 0, 1000]);
}

#[test]
fn tcp_options_add_twenty_tokens() {
    let config = NetfoundConfig { tcp_options: true, payload: false, ..Default::default() };
    let mut t = NetfoundTokenizer::new(config).unwrap();
    let mut syn = tcp(C, 40000, S, 22, 0x02, 64240, 1000, 0, 44);
    if let Transport::Tcp(TcpHeader { options, options_len, .. }) = &mut syn.transport {
        // MSS 1460: kind 2, len 4, 0x05b4
        options[..4].copy_from_slice(&[2, 4, 0x05, 0xb4]);
        *options_len = 4;
    }
    t.push(flow(1, C, 40000), 0, &syn).unwrap();
    let f = t.finish(1).unwrap();
    let mut want = vec![65537, 21, 1, 45, 3, 65, 3, 64241, 1, 1, 1, 1, 1];
    // 0x0204 = 516 -> 517, 0x05b4 = 1460 -> 1461, then 18 zero words
    want.extend([517, 1461]);
    want.extend([1; 18]);
    assert_eq!(f.bursts[0].tokens, want);
}

#[test]
fn tcp_relative_numbers_mid_connection_and_wrap() {
    let config = NetfoundConfig { payload: false, ..Default::default() };
    let mut t = NetfoundTokenizer::new(config).unwrap();
    let f = flow(1, C, 40000);
    // First packet already carries an ack: it becomes the server's base.
    t.push(f, 0, &tcp(C, 40000, S, 22, 0x10, 100, 0xFFFF_FFF0, 0x0001_0005, 40)).unwrap();
    // Server: seq 0x00010005 = its base -> 0; ack 0xFFFFFFFA - 0xFFFFFFF0 = 10.
    t.push(f, 100, &tcp(S, 22, C, 40000, 0x10, 100, 0x0001_0005, 0xFFFF_FFFA, 40)).unwrap();
    // Client: seq wraps to 0x10, rel 0x20; ack 0x00020005 - 0x00010005 = 0x00010000.
    t.push(f, 200, &tcp(C, 40000, S, 22, 0x10, 100, 0x0000_0010, 0x0002_0005, 40)).unwrap();
    let out = t.finish(1).unwrap();
    let seq_ack = |b: usize, p: usize| {
        let base = 1 + p * 12 + 7;
        out.bursts[b].tokens[base..base + 4].to_vec()
    };
    assert_eq!(seq_ack(0, 0), vec![1, 1, 1, 1]);
    assert_eq!(seq_ack(1, 0), vec![1, 1, 1, 11]);
    assert_eq!(seq_ack(0, 1), vec![1, 33, 2, 1]);
}

#[test]
fn icmp_with_internal_network_payload_and_iat() {
    let config = NetfoundConfig {
        internal_networks: vec!["192.168.0.0/16".parse::<IpNetwork>().unwrap()],
        ..Default::default()
    };
    let mut t = NetfoundTokenizer::new(config).unwrap();
    let ext = "8.8.8.8";
    let int = "192.168.1.5";
    // The external host originates, but the internal host's packets are forward.
    let f = flow(9, ext, 0);
    let data = b"abcdefghijk"; // 11 bytes
    t.push(f, 0, &icmp(ext, int, 8, 57, data)).unwrap();
    t.push(f, 20_000, &icmp(int, ext, 0, 64, data)).unwrap();
    t.push(f, 30_000, &icmp(ext, int, 8, 57, data)).unwrap();
    let out = t.finish(9).unwrap();
    // "ab" 0x6162 = 24930, "cd" 25444, "ef" 25958, "gh" 26472, "ij" 26986, "k\0" 0x6b00 = 27392; +1 each
    let payload = [24931, 25445, 25959, 26473, 26987, 27393];
    // IP hl 20, tos 0, len 28 + 11 = 39, flags 0, ttl 57; ICMP type 8, code 0
    let mut request = vec![CLS_TOKEN, 21, 1, 40, 1, 58, 9, 1];
    request.extend(payload);
    let mut reply = vec![CLS_TOKEN, 21, 1, 40, 1, 65, 1, 1];
    reply.extend(payload);
    let toks: Vec<_> = out.bursts.iter().map(|b| b.tokens.clone()).collect();
    assert_eq!(toks, vec![request.clone(), reply, request]);
    let meta: Vec<_> =
        out.bursts.iter().map(|b| (b.direction, b.bytes, b.packets, b.iat_us)).collect();
    // The second request is 30 ms after the first (> 10 ms): a new burst, IAT 30000 µs.
    assert_eq!(meta, vec![(false, 39, 1, 0), (true, 39, 1, 0), (false, 39, 1, 30_000)]);
    assert_eq!((out.protocol, out.flow_duration_us), (1, 30_000));
}

#[test]
fn udp_limits_and_early_emission() {
    let config = NetfoundConfig {
        max_bursts: 2,
        max_packets_per_burst: 2,
        emit_after_bursts: Some(2),
        payload: false,
        ..Default::default()
    };
    let mut t = NetfoundTokenizer::new(config).unwrap();
    let f = flow(3, C, 5000);
    let p = udp(C, 5000, S, 53, 12); // IP length 32
    for ts in [0, 1_000, 2_000, 20_000] {
        assert!(t.push(f, ts, &p).unwrap().is_none(), "not final at {ts}");
    }
    // 40 ms: would start a third burst (dropped: max_bursts = 2), which makes the second final.
    let out = t.push(f, 40_000, &p).unwrap().expect("early emission");
    assert_eq!(out.reason, EmitReason::Early);
    // Per packet: IP hl 20, tos 0, len 32, flags 0, ttl 64; UDP length 12.
    let pkt = [21, 1, 33, 1, 65, 13];
    let mut b0 = vec![CLS_TOKEN];
    b0.extend(pkt);
    b0.extend(pkt); // the third packet (2 ms) is dropped: burst full
    let mut b1 = vec![CLS_TOKEN];
    b1.extend(pkt);
    assert_eq!(out.bursts.iter().map(|b| b.tokens.clone()).collect::<Vec<_>>(), vec![b0, b1]);
    let meta: Vec<_> =
        out.bursts.iter().map(|b| (b.direction, b.bytes, b.packets, b.iat_us)).collect();
    assert_eq!(meta, vec![(true, 64, 2, 0), (true, 32, 1, 20_000)]);
    assert_eq!(out.flow_duration_us, 40_000);
    assert!(t.push(f, 41_000, &p).unwrap().is_none());
    assert!(t.finish(3).is_none(), "already emitted");
    let s = t.stats();
    assert_eq!((s.packets, s.packets_after_emit, s.emitted_early), (6, 1, 1));
}

#[test]
fn eviction_keeps_state_bounded() {
    let config = NetfoundConfig { max_open_flows: 2, ..Default::default() };
    let mut t = NetfoundTokenizer::new(config).unwrap();
    for (id, port) in [(1u64, 1000u16), (2, 1001), (1, 1000), (3, 1002)] {
        t.push(flow(id, C, port), 0, &udp(C, port, S, 53, 8)).unwrap();
    }
    assert_eq!(t.open_flows(), 2);
    let ev = t.take_evicted();
    assert_eq!(ev.len(), 1);
    assert_eq!((ev[0].flow_id, ev[0].reason), (2, EmitReason::Evicted));
    assert_eq!(t.stats().evicted, 1);
    let rest: Vec<_> = t.finish_all().iter().map(|f| f.flow_id).collect();
    assert_eq!(rest, vec![1, 3]);
}

#[test]
fn malformed_input_is_an_error_not_a_panic() {
    let mut t = NetfoundTokenizer::new(NetfoundConfig::default()).unwrap();
    let f = flow(1, C, 40000);
    let mut sctp = udp(C, 40000, S, 22, 8);
    sctp.proto = 132;
    sctp.transport = Transport::Sctp(vigil_ingest::packet::SctpHeader { src_port: 1, dst_port: 2 });
    assert!(matches!(
        t.push(f, 0, &sctp),
        Err(TokenizerError::UnsupportedProtocol { flow_id: 1, proto: 132 })
    ));
    let mut cut = tcp(C, 40000, S, 22, 0x02, 1, 1, 0, 40);
    cut.transport = Transport::Other;
    let e = t.push(f, 0, &cut).unwrap_err();
    assert!(matches!(e, TokenizerError::MissingTransport { proto: 6, .. }));
    assert!(e.to_string().contains("flow 1"), "{e}");
    t.push(f, 0, &tcp(C, 40000, S, 22, 0x02, 1, 1, 0, 40)).unwrap();
    assert!(matches!(
        t.push(f, 1, &udp(C, 40000, S, 22, 8)),
        Err(TokenizerError::ProtocolMismatch { expected: 6, got: 17, .. })
    ));
    assert!(matches!(
        t.push(f, 2, &tcp("1.2.3.4", 1, S, 22, 0x10, 1, 1, 1, 40)),
        Err(TokenizerError::EndpointMismatch { .. })
    ));
    assert_eq!(t.stats().packets_rejected, 4);
    assert!(matches!(
        NetfoundTokenizer::new(NetfoundConfig { max_bursts: 0, ..Default::default() }),
        Err(TokenizerError::Config(_))
    ));
    // Oversized (reassembled) datagram: the length token saturates, bytes do not.
    let mut big = udp(C, 40001, S, 22, 8);
    big.ip_total_len = 70_000;
    let g = flow(2, C, 40001);
    t.push(g, 0, &big).unwrap();
    let out = t.finish(2).unwrap();
    assert_eq!(out.bursts[0].tokens[3], 65536);
    assert_eq!(out.bursts[0].bytes, 70_000);
    assert_eq!(to_record_batch(&[out]).unwrap().num_rows(), 1);
}
