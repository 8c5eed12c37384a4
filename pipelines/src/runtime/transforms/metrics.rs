//! Scoring metrics: the model's series resampled onto its grid, each step forecast
//! from the lookback window before it and scored by its normalised residual (the
//! iTransformer [`Scorer`]).

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::Context;
use arrow_array::builder::{
    Float32Builder, Float64Builder, StringBuilder, TimestampMicrosecondBuilder,
};
use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, TimestampMicrosecondType};
use arrow_array::{Array, ArrayRef, BooleanArray, RecordBatch};
use datafusion::arrow::compute::filter_record_batch;
use vigil_ingest::metrics::{MetricPoint, ResampledStep, Resampler};
use vigil_models::{Scorer, VariateItem, VariateScorer};
use vigil_tokenizers::variate::{VariateTokenizer, VariateWindow};

use crate::runtime::record::{Envelope, RecordKind};
use crate::runtime::stats::StageStats;
use crate::store::Table;

/// iTransformer over a metrics stream.
pub struct MetricsTransform {
    scorer: VariateScorer,
    series: Vec<String>,
    resampler: Resampler,
    tokenizer: VariateTokenizer,
    /// The latest full window, waiting for the step after it.
    last_window: Option<VariateWindow>,
    /// `source` and `sensor` of the input rows, stamped on the resampled rows.
    origin: Option<(String, String)>,
}

impl MetricsTransform {
    /// A transform scoring with `scorer` (made with the series and step to use).
    pub fn new(scorer: VariateScorer) -> anyhow::Result<Self> {
        let series = scorer.series().to_vec();
        let resampler = Resampler::new(series.clone(), scorer.resample_config())?;
        let tokenizer = scorer.tokenizer()?;
        Ok(MetricsTransform {
            scorer,
            series,
            resampler,
            tokenizer,
            last_window: None,
            origin: None,
        })
    }

    /// The model's series resampled and scored; other series' rows pass through.
    pub fn apply(&mut self, env: Envelope, stats: &StageStats) -> anyhow::Result<Vec<Envelope>> {
        let batch = &env.batch;
        let col = |name: &str| {
            batch.column_by_name(name).with_context(|| format!("metrics rows without `{name}`"))
        };
        let series = col("series")?.as_string::<i32>();
        let ts = col("ts")?.as_primitive::<TimestampMicrosecondType>();
        let value = col("value")?.as_primitive::<Float64Type>();
        if self.origin.is_none() && batch.num_rows() > 0 {
            let s = |name: &str| col(name).map(|c| c.as_string::<i32>().value(0).to_string());
            self.origin = Some((s("source")?, s("sensor")?));
        }
        let ours: HashMap<&str, ()> = self.series.iter().map(|s| (s.as_str(), ())).collect();
        let mut steps = Vec::new();
        let mut keep = Vec::with_capacity(batch.num_rows());
        for i in 0..batch.num_rows() {
            let mine = ours.contains_key(series.value(i));
            keep.push(!mine);
            if mine && value.is_valid(i) {
                let p = MetricPoint {
                    series: series.value(i).to_string(),
                    ts: ts.value(i),
                    value: value.value(i),
                };
                stats.tokenizing(|| self.resampler.push(&p, &mut steps));
            }
        }
        let mut out = Vec::new();
        let others = filter_record_batch(batch, &BooleanArray::from(keep))?;
        if others.num_rows() > 0 {
            out.push(env.derive(RecordKind::Metrics, others));
        }
        if let Some(scored) = self.score_steps(&steps, stats)? {
            out.push(env.derive(RecordKind::Metrics, scored));
        }
        Ok(out)
    }

    /// The newest time among `env`'s rows of this model's series (`None`: it has
    /// none, so nothing of it is held back).
    pub fn newest_point(&self, env: &Envelope) -> Option<i64> {
        let b = &env.batch;
        let series = b.column_by_name("series")?.as_string_opt::<i32>()?;
        let ts = b.column_by_name("ts")?.as_primitive_opt::<TimestampMicrosecondType>()?;
        (0..b.num_rows())
            .filter(|&i| self.series.iter().any(|s| s == series.value(i)))
            .map(|i| ts.value(i))
            .max()
    }

