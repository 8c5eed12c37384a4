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
