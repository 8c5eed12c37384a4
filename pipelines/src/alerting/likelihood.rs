//! The anomaly likelihood of a forecaster's residual stream, as NAB's HTM detector
//! computes it (nupic `anomaly_likelihood.py` inside NAB's `numenta_detector.py`), and
//! the per-row value a `likelihood` model rule compares with its threshold.
//!
//! Per model step: m = the mean of the last `short` residuals, z = (m − μ) / σ with μ
//! and σ over up to `long` earlier values of m, likelihood L = Φ(z); 0 before
//! `min_history` of them. A likelihood in the red zone right after another is lowered to
//! the yellow zone, so a run alerts once. Per series, the spatial rule: a value beyond
//! the range seen so far by more than `spatial_tolerance` of it gives L = 1. The value
//! compared is HTM's log form, `ln(1.0000000001 − L) / ln(1e-10)`, which keeps the
//! tail (L = 1 − 1e-11) apart in an `f32`. The offline evaluation that chose the
//! parameters (`onnx/vigil_onnx/evaluate.py`, `detector_scores`) writes them to the
//! manifest (`anomaly_likelihood`) with a fixture this module is tested against.

use std::collections::{HashMap, VecDeque};

use arrow_array::cast::AsArray;
use arrow_array::types::{Float32Type, Float64Type, TimestampMicrosecondType};
use arrow_array::{Array, RecordBatch};
use vigil_models::LikelihoodParams;

/// Series whose ranges are kept at most per model (past it they start afresh).
pub const MAX_SERIES: usize = 10_000;

/// `ln(1e-10)`: HTM's log-likelihood scale.
const LN_1E_10: f64 = -23.025_850_929_940_457;

/// HTM's log form of a likelihood given as its upper tail `1 − L`, in [0, 1].
pub fn log_likelihood(tail: f64) -> f64 {
    ((1e-10 + tail).ln() / LN_1E_10).clamp(0.0, 1.0)
}

/// `1 − Φ(z)`, the normal upper tail (Numerical Recipes' `erfcc`: relative error
/// below 1.2e-7, which moves the log form by less than 1e-8).
fn upper_tail(z: f64) -> f64 {
    let x = z / std::f64::consts::SQRT_2;
    let a = x.abs();
    let t = 1.0 / (1.0 + 0.5 * a);
    let poly = -1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let erfc = t * (-a * a + poly).exp();
    0.5 * if x >= 0.0 { erfc } else { 2.0 - erfc }
}

/// HTM's anomaly likelihood over one stream of residuals, with the red-zone filter.
#[derive(Debug, Clone)]
pub struct Likelihood {
    params: LikelihoodParams,
    /// The last `short` residuals.
    recent: VecDeque<f64>,
    /// Up to `long` earlier means, with their sum and sum of squares.
    means: VecDeque<f64>,
    sum: f64,
    sum_sq: f64,
    /// Means pushed so far (HTM's history length).
    seen: usize,
    /// Whether the previous step's likelihood was in the red zone.
    prev_red: bool,
}

impl Likelihood {
    /// An empty history.
    pub fn new(params: LikelihoodParams) -> Likelihood {
        Likelihood {
            params,
            recent: VecDeque::new(),
            means: VecDeque::new(),
            sum: 0.0,
            sum_sq: 0.0,
            seen: 0,
            prev_red: false,
        }
    }

