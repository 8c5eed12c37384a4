//! The verdict column a scoring transform adds to the rows it scores.
//!
//! In the store a model's verdict is one struct column named after the model (its
//! manifest name with non-identifier characters as `_`, so SQL needs no quoting:
//! `flow_transformer_cicids2017.label`). Fields: `label`, `score`, any extra fields
//! of the family (`malicious`, `embedding`), and `model_version`. Rows the model did
//! not score (no tokens, a protocol it has no fields for) have a null verdict.

use std::sync::Arc;

use arrow_array::{Array, ArrayRef, RecordBatch, StringArray, StructArray, UInt32Array};
use arrow_schema::{DataType, Field, Fields, Schema};
use datafusion::arrow::buffer::NullBuffer;
use datafusion::arrow::compute::take;
use vigil_models::Model;

/// The column name of a model's verdict.
pub fn verdict_column_name(model: &str) -> String {
    let mut name: String = model
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '_' { c.to_ascii_lowercase() } else { '_' })
        .collect();
    if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
        name.insert(0, 'm');
    }
    name
}

/// How a model's verdict column is made: which fields of the scored struct are kept
/// (their types fixed at start-up, so every batch and file agrees), and the version.
#[derive(Debug, Clone)]
pub struct VerdictSpec {
    /// The column name ([`verdict_column_name`]).
    pub column: String,
    fields: Fields,
    version: String,
}

impl VerdictSpec {
    /// The spec for `model`, keeping the `keep` fields of its scorer's verdict struct
    /// type `verdict` that exist.
    pub fn new(model: &Model, verdict: &DataType, keep: &[&str]) -> anyhow::Result<VerdictSpec> {
        let DataType::Struct(all) = verdict else {
            anyhow::bail!("the verdict type is not a struct");
        };
        let mut fields: Vec<Field> = keep
            .iter()
            .filter_map(|k| all.find(k).map(|(_, f)| f.as_ref().clone().with_nullable(true)))
            .collect();
        fields.push(Field::new("model_version", DataType::Utf8, true));
        Ok(VerdictSpec {
            column: verdict_column_name(model.name()),
            fields: Fields::from(fields),
            version: model.manifest().version.clone(),
        })
    }

    /// The verdict column for a batch: `positions[i]` is the row of `scored` (one row
    /// per scored item) that row `i` got, if any; without `scored` every row is null.
    pub fn build(
        &self,
        scored: Option<&StructArray>,
        positions: &[Option<u32>],
    ) -> anyhow::Result<StructArray> {
        let Some(scored) = scored else {
            return Ok(StructArray::new_null(self.fields.clone(), positions.len()));
        };
        let indices = UInt32Array::from(positions.to_vec());
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(self.fields.len());
        for f in self.fields.iter() {
            if f.name() == "model_version" {
                let v = positions.iter().map(|p| p.map(|_| self.version.as_str()));
                columns.push(Arc::new(StringArray::from(v.collect::<Vec<_>>())));
                continue;
            }
            let col = scored
                .column_by_name(f.name())
                .ok_or_else(|| anyhow::anyhow!("the model's output has no `{}` field", f.name()))?;
            columns.push(take(col.as_ref(), &indices, None)?);
        }
        let validity: Option<NullBuffer> = positions
            .iter()
            .any(Option::is_none)
            .then(|| positions.iter().map(Option::is_some).collect::<Vec<bool>>().into());
        Ok(StructArray::try_new(self.fields.clone(), columns, validity)?)
    }
}

/// `batch` with `column` appended as `name` (replacing a column of that name).
pub fn with_column(
    batch: &RecordBatch,
    name: &str,
    column: ArrayRef,
) -> anyhow::Result<RecordBatch> {
    let schema = batch.schema();
    let mut fields: Vec<Field> = Vec::with_capacity(schema.fields().len() + 1);
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len() + 1);
    for (f, c) in schema.fields().iter().zip(batch.columns()) {
        if f.name() != name {
            fields.push(f.as_ref().clone());
            columns.push(c.clone());
        }
    }
    fields.push(Field::new(name, column.data_type().clone(), true));
    columns.push(column);
    Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)?)
}

#[cfg(test)]
mod tests {
    use arrow_array::{Float32Array, cast::AsArray, types::Float32Type};

    use super::*;

    #[test]
    fn names_are_sql_identifiers() {
        assert_eq!(
            verdict_column_name("flow-transformer-cicids2017"),
            "flow_transformer_cicids2017"
        );
        assert_eq!(verdict_column_name("netfound"), "netfound");
        assert_eq!(verdict_column_name("3d"), "m3d");
    }

    #[test]
    fn verdicts_scatter_to_their_rows_with_nulls_between() {
        let fields = Fields::from(vec![
            Field::new("label", DataType::Utf8, false),
            Field::new("score", DataType::Float32, false),
            Field::new("model_version", DataType::Utf8, true),
        ]);
        let spec = VerdictSpec { column: "m".into(), fields, version: "1.0".into() };
        let scored = StructArray::new(
            Fields::from(vec![
                Field::new("label", DataType::Utf8, false),
                Field::new("score", DataType::Float32, false),
                Field::new("probs", DataType::Utf8, false),
            ]),
            vec![
                Arc::new(StringArray::from(vec!["a", "b"])) as ArrayRef,
                Arc::new(Float32Array::from(vec![0.5, 0.25])),
                Arc::new(StringArray::from(vec!["x", "y"])),
            ],
            None,
        );
        let v = spec.build(Some(&scored), &[Some(1), None, Some(0)]).unwrap();
        assert_eq!(v.len(), 3);
        assert_eq!(v.num_columns(), 3, "label, score, model_version");
        assert!(v.is_null(1) && v.is_valid(0));
        assert_eq!(v.column(0).as_string::<i32>().value(0), "b");
        assert_eq!(v.column(1).as_primitive::<Float32Type>().value(2), 0.5);
        assert_eq!(v.column(2).as_string::<i32>().value(2), "1.0");
        // Nothing scored: a null struct of the same type.
        let none = spec.build(None, &[None, None]).unwrap();
        assert_eq!((none.len(), none.null_count()), (2, 2));
        assert_eq!(none.data_type(), v.data_type());
    }
}
