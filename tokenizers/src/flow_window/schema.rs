//! The Arrow table of flow windows, one row per scored flow.
//!
//! Columns: the scored flow's `flow_id u64`, `ts` (timestamp µs UTC, null when
//! the source had none), `src_ip`/`dst_ip` utf8, `src_port`/`dst_port` u16,
//! `proto` u8 (null when unknown), `label` utf8 (null when unlabelled),
//! `padding u32` (all-zero rows at the window's start), then the window:
//! `numeric list<list<f32>>` and `categorical list<list<u32>>`, each with
//! exactly W inner lists (oldest first, the scored flow last) of the
//! preprocessor's features in its order. Feature names are not repeated per
//! row: they are in the preprocessor JSON of the model manifest.

use std::sync::{Arc, LazyLock};

use arrow_array::builder::{
    Float32Builder, ListBuilder, StringBuilder, TimestampMicrosecondBuilder, UInt8Builder,
    UInt16Builder, UInt32Builder, UInt64Builder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{ArrowError, DataType, Field, Schema, SchemaRef, TimeUnit};

use super::FlowWindow;

/// Column names, in schema order.
pub mod columns {
    /// The scored flow's id.
    pub const FLOW_ID: &str = "flow_id";
    /// Its start time.
    pub const TS: &str = "ts";
    /// Source address.
    pub const SRC_IP: &str = "src_ip";
    /// Destination address.
    pub const DST_IP: &str = "dst_ip";
    /// Source port.
    pub const SRC_PORT: &str = "src_port";
    /// Destination port.
    pub const DST_PORT: &str = "dst_port";
    /// IP protocol.
    pub const PROTO: &str = "proto";
    /// Ground-truth label.
    pub const LABEL: &str = "label";
    /// Padding rows at the window's start.
    pub const PADDING: &str = "padding";
    /// Window of encoded numeric features.
    pub const NUMERIC: &str = "numeric";
    /// Window of categorical ids.
    pub const CATEGORICAL: &str = "categorical";
}

fn list_of(dt: DataType) -> DataType {
    DataType::List(Arc::new(Field::new_list_field(dt, true)))
}

static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    use columns::*;
    Arc::new(Schema::new(vec![
        Field::new(FLOW_ID, DataType::UInt64, false),
        Field::new(TS, DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())), true),
        Field::new(SRC_IP, DataType::Utf8, true),
        Field::new(DST_IP, DataType::Utf8, true),
        Field::new(SRC_PORT, DataType::UInt16, true),
        Field::new(DST_PORT, DataType::UInt16, true),
        Field::new(PROTO, DataType::UInt8, true),
        Field::new(LABEL, DataType::Utf8, true),
        Field::new(PADDING, DataType::UInt32, false),
        Field::new(NUMERIC, list_of(list_of(DataType::Float32)), false),
        Field::new(CATEGORICAL, list_of(list_of(DataType::UInt32)), false),
    ]))
});

/// The schema of [`windows_to_record_batch`]'s output.
pub fn flow_window_schema() -> SchemaRef {
    SCHEMA.clone()
}

/// One row per window, in the order given.
pub fn windows_to_record_batch(windows: &[FlowWindow]) -> Result<RecordBatch, ArrowError> {
    let n = windows.len();
    let mut flow_id = UInt64Builder::with_capacity(n);
    let mut ts = TimestampMicrosecondBuilder::with_capacity(n).with_timezone("UTC");
    let mut src_ip = StringBuilder::new();
    let mut dst_ip = StringBuilder::new();
    let mut src_port = UInt16Builder::with_capacity(n);
    let mut dst_port = UInt16Builder::with_capacity(n);
    let mut proto = UInt8Builder::with_capacity(n);
    let mut label = StringBuilder::new();
    let mut padding = UInt32Builder::with_capacity(n);
    let mut numeric = ListBuilder::new(ListBuilder::new(Float32Builder::new()));
    let mut categorical = ListBuilder::new(ListBuilder::new(UInt32Builder::new()));
    for w in windows {
        let t = &w.tuple;
        flow_id.append_value(t.flow_id);
        ts.append_option(t.ts_us);
        src_ip.append_option(t.src_addr.map(|a| a.to_string()));
        dst_ip.append_option(t.dst_addr.map(|a| a.to_string()));
        src_port.append_option(t.src_port);
        dst_port.append_option(t.dst_port);
        proto.append_option(t.proto);
        label.append_option(w.label.as_deref());
        padding.append_value(w.padding);
        for i in 0..w.len() {
            numeric.values().values().append_slice(w.numeric_row(i));
            numeric.values().append(true);
            categorical.values().values().append_slice(w.categorical_row(i));
            categorical.values().append(true);
        }
        numeric.append(true);
        categorical.append(true);
    }
    let cols: Vec<ArrayRef> = vec![
        Arc::new(flow_id.finish()),
        Arc::new(ts.finish()),
        Arc::new(src_ip.finish()),
        Arc::new(dst_ip.finish()),
        Arc::new(src_port.finish()),
        Arc::new(dst_port.finish()),
        Arc::new(proto.finish()),
        Arc::new(label.finish()),
        Arc::new(padding.finish()),
        Arc::new(numeric.finish()),
        Arc::new(categorical.finish()),
    ];
    RecordBatch::try_new(flow_window_schema(), cols)
}
