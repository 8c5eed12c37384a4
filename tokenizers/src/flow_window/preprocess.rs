//! [`Preprocessor`]: FlowTransformer's numeric log scaling and top-K categorical ids,
//! fitted on training flows and saved as JSON (it travels in the model manifest).

use std::collections::HashMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use vigil_ingest::flow_records::{FeatureNames, FlowFeatures};

use crate::TokenizerError;

/// Categorical id for a level not among the fitted top K (and for padding rows).
pub const UNSEEN: u32 = 0;

fn default_top_k() -> usize {
    32
}

/// How to fit a [`Preprocessor`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PreprocessConfig {
    /// Categorical levels kept per feature (the K most frequent get ids 1..=K).
    #[serde(default = "default_top_k")]
    pub top_k: usize,
    /// Clamp encoded numerics at 1.0 (values above the fitted max); off by default,
    /// as in FlowTransformer, so larger values keep growing logarithmically.
    #[serde(default)]
    pub clip_above_max: bool,
}

impl Default for PreprocessConfig {
    fn default() -> Self {
        PreprocessConfig { top_k: default_top_k(), clip_above_max: false }
    }
}

impl PreprocessConfig {
    /// Refuses `top_k = 0` and `top_k` beyond the `u32` id space.
    pub fn validate(&self) -> Result<(), TokenizerError> {
        if self.top_k == 0 || self.top_k >= u32::MAX as usize {
            return Err(TokenizerError::FlowWindowConfig(format!(
                "top_k must be in 1..{}, got {}",
                u32::MAX,
                self.top_k
            )));
        }
        Ok(())
    }
}

/// One numeric feature's fitted range.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NumericScale {
    /// Feature name.
    pub name: String,
    /// Smallest finite training value (0 when there was none).
    pub min: f64,
    /// Largest finite training value (0 when there was none).
    pub max: f64,
}

impl NumericScale {
    /// `ln(x - min + 1) / ln(range + 1)` with `range = max - min`.
    ///
    /// - below `min`: clamped to `min`, so 0.0 (FlowTransformer would take the log
    ///   of a negative number and produce NaN);
    /// - above `max`: more than 1.0, growing logarithmically, unless `clip` is set;
    /// - `range == 0`: always 0.0 (as FlowTransformer);
    /// - NaN (a missing cell) and −∞: 0.0; +∞ (CICFlowMeter's rate on a zero duration): 1.0.
    pub fn encode(&self, x: f64, clip: bool) -> f32 {
        let range = self.max - self.min;
        if range <= 0.0 || x.is_nan() || x == f64::NEG_INFINITY {
            return 0.0;
        }
        if x == f64::INFINITY {
            return 1.0;
        }
        let y = (x - self.min).max(0.0).ln_1p() / range.ln_1p();
        let y = if clip { y.min(1.0) } else { y };
        y as f32
    }
}

/// One categorical feature's kept levels; `levels[i]` has id `i + 1`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CategoricalLevels {
    /// Feature name.
    pub name: String,
    /// Most frequent first; ties by level text, so fitting is deterministic.
    pub levels: Vec<String>,
}

/// One flow, encoded: numerics in `[0, 1]` (more above the fitted max), categoricals as ids.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EncodedFlow {
    /// Encoded numeric features, in the preprocessor's order.
    pub numeric: Vec<f32>,
    /// Categorical ids (0 = unseen, 1..=K = fitted levels), in the preprocessor's order.
    pub categorical: Vec<u32>,
}

/// Fitted preprocessing: a [`NumericScale`] per numeric feature and
/// [`CategoricalLevels`] per categorical one.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Preprocessor {
    /// How it was fitted.
    pub config: PreprocessConfig,
    /// Numeric features, in record order.
    pub numeric: Vec<NumericScale>,
    /// Categorical features, in record order.
    pub categorical: Vec<CategoricalLevels>,
    /// Training records seen.
    pub fitted_rows: u64,
    #[serde(skip)]
    names: Arc<FeatureNames>,
    #[serde(skip)]
    ids: Vec<HashMap<String, u32>>,
}

impl PartialEq for Preprocessor {
    fn eq(&self, other: &Self) -> bool {
        self.config == other.config
            && self.numeric == other.numeric
            && self.categorical == other.categorical
            && self.fitted_rows == other.fitted_rows
    }
}

fn mismatch(rec: &FlowFeatures, want: &FeatureNames) -> TokenizerError {
    let diff = |a: &[String], b: &[String]| -> String {
        let missing: Vec<&str> = a.iter().filter(|n| !b.contains(n)).map(String::as_str).collect();
        let extra: Vec<&str> = b.iter().filter(|n| !a.contains(n)).map(String::as_str).collect();
        if missing.is_empty() && extra.is_empty() {
            "same names, other order".into()
        } else {
            format!("missing {missing:?}, unexpected {extra:?}")
        }
    };
    TokenizerError::FeatureMismatch {
        flow_id: rec.tuple.flow_id,
        message: format!(
            "numeric: {}; categorical: {}",
            diff(&want.numeric, &rec.names.numeric),
            diff(&want.categorical, &rec.names.categorical)
        ),
    }
}

