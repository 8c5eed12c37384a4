//! netFound tokenization throughput over the packets of `samples/ssh.pcap`
//! (or `VIGIL_BENCH_PCAP`). Packets are read and decoded first; only the
//! tokenizer is timed. Flows are keyed by a simple sorted 5-tuple here.

use std::collections::HashMap;
use std::hint::black_box;
use std::net::IpAddr;
use std::path::PathBuf;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use vigil_ingest::{Decoder, NetLayer, PcapReader, RawPacket, Transport};
use vigil_tokenizers::{FlowRef, NetfoundConfig, NetfoundTokenizer};

/// A sorted 5-tuple.
type FiveTuple = (IpAddr, u16, IpAddr, u16, u8);
/// A flow's id and originator endpoint.
type FlowInfo = (u64, (IpAddr, u16));

struct Pkt {
    flow_id: u64,
    orig: (IpAddr, u16),
    ts: i64,
    layer: NetLayer,
}

fn ports(l: &NetLayer) -> (u16, u16) {
    match l.transport {
        Transport::Tcp(t) => (t.src_port, t.dst_port),
        Transport::Udp(u) => (u.src_port, u.dst_port),
        _ => (0, 0),
    }
}

fn load() -> Vec<Pkt> {
    let path = std::env::var_os("VIGIL_BENCH_PCAP")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../samples/ssh.pcap"));
    let mut reader = PcapReader::open(&path).expect("bench capture opens");
    let linktype = reader.linktype();
    let mut decoder = Decoder::default();
    let mut flows: HashMap<FiveTuple, FlowInfo> = HashMap::new();
    let mut out = Vec::new();
    while let Some(p) = reader.next_packet().expect("bench capture reads") {
        let raw = RawPacket { ts: p.ts, data: p.data, wire_len: p.wire_len, linktype };
        let d = decoder.decode(&raw);
        let Some(l) = d.innermost() else { continue };
        let (sp, dp) = ports(l);
        let key = if (l.src, sp) <= (l.dst, dp) {
            (l.src, sp, l.dst, dp, l.proto)
        } else {
            (l.dst, dp, l.src, sp, l.proto)
        };
        let next = flows.len() as u64;
        let (flow_id, orig) = *flows.entry(key).or_insert((next, (l.src, sp)));
        out.push(Pkt { flow_id, orig, ts: d.ts, layer: *l });
    }
    out
}

fn tokenize(pkts: &[Pkt], config: &NetfoundConfig) -> (usize, usize) {
    let mut t = NetfoundTokenizer::new(config.clone()).expect("valid config");
    let mut rows = Vec::new();
    for p in pkts {
        let f = FlowRef {
            flow_id: p.flow_id,
            community_id: "",
            orig_addr: p.orig.0,
            orig_port: p.orig.1,
        };
        if let Ok(Some(r)) = t.push(f, p.ts, &p.layer) {
            rows.push(r);
        }
    }
    rows.extend(t.finish_all());
    rows.extend(t.take_evicted());
    let tokens = rows.iter().flat_map(|r| &r.bursts).map(|b| b.tokens.len()).sum();
    (rows.len(), tokens)
}

fn bench(c: &mut Criterion) {
    let pkts = load();
    assert!(!pkts.is_empty(), "the bench capture has IP packets");
    let config = NetfoundConfig::default();
    let (rows, tokens) = tokenize(&pkts, &config);
    assert!(rows > 0 && tokens > 0, "a fast wrong answer: no tokens");
    eprintln!("netfound bench: {} packets, {rows} flows, {tokens} tokens per run", pkts.len());

    let mut g = c.benchmark_group("netfound");
    g.throughput(Throughput::Elements(pkts.len() as u64));
    g.bench_function("packets", |b| b.iter(|| black_box(tokenize(&pkts, &config))));
    g.throughput(Throughput::Elements(tokens as u64));
    g.bench_function("tokens", |b| b.iter(|| black_box(tokenize(&pkts, &config))));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
