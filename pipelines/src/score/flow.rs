//! FlowTransformer verdicts: a classifier's struct has `label` (the predicted class),
//! `score` (its probability) and `probs` (every class's probability, in the
//! manifest's label order).

use std::sync::Arc;

use arrow_array::builder::{Float32Builder, ListBuilder, StringBuilder};
use arrow_array::{ArrayRef, Float32Array, RecordBatch, StructArray};
use arrow_schema::{DataType, Field, Fields, Schema, SchemaRef};
use vigil_models::ndarray::{ArrayD, IxDyn};
use vigil_models::{InputTensor, Model};
use vigil_tokenizers::flow_window::{FlowWindow, flow_window_schema, windows_to_record_batch};

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
