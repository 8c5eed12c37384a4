//! Arrow building blocks of verdict columns, shared by the scorers.

use std::sync::Arc;

use arrow_array::builder::{Float32Builder, ListBuilder, StringBuilder, StructBuilder};
use arrow_array::{ArrayRef, Float32Array};
use arrow_schema::{DataType, Field, Fields};
use ndarray::ArrayD;

use crate::decode::Prediction;
use crate::error::{Error, Result};
use crate::model::{Model, Outputs};

/// A classifier's verdict on one item: the best class, its probability and every
/// class's probability (in the manifest's label order).
#[derive(Debug, Clone, PartialEq)]
pub struct ClassVerdict {
    /// The predicted class.
    pub label: String,
    /// Its probability.
    pub score: f32,
    /// Every class's probability.
    pub probs: Vec<f32>,
}

impl ClassVerdict {
    /// The verdicts of classifier output `probs` (`[batch, classes]`).
    pub fn decode_all(model: &Model, outputs: &Outputs) -> Result<Vec<ClassVerdict>> {
        let preds = model.top_labels(outputs, "probs")?;
        let probs = outputs.get("probs").expect("top_labels checked the output");
        Ok(preds
            .into_iter()
            .zip(probs.outer_iter())
            .map(|(Prediction { label, score, .. }, row)| ClassVerdict {
                label,
                score,
                probs: row.iter().copied().collect(),
            })
            .collect())
    }

    /// The struct fields `label`, `score`, `probs`.
    pub(super) fn fields() -> Vec<Field> {
        vec![
            Field::new("label", DataType::Utf8, false),
            Field::new("score", DataType::Float32, false),
            Field::new("probs", f32_list(), false),
        ]
    }

    /// The columns of [`ClassVerdict::fields`].
    pub(super) fn columns<'a>(
        verdicts: impl ExactSizeIterator<Item = &'a ClassVerdict>,
    ) -> Vec<ArrayRef> {
        let n = verdicts.len();
        let mut labels = StringBuilder::with_capacity(n, n * 8);
        let mut scores = Vec::with_capacity(n);
        let mut probs = ListBuilder::new(Float32Builder::new());
        for v in verdicts {
            labels.append_value(&v.label);
            scores.push(v.score);
            probs.values().append_slice(&v.probs);
            probs.append(true);
        }
        vec![
            Arc::new(labels.finish()),
            Arc::new(Float32Array::from(scores)),
            Arc::new(probs.finish()),
        ]
    }
}

/// `list<f32>` (items nullable, as Arrow's list builders make them).
pub(super) fn f32_list() -> DataType {
    DataType::List(Arc::new(Field::new("item", DataType::Float32, true)))
}

/// The fields of a (name, value) pair: `a` text, `b` f32.
fn pair_fields(a: &str, b: &str) -> Fields {
    Fields::from(vec![Field::new(a, DataType::Utf8, true), Field::new(b, DataType::Float32, true)])
}

/// `list<struct<a: utf8, b: f32>>`: named values per row (evidence: masked parts and
/// their weight, expected tokens and their probability).
pub(crate) fn pair_list_type(a: &str, b: &str) -> DataType {
    DataType::List(Arc::new(Field::new("item", DataType::Struct(pair_fields(a, b)), true)))
}

/// A column of [`pair_list_type`], one list per row; a `None` row is null.
pub(crate) fn pair_list_column<'a, R>(
    a: &str,
    b: &str,
    rows: impl Iterator<Item = Option<R>>,
) -> ArrayRef
where
    R: IntoIterator<Item = (&'a str, f32)>,
{
    let values = StructBuilder::new(
        pair_fields(a, b),
        vec![Box::new(StringBuilder::new()), Box::new(Float32Builder::new())],
    );
    let item = Field::new("item", DataType::Struct(pair_fields(a, b)), true);
    let mut list = ListBuilder::new(values).with_field(Arc::new(item));
    for row in rows {
        let Some(pairs) = row else {
            list.append(false);
            continue;
        };
        let s = list.values();
        for (name, value) in pairs {
            s.field_builder::<StringBuilder>(0).expect("a text field").append_value(name);
            s.field_builder::<Float32Builder>(1).expect("an f32 field").append_value(value);
            s.append(true);
        }
        list.append(true);
    }
    Arc::new(list.finish())
}

/// A `list<f32>` column of rows.
pub(super) fn rows_to_list<'a>(rows: impl Iterator<Item = &'a [f32]>) -> ArrayRef {
    let mut lists = ListBuilder::new(Float32Builder::new());
    for row in rows {
        lists.values().append_slice(row);
        lists.append(true);
    }
    Arc::new(lists.finish())
}

/// Output `name`, which the manifest declares.
pub(super) fn output<'a>(
    outputs: &'a Outputs,
    model: &Model,
    name: &str,
) -> Result<&'a ArrayD<f32>> {
    outputs.get(name).ok_or_else(|| Error::Decode {
        output: name.to_string(),
        message: format!("model {} gave no `{name}`", model.name()),
    })
}
