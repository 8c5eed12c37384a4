//! [`Resampler`]: metric points onto a regular time grid, one step at a time.
//!
//! Step `k` covers `[origin + k·step, origin + (k+1)·step)` and is stamped
//! with its start. Within a step, points of one series are aggregated
//! ([`Aggregation`]). A step where a series has no point is filled with the
//! series' last value if that value is at most `max_ffill_steps` steps old;
//! otherwise the value is `NaN` and the step's `missing` flag is set. Steps
//! before a series' first point are missing too.
//!
//! The streaming form assumes points arrive in time order: a point for a step
//! that was already emitted is late, counted and dropped. [`resample`] sorts
//! first, so it accepts any order.

use std::collections::HashMap;

use super::MetricPoint;
use crate::{IngestError, Result};

/// How several points of one series in one step become one value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Aggregation {
    /// The point with the latest timestamp (the later one on ties).
    #[default]
    Last,
    /// The arithmetic mean.
    Mean,
}

/// Grid and gap settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResampleConfig {
    /// Grid step, µs (must be > 0).
    pub step_us: i64,
    /// A grid line, µs since the epoch; steps are aligned to it (default 0,
    /// so hourly steps start on the hour).
    pub origin_us: i64,
    /// Empty steps filled with the last value, at most; 0 never fills.
    pub max_ffill_steps: u32,
    /// Duplicate handling within a step.
    pub aggregation: Aggregation,
    /// A jump of more than this many empty steps is not emitted step by step:
    /// the grid restarts at the new point and [`ResampleStats::gaps_skipped`]
    /// counts it. Bounds the output of one push.
    pub max_gap_steps: u64,
}

impl Default for ResampleConfig {
    fn default() -> Self {
        ResampleConfig {
            step_us: 3_600_000_000,
            origin_us: 0,
            max_ffill_steps: 0,
            aggregation: Aggregation::Last,
            max_gap_steps: 100_000,
        }
    }
}

impl ResampleConfig {
    /// Check the settings.
    pub fn validate(&self) -> Result<()> {
        if self.step_us <= 0 {
            return Err(IngestError::Config(format!(
                "resample step must be > 0 µs, got {}",
                self.step_us
            )));
        }
        if self.max_gap_steps == 0 {
            return Err(IngestError::Config("resample max_gap_steps must be >= 1".into()));
        }
        Ok(())
    }
}

/// One grid step of every series: a row of a regular multivariate series.
#[derive(Debug, Clone, PartialEq)]
pub struct ResampledStep {
    /// Start of the step, µs since the epoch.
    pub ts: i64,
    /// One value per series, in the resampler's series order; `NaN` where missing.
    pub values: Vec<f64>,
    /// True where the series had no value (not even a forward fill).
    pub missing: Vec<bool>,
}

/// Counters of a [`Resampler`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ResampleStats {
    /// Points aggregated.
    pub points: u64,
    /// Points of a step already emitted (dropped).
    pub late_points: u64,
    /// Points of a series not in the resampler's list (dropped).
    pub unknown_series: u64,
    /// Steps emitted.
    pub steps: u64,
    /// Series-steps filled forward.
    pub filled: u64,
    /// Series-steps left missing.
    pub missing: u64,
    /// Gaps longer than `max_gap_steps` that restarted the grid.
    pub gaps_skipped: u64,
}

#[derive(Debug, Clone, Copy)]
struct Acc {
    sum: f64,
    count: u32,
    last_ts: i64,
    last: f64,
}

/// A streaming resampler over a fixed list of series. State: one
/// accumulator and one last value per series.
#[derive(Debug)]
pub struct Resampler {
    config: ResampleConfig,
    series: Vec<String>,
    index: HashMap<String, usize>,
    current: Option<i64>,
    acc: Vec<Option<Acc>>,
    last: Vec<Option<(f64, i64)>>,
    stats: ResampleStats,
}

