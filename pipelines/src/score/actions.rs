//! Raw action events as an Arrow table, for `vigil score actions` over a log.

use std::sync::Arc;

use arrow_array::builder::{StringBuilder, TimestampMicrosecondBuilder};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use vigil_ingest::actions::ActionEvent;
use vigil_tokenizers::actions::columns;

/// The columns of raw action events: `entity`, `ts` (µs UTC), `action`, `object`.
pub fn events_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new(columns::ENTITY, DataType::Utf8, false),
        Field::new(
            columns::TS,
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
        Field::new("action", DataType::Utf8, false),
        Field::new("object", DataType::Utf8, false),
    ]))
}

/// Action events as one batch of [`events_schema`].
pub fn events_to_record_batch(events: &[ActionEvent]) -> anyhow::Result<RecordBatch> {
    let mut entity = StringBuilder::new();
    let mut ts = TimestampMicrosecondBuilder::with_capacity(events.len()).with_timezone("UTC");
    let mut action = StringBuilder::new();
    let mut object = StringBuilder::new();
    for e in events {
        entity.append_value(&e.entity);
        ts.append_value(e.ts);
        action.append_value(&e.action);
        object.append_value(&e.object);
    }
    let cols: Vec<ArrayRef> = vec![
        Arc::new(entity.finish()),
        Arc::new(ts.finish()),
        Arc::new(action.finish()),
        Arc::new(object.finish()),
    ];
    Ok(RecordBatch::try_new(events_schema(), cols)?)
}

#[cfg(test)]
mod tests {
    use arrow_array::cast::AsArray;

    use super::*;

    #[test]
    fn events_are_one_row_each() {
        let ev = ActionEvent {
            entity: "10.0.0.1".into(),
            ts: 5,
            action: "GET 2xx".into(),
            object: "/".into(),
        };
        let b = events_to_record_batch(&[ev.clone(), ev]).unwrap();
        assert_eq!(b.num_rows(), 2);
        assert_eq!(b.schema(), events_schema());
        assert_eq!(b.column(3).as_string::<i32>().value(1), "/");
    }
}
