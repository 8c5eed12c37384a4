//! iTransformer window throughput on ETTh1-sized synthetic data: 17 420
//! hourly steps × 7 variates, lookback 96, stride 1 (17 325 windows).

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use vigil_ingest::metrics::ResampledStep;
use vigil_tokenizers::variate::{VariateConfig, to_record_batch, windows};

const STEPS: usize = 17_420;
const VARIATES: usize = 7;

fn data() -> Vec<ResampledStep> {
    (0..STEPS)
        .map(|t| ResampledStep {
            ts: t as i64 * 3_600_000_000,
            values: (0..VARIATES)
                .map(|v| ((t * (v + 1)) as f64 * 0.01).sin() * 10.0 + v as f64)
                .collect(),
            missing: vec![false; VARIATES],
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let steps = data();
    let series: Vec<String> = (0..VARIATES).map(|v| format!("v{v}")).collect();
    let expected = STEPS - 96 + 1;
    let mut g = c.benchmark_group("variate");
    g.sample_size(10);
    g.throughput(Throughput::Elements(expected as u64));
    for tf in [false, true] {
        let config = VariateConfig { time_features: tf, ..VariateConfig::default() };
        g.bench_function(if tf { "windows_timef" } else { "windows" }, |b| {
            b.iter(|| {
                let ws = windows(series.clone(), black_box(&steps), config).unwrap();
                assert_eq!(ws.len(), expected);
                ws
            })
        });
    }
    let ws = windows(series.clone(), &steps, VariateConfig::default()).unwrap();
    g.bench_function("to_record_batch", |b| b.iter(|| to_record_batch(black_box(&ws)).unwrap()));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
