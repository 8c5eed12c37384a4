//! Scoring tokenized records with a model from `onnx/artifacts/`, adding the
//! model's verdict to each row as one struct column named after the model.
//!
//! A classifier's struct has `label` (the predicted class), `score` (its
//! probability) and `probs` (every class's probability, in the manifest's label
//! order). A forecaster's has `forecast` (variate × horizon, de-normalised) and
//! `score`: the anomaly score of the step after the window, when the input has it.

use std::sync::Arc;

use arrow_array::builder::{Float32Builder, ListBuilder, StringBuilder};
use arrow_array::{ArrayRef, Float32Array, RecordBatch, StructArray};
use arrow_schema::{DataType, Field, Fields, Schema, SchemaRef};
use vigil_models::ndarray::{ArrayD, IxDyn};
use vigil_models::{InputTensor, Model};
use vigil_tokenizers::flow_window::{FlowWindow, flow_window_schema, windows_to_record_batch};
use vigil_tokenizers::variate::{VariateWindow, denormalise, to_record_batch, variate_schema};

/// The struct type of a classifier's verdict column.
fn verdict_type() -> DataType {
    DataType::Struct(Fields::from(vec![
        Field::new("label", DataType::Utf8, false),
        Field::new("score", DataType::Float32, false),
        Field::new(
            "probs",
            DataType::List(Arc::new(Field::new("item", DataType::Float32, true))),
            false,
        ),
    ]))
}

/// The schema of scored flow windows: the window columns plus `<model name>` (struct).
pub fn scored_flow_schema(model_name: &str) -> SchemaRef {
    let mut fields: Vec<Field> =
        flow_window_schema().fields().iter().map(|f| f.as_ref().clone()).collect();
    fields.push(Field::new(model_name, verdict_type(), false));
    Arc::new(Schema::new(fields))
}

/// Score FlowTransformer windows and return them as one record batch of
/// [`scored_flow_schema`]. The model takes `numeric` [B, W, n], `categorical`
/// [B, W, m] and `padding` [B] and gives `probs` [B, classes].
pub fn score_flow_windows(model: &Model, windows: &[FlowWindow]) -> anyhow::Result<RecordBatch> {
    let b = windows.len();
    let Some(first) = windows.first() else {
        anyhow::bail!("no windows to score");
    };
    let (w, n, m) = (first.len(), first.n_numeric, first.n_categorical);
    let mut numeric = Vec::with_capacity(b * w * n);
    let mut categorical = Vec::with_capacity(b * w * m);
    let mut padding = Vec::with_capacity(b);
    for win in windows {
        anyhow::ensure!(
            win.len() == w && win.n_numeric == n && win.n_categorical == m,
            "flow {}: window shape differs from the first window's",
            win.tuple.flow_id
        );
        numeric.extend_from_slice(&win.numeric);
        categorical.extend(win.categorical.iter().map(|&c| i64::from(c)));
        padding.push(i64::from(win.padding));
    }
    let inputs = [
        ("numeric", InputTensor::from(ArrayD::from_shape_vec(IxDyn(&[b, w, n]), numeric)?)),
        ("categorical", InputTensor::from(ArrayD::from_shape_vec(IxDyn(&[b, w, m]), categorical)?)),
        ("padding", InputTensor::from(ArrayD::from_shape_vec(IxDyn(&[b]), padding)?)),
    ];
    let outputs = model.run(&inputs)?;
    let preds = model.top_labels(&outputs, "probs")?;
    let probs = outputs.get("probs").expect("top_labels checked the output");

    let mut labels = StringBuilder::with_capacity(b, b * 8);
    let mut lists = ListBuilder::new(Float32Builder::new());
    for (p, row) in preds.iter().zip(probs.outer_iter()) {
        labels.append_value(&p.label);
        row.iter().for_each(|v| lists.values().append_value(*v));
        lists.append(true);
    }
    let scores = Float32Array::from(preds.iter().map(|p| p.score).collect::<Vec<_>>());
    let DataType::Struct(fields) = verdict_type() else { unreachable!("a struct type") };
    let verdict = StructArray::try_new(
        fields,
        vec![Arc::new(labels.finish()), Arc::new(scores), Arc::new(lists.finish())],
        None,
    )?;
    let base = windows_to_record_batch(windows)?;
    let mut columns: Vec<ArrayRef> = base.columns().to_vec();
    columns.push(Arc::new(verdict));
    Ok(RecordBatch::try_new(scored_flow_schema(model.name()), columns)?)
}

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
