//! Scored tables: the rows a model scored with its verdicts appended as one struct
//! column named after the model. The scoring itself (tokenize, run, decode) is the
//! model family's [`Scorer`] in `vigil-models`.

mod actions;

use std::sync::Arc;

use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use vigil_models::Scorer;

pub use actions::{events_schema, events_to_record_batch};

/// `base` plus one struct column named `model_name` of type `verdict`.
pub fn scored_schema(base: &Schema, model_name: &str, verdict: DataType) -> SchemaRef {
    let mut fields: Vec<Field> = base.fields().iter().map(|f| f.as_ref().clone()).collect();
    fields.push(Field::new(model_name, verdict, false));
    Arc::new(Schema::new(fields))
}

/// `base` (one row per item, in order) with `scorer`'s verdicts on `items` appended
/// as a struct column named after the model.
pub fn scored_batch<S: Scorer>(
    scorer: &S,
    base: &RecordBatch,
    items: &[S::Item],
) -> anyhow::Result<RecordBatch> {
    anyhow::ensure!(
        base.num_rows() == items.len(),
        "{} rows but {} items to score",
        base.num_rows(),
        items.len()
    );
    let verdicts = scorer.score(items)?;
    let column = scorer.verdict_column(&verdicts)?;
    let schema = scored_schema(&base.schema(), scorer.model().name(), scorer.verdict_type());
    let mut columns: Vec<ArrayRef> = base.columns().to_vec();
    columns.push(Arc::new(column));
    Ok(RecordBatch::try_new(schema, columns)?)
}
