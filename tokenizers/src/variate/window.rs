//! [`VariateTokenizer`]: a streaming window over resampled steps, and
//! [`windows`] for a whole series set at once.

use std::collections::VecDeque;
use std::sync::Arc;

use vigil_ingest::metrics::ResampledStep;

use super::config::VariateConfig;
use super::normalise::{NormStats, normalise_variate};
use super::time_features::{TIME_FEATURES, time_features};
use crate::TokenizerError;

/// One model input: `N` variates × `lookback` steps, normalised per variate.
#[derive(Debug, Clone, PartialEq)]
pub struct VariateWindow {
    /// Time of the window's last step, µs since the epoch (nothing later is in it).
    pub window_end: i64,
    /// Variate names, in token order (shared by every window of a tokenizer).
    pub series: Arc<[String]>,
    /// Normalised values, variate-major: `values[v * lookback + t]`.
    pub values: Vec<f32>,
    /// Per-variate mean and std, for [`denormalise`](super::denormalise).
    pub stats: NormStats,
    /// `observed[v * lookback + t]`: false where the value was missing (and is 0
    /// in `values`). `None` when every value was observed.
    pub observed: Option<Vec<bool>>,
    /// Time features, feature-major: `time_features[f * lookback + t]`, `None` when off.
    pub time_features: Option<Vec<f32>>,
}

impl VariateWindow {
    /// Steps per variate.
    pub fn lookback(&self) -> usize {
        self.values.len() / self.series.len().max(1)
    }

    /// The normalised token of variate `v`.
    pub fn variate(&self, v: usize) -> &[f32] {
        let l = self.lookback();
        &self.values[v * l..(v + 1) * l]
    }
}

/// Counters of a [`VariateTokenizer`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VariateStats {
    /// Steps accepted.
    pub steps: u64,
    /// Windows emitted.
    pub windows: u64,
    /// Windows that had at least one missing value.
    pub windows_with_missing: u64,
}

#[derive(Debug)]
struct Step {
    ts: i64,
    values: Vec<f64>,
    observed: Vec<bool>,
    features: [f32; TIME_FEATURES],
}

/// A streaming iTransformer tokenizer over a fixed set of variates: push one
/// regular step at a time, get a window once `lookback` steps are held and
/// then every `stride` steps. State: the last `lookback` steps.
///
/// ```
/// use vigil_tokenizers::variate::{VariateConfig, VariateTokenizer, denormalise};
/// let config = VariateConfig { lookback: 3, ..VariateConfig::default() };
/// let mut tok = VariateTokenizer::new(vec!["a".into(), "b".into()], config)?;
/// assert!(tok.push(0, &[1.0, 10.0], None)?.is_none());
/// assert!(tok.push(1, &[2.0, 10.0], None)?.is_none());
/// let w = tok.push(2, &[3.0, 10.0], None)?.expect("3 steps make a window");
/// assert_eq!((w.window_end, w.stats.mean.clone()), (2, vec![2.0, 10.0]));
/// let back = denormalise(&w.values, &w.stats)?;
/// assert!((back[2] - 3.0).abs() < 1e-5 && (back[5] - 10.0).abs() < 1e-5);
/// # Ok::<(), vigil_tokenizers::TokenizerError>(())
/// ```
#[derive(Debug)]
pub struct VariateTokenizer {
    config: VariateConfig,
    series: Arc<[String]>,
    buf: VecDeque<Step>,
    wait: usize,
    last_ts: Option<i64>,
    stats: VariateStats,
}

impl VariateTokenizer {
    /// A tokenizer for `series` (at least one) with `config`, after checking it.
    pub fn new(series: Vec<String>, config: VariateConfig) -> Result<Self, TokenizerError> {
        config.validate()?;
        if series.is_empty() {
            return Err(TokenizerError::VariateConfig("at least one series is needed".into()));
        }
        Ok(VariateTokenizer {
            config,
            series: series.into(),
            buf: VecDeque::with_capacity(config.lookback),
            wait: 0,
            last_ts: None,
            stats: VariateStats::default(),
        })
    }

    /// The variates, in token order.
    pub fn series(&self) -> &[String] {
        &self.series
    }

    /// Counters so far.
    pub fn stats(&self) -> VariateStats {
        self.stats
    }

    /// Forget the held steps (after a long gap, for instance); the next
    /// window comes `lookback` steps later.
    pub fn reset(&mut self) {
        self.buf.clear();
        self.wait = 0;
        self.last_ts = None;
    }

    /// Push a step from the resampler.
    pub fn push_step(
        &mut self,
        step: &ResampledStep,
    ) -> Result<Option<VariateWindow>, TokenizerError> {
        self.push(step.ts, &step.values, Some(&step.missing))
    }

