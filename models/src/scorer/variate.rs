//! iTransformer: each window of the model's series forecast, and the step after it
//! scored by its residual.
//!
//! The graph takes raw values `x` float32 `[B, L, N]` (the tokenizer's per-window
//! normalisation undone; the graph normalises over the lookback itself), and when it
//! declares `x_mark`, the lookback's time features float32 `[B, L, 4]` (the tokenizer's
//! `time_features`), and gives `forecast` `[B, H, N]`.

use std::sync::Arc;

use arrow_array::StructArray;
use arrow_array::builder::{Float32Builder, ListBuilder};
use arrow_schema::{DataType, Field, Fields};
use ndarray::{ArrayD, Axis, IxDyn};
use vigil_ingest::metrics::ResampleConfig;
use vigil_tokenizers::TokenStamp;
use vigil_tokenizers::variate::{
    TIME_FEATURES, VariateConfig, VariateTokenizer, VariateWindow, denormalise,
};

use super::columns::{f32_list, output};
use super::{Scorer, arrow_err, ensure_family, shape_err, tokenizer_err};
use crate::error::{Error, Result};
use crate::family::Family;
use crate::model::{InputTensor, Model, Outputs};

/// The graph input of the time features, when the model takes them.
const X_MARK: &str = "x_mark";

/// One window to forecast, and the values of the step after it when known (to score it).
#[derive(Debug, Clone, PartialEq)]
pub struct VariateItem {
    /// The window.
    pub window: VariateWindow,
    /// The next step's raw values, one per variate (NaN where missing).
    pub next: Option<Vec<f64>>,
}

/// One window's forecast and the anomaly score of the step after it.
#[derive(Debug, Clone, PartialEq)]
pub struct VariateVerdict {
    /// [`residual_score`] of the next step; `None` when it is unknown.
    pub score: Option<f32>,
    /// The de-normalised forecast, variate-major: `forecast[v][t]` for `t` in the horizon.
    pub forecast: Vec<Vec<f32>>,
}

/// iTransformer's scorer, for the series and grid it was made with.
#[derive(Debug)]
pub struct VariateScorer {
    model: Arc<Model>,
    series: Vec<String>,
    step_us: i64,
    lookback: usize,
    /// The graph takes the lookback's time features as `x_mark` [batch, lookback, 4].
    time_features: bool,
}

impl VariateScorer {
    /// The scorer of `model`, an iTransformer artifact, over `series` at a grid step of
    /// `step_seconds` (each `None`: the manifest's).
    pub fn new(
        model: Arc<Model>,
        series: Option<Vec<String>>,
        step_seconds: Option<f64>,
    ) -> Result<Self> {
        ensure_family(&model, Self::FAMILY)?;
        let prep = model.manifest().itransformer()?;
        let err = |message: &str| Error::Preprocessing {
            model: model.name().to_string(),
            message: message.to_string(),
        };
        let series = series
            .or(prep.series)
            .ok_or_else(|| err("no preprocessing.series, and none was given"))?;
        let step = step_seconds
            .or(prep.step_seconds)
            .ok_or_else(|| err("no preprocessing.step_seconds, and no step was given"))?;
        if !(step.is_finite() && step > 0.0) {
            return Err(err(&format!("the step must be a positive number of seconds, got {step}")));
        }
        let step_us = (step * 1e6).round() as i64;
        let time_features = model.manifest().input(X_MARK).is_some();
        Ok(VariateScorer { model, series, step_us, lookback: prep.lookback, time_features })
    }

    /// The series, in input order.
    pub fn series(&self) -> &[String] {
        &self.series
    }

    /// Steps per input window.
    pub fn lookback(&self) -> usize {
        self.lookback
    }

    /// The grid the series are resampled onto (the defaults, at the model's step).
    pub fn resample_config(&self) -> ResampleConfig {
        ResampleConfig { step_us: self.step_us, ..ResampleConfig::default() }
    }

    /// The window settings, with windows `stride` steps apart.
    pub fn window_config(&self, stride: usize) -> VariateConfig {
        VariateConfig {
            lookback: self.lookback,
            stride,
            time_features: self.time_features,
            ..VariateConfig::default()
        }
    }
}

impl Scorer for VariateScorer {
    type Tokenizer = VariateTokenizer;
    type Item = VariateItem;
    type Verdict = VariateVerdict;

    const FAMILY: Family = Family::ITransformer;

    fn model(&self) -> &Model {
        &self.model
    }

    /// A window ending at every step.
    fn tokenizer(&self) -> Result<VariateTokenizer> {
        VariateTokenizer::new(self.series.clone(), self.window_config(1))
            .map_err(tokenizer_err(&self.model))
    }