    /// The next step: its residual (`None` or NaN: it has none, and scores 0) to the
    /// upper tail `1 − L` of its filtered likelihood.
    pub fn push(&mut self, residual: Option<f64>) -> f64 {
        let Some(r) = residual.filter(|r| r.is_finite()) else {
            self.prev_red = false;
            return 1.0;
        };
        let p = self.params;
        self.recent.push_back(r);
        if self.recent.len() > p.short.max(1) {
            self.recent.pop_front();
        }
        let m = self.recent.iter().sum::<f64>() / self.recent.len() as f64;
        let tail = if self.seen >= p.min_history.max(1) {
            let n = self.means.len() as f64;
            let mu = self.sum / n;
            let sd = (self.sum_sq / n - mu * mu).max(0.0).sqrt();
            upper_tail((m - mu) / sd.max(1e-6))
        } else {
            1.0
        };
        self.remember(m);
        let red = 1.0 - tail >= p.red_zone;
        let filtered = if red && self.prev_red { 1.0 - p.yellow_zone } else { tail };
        self.prev_red = red;
        filtered
    }

    fn remember(&mut self, m: f64) {
        self.seen += 1;
        self.means.push_back(m);
        self.sum += m;
        self.sum_sq += m * m;
        if self.means.len() > self.params.long.max(1) {
            let old = self.means.pop_front().unwrap_or_default();
            self.sum -= old;
            self.sum_sq -= old * old;
        }
        if self.seen.is_multiple_of(self.params.long.max(1)) {
            // Running sums drift over millions of steps: recompute them once a window.
            self.sum = self.means.iter().sum();
            self.sum_sq = self.means.iter().map(|x| x * x).sum();
        }
    }
}

/// The range of one series' values so far, for the spatial rule.
#[derive(Debug, Clone, Copy, Default)]
struct Range {
    lo: f64,
    hi: f64,
    seen: bool,
}

impl Range {
    /// Whether `v` lies beyond the range so far by more than `tolerance` of it (once the
    /// range is not a point); then `v` joins the range.
    fn push(&mut self, v: f64, tolerance: f64) -> bool {
        let beyond = self.seen && self.hi > self.lo && {
            let slack = (self.hi - self.lo) * tolerance;
            v > self.hi + slack || v < self.lo - slack
        };
        if self.seen {
            self.lo = self.lo.min(v);
            self.hi = self.hi.max(v);
        } else {
            *self = Range { lo: v, hi: v, seen: true };
        }
        beyond
    }
}

/// One step stream and its series' ranges.
#[derive(Debug, Clone)]
struct StreamState {
    steps: Likelihood,
    /// The latest step's time and its filtered upper tail.
    last: Option<(i64, f64)>,
    ranges: HashMap<String, Range>,
}

/// The log likelihood of the rows of scored metrics batches (`series`, `ts`, `value`,
/// `anomaly_score`, `model`, `source`), per model and source (one scoring stage's step
/// stream): one likelihood per step (a step's rows share its time and score), the
/// spatial rule per series.
#[derive(Debug, Default)]
pub struct MetricsLikelihood {
    /// Per model, then per source.
    streams: HashMap<String, HashMap<String, StreamState>>,
}

/// `map[key]`, made by `make` when absent: the key is copied only then, not per row.
fn entry<'a, V>(map: &'a mut HashMap<String, V>, key: &str, make: impl FnOnce() -> V) -> &'a mut V {
    if !map.contains_key(key) {
        map.insert(key.to_owned(), make());
    }
    map.get_mut(key).expect("inserted above")
}

