//! The Arrow table of netFound tokens, one row per flow.
//!
//! The columns follow `tokenizer_helper` in the reference's `Tokenize.py`
//! (lines 391-411): `flow_duration u64, burst_tokens list<list<u16>>,
//! directions list<bool>, bytes list<u32>, iats list<u64>, counts list<u32>,
//! protocol u16`, then our `flow_id u64` and `community_id utf8` so scores
//! join back to flows. The reference's `labels` column is left to the
//! training side.
//!
//! `burst_tokens` is widened to `list<list<u32>>`: the reference stores raw
//! 16-bit words and shifts them by +1 (and prepends CLS = 65 537) only in its
//! Python tokenizer, while ours stores the ids the model reads, which go up to
//! 65 540 and do not fit in `u16`.

use std::sync::{Arc, LazyLock};

use arrow_array::builder::{
    BooleanBuilder, ListBuilder, StringBuilder, UInt16Builder, UInt32Builder, UInt64Builder,
};
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::{ArrowError, DataType, Field, Schema, SchemaRef};

use super::FlowTokens;

/// Column names, in schema order.
pub mod columns {
    /// Flow duration in microseconds.
    pub const FLOW_DURATION: &str = "flow_duration";
    /// Token ids, one list per burst.
    pub const BURST_TOKENS: &str = "burst_tokens";
    /// Burst directions (true = forward).
    pub const DIRECTIONS: &str = "directions";
    /// Burst IP bytes.
    pub const BYTES: &str = "bytes";
    /// Burst inter-arrival times in microseconds.
    pub const IATS: &str = "iats";
    /// Burst packet counts.
    pub const COUNTS: &str = "counts";
    /// IP protocol number.
    pub const PROTOCOL: &str = "protocol";
    /// The flow table's flow id.
    pub const FLOW_ID: &str = "flow_id";
    /// The flow's Community ID.
    pub const COMMUNITY_ID: &str = "community_id";
}

fn list_of(dt: DataType) -> DataType {
    DataType::List(Arc::new(Field::new_list_field(dt, true)))
}

static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new(columns::FLOW_DURATION, DataType::UInt64, false),
        Field::new(columns::BURST_TOKENS, list_of(list_of(DataType::UInt32)), false),
        Field::new(columns::DIRECTIONS, list_of(DataType::Boolean), false),
        Field::new(columns::BYTES, list_of(DataType::UInt32), false),
        Field::new(columns::IATS, list_of(DataType::UInt64), false),
        Field::new(columns::COUNTS, list_of(DataType::UInt32), false),
        Field::new(columns::PROTOCOL, DataType::UInt16, false),
        Field::new(columns::FLOW_ID, DataType::UInt64, false),
        Field::new(columns::COMMUNITY_ID, DataType::Utf8, false),
    ]))
});

/// The schema of [`to_record_batch`]'s output.
pub fn netfound_schema() -> SchemaRef {
    SCHEMA.clone()
}

/// One row per flow, in the order given.
pub fn to_record_batch(flows: &[FlowTokens]) -> Result<RecordBatch, ArrowError> {
    let n = flows.len();
    let mut duration = UInt64Builder::with_capacity(n);
    let mut tokens = ListBuilder::new(ListBuilder::new(UInt32Builder::new()));
    let mut directions = ListBuilder::new(BooleanBuilder::new());
    let mut bytes = ListBuilder::new(UInt32Builder::new());
    let mut iats = ListBuilder::new(UInt64Builder::new());
    let mut counts = ListBuilder::new(UInt32Builder::new());
    let mut protocol = UInt16Builder::with_capacity(n);
    let mut flow_id = UInt64Builder::with_capacity(n);
    let mut community_id = StringBuilder::new();
    for f in flows {
        duration.append_value(f.flow_duration_us);
        for b in &f.bursts {
            tokens.values().values().append_slice(&b.tokens);
            tokens.values().append(true);
            directions.values().append_value(b.direction);
            bytes.values().append_value(b.bytes);
            iats.values().append_value(b.iat_us);
            counts.values().append_value(b.packets);
        }
        tokens.append(true);
        directions.append(true);
        bytes.append(true);
        iats.append(true);
        counts.append(true);
        protocol.append_value(u16::from(f.protocol));
        flow_id.append_value(f.flow_id);
        community_id.append_value(&f.community_id);
    }
    let cols: Vec<ArrayRef> = vec![
        Arc::new(duration.finish()),
        Arc::new(tokens.finish()),
        Arc::new(directions.finish()),
        Arc::new(bytes.finish()),
        Arc::new(iats.finish()),
        Arc::new(counts.finish()),
        Arc::new(protocol.finish()),
        Arc::new(flow_id.finish()),
        Arc::new(community_id.finish()),
    ];
    RecordBatch::try_new(netfound_schema(), cols)
}