    fn inputs(&self, items: &[VariateItem]) -> Result<Vec<(&str, InputTensor)>> {
        let Some(first) = items.first() else {
            return Err(Error::Input {
                model: self.model.name().into(),
                message: "no windows".into(),
            });
        };
        let n = first.window.stats.mean.len();
        let l = first.window.values.len() / n.max(1);
        let mut x = Vec::with_capacity(items.len() * l * n);
        let mut marks = Vec::with_capacity(if self.time_features {
            items.len() * l * TIME_FEATURES
        } else {
            0
        });
        for item in items {
            if self.time_features {
                // Feature-major in the window, step-major in the graph: marks[t * F + f].
                let f =
                    item.window.time_features.as_deref().filter(|f| f.len() == l * TIME_FEATURES);
                let f = f.ok_or_else(|| Error::Input {
                    model: self.model.name().into(),
                    message: "the window has no time features".into(),
                })?;
                for t in 0..l {
                    marks.extend((0..TIME_FEATURES).map(|k| f[k * l + t]));
                }
            }
            // Variate-major: raw[v * l + t].
            let raw = denormalise(&item.window.values, &item.window.stats)
                .map_err(tokenizer_err(&self.model))?;
            if raw.len() != l * n {
                return Err(Error::Input {
                    model: self.model.name().into(),
                    message: "window shapes differ".into(),
                });
            }
            for t in 0..l {
                x.extend((0..n).map(|v| raw[v * l + t]));
            }
        }
        let x = ArrayD::from_shape_vec(IxDyn(&[items.len(), l, n]), x)
            .map_err(shape_err(&self.model))?;
        let mut inputs = vec![("x", x.into())];
        if self.time_features {
            let m = ArrayD::from_shape_vec(IxDyn(&[items.len(), l, TIME_FEATURES]), marks)
                .map_err(shape_err(&self.model))?;
            inputs.push((X_MARK, m.into()));
        }
        Ok(inputs)
    }

    fn decode(&self, items: &[VariateItem], outputs: &Outputs) -> Result<Vec<VariateVerdict>> {
        let forecast = output(outputs, &self.model, "forecast")?;
        if forecast.ndim() != 3 || forecast.shape()[0] != items.len() {
            return Err(Error::Decode {
                output: "forecast".into(),
                message: format!(
                    "not [{}, horizon, variates] but {:?}",
                    items.len(),
                    forecast.shape()
                ),
            });
        }
        let (h, n) = (forecast.shape()[1], forecast.shape()[2]);
        Ok(items
            .iter()
            .zip(forecast.axis_iter(Axis(0)))
            .map(|(item, f)| {
                let first_step: Vec<f32> = (0..n).map(|v| f[[0, v]]).collect();
                let score = item
                    .next
                    .as_deref()
                    .and_then(|a| residual_score(a, &first_step, &item.window.stats.std));
                let forecast = (0..n).map(|v| (0..h).map(|t| f[[t, v]]).collect()).collect();
                VariateVerdict { score, forecast }
            })
            .collect())
    }

    /// `score` (nullable) and `forecast` (`list<list<f32>>`, variate × horizon).
    fn verdict_type(&self) -> DataType {
        DataType::Struct(forecast_fields())
    }

    fn verdict_column(&self, verdicts: &[VariateVerdict]) -> Result<StructArray> {
        let mut scores = Float32Builder::with_capacity(verdicts.len());
        let mut lists = ListBuilder::new(ListBuilder::new(Float32Builder::new()));
        for v in verdicts {
            scores.append_option(v.score);
            for series in &v.forecast {
                lists.values().values().append_slice(series);
                lists.values().append(true);
            }
            lists.append(true);
        }
        StructArray::try_new(
            forecast_fields(),
            vec![Arc::new(scores.finish()), Arc::new(lists.finish())],
            None,
        )
        .map_err(arrow_err(&self.model))
    }

    /// The model's series and grid, the manifest's lookback, time features when the graph
    /// takes them.
    fn token_stamp(&self) -> TokenStamp {
        TokenStamp::variate(&self.series, &self.resample_config(), &self.window_config(1))
    }
}

fn forecast_fields() -> Fields {
    Fields::from(vec![
        Field::new("score", DataType::Float32, true),
        Field::new(
            "forecast",
            DataType::List(Arc::new(Field::new("item", f32_list(), true))),
            false,
        ),
    ])
}

/// Anomaly score of one step: the root mean square over variates of the forecast
/// error divided by the window's per-variate spread (the normalised residual).
pub fn residual_score(actual: &[f64], forecast: &[f32], std: &[f32]) -> Option<f32> {
    let mut sum = 0.0f64;
    let mut n = 0usize;
    for ((a, f), s) in actual.iter().zip(forecast).zip(std) {
        if a.is_finite() {
            let r = (a - f64::from(*f)) / f64::from(s.max(1e-5));
            sum += r * r;
            n += 1;
        }
    }
    (n > 0).then(|| (sum / n as f64).sqrt() as f32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn residual_is_the_rms_of_spread_scaled_errors() {
        // Errors 2 and 0 over spreads 1 and 4: sqrt((2^2 + 0^2) / 2) = sqrt(2).
        let s = residual_score(&[3.0, 5.0], &[1.0, 5.0], &[1.0, 4.0]).unwrap();
        assert!((s - 2f32.sqrt()).abs() < 1e-6);
        // Missing actual values are left out; none at all gives no score.
        let s = residual_score(&[f64::NAN, 5.0], &[1.0, 3.0], &[1.0, 4.0]).unwrap();
        assert!((s - 0.5).abs() < 1e-6);
        assert!(residual_score(&[f64::NAN], &[1.0], &[1.0]).is_none());
    }
}
