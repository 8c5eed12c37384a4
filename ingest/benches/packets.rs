//! Decode and flow-table throughput over the shipped sample capture, or over
//! `VIGIL_BENCH_PCAP` when set (e.g. the 1M-packet capture from
//! `benchmarks/make-capture.py`). Packets are loaded into memory first so only
//! decoding and flow accounting are timed. `decode/etherparse_*` slice the same
//! packets with etherparse, for the layers both parse.

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use vigil_ingest::{
    DecodedPacket, Decoder, FlowRecord, FlowTable, FlowTableConfig, LinkType, PcapReader, RawPacket,
};

struct Trace {
    linktype: LinkType,
    packets: Vec<(i64, u32, Vec<u8>)>,
}

fn load() -> Trace {
    let path = std::env::var_os("VIGIL_BENCH_PCAP")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../samples/ssh.pcap"));
    let mut reader = PcapReader::open(&path).expect("bench capture opens");
    let linktype = reader.linktype();
    let mut packets = Vec::new();
    while let Some(p) = reader.next_packet().expect("bench capture reads") {
        packets.push((p.ts, p.wire_len, p.data.to_vec()));
    }
    Trace { linktype, packets }
}

fn raw<'a>(t: &Trace, p: &'a (i64, u32, Vec<u8>)) -> RawPacket<'a> {
    RawPacket { ts: p.0, data: &p.2, wire_len: p.1, linktype: t.linktype }
}

fn bench(c: &mut Criterion) {
    let trace = load();
    let n = trace.packets.len() as u64;
    let bytes: u64 = trace.packets.iter().map(|p| p.2.len() as u64).sum();

    let mut g = c.benchmark_group("decode");
    g.throughput(Throughput::Elements(n));
    g.bench_function("packets", |b| {
        b.iter(|| {
            let mut decoder = Decoder::default();
            let mut layers = 0usize;
            for p in &trace.packets {
                layers += decoder.decode(&raw(&trace, p)).layers.len();
            }
            assert!(layers > 0, "a fast wrong answer: nothing decoded");
            black_box(layers)
        })
    });
    // The same packets sliced by etherparse (Ethernet, VLAN, IPv4/IPv6 with extension
    // headers, TCP/UDP/ICMP; no tunnels, reassembly or weirds), the layers it covers
    // that ours parses by hand: is ours slower on them?
    if trace.linktype == LinkType::ETHERNET {
        g.bench_function("etherparse_sliced", |b| {
            b.iter(|| {
                let mut transports = 0usize;
                for p in &trace.packets {
                    if let Ok(s) = etherparse::SlicedPacket::from_ethernet(&p.2) {
                        transports += usize::from(s.transport.is_some());
                    }
                }
                assert!(transports > 0, "a fast wrong answer: nothing sliced");
                black_box(transports)
            })
        });
        g.bench_function("etherparse_lax_sliced", |b| {
            b.iter(|| {
                let mut transports = 0usize;
                for p in &trace.packets {
                    if let Ok(s) = etherparse::LaxSlicedPacket::from_ethernet(&p.2) {
                        transports += usize::from(s.transport.is_some());
                    }
                }
                black_box(transports)
            })
        });
    }
    g.throughput(Throughput::Bytes(bytes));
    g.bench_function("bytes", |b| {
        b.iter(|| {
            let mut decoder = Decoder::default();
            for p in &trace.packets {
                black_box(decoder.decode(&raw(&trace, p)));
            }
        })
    });
    g.finish();

    let mut decoder = Decoder::default();
    let decoded: Vec<DecodedPacket> =
        trace.packets.iter().map(|p| decoder.decode(&raw(&trace, p))).collect();
    let mut g = c.benchmark_group("flow_table");
    g.throughput(Throughput::Elements(n));
    for max_flows in [1_000usize, 1_000_000] {
        g.bench_function(format!("update/max_flows={max_flows}"), |b| {
            b.iter(|| {
                let mut table = FlowTable::new(FlowTableConfig { max_flows, ..Default::default() });
                let mut flows: Vec<FlowRecord> = Vec::new();
                for d in &decoded {
                    table.process(d, &mut flows);
                }
                table.flush(&mut flows);
                assert!(!flows.is_empty(), "a fast wrong answer: no flows");
                black_box(flows.len())
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