    /// Push one step: a value per variate (`NaN` = missing), optionally with
    /// explicit missing flags. Times must increase strictly; a refused step
    /// leaves the state unchanged.
    pub fn push(
        &mut self,
        ts: i64,
        values: &[f64],
        missing: Option<&[bool]>,
    ) -> Result<Option<VariateWindow>, TokenizerError> {
        let n = self.series.len();
        if values.len() != n {
            return Err(TokenizerError::VariateShape { expected: n, got: values.len() });
        }
        if let Some(m) = missing
            && m.len() != n
        {
            return Err(TokenizerError::VariateShape { expected: n, got: m.len() });
        }
        if let Some(prev) = self.last_ts
            && ts <= prev
        {
            return Err(TokenizerError::NonIncreasingTime { previous: prev, got: ts });
        }
        self.last_ts = Some(ts);
        self.stats.steps += 1;
        let mut step = if self.buf.len() == self.config.lookback {
            self.buf.pop_front().expect("buffer is full")
        } else {
            Step {
                ts,
                values: Vec::with_capacity(n),
                observed: Vec::with_capacity(n),
                features: [0.0; 4],
            }
        };
        step.ts = ts;
        step.values.clear();
        step.values.extend_from_slice(values);
        step.observed.clear();
        step.observed.extend(
            values.iter().enumerate().map(|(i, v)| v.is_finite() && !missing.is_some_and(|m| m[i])),
        );
        if self.config.time_features {
            step.features = time_features(ts);
        }
        self.buf.push_back(step);
        if self.buf.len() < self.config.lookback {
            return Ok(None);
        }
        if self.wait > 0 {
            self.wait -= 1;
            return Ok(None);
        }
        self.wait = self.config.stride - 1;
        Ok(Some(self.window()))
    }

    fn window(&mut self) -> VariateWindow {
        let n = self.series.len();
        let l = self.config.lookback;
        let mut values = Vec::with_capacity(n * l);
        let mut observed_all = Vec::with_capacity(n * l);
        let mut stats = NormStats { mean: Vec::with_capacity(n), std: Vec::with_capacity(n) };
        let mut col = vec![0.0; l];
        let mut obs = vec![true; l];
        for v in 0..n {
            for (t, s) in self.buf.iter().enumerate() {
                col[t] = s.values[v];
                obs[t] = s.observed[v];
            }
            let (m, s) = normalise_variate(&mut col, &mut obs, self.config.epsilon);
            stats.mean.push(m as f32);
            stats.std.push(s as f32);
            values.extend(col.iter().map(|&x| x as f32));
            observed_all.extend_from_slice(&obs);
        }
        let any_missing = observed_all.iter().any(|o| !o);
        let time_features = self.config.time_features.then(|| {
            let mut f = Vec::with_capacity(TIME_FEATURES * l);
            for k in 0..TIME_FEATURES {
                f.extend(self.buf.iter().map(|s| s.features[k]));
            }
            f
        });
        self.stats.windows += 1;
        self.stats.windows_with_missing += u64::from(any_missing);
        VariateWindow {
            window_end: self.buf.back().map_or(0, |s| s.ts),
            series: self.series.clone(),
            values,
            stats,
            observed: any_missing.then_some(observed_all),
            time_features,
        }
    }
}

/// Every window over `steps` (in time order) of the variates `series`.
pub fn windows(
    series: Vec<String>,
    steps: &[ResampledStep],
    config: VariateConfig,
) -> Result<Vec<VariateWindow>, TokenizerError> {
    let mut tok = VariateTokenizer::new(series, config)?;
    let mut out =
        Vec::with_capacity(steps.len().saturating_sub(config.lookback) / config.stride + 1);
    for s in steps {
        out.extend(tok.push_step(s)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tok(l: usize, stride: usize) -> VariateTokenizer {
        let c = VariateConfig { lookback: l, stride, ..VariateConfig::default() };
        VariateTokenizer::new(vec!["x".into()], c).unwrap()
    }

    #[test]
    fn stride_and_first_window() {
        let mut t = tok(3, 2);
        let ends: Vec<i64> = (0..9)
            .filter_map(|i| t.push(i, &[i as f64], None).unwrap())
            .map(|w| w.window_end)
            .collect();
        assert_eq!(ends, vec![2, 4, 6, 8]);
    }

    #[test]
    fn refusals_leave_state() {
        let mut t = tok(2, 1);
        t.push(5, &[1.0], None).unwrap();
        assert!(matches!(t.push(5, &[1.0], None), Err(TokenizerError::NonIncreasingTime { .. })));
        assert!(matches!(t.push(6, &[1.0, 2.0], None), Err(TokenizerError::VariateShape { .. })));
        assert!(t.push(6, &[3.0], None).unwrap().is_some());
        assert_eq!(t.stats().steps, 2);
    }

    #[test]
    fn missing_is_masked() {
        let mut t = tok(3, 1);
        t.push(0, &[1.0], None).unwrap();
        t.push(1, &[7.0], Some(&[true])).unwrap();
        let w = t.push(2, &[3.0], None).unwrap().unwrap();
        assert_eq!(w.observed, Some(vec![true, false, true]));
        assert_eq!(w.stats.mean, vec![2.0]);
        assert_eq!(w.values[1], 0.0);
        let w = t.push(3, &[5.0], None).unwrap().unwrap();
        assert_eq!(w.observed, Some(vec![false, true, true]));
        let w = t.push(4, &[f64::NAN], None).unwrap().unwrap();
        assert_eq!(w.observed, Some(vec![true, true, false]));
        assert_eq!(t.stats().windows_with_missing, 3);
    }

    #[test]
    fn bad_config() {
        let c = VariateConfig { lookback: 0, ..VariateConfig::default() };
        assert!(VariateTokenizer::new(vec!["x".into()], c).is_err());
        assert!(VariateTokenizer::new(vec![], VariateConfig::default()).is_err());
        let c = VariateConfig { epsilon: 0.0, ..VariateConfig::default() };
        assert!(c.validate().is_err());
    }
}