impl Resampler {
    /// A resampler for `series` (their order is the order of [`ResampledStep::values`]).
    pub fn new(series: Vec<String>, config: ResampleConfig) -> Result<Self> {
        config.validate()?;
        let mut index = HashMap::with_capacity(series.len());
        for (i, s) in series.iter().enumerate() {
            if index.insert(s.clone(), i).is_some() {
                return Err(IngestError::Config(format!("series `{s}` listed twice")));
            }
        }
        let n = series.len();
        Ok(Resampler {
            config,
            series,
            index,
            current: None,
            acc: vec![None; n],
            last: vec![None; n],
            stats: ResampleStats::default(),
        })
    }

    /// The series, in output order.
    pub fn series(&self) -> &[String] {
        &self.series
    }

    /// Counters so far.
    pub fn stats(&self) -> ResampleStats {
        self.stats
    }

    /// The step index of `ts`.
    fn bucket(&self, ts: i64) -> i64 {
        (ts - self.config.origin_us).div_euclid(self.config.step_us)
    }

    /// Add a point; steps completed by it are appended to `out`.
    pub fn push(&mut self, p: &MetricPoint, out: &mut Vec<ResampledStep>) {
        let Some(&i) = self.index.get(p.series.as_str()) else {
            self.stats.unknown_series += 1;
            return;
        };
        let b = self.bucket(p.ts);
        match self.current {
            None => self.current = Some(b),
            Some(c) if b < c => {
                self.stats.late_points += 1;
                return;
            }
            Some(c) if b > c => {
                self.emit(c, out);
                let gap = u64::try_from(b - c - 1).unwrap_or(u64::MAX);
                if gap > self.config.max_gap_steps {
                    self.stats.gaps_skipped += 1;
                } else {
                    for k in c + 1..b {
                        self.emit(k, out);
                    }
                }
                self.current = Some(b);
            }
            Some(_) => {}
        }
        self.stats.points += 1;
        let acc = &mut self.acc[i];
        match acc {
            None => *acc = Some(Acc { sum: p.value, count: 1, last_ts: p.ts, last: p.value }),
            Some(a) => {
                a.sum += p.value;
                a.count += 1;
                if p.ts >= a.last_ts {
                    a.last_ts = p.ts;
                    a.last = p.value;
                }
            }
        }
    }

    /// The start of the step in progress: every point before it has gone into an
    /// emitted step (late points are counted and dropped). `None`: nothing pending.
    pub fn pending_since(&self) -> Option<i64> {
        self.current.map(|k| self.config.origin_us + k * self.config.step_us)
    }

    /// Emit the step in progress (call at the end of the input).
    pub fn finish(&mut self, out: &mut Vec<ResampledStep>) {
        if let Some(c) = self.current.take() {
            self.emit(c, out);
        }
    }

    fn emit(&mut self, k: i64, out: &mut Vec<ResampledStep>) {
        let n = self.series.len();
        let mut values = Vec::with_capacity(n);
        let mut missing = Vec::with_capacity(n);
        for i in 0..n {
            let v = match self.acc[i].take() {
                Some(a) => {
                    let v = match self.config.aggregation {
                        Aggregation::Last => a.last,
                        Aggregation::Mean => a.sum / f64::from(a.count),
                    };
                    self.last[i] = Some((v, k));
                    Some(v)
                }
                None => match self.last[i] {
                    Some((v, at)) if k - at <= i64::from(self.config.max_ffill_steps) => {
                        self.stats.filled += 1;
                        Some(v)
                    }
                    _ => {
                        self.stats.missing += 1;
                        None
                    }
                },
            };
            values.push(v.unwrap_or(f64::NAN));
            missing.push(v.is_none());
        }
        self.stats.steps += 1;
        out.push(ResampledStep {
            ts: self.config.origin_us + k * self.config.step_us,
            values,
            missing,
        });
    }
}

/// A whole series set on one grid: what [`resample`] returns.
#[derive(Debug, Clone, PartialEq)]
pub struct ResampledFrame {
    /// Series names, in value order.
    pub series: Vec<String>,
    /// The steps, in time order.
    pub steps: Vec<ResampledStep>,
    /// Counters of the run.
    pub stats: ResampleStats,
}

