//! Property tests of the netFound tokenizer.

use proptest::prelude::*;
use vigil_ingest::NetLayer;
use vigil_tokenizers::netfound::{CLS_TOKEN, Layout};
use vigil_tokenizers::{BurstSplit, FlowRef, FlowTokens, NetfoundConfig, NetfoundTokenizer};

use super::support::{icmp, tcp, udp};

const C: &str = "10.0.0.1";
const S: &str = "10.0.0.2";

#[derive(Debug, Clone)]
struct Pkt {
    dt_us: i64,
    from_client: bool,
    seq: u32,
    ack: u32,
    flags: u8,
    len: u16,
}

fn pkt() -> impl Strategy<Value = Pkt> {
    (0i64..25_000, any::<bool>(), any::<u32>(), any::<u32>(), any::<u8>(), 0u16..1500).prop_map(
        |(dt_us, from_client, seq, ack, flags, len)| Pkt {
            dt_us,
            from_client,
            seq,
            ack,
            flags,
            len,
        },
    )
}

fn config() -> impl Strategy<Value = NetfoundConfig> {
    (1usize..14, 1usize..8, any::<bool>(), any::<bool>(), any::<bool>(), 0i64..20_000).prop_map(
        |(max_bursts, max_packets_per_burst, payload, tcp_options, on_change, burst_gap_us)| {
            NetfoundConfig {
                max_bursts,
                max_packets_per_burst,
                payload,
                tcp_options,
                burst_gap_us,
                burst_split: if on_change {
                    BurstSplit::OnDirectionChange
                } else {
                    BurstSplit::PerDirection
                },
                emit_after_bursts: None,
                ..Default::default()
            }
        },
    )
}

fn layer_of(proto: u8, p: &Pkt) -> NetLayer {
    let (a, b, ap, bp) = if p.from_client { (C, S, 40000, 22) } else { (S, C, 22, 40000) };
    match proto {
        6 => tcp(a, ap, b, bp, p.flags, 1000, p.seq, p.ack, 40 + u32::from(p.len)),
        17 => udp(a, ap, b, bp, 8 + p.len),
        _ => icmp(a, b, if p.from_client { 8 } else { 0 }, 64, &p.seq.to_be_bytes()),
    }
}

/// Tokenize one flow; returns every emission (early or at close).
fn run(config: NetfoundConfig, proto: u8, pkts: &[Pkt]) -> Vec<FlowTokens> {
    let mut t = NetfoundTokenizer::new(config).unwrap();
    let f = FlowRef {
        flow_id: 1,
        community_id: "1:p",
        orig_addr: C.parse().unwrap(),
        orig_port: 40000,
    };
    let mut out = Vec::new();
    let mut ts = 1_000_000i64;
    for p in pkts {
        ts += p.dt_us;
        out.extend(t.push(f, ts, &layer_of(proto, p)).unwrap());
    }
    out.extend(t.finish(1));
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn bursts_follow_the_rules(
        config in config(),
        proto in prop::sample::select(vec![6u8, 17, 1]),
        pkts in prop::collection::vec(pkt(), 1..120),
    ) {
        let out = run(config.clone(), proto, &pkts);
        prop_assert_eq!(out.len(), 1);
        let flow = &out[0];
        let layout = match proto { 6 => Layout::Tcp, 17 => Layout::Udp, _ => Layout::Icmp };
        let per_packet = layout.tokens_per_packet(config.payload, config.tcp_options);
        // The reference's table: TCP 12, UDP 6, ICMP 7, +6 payload, +20 TCP options.
        let want = match proto { 6 => 12 + if config.tcp_options { 20 } else { 0 }, 17 => 6, _ => 7 }
            + if config.payload { 6 } else { 0 };
        prop_assert_eq!(per_packet, want);
        prop_assert!(!flow.bursts.is_empty() && flow.bursts.len() <= config.max_bursts);
        for b in &flow.bursts {
            prop_assert!(b.packets >= 1 && b.packets as usize <= config.max_packets_per_burst);
            prop_assert_eq!(b.tokens.len(), 1 + b.packets as usize * per_packet);
            prop_assert_eq!(b.tokens[0], CLS_TOKEN);
            prop_assert!(b.tokens[1..].iter().all(|&t| (1..=65536).contains(&t)));
        }
        let total: usize = flow.bursts.iter().map(|b| b.packets as usize).sum();
        prop_assert!(total <= pkts.len());
        for w in flow.bursts.windows(2) {
            prop_assert!(w[0].ts_start <= w[1].ts_start);
            if w[0].direction == w[1].direction {
                // Same direction twice in a row: only a gap can have split them
                // (in both modes: a turn in between would have made a burst of its own).
                prop_assert!(w[1].ts_start - w[0].ts_start > config.burst_gap_us);
            }
        }
    }

    #[test]
    fn deterministic_and_early_equals_close(
        config in config(),
        proto in prop::sample::select(vec![6u8, 17, 1]),
        pkts in prop::collection::vec(pkt(), 1..120),
    ) {
        let a = run(config.clone(), proto, &pkts);
        let b = run(config.clone(), proto, &pkts);
        prop_assert_eq!(&a, &b);
        // Emitting as soon as max_bursts bursts are final gives the same bursts as waiting for close.
        let early = NetfoundConfig { emit_after_bursts: Some(config.max_bursts), ..config };
        let e = run(early, proto, &pkts);
        prop_assert_eq!(e.len(), 1);
        prop_assert_eq!(&e[0].bursts, &a[0].bursts);
    }
}
