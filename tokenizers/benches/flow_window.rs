//! FlowTransformer input throughput (flows/s): encoding, windowing, and both,
//! over synthetic pcap-style flows turned into NF-v2 features (200 hosts,
//! 50 server ports, W = 8). Each iteration asserts the window count.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use vigil_ingest::flow_records::{FlowFeatures, nf_v2_features};
use vigil_ingest::{DirectionStats, EndReason, FlowRecord};
use vigil_tokenizers::flow_window::{
    FlowWindowConfig, FlowWindowTokenizer, FlowWindower, GroupBy, PreprocessConfig, Preprocessor,
};

const N: u64 = 20_000;

fn flows() -> Vec<FlowFeatures> {
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut rnd = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    (0..N)
        .map(|i| {
            let r = rnd();
            let dir = |p: u64, b: u64| DirectionStats {
                pkts: p,
                bytes: b,
                ip_bytes: b + 40 * p,
                wire_bytes: b + 54 * p,
                tcp_flags: (r >> 40) as u8 & 0x1f,
            };
            let rec = FlowRecord {
                flow_id: i,
                uid: String::new(),
                community_id: String::new(),
                ts_start: i as i64 * 1000,
                ts_end: i as i64 * 1000 + (r % 5_000_000) as i64,
                orig_h: IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + (r % 200) as u32)),
                orig_p: 1024 + (r >> 8) as u16 % 60000,
                resp_h: IpAddr::V4(Ipv4Addr::from(0xc0a8_0000 + (r >> 16) as u32 % 20)),
                resp_p: [22, 53, 80, 443, 8080][(r >> 24) as usize % 5] + (r >> 28) as u16 % 10,
                proto: if r % 3 == 0 { 17 } else { 6 },
                vlan: None,
                inner_vlan: None,
                orig: dir(1 + r % 20, r % 10_000),
                resp: dir(r % 30, (r >> 4) % 100_000),
                conn_state: "SF",
                history: String::new(),
                missed_bytes: 0,
                tunnel_parents: Vec::new(),
                end_reason: EndReason::Closed,
            };
            nf_v2_features(&rec)
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let data = flows();
    let pre = Preprocessor::fit(PreprocessConfig::default(), &data).expect("fit");
    let encoded: Vec<_> = data.iter().map(|f| pre.transform(f).expect("encode")).collect();
    let mut g = c.benchmark_group("flow_window");
    g.throughput(Throughput::Elements(N));
    g.bench_function("encode", |b| {
        b.iter(|| {
            let mut out = vigil_tokenizers::flow_window::EncodedFlow::default();
            let mut n = 0u64;
            for f in &data {
                pre.transform_into(f, &mut out).expect("encode");
                n += black_box(&out).numeric.len() as u64 / 9;
            }
            assert_eq!(n, N);
        })
    });
    for (name, group_by) in
        [("none", GroupBy::None), ("src_addr", GroupBy::SrcAddr), ("src_dst", GroupBy::SrcDst)]
    {
        let config = FlowWindowConfig { group_by, ..FlowWindowConfig::default() };
        g.bench_function(format!("window/{name}"), |b| {
            b.iter(|| {
                let mut w = FlowWindower::new(config.clone()).expect("config");
                for (f, e) in data.iter().zip(&encoded) {
                    black_box(w.push(f, e.clone()));
                }
                assert_eq!(w.stats().flows, N);
            })
        });
        g.bench_function(format!("encode_window/{name}"), |b| {
            b.iter(|| {
                let mut t = FlowWindowTokenizer::new(pre.clone(), config.clone()).expect("config");
                for f in &data {
                    black_box(t.push(f).expect("push"));
                }
                assert_eq!(t.stats().flows, N);
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
