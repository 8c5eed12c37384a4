//! The Arrow table of HSTU sequences, one row per (entity, scored position).

use std::sync::{Arc, LazyLock};

use arrow_array::builder::{
    ListBuilder, StringBuilder, TimestampMicrosecondBuilder, UInt32Builder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{ArrowError, DataType, Field, Schema, SchemaRef, TimeUnit};

use super::SequenceSnapshot;

/// Column names, in schema order.
pub mod columns {
    /// The entity (user, host, IP).
    pub const ENTITY: &str = "entity";
    /// The scored position's time, µs UTC.
    pub const TS: &str = "ts";
    /// Action ids, left-padded with 0.
    pub const ACTION_IDS: &str = "action_ids";
    /// Object ids, left-padded with 0.
    pub const OBJECT_IDS: &str = "object_ids";
    /// Time buckets of `ts - event ts`, 0 in the padding.
    pub const TIME_BUCKETS: &str = "time_buckets";
    /// Real events before padding.
    pub const LENGTH: &str = "length";
}

fn list_of(dt: DataType) -> DataType {
    DataType::List(Arc::new(Field::new_list_field(dt, true)))
}

static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new(columns::ENTITY, DataType::Utf8, false),
        Field::new(
            columns::TS,
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
        Field::new(columns::ACTION_IDS, list_of(DataType::UInt32), false),
        Field::new(columns::OBJECT_IDS, list_of(DataType::UInt32), false),
        Field::new(columns::TIME_BUCKETS, list_of(DataType::UInt32), false),
        Field::new(columns::LENGTH, DataType::UInt32, false),
    ]))
});

/// The schema of [`to_record_batch`]'s output.
pub fn actions_schema() -> SchemaRef {
    SCHEMA.clone()
}

/// One row per snapshot, in the order given.
pub fn to_record_batch(snapshots: &[SequenceSnapshot]) -> Result<RecordBatch, ArrowError> {
    let n = snapshots.len();
    let mut entity = StringBuilder::new();
    let mut ts = TimestampMicrosecondBuilder::with_capacity(n).with_timezone("UTC");
    let mut actions = ListBuilder::new(UInt32Builder::new());
    let mut objects = ListBuilder::new(UInt32Builder::new());
    let mut buckets = ListBuilder::new(UInt32Builder::new());
    let mut length = UInt32Builder::with_capacity(n);
    for s in snapshots {
        entity.append_value(&s.entity);
        ts.append_value(s.ts);
        actions.values().append_slice(&s.action_ids);
        actions.append(true);
        objects.values().append_slice(&s.object_ids);
        objects.append(true);
        buckets.values().append_slice(&s.time_buckets);
        buckets.append(true);
        length.append_value(s.length);
    }
    let cols: Vec<ArrayRef> = vec![
        Arc::new(entity.finish()),
        Arc::new(ts.finish()),
        Arc::new(actions.finish()),
        Arc::new(objects.finish()),
        Arc::new(buckets.finish()),
        Arc::new(length.finish()),
    ];
    RecordBatch::try_new(actions_schema(), cols)
}

/// Reads rows of [`actions_schema`] back into snapshots (e.g. a `vigil tokenize actions`
/// Parquet file), as they are.
pub fn from_record_batch(batch: &RecordBatch) -> Result<Vec<SequenceSnapshot>, ArrowError> {
    use arrow_array::ListArray;
    use arrow_array::cast::AsArray;
    use arrow_array::types::{TimestampMicrosecondType, UInt32Type};

    let col = |name: &str| {
        batch.column_by_name(name).ok_or_else(|| {
            ArrowError::SchemaError(format!("not a tokenized actions table: no `{name}` column"))
        })
    };
    let wrong = |name: &str| ArrowError::SchemaError(format!("column `{name}` has the wrong type"));
    let entity =
        col(columns::ENTITY)?.as_string_opt::<i32>().ok_or_else(|| wrong(columns::ENTITY))?;
    let ts = col(columns::TS)?
        .as_primitive_opt::<TimestampMicrosecondType>()
        .ok_or_else(|| wrong(columns::TS))?;
    let length = col(columns::LENGTH)?
        .as_primitive_opt::<UInt32Type>()
        .ok_or_else(|| wrong(columns::LENGTH))?;
    let list = |name: &str| -> Result<&ListArray, ArrowError> {
        col(name)?.as_list_opt::<i32>().ok_or_else(|| wrong(name))
    };
    let (actions, objects, buckets) =
        (list(columns::ACTION_IDS)?, list(columns::OBJECT_IDS)?, list(columns::TIME_BUCKETS)?);
    let ids = |list: &ListArray, name: &str, i: usize| -> Result<Vec<u32>, ArrowError> {
        let v = list.value(i);
        Ok(v.as_primitive_opt::<UInt32Type>().ok_or_else(|| wrong(name))?.values().to_vec())
    };
    (0..batch.num_rows())
        .map(|i| {
            Ok(SequenceSnapshot {
                entity: entity.value(i).to_owned(),
                ts: ts.value(i),
                action_ids: ids(actions, columns::ACTION_IDS, i)?,
                object_ids: ids(objects, columns::OBJECT_IDS, i)?,
                time_buckets: ids(buckets, columns::TIME_BUCKETS, i)?,
                length: length.value(i),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use arrow_array::cast::AsArray;
    use arrow_array::types::UInt32Type;

    use super::*;

    #[test]
    fn batch_matches_schema_and_values() {
        let s = SequenceSnapshot {
            entity: "1.2.3.4".into(),
            ts: 5,
            action_ids: vec![0, 2, 3],
            object_ids: vec![0, 4, 1],
            time_buckets: vec![0, 22, 0],
            length: 2,
        };
        let b = to_record_batch(&[s.clone(), s.clone()]).unwrap();
        assert_eq!(b.schema(), actions_schema());
        assert_eq!(b.num_rows(), 2);
        let tb = b.column(4).as_list::<i32>().value(1);
        assert_eq!(tb.as_primitive::<UInt32Type>().values().to_vec(), vec![0, 22, 0]);
        assert_eq!(to_record_batch(&[]).unwrap().num_rows(), 0);
        assert_eq!(from_record_batch(&b).unwrap(), vec![s.clone(), s]);
    }
}