impl Preprocessor {
    /// Fits on training records; they must all carry the same feature names.
    ///
    /// Numeric min and max ignore NaN and infinities. Categorical levels are
    /// counted exactly (one hash map per feature; memory grows with the number of
    /// distinct levels, e.g. ports, not with the number of records).
    pub fn fit<'a>(
        config: PreprocessConfig,
        records: impl IntoIterator<Item = &'a FlowFeatures>,
    ) -> Result<Preprocessor, TokenizerError> {
        config.validate()?;
        let mut names: Option<Arc<FeatureNames>> = None;
        let mut lo: Vec<f64> = Vec::new();
        let mut hi: Vec<f64> = Vec::new();
        let mut counts: Vec<HashMap<String, u64>> = Vec::new();
        let mut rows = 0u64;
        for rec in records {
            match &names {
                None => {
                    names = Some(rec.names.clone());
                    lo = vec![f64::INFINITY; rec.names.numeric.len()];
                    hi = vec![f64::NEG_INFINITY; rec.names.numeric.len()];
                    counts = vec![HashMap::new(); rec.names.categorical.len()];
                }
                Some(n) if Arc::ptr_eq(n, &rec.names) || **n == *rec.names => {}
                Some(n) => return Err(mismatch(rec, n)),
            }
            if rec.numeric.len() != lo.len() || rec.categorical.len() != counts.len() {
                return Err(TokenizerError::FeatureMismatch {
                    flow_id: rec.tuple.flow_id,
                    message: "value count differs from the name count".into(),
                });
            }
            rows += 1;
            for (i, &x) in rec.numeric.iter().enumerate() {
                if x.is_finite() {
                    lo[i] = lo[i].min(x);
                    hi[i] = hi[i].max(x);
                }
            }
            for (c, v) in counts.iter_mut().zip(&rec.categorical) {
                match c.get_mut(v) {
                    Some(n) => *n += 1,
                    None => {
                        c.insert(v.clone(), 1);
                    }
                }
            }
        }
        let names = names.ok_or_else(|| {
            TokenizerError::FlowWindowConfig("cannot fit a preprocessor on zero records".into())
        })?;
        let numeric = names
            .numeric
            .iter()
            .zip(lo.iter().zip(&hi))
            .map(|(name, (&min, &max))| {
                let (min, max) = if min <= max { (min, max) } else { (0.0, 0.0) };
                NumericScale { name: name.clone(), min, max }
            })
            .collect();
        let categorical = names
            .categorical
            .iter()
            .zip(counts)
            .map(|(name, c)| {
                let mut v: Vec<(String, u64)> = c.into_iter().collect();
                v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
                v.truncate(config.top_k);
                CategoricalLevels {
                    name: name.clone(),
                    levels: v.into_iter().map(|(l, _)| l).collect(),
                }
            })
            .collect();
        Ok(Preprocessor {
            config,
            numeric,
            categorical,
            fitted_rows: rows,
            names: Arc::new(FeatureNames::default()),
            ids: Vec::new(),
        }
        .indexed())
    }

    fn indexed(mut self) -> Self {
        self.names = Arc::new(FeatureNames {
            numeric: self.numeric.iter().map(|n| n.name.clone()).collect(),
            categorical: self.categorical.iter().map(|c| c.name.clone()).collect(),
        });
        self.ids = self
            .categorical
            .iter()
            .map(|c| c.levels.iter().enumerate().map(|(i, l)| (l.clone(), i as u32 + 1)).collect())
            .collect();
        self
    }

    /// The feature names records must carry.
    pub fn names(&self) -> &Arc<FeatureNames> {
        &self.names
    }

    /// Saves as pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// Reads back what [`Preprocessor::to_json`] wrote.
    pub fn from_json(text: &str) -> Result<Preprocessor, TokenizerError> {
        let p: Preprocessor = serde_json::from_str(text)
            .map_err(|e| TokenizerError::PreprocessorJson(e.to_string()))?;
        p.config.validate()?;
        if let Some(bad) =
            p.numeric.iter().find(|n| n.min > n.max || !n.min.is_finite() || !n.max.is_finite())
        {
            return Err(TokenizerError::PreprocessorJson(format!(
                "numeric `{}`: min {} > max {}",
                bad.name, bad.min, bad.max
            )));
        }
        Ok(p.indexed())
    }

    /// Encodes one record (its feature names must be the fitted ones, in order).
    pub fn transform(&self, rec: &FlowFeatures) -> Result<EncodedFlow, TokenizerError> {
        let mut out = EncodedFlow::default();
        self.transform_into(rec, &mut out)?;
        Ok(out)
    }

    /// [`Preprocessor::transform`] into a reused buffer.
    pub fn transform_into(
        &self,
        rec: &FlowFeatures,
        out: &mut EncodedFlow,
    ) -> Result<(), TokenizerError> {
        if !(Arc::ptr_eq(&self.names, &rec.names) || *self.names == *rec.names)
            || rec.numeric.len() != self.numeric.len()
            || rec.categorical.len() != self.categorical.len()
        {
            return Err(mismatch(rec, &self.names));
        }
        let clip = self.config.clip_above_max;
        out.numeric.clear();
        out.numeric.extend(self.numeric.iter().zip(&rec.numeric).map(|(s, &x)| s.encode(x, clip)));
        out.categorical.clear();
        out.categorical.extend(
            self.ids
                .iter()
                .zip(&rec.categorical)
                .map(|(ids, v)| ids.get(v).copied().unwrap_or(UNSEEN)),
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use vigil_ingest::flow_records::FlowTuple;

    use super::*;

    fn names() -> Arc<FeatureNames> {
        Arc::new(FeatureNames {
            numeric: vec!["bytes".into(), "flat".into()],
            categorical: vec!["port".into()],
        })
    }

    fn rec(names: &Arc<FeatureNames>, id: u64, bytes: f64, port: &str) -> FlowFeatures {
        FlowFeatures {
            tuple: FlowTuple { flow_id: id, ..FlowTuple::default() },
            names: names.clone(),
            numeric: vec![bytes, 10.0],
            categorical: vec![port.into()],
            label: None,
        }
    }

    fn fitted() -> Preprocessor {
        let n = names();
        let train: Vec<_> = [
            (0.0, "80"),
            (99.0, "80"),
            (9.0, "443"),
            (f64::NAN, "443"),
            (f64::INFINITY, "22"),
            (5.0, "53"),
        ]
        .iter()
        .enumerate()
        .map(|(i, &(b, p))| rec(&n, i as u64, b, p))
        .collect();
        Preprocessor::fit(PreprocessConfig { top_k: 2, clip_above_max: false }, &train).unwrap()
    }

    #[test]
    fn golden_numeric() {
        let p = fitted();
        // NaN and +inf are ignored when fitting: min 0, max 99, range 99.
        assert_eq!((p.numeric[0].min, p.numeric[0].max), (0.0, 99.0));
        let enc = |x: f64| p.transform(&rec(p.names(), 0, x, "80")).unwrap().numeric;
        // encode(x) = ln(x + 1) / ln(100)
        assert_eq!(enc(0.0)[0], 0.0);
        assert_eq!(enc(9.0)[0], 0.5); // ln 10 / ln 100
        assert_eq!(enc(99.0)[0], 1.0); // ln 100 / ln 100
        assert!((enc(999.0)[0] - 1.5).abs() < 1e-6); // above max: ln 1000 / ln 100, not clipped
        assert_eq!(enc(-5.0)[0], 0.0); // below min: clamped to min
        assert_eq!(enc(f64::NAN)[0], 0.0);
        assert_eq!(enc(f64::INFINITY)[0], 1.0);
        // "flat" is 10 in every row: range 0 -> always 0.
        assert_eq!(enc(9.0)[1], 0.0);
        let clipped = NumericScale { name: "b".into(), min: 0.0, max: 99.0 };
        assert_eq!(clipped.encode(999.0, true), 1.0);
        // min 10, max 1009 (range 999): encode(109) = ln(100) / ln(1000) = 2/3.
        let s = NumericScale { name: "b".into(), min: 10.0, max: 1009.0 };
        assert!((s.encode(109.0, false) - 2.0 / 3.0).abs() < 1e-6);
    }

    #[test]
    fn golden_categorical_top_k() {
        let p = fitted();
        // counts: 80 x2, 443 x2, 22 x1, 53 x1; top 2 by count, ties by text: "443" < "80".
        assert_eq!(p.categorical[0].levels, vec!["443", "80"]);
        let id = |port: &str| p.transform(&rec(p.names(), 0, 1.0, port)).unwrap().categorical[0];
        assert_eq!((id("443"), id("80"), id("22"), id("8080")), (1, 2, UNSEEN, UNSEEN));
    }

    #[test]
    fn json_round_trip() {
        let p = fitted();
        let q = Preprocessor::from_json(&p.to_json()).unwrap();
        assert_eq!(p, q);
        let r = rec(&names(), 1, 42.0, "80");
        assert_eq!(p.transform(&r).unwrap(), q.transform(&r).unwrap());
        assert!(Preprocessor::from_json("{}").is_err());
        let bad = p.to_json().replace("\"top_k\": 2", "\"top_k\": 0");
        assert!(Preprocessor::from_json(&bad).is_err());
    }

    #[test]
    fn refuses_other_features_and_empty_input() {
        let p = fitted();
        let other = Arc::new(FeatureNames {
            numeric: vec!["bytes".into(), "pkts".into()],
            categorical: vec!["port".into()],
        });
        let err = p.transform(&rec(&other, 9, 1.0, "80")).unwrap_err();
        assert!(err.to_string().contains("\"flat\""), "{err}");
        assert!(Preprocessor::fit(PreprocessConfig::default(), &[]).is_err());
        let mixed = [rec(&names(), 0, 1.0, "1"), rec(&other, 1, 1.0, "1")];
        assert!(Preprocessor::fit(PreprocessConfig::default(), &mixed).is_err());
    }
}
