//! Record batches of the store's tables built from reader output.

use std::sync::Arc;

use arrow_array::builder::{
    BinaryBuilder, Float32Builder, Float64Builder, StringBuilder, TimestampMicrosecondBuilder,
    UInt32Builder,
};
use arrow_array::{ArrayRef, RecordBatch};
use vigil_ingest::DeadLetter;
use vigil_ingest::actions::ActionEvent;
use vigil_ingest::metrics::MetricPoint;

use crate::store::Table;

fn ts_builder(n: usize) -> TimestampMicrosecondBuilder {
    TimestampMicrosecondBuilder::with_capacity(n).with_timezone("UTC")
}

fn repeated(value: &str, n: usize) -> ArrayRef {
    let mut b = StringBuilder::with_capacity(n, n * value.len());
    (0..n).for_each(|_| b.append_value(value));
    Arc::new(b.finish())
}

pub use vigil_ingest::time::now_us;

/// `dead_letters` rows, stamped with the time they were found.
pub fn dead_letters_batch(letters: &[DeadLetter], sensor: &str) -> RecordBatch {
    let n = letters.len();
    let mut ts = ts_builder(n);
    let (mut source, mut position, mut error) =
        (StringBuilder::new(), StringBuilder::new(), StringBuilder::new());
    let mut raw = BinaryBuilder::new();
    let now = now_us();
    for d in letters {
        ts.append_value(now);
        source.append_value(&d.source);
        position.append_value(d.position.to_string());
        error.append_value(&d.reason);
        raw.append_value(&d.raw);
    }
    let cols: Vec<ArrayRef> = vec![
        Arc::new(ts.finish()),
        Arc::new(source.finish()),
        Arc::new(position.finish()),
        Arc::new(error.finish()),
        Arc::new(raw.finish()),
        repeated(sensor, n),
    ];
    RecordBatch::try_new(Table::DeadLetters.base_schema(), cols).expect("the dead_letters schema")
}

/// `metrics` rows of raw points (not yet scored).
pub fn metrics_batch(points: &[MetricPoint], source: &str, sensor: &str) -> RecordBatch {
    let n = points.len();
    let mut series = StringBuilder::new();
    let mut ts = ts_builder(n);
    let mut value = Float64Builder::with_capacity(n);
    for p in points {
        series.append_value(&p.series);
        ts.append_value(p.ts);
        value.append_option(p.value.is_finite().then_some(p.value));
    }
    let nulls_f64 = Arc::new(Float64Builder::with_capacity(n).finish_nulls(n));
    let nulls_f32 = Arc::new(Float32Builder::with_capacity(n).finish_nulls(n));
    let nulls_str = Arc::new(StringBuilder::new().finish_nulls(n));
    let cols: Vec<ArrayRef> = vec![
        Arc::new(series.finish()),
        Arc::new(ts.finish()),
        Arc::new(value.finish()),
        nulls_f64,
        nulls_f32,
        nulls_str,
        repeated(source, n),
        repeated(sensor, n),
    ];
    RecordBatch::try_new(Table::Metrics.base_schema(), cols).expect("the metrics schema")
}

/// `actions` rows (not yet scored).
pub fn actions_batch(events: &[ActionEvent], source: &str, sensor: &str) -> RecordBatch {
    let n = events.len();
    let (mut entity, mut action, mut object) =
        (StringBuilder::new(), StringBuilder::new(), StringBuilder::new());
    let mut ts = ts_builder(n);
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
        Arc::new(Float32Builder::new().finish_nulls(n)),
        Arc::new(UInt32Builder::new().finish_nulls(n)),
        Arc::new(StringBuilder::new().finish_nulls(n)),
        Arc::new(StringBuilder::new().finish_nulls(n)),
        repeated(source, n),
        repeated(sensor, n),
    ];
    RecordBatch::try_new(Table::Actions.base_schema(), cols).expect("the actions schema")
}

/// Builders that can finish as an all-null array of a given length.
trait FinishNulls {
    type Out;
    fn finish_nulls(self, n: usize) -> Self::Out;
}

macro_rules! finish_nulls {
    ($($b:ty => $a:ty),*) => {$(
        impl FinishNulls for $b {
            type Out = $a;
            fn finish_nulls(mut self, n: usize) -> $a {
                self.append_nulls(n);
                self.finish()
            }
        }
    )*};
}
finish_nulls!(
    Float32Builder => arrow_array::Float32Array,
    Float64Builder => arrow_array::Float64Array,
    UInt32Builder => arrow_array::UInt32Array,
    StringBuilder => arrow_array::StringArray
);

/// The `bursts` column of flow rows: each flow's netFound bursts in order (`forward`:
/// sent by the internal side, else by the originator; `packets` and `bytes` kept;
/// `iat_us` since the previous burst of its direction started; `ts`: its first
/// packet), null for a row without tokens.
pub fn bursts_column(tokens: &[Option<vigil_tokenizers::FlowTokens>]) -> ArrayRef {
    use arrow_array::builder::{BooleanBuilder, ListBuilder, StructBuilder, UInt64Builder};
    let fields = bursts_fields();
    let values = StructBuilder::new(
        fields.clone(),
        vec![
            Box::new(BooleanBuilder::new()),
            Box::new(UInt32Builder::new()),
            Box::new(UInt32Builder::new()),
            Box::new(UInt64Builder::new()),
            Box::new(ts_builder(0)),
        ],
    );
    let item = arrow_schema::Field::new("item", arrow_schema::DataType::Struct(fields), true);
    let mut list = ListBuilder::new(values).with_field(Arc::new(item));
    for flow in tokens {
        let Some(flow) = flow else {
            list.append(false);
            continue;
        };
        let s = list.values();
        for b in &flow.bursts {
            s.field_builder::<BooleanBuilder>(0).expect("bool").append_value(b.direction);
            s.field_builder::<UInt32Builder>(1).expect("u32").append_value(b.packets);
            s.field_builder::<UInt32Builder>(2).expect("u32").append_value(b.bytes);
            s.field_builder::<UInt64Builder>(3).expect("u64").append_value(b.iat_us);
            s.field_builder::<TimestampMicrosecondBuilder>(4).expect("ts").append_value(b.ts_start);
            s.append(true);
        }
        list.append(true);
    }
    Arc::new(list.finish())
}

fn bursts_fields() -> arrow_schema::Fields {
    use arrow_schema::{DataType, Field};
    arrow_schema::Fields::from(vec![
        Field::new("forward", DataType::Boolean, false),
        Field::new("packets", DataType::UInt32, false),
        Field::new("bytes", DataType::UInt32, false),
        Field::new("iat_us", DataType::UInt64, false),
        Field::new("ts", vigil_ingest::tables::ts_type(), false),
    ])
}
