//! HSTU sequence building throughput (events/s): vocabulary lookup, LRU
//! state and snapshot per event, over synthetic access-log-like events
//! (1 000 entities, 50 actions, 5 000 objects, deterministic). Swept over
//! `max_len`; also the Arrow conversion of the snapshots.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use vigil_ingest::actions::ActionEvent;
use vigil_tokenizers::actions::{
    ActionSequenceConfig, ActionSequencer, ActionVocab, to_record_batch,
};

const EVENTS: usize = 100_000;

fn events() -> Vec<ActionEvent> {
    // xorshift64: deterministic, no extra dependency.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut ts = 1_431_857_103_000_000i64;
    (0..EVENTS)
        .map(|_| {
            ts += (next() % 5_000_000) as i64;
            ActionEvent {
                entity: format!("10.0.{}.{}", next() % 4, next() % 250),
                ts,
                action: format!("GET {}xx", 2 + next() % 4),
                object: format!("/p/{}", next() % 5_000),
            }
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let events = events();
    let vocab = ActionVocab::fit(&events, 64, 4_096).expect("vocab fits");
    let mut g = c.benchmark_group("actions_sequencer");
    g.throughput(Throughput::Elements(EVENTS as u64));
    g.sample_size(10);
    for max_len in [50usize, 200] {
        g.bench_with_input(BenchmarkId::new("push", max_len), &max_len, |b, &max_len| {
            b.iter(|| {
                let cfg = ActionSequenceConfig { max_len, ..ActionSequenceConfig::default() };
                let mut s = ActionSequencer::new(cfg, vocab.clone()).expect("valid config");
                let mut real = 0u64;
                for e in &events {
                    real += u64::from(black_box(s.push(e)).length);
                }
                assert_eq!(s.stats().events, EVENTS as u64);
                real
            })
        });
    }
    let cfg = ActionSequenceConfig::default();
    let mut s = ActionSequencer::new(cfg, vocab.clone()).expect("valid config");
    let snaps: Vec<_> = events[..10_000].iter().map(|e| s.push(e)).collect();
    g.throughput(Throughput::Elements(snaps.len() as u64));
    g.bench_function("to_record_batch_200", |b| {
        b.iter(|| {
            let batch = to_record_batch(black_box(&snaps)).expect("batch builds");
            assert_eq!(batch.num_rows(), snaps.len());
            batch
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
