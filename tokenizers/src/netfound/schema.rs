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
use arrow_array::{ArrayRef, RecordBatch};
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
}