    /// Points before this time have all been emitted as scored steps (`None`:
    /// nothing is held).
    pub fn pending_since(&self) -> Option<i64> {
        self.resampler.pending_since()
    }

    /// End of input: the step in progress is complete.
    pub fn finish(&mut self, stats: &StageStats) -> anyhow::Result<Vec<Envelope>> {
        let mut steps = Vec::new();
        stats.tokenizing(|| self.resampler.finish(&mut steps));
        Ok(self
            .score_steps(&steps, stats)?
            .map(|b| Envelope::new(RecordKind::Metrics, b))
            .into_iter()
            .collect())
    }

    /// Forecast and score each step whose lookback window is full; rows for all.
    fn score_steps(
        &mut self,
        steps: &[ResampledStep],
        stats: &StageStats,
    ) -> anyhow::Result<Option<RecordBatch>> {
        if steps.is_empty() {
            return Ok(None);
        }
        // Each full window with the step after it (its index in `steps`).
        let mut pairs: Vec<(usize, VariateItem)> = Vec::new();
        stats.tokenizing(|| -> anyhow::Result<()> {
            for (k, s) in steps.iter().enumerate() {
                if let Some(window) = self.last_window.take() {
                    pairs.push((k, VariateItem { window, next: Some(s.values.clone()) }));
                }
                self.last_window = self.tokenizer.push_step(s)?.into_iter().last();
            }
            Ok(())
        })?;
        let n = self.series.len();
        // forecast[k][v] and score[k] of each step that had a window.
        let mut forecast: Vec<Option<Vec<f32>>> = vec![None; steps.len()];
        let mut score: Vec<Option<f32>> = vec![None; steps.len()];
        if !pairs.is_empty() {
            let (at, items): (Vec<usize>, Vec<VariateItem>) = pairs.into_iter().unzip();
            let verdicts = stats.scoring(|| self.scorer.score(&items))?;
            for (k, v) in at.into_iter().zip(verdicts) {
                score[k] = v.score;
                forecast[k] = Some((0..n).map(|i| v.forecast[i][0]).collect());
            }
        }
        let (source, sensor) = self.origin.clone().unwrap_or_default();
        let rows = steps.len() * n;
        let mut b_series = StringBuilder::new();
        let mut b_ts = TimestampMicrosecondBuilder::with_capacity(rows).with_timezone("UTC");
        let mut b_value = Float64Builder::with_capacity(rows);
        let mut b_forecast = Float64Builder::with_capacity(rows);
        let mut b_score = Float32Builder::with_capacity(rows);
        let (mut b_model, mut b_source, mut b_sensor) =
            (StringBuilder::new(), StringBuilder::new(), StringBuilder::new());
        for (k, s) in steps.iter().enumerate() {
            for (v, name) in self.series.iter().enumerate() {
                b_series.append_value(name);
                b_ts.append_value(s.ts);
                b_value.append_option(s.values[v].is_finite().then_some(s.values[v]));
                b_forecast.append_option(forecast[k].as_ref().map(|f| f64::from(f[v])));
                b_score.append_option(score[k]);
                b_model.append_value(self.scorer.model().name());
                b_source.append_value(&source);
                b_sensor.append_value(&sensor);
            }
        }
        let cols: Vec<ArrayRef> = vec![
            Arc::new(b_series.finish()),
            Arc::new(b_ts.finish()),
            Arc::new(b_value.finish()),
            Arc::new(b_forecast.finish()),
            Arc::new(b_score.finish()),
            Arc::new(b_model.finish()),
            Arc::new(b_source.finish()),
            Arc::new(b_sensor.finish()),
        ];
        let batch = RecordBatch::try_new(Table::Metrics.base_schema(), cols)?;
        Ok(Some(batch))
    }
}