/// Resample `points` (any order). `series` fixes the output order; `None`
/// takes every series in order of first appearance.
pub fn resample(
    points: &[MetricPoint],
    series: Option<Vec<String>>,
    config: ResampleConfig,
) -> Result<ResampledFrame> {
    let series = series.unwrap_or_else(|| {
        let mut seen = HashMap::new();
        let mut names = Vec::new();
        for p in points {
            if !seen.contains_key(p.series.as_str()) {
                seen.insert(p.series.as_str(), ());
                names.push(p.series.clone());
            }
        }
        names
    });
    let mut r = Resampler::new(series, config)?;
    let mut order: Vec<&MetricPoint> = points.iter().collect();
    order.sort_by_key(|p| p.ts);
    let mut steps = Vec::new();
    for p in order {
        r.push(p, &mut steps);
    }
    r.finish(&mut steps);
    let stats = r.stats();
    Ok(ResampledFrame { series: r.series, steps, stats })
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3_600_000_000;

    fn p(series: &str, ts: i64, value: f64) -> MetricPoint {
        MetricPoint { series: series.into(), ts, value }
    }

    #[test]
    fn duplicates_last_and_mean() {
        let pts = [p("a", 10, 1.0), p("a", 20, 3.0), p("a", 5, 7.0)];
        let last =
            resample(&pts, None, ResampleConfig { step_us: H, ..Default::default() }).unwrap();
        assert_eq!(last.steps.len(), 1);
        assert_eq!(last.steps[0].ts, 0);
        assert_eq!(last.steps[0].values, vec![3.0]);
        let cfg =
            ResampleConfig { step_us: H, aggregation: Aggregation::Mean, ..Default::default() };
        let mean = resample(&pts, None, cfg).unwrap();
        assert_eq!(mean.steps[0].values, vec![11.0 / 3.0]);
    }

    #[test]
    fn gaps_fill_then_go_missing() {
        // a at steps 0 and 4; b only at step 1.
        let pts = [p("a", 0, 1.0), p("b", H, 2.0), p("a", 4 * H, 5.0)];
        let cfg = ResampleConfig { step_us: H, max_ffill_steps: 2, ..Default::default() };
        let f = resample(&pts, None, cfg).unwrap();
        let a: Vec<f64> = f.steps.iter().map(|s| s.values[0]).collect();
        let b: Vec<bool> = f.steps.iter().map(|s| s.missing[1]).collect();
        assert_eq!(f.steps.len(), 5);
        assert_eq!(&a[..3], &[1.0, 1.0, 1.0]);
        assert!(a[3].is_nan() && f.steps[3].missing[0]);
        assert_eq!(a[4], 5.0);
        // b: missing before its first point, then filled twice, then missing.
        assert_eq!(b, vec![true, false, false, false, true]);
        assert_eq!(f.stats.filled, 4);
        assert_eq!(f.stats.missing, 3);
    }

    #[test]
    fn streaming_late_unknown_and_long_gaps() {
        let cfg = ResampleConfig { step_us: 10, max_gap_steps: 3, ..Default::default() };
        let mut r = Resampler::new(vec!["a".into()], cfg).unwrap();
        let mut out = Vec::new();
        r.push(&p("a", 25, 1.0), &mut out);
        r.push(&p("a", 35, 2.0), &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].ts, 20);
        r.push(&p("a", 15, 9.0), &mut out);
        r.push(&p("zzz", 35, 9.0), &mut out);
        r.push(&p("a", 1000, 3.0), &mut out);
        r.finish(&mut out);
        let ts: Vec<i64> = out.iter().map(|s| s.ts).collect();
        assert_eq!(ts, vec![20, 30, 1000]);
        let s = r.stats();
        assert_eq!((s.late_points, s.unknown_series, s.gaps_skipped), (1, 1, 1));
    }

    #[test]
    fn negative_times_and_origin_align() {
        let cfg = ResampleConfig { step_us: 10, origin_us: 5, ..Default::default() };
        let f = resample(&[p("a", -1, 1.0), p("a", 5, 2.0)], None, cfg).unwrap();
        let ts: Vec<i64> = f.steps.iter().map(|s| s.ts).collect();
        assert_eq!(ts, vec![-5, 5]);
    }

    #[test]
    fn bad_config() {
        assert!(
            Resampler::new(vec![], ResampleConfig { step_us: 0, ..Default::default() }).is_err()
        );
        assert!(Resampler::new(vec!["a".into(), "a".into()], ResampleConfig::default()).is_err());
    }
}
