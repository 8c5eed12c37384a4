//! iTransformer window properties, goldens, and the real ETTh1 file when
//! `VIGIL_DATA` (default `../shared/data`) has it.

use std::path::PathBuf;

use proptest::prelude::*;
use vigil_ingest::metrics::{
    MetricsReader, MetricsReaderConfig, ResampleConfig, ResampledStep, resample,
};
use vigil_tokenizers::variate::{VariateConfig, denormalise, to_record_batch, windows};

const H: i64 = 3_600_000_000;

fn steps(rows: &[Vec<f64>]) -> Vec<ResampledStep> {
    rows.iter()
        .enumerate()
        .map(|(t, v)| ResampledStep {
            ts: t as i64 * H,
            values: v.clone(),
            missing: vec![false; v.len()],
        })
        .collect()
}

fn names(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("v{i}")).collect()
}

fn data() -> impl Strategy<Value = (usize, Vec<Vec<f64>>, usize, usize)> {
    (1usize..4, 1usize..12, 1usize..4).prop_flat_map(|(n, l, stride)| {
        (
            Just(n),
            proptest::collection::vec(proptest::collection::vec(-1e3f64..1e3, n), l..l + 20),
            Just(l),
            Just(stride),
        )
    })
}

proptest! {
    #[test]
    fn windows_never_include_future_steps((n, rows, l, stride) in data()) {
        let st = steps(&rows);
        let config = VariateConfig { lookback: l, stride, ..VariateConfig::default() };
        let ws = windows(names(n), &st, config).unwrap();
        prop_assert_eq!(ws.len(), (rows.len() - l) / stride + 1);
        for (k, w) in ws.iter().enumerate() {
            let end = l - 1 + k * stride;
            prop_assert_eq!(w.window_end, st[end].ts);
            // The de-normalised window is exactly steps end-l+1 ..= end.
            let back = denormalise(&w.values, &w.stats).unwrap();
            for v in 0..n {
                for t in 0..l {
                    let want = rows[end + 1 - l + t][v];
                    let got = f64::from(back[v * l + t]);
                    prop_assert!((got - want).abs() <= 1e-3 * (1.0 + want.abs()), "{} vs {}", got, want);
                }
            }
        }
    }

    #[test]
    fn normalised_windows_have_zero_mean_unit_std((n, rows, l, _s) in data()) {
        prop_assume!(l >= 2);
        let st = steps(&rows);
        let config = VariateConfig { lookback: l, ..VariateConfig::default() };
        for w in windows(names(n), &st, config).unwrap() {
            prop_assert!(w.observed.is_none());
            for v in 0..n {
                let x = w.variate(v);
                let mean = x.iter().map(|&a| f64::from(a)).sum::<f64>() / l as f64;
                let var = x.iter().map(|&a| (f64::from(a) - mean).powi(2)).sum::<f64>() / l as f64;
                prop_assert!(mean.abs() < 1e-4, "mean {}", mean);
                // std(x_norm) = sqrt(var / (var + eps)): 1 unless the variate is nearly flat.
                let raw_std = f64::from(w.stats.std[v]);
                if raw_std > 1e-1 {
                    prop_assert!((var.sqrt() - 1.0).abs() < 1e-3, "std {}", var.sqrt());
                }
            }
        }
    }

    #[test]
    fn denormalise_inverts_normalise(rows in proptest::collection::vec(proptest::collection::vec(-1e6f64..1e6, 3), 5)) {
        let st = steps(&rows);
        let config = VariateConfig { lookback: 5, ..VariateConfig::default() };
        let w = &windows(names(3), &st, config).unwrap()[0];
        let back = denormalise(&w.values, &w.stats).unwrap();
        for v in 0..3 {
            // Values travel as f32 normalised by the window's stats: the error scales with them.
            let scale = f64::from(w.stats.std[v]) + f64::from(w.stats.mean[v]).abs();
            for t in 0..5 {
                let want = rows[t][v];
                let tol = 1e-6 * (scale + want.abs()) + 1e-3;
                prop_assert!((f64::from(back[v * 5 + t]) - want).abs() <= tol);
            }
        }
    }
}

#[test]
fn golden_one_two_three() {
    let st = steps(&[vec![1.0, 5.0], vec![2.0, 5.0], vec![3.0, 5.0]]);
    let config = VariateConfig { lookback: 3, epsilon: 1e-12, ..VariateConfig::default() };
    let w = &windows(names(2), &st, config).unwrap()[0];
    assert_eq!(w.stats.mean, vec![2.0, 5.0]);
    assert!((w.stats.std[0] - (2.0f32 / 3.0).sqrt()).abs() < 1e-6);
    assert!(w.stats.std[1] < 1e-5);
    let k = 1.5f32.sqrt();
    for (a, b) in w.variate(0).iter().zip([-k, 0.0, k]) {
        assert!((a - b).abs() < 1e-6);
    }
    assert_eq!(w.variate(1), &[0.0, 0.0, 0.0]);
    assert_eq!(to_record_batch(std::slice::from_ref(w)).unwrap().num_rows(), 1);
}

fn etth1() -> Option<PathBuf> {
    let crate_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    vigil_ingest::data_dir::shared_data(crate_dir, "timeseries/ett/ETTh1.csv")
}

#[test]
fn real_etth1_windows() {
    let Some(path) = etth1() else { return };
    let mut r = MetricsReader::open(&path, MetricsReaderConfig::default()).unwrap();
    let pts = r.read_all().unwrap();
    let frame = resample(&pts, r.wide_series(), ResampleConfig::default()).unwrap();
    let config = VariateConfig { stride: 24, time_features: true, ..VariateConfig::default() };
    let ws = windows(frame.series.clone(), &frame.steps, config).unwrap();
    assert_eq!(ws.len(), (17_420 - 96) / 24 + 1);
    let first = &ws[0];
    assert_eq!(first.series.len(), 7);
    assert_eq!(first.values.len(), 7 * 96);
    assert!(first.observed.is_none());
    // Window 0 ends at 2016-07-04 23:00 (step 95); OT's raw first value is 30.531.
    let back = denormalise(&first.values, &first.stats).unwrap();
    assert!((back[6 * 96] - 30.531).abs() < 1e-3);
    let tf = first.time_features.as_ref().unwrap();
    assert_eq!(tf[95], 0.5, "hour 23");
    let batch = to_record_batch(&ws).unwrap();
    assert_eq!(batch.num_rows(), ws.len());
}