impl MetricsLikelihood {
    /// Take in a batch; each row's log likelihood, for the rows of the models in
    /// `params` (`None` for other rows, and for a step older than one already seen).
    pub fn push(
        &mut self,
        b: &RecordBatch,
        params: &HashMap<String, LikelihoodParams>,
    ) -> anyhow::Result<Vec<Option<f32>>> {
        let mut out = vec![None; b.num_rows()];
        if params.is_empty() {
            return Ok(out);
        }
        let col =
            |n: &str| b.column_by_name(n).ok_or_else(|| anyhow::anyhow!("rows without `{n}`"));
        let model = col("model")?.as_string::<i32>();
        let series = col("series")?.as_string::<i32>();
        let ts = col("ts")?.as_primitive::<TimestampMicrosecondType>();
        let value = col("value")?.as_primitive::<Float64Type>();
        let score = col("anomaly_score")?.as_primitive::<Float32Type>();
        let source = col("source")?.as_string::<i32>();
        for (r, slot) in out.iter_mut().enumerate() {
            if model.is_null(r) {
                continue;
            }
            let Some(p) = params.get(model.value(r)) else { continue };
            let sources = entry(&mut self.streams, model.value(r), HashMap::new);
            let state = entry(sources, source.value(r), || StreamState {
                steps: Likelihood::new(*p),
                last: None,
                ranges: HashMap::new(),
            });
            let t = ts.value(r);
            let tail = match state.last {
                Some((last, tail)) if last == t => tail,
                Some((last, _)) if last > t => continue,
                _ => {
                    let s = score.is_valid(r).then(|| f64::from(score.value(r)));
                    let tail = state.steps.push(s);
                    state.last = Some((t, tail));
                    tail
                }
            };
            if state.ranges.len() > MAX_SERIES {
                state.ranges.clear();
            }
            let v = value.is_valid(r).then(|| value.value(r)).filter(|v| v.is_finite());
            let beyond = v.is_some_and(|v| {
                let range = entry(&mut state.ranges, series.value(r), Range::default);
                range.push(v, state.steps.params.spatial_tolerance)
            });
            *slot = Some(if beyond { 1.0 } else { log_likelihood(tail) as f32 });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::Arc;

    use arrow_array::TimestampMicrosecondArray;
    use arrow_array::{ArrayRef, Float32Array, Float64Array, StringArray};

    use super::*;
    use crate::store::Table;

    const MODEL: &str = "itransformer-etth1";

    fn params(short: usize, min_history: usize) -> LikelihoodParams {
        LikelihoodParams {
            short,
            long: 8640,
            min_history,
            red_zone: 0.99999,
            yellow_zone: 0.999,
            spatial_tolerance: 0.05,
        }
    }

    /// Metrics rows of one model: (series, step, value, anomaly score).
    fn batch(rows: &[(&str, i64, Option<f64>, Option<f32>)]) -> RecordBatch {
        let n = rows.len();
        let cols: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.0))),
            Arc::new(
                TimestampMicrosecondArray::from_iter_values(rows.iter().map(|r| r.1 * 60_000_000))
                    .with_timezone("UTC"),
            ),
            Arc::new(Float64Array::from_iter(rows.iter().map(|r| r.2))),
            Arc::new(Float64Array::from(vec![None::<f64>; n])),
            Arc::new(Float32Array::from_iter(rows.iter().map(|r| r.3))),
            Arc::new(StringArray::from(vec![MODEL; n])),
            Arc::new(StringArray::from(vec!["test"; n])),
            Arc::new(StringArray::from(vec!["s1"; n])),
        ];
        RecordBatch::try_new(Table::Metrics.base_schema(), cols).unwrap()
    }

    #[test]
    fn log_form_keeps_the_tail_apart() {
        assert_eq!(log_likelihood(1.0), 0.0);
        assert_eq!(log_likelihood(0.0), 1.0);
        assert!((log_likelihood(1e-3) - 0.3).abs() < 1e-6);
        assert!((upper_tail(0.0) - 0.5).abs() < 1e-7);
        // 1 − Φ(6.7) = 1.0420977e-11; at −6.7, its complement.
        assert!((upper_tail(6.7) / 1.042_097_7e-11 - 1.0).abs() < 1e-6);
        assert!((upper_tail(-6.7) - (1.0 - 1.042_097_7e-11)).abs() < 1e-15);
    }

    #[test]
    fn a_run_in_the_red_zone_alerts_once() {
        let mut l = Likelihood::new(params(1, 3));
        let tails: Vec<f64> =
            [1.0, 1.1, 0.9, 1.0, 50.0, 1e6, 1.0].iter().map(|r| l.push(Some(*r))).collect();
        assert_eq!(&tails[..3], &[1.0, 1.0, 1.0], "no score before 3 earlier means");
        assert!(tails[4] < 1e-5, "{tails:?}");
        assert!((tails[5] - 1e-3).abs() < 1e-12, "the second of a run is lowered: {tails:?}");
        assert_eq!(l.push(None), 1.0);
    }

    #[test]
    fn spatial_rule_per_series_and_steps_once() {
        let mut m = MetricsLikelihood::default();
        let p = HashMap::from([(MODEL.to_string(), params(1, 100))]);
        let rows = [
            ("a", 0, Some(1.0), None),
            ("b", 0, Some(10.0), None),
            ("a", 1, Some(2.0), None),
            ("b", 1, Some(10.0), None),
            // a: 2.04 is within 5% of the range [1, 2]; b: its range is a point.
            ("a", 2, Some(2.04), None),
            ("b", 2, Some(50.0), None),
            ("a", 3, Some(2.2), Some(3.0)),
            ("b", 3, Some(50.0), Some(3.0)),
        ];
        let out = m.push(&batch(&rows), &p).unwrap();
        assert_eq!(
            out,
            vec![
                Some(0.0),
                Some(0.0),
                Some(0.0),
                Some(0.0),
                Some(0.0),
                Some(0.0),
                Some(1.0),
                Some(0.0)
            ]
        );
        // A step already seen is not counted again; an older one is not scored.
        let again =
            m.push(&batch(&[("a", 3, Some(1.5), Some(3.0)), ("a", 2, Some(1.5), None)]), &p);
        assert_eq!(again.unwrap(), vec![Some(0.0), None]);
        assert_eq!(m.streams[MODEL]["test"].steps.seen, 1);
        // Rows of a model no likelihood rule reads get none.
        assert_eq!(m.push(&batch(&rows[..1]), &HashMap::new()).unwrap(), vec![None]);
    }

    /// The log likelihood of the NAB file `python -m vigil_onnx.evaluate nab` recorded, fed
    /// as the stage sees it (one row per step, in batches of 7).
    #[test]
    fn equals_the_offline_evaluation() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../onnx/artifacts").join(MODEL);
        let manifest = vigil_models::Manifest::from_path(&dir.join("manifest.json")).unwrap();
        let params = manifest.anomaly_likelihood.expect("the manifest's anomaly_likelihood");
        let text = std::fs::read_to_string(dir.join("likelihood_parity.json")).unwrap();
        let fixture: serde_json::Value = serde_json::from_str(&text).unwrap();
        let rows = fixture["rows"].as_array().unwrap();
        assert!(rows.len() >= 1000, "{} rows", rows.len());
        let p = HashMap::from([(MODEL.to_string(), params)]);
        let mut m = MetricsLikelihood::default();
        let (mut worst, mut spatial, mut red, mut yellow) = (0.0f64, 0, 0, 0);
        let lowered = log_likelihood(1.0 - 0.999);
        for (k, chunk) in rows.chunks(7).enumerate() {
            let batch_rows: Vec<_> = chunk
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    let score = r[0].as_f64().map(|s| s as f32);
                    ("nab", (k * 7 + i) as i64, r[1].as_f64(), score)
                })
                .collect();
            let got = m.push(&batch(&batch_rows), &p).unwrap();
            for (g, r) in got.iter().zip(chunk) {
                let want = r[2].as_f64().unwrap();
                worst = worst.max((f64::from(g.unwrap()) - want).abs());
                spatial += usize::from(want == 1.0);
                red += usize::from(want > 0.5 && want < 1.0);
                yellow += usize::from((want - lowered).abs() < 1e-6);
            }
        }
        assert!(worst < 1e-6, "max abs diff {worst}");
        assert!(
            spatial > 0 && red > 0 && yellow > 0,
            "the fixture has spatial, red-zone and lowered scores: {spatial} {red} {yellow}"
        );
    }
}
