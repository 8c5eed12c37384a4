//! iTransformer verdicts: a forecaster's struct has `forecast` (variate × horizon,
//! de-normalised) and `score`, the anomaly score of the step after the window when
//! the input has it.

use std::sync::Arc;

use arrow_array::builder::{Float32Builder, ListBuilder};
use arrow_array::{ArrayRef, RecordBatch, StructArray};
use arrow_schema::{DataType, Field, Fields, Schema, SchemaRef};
use vigil_models::ndarray::{ArrayD, IxDyn};
use vigil_models::{InputTensor, Model};
use vigil_tokenizers::variate::{VariateWindow, denormalise, to_record_batch, variate_schema};

fn f32_list() -> DataType {
    DataType::List(Arc::new(Field::new("item", DataType::Float32, true)))
}

/// The struct type of a forecaster's verdict column.
fn forecast_type() -> DataType {
    DataType::Struct(Fields::from(vec![
        Field::new("score", DataType::Float32, true),
        Field::new(
            "forecast",
            DataType::List(Arc::new(Field::new("item", f32_list(), true))),
            false,
        ),
    ]))
}

/// The schema of scored variate windows: the window columns plus `<model name>` (struct).
pub fn scored_variate_schema(model_name: &str) -> SchemaRef {
    let mut fields: Vec<Field> =
        variate_schema().fields().iter().map(|f| f.as_ref().clone()).collect();
    fields.push(Field::new(model_name, forecast_type(), false));
    Arc::new(Schema::new(fields))
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

/// Forecast each iTransformer window (the model takes raw values `x` [B, L, N] and
/// gives `forecast` [B, H, N]) and score the step after it, where `next[i]` holds it.
pub fn score_variate_windows(
    model: &Model,
    windows: &[VariateWindow],
    next: &[Option<Vec<f64>>],
) -> anyhow::Result<RecordBatch> {
    let Some(first) = windows.first() else {
        anyhow::bail!("no windows to score");
    };
    let n = first.stats.mean.len();
    let l = first.values.len() / n.max(1);
    let mut x = Vec::with_capacity(windows.len() * l * n);
    for w in windows {
        let raw = denormalise(&w.values, &w.stats)?; // variate-major: raw[v * l + t]
        anyhow::ensure!(raw.len() == l * n, "window shapes differ");
        for t in 0..l {
            x.extend((0..n).map(|v| raw[v * l + t]));
        }
    }
    let input = InputTensor::from(ArrayD::from_shape_vec(IxDyn(&[windows.len(), l, n]), x)?);
    let outputs = model.run(&[("x", input)])?;
    let forecast = outputs
        .get("forecast")
        .ok_or_else(|| anyhow::anyhow!("model {} has no `forecast` output", model.name()))?;
    let h = forecast.shape()[1];
    let mut scores = arrow_array::builder::Float32Builder::with_capacity(windows.len());
    let mut lists = ListBuilder::new(ListBuilder::new(Float32Builder::new()));
    for (i, w) in windows.iter().enumerate() {
        let f = forecast.index_axis(vigil_models::ndarray::Axis(0), i);
        let first_step: Vec<f32> = (0..n).map(|v| f[[0, v]]).collect();
        scores.append_option(
            next.get(i)
                .and_then(|s| s.as_deref())
                .and_then(|a| residual_score(a, &first_step, &w.stats.std)),
        );
        for v in 0..n {
            let series = lists.values();
            (0..h).for_each(|t| series.values().append_value(f[[t, v]]));
            series.append(true);
        }
        lists.append(true);
    }
    let DataType::Struct(fields) = forecast_type() else { unreachable!("a struct type") };
    let verdict = StructArray::try_new(
        fields,
        vec![Arc::new(scores.finish()), Arc::new(lists.finish())],
        None,
    )?;
    let base = to_record_batch(windows)?;
    let mut columns: Vec<ArrayRef> = base.columns().to_vec();
    columns.push(Arc::new(verdict));
    Ok(RecordBatch::try_new(scored_variate_schema(model.name()), columns)?)
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