/// Read rows of [`netfound_schema`] back into flows (e.g. a `vigil tokenize netfound`
/// Parquet file). Burst start times are not stored, so they read as 0, and every row
/// reads as [`EmitReason::Closed`](super::EmitReason::Closed).
pub fn from_record_batch(batch: &RecordBatch) -> Result<Vec<FlowTokens>, ArrowError> {
    use arrow_array::cast::AsArray;
    use arrow_array::types::{UInt16Type, UInt32Type, UInt64Type};

    let col = |name: &str| {
        batch.column_by_name(name).ok_or_else(|| {
            ArrowError::SchemaError(format!("not a netFound token table: no `{name}` column"))
        })
    };
    let list = |name: &str| {
        col(name)?
            .as_list_opt::<i32>()
            .cloned()
            .ok_or_else(|| ArrowError::SchemaError(format!("column `{name}` is not a list")))
    };
    let prim_err =
        |name: &str| ArrowError::SchemaError(format!("column `{name}` has the wrong type"));
    let duration = col(columns::FLOW_DURATION)?
        .as_primitive_opt::<UInt64Type>()
        .ok_or_else(|| prim_err(columns::FLOW_DURATION))?;
    let protocol = col(columns::PROTOCOL)?
        .as_primitive_opt::<UInt16Type>()
        .ok_or_else(|| prim_err(columns::PROTOCOL))?;
    let flow_id = col(columns::FLOW_ID)?
        .as_primitive_opt::<UInt64Type>()
        .ok_or_else(|| prim_err(columns::FLOW_ID))?;
    let community_id = col(columns::COMMUNITY_ID)?
        .as_string_opt::<i32>()
        .ok_or_else(|| prim_err(columns::COMMUNITY_ID))?;
    let (tokens, directions) = (list(columns::BURST_TOKENS)?, list(columns::DIRECTIONS)?);
    let (bytes, iats, counts) =
        (list(columns::BYTES)?, list(columns::IATS)?, list(columns::COUNTS)?);

    let mut flows = Vec::with_capacity(batch.num_rows());
    for row in 0..batch.num_rows() {
        let toks = tokens.value(row);
        let toks = toks.as_list_opt::<i32>().ok_or_else(|| prim_err(columns::BURST_TOKENS))?;
        let dirs = directions.value(row);
        let dirs = dirs.as_boolean_opt().ok_or_else(|| prim_err(columns::DIRECTIONS))?;
        let (b, i, c) = (bytes.value(row), iats.value(row), counts.value(row));
        let b = b.as_primitive_opt::<UInt32Type>().ok_or_else(|| prim_err(columns::BYTES))?;
        let i = i.as_primitive_opt::<UInt64Type>().ok_or_else(|| prim_err(columns::IATS))?;
        let c = c.as_primitive_opt::<UInt32Type>().ok_or_else(|| prim_err(columns::COUNTS))?;
        let n = toks.len();
        if [dirs.len(), b.len(), i.len(), c.len()].iter().any(|&l| l != n) {
            return Err(ArrowError::InvalidArgumentError(format!(
                "row {row}: the burst lists have different lengths"
            )));
        }
        let bursts = (0..n)
            .map(|k| {
                let t = toks.value(k);
                let t = t
                    .as_primitive_opt::<UInt32Type>()
                    .ok_or_else(|| prim_err(columns::BURST_TOKENS))?;
                Ok(super::Burst {
                    tokens: t.values().to_vec(),
                    direction: dirs.value(k),
                    bytes: b.value(k),
                    iat_us: i.value(k),
                    packets: c.value(k),
                    ts_start: 0,
                })
            })
            .collect::<Result<Vec<_>, ArrowError>>()?;
        flows.push(FlowTokens {
            flow_id: flow_id.value(row),
            community_id: community_id.value(row).to_string(),
            protocol: u8::try_from(protocol.value(row)).map_err(|_| {
                ArrowError::InvalidArgumentError(format!(
                    "row {row}: protocol {} is not an IP protocol number",
                    protocol.value(row)
                ))
            })?,
            flow_duration_us: duration.value(row),
            bursts,
            reason: super::EmitReason::Closed,
        });
    }
    Ok(flows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netfound::{Burst, EmitReason};
    use arrow_array::cast::AsArray;
    use arrow_array::types::UInt32Type;

    #[test]
    fn empty_and_one_row() {
        assert_eq!(to_record_batch(&[]).unwrap().num_rows(), 0);
        let f = FlowTokens {
            flow_id: 7,
            community_id: "1:abc".into(),
            protocol: 17,
            flow_duration_us: 5,
            bursts: vec![Burst {
                tokens: vec![65537, 1, 2],
                direction: true,
                bytes: 40,
                iat_us: 0,
                packets: 1,
                ts_start: 0,
            }],
            reason: EmitReason::Closed,
        };
        let b = to_record_batch(&[f]).unwrap();
        assert_eq!(b.schema(), netfound_schema());
        let toks = b.column(1).as_list::<i32>().value(0);
        let first = toks.as_list::<i32>().value(0);
        assert_eq!(first.as_primitive::<UInt32Type>().values(), &[65537, 1, 2]);
    }

    #[test]
    fn rows_read_back_as_written() {
        let f = FlowTokens {
            flow_id: 9,
            community_id: "1:xyz".into(),
            protocol: 6,
            flow_duration_us: 1234,
            bursts: vec![
                Burst {
                    tokens: vec![65537, 5, 6],
                    direction: true,
                    bytes: 80,
                    iat_us: 0,
                    packets: 2,
                    ts_start: 0,
                },
                Burst {
                    tokens: vec![65537, 7],
                    direction: false,
                    bytes: 40,
                    iat_us: 9,
                    packets: 1,
                    ts_start: 0,
                },
            ],
            reason: EmitReason::Closed,
        };
        let batch = to_record_batch(std::slice::from_ref(&f)).unwrap();
        assert_eq!(from_record_batch(&batch).unwrap(), vec![f]);
        let other = RecordBatch::try_new(
            Arc::new(Schema::new(vec![Field::new("x", DataType::UInt64, false)])),
            vec![Arc::new(arrow_array::UInt64Array::from(vec![1u64]))],
        )
        .unwrap();
        let err = from_record_batch(&other).unwrap_err().to_string();
        assert!(err.contains("no `flow_duration` column"), "{err}");
    }
}
