//! The `metrics` table of DESIGN.md: `series utf8, ts timestamp µs UTC, value f64`.

use std::sync::{Arc, LazyLock};

use arrow_array::builder::{Float64Builder, StringBuilder, TimestampMicrosecondBuilder};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{ArrowError, DataType, Field, Schema, SchemaRef, TimeUnit};

use super::MetricPoint;

/// Column names of the `metrics` table, in order.
pub mod metric_columns {
    /// Series name.
    pub const SERIES: &str = "series";
    /// Observation time.
    pub const TS: &str = "ts";
    /// Observed value.
    pub const VALUE: &str = "value";
}

static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new(metric_columns::SERIES, DataType::Utf8, false),
        Field::new(
            metric_columns::TS,
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
        Field::new(metric_columns::VALUE, DataType::Float64, false),
    ]))
});

/// The schema of [`metrics_to_batch`]'s output.
pub fn metrics_schema() -> SchemaRef {
    SCHEMA.clone()
}

/// One row per point, in the order given.
pub fn metrics_to_batch(points: &[MetricPoint]) -> Result<RecordBatch, ArrowError> {
    let n = points.len();
    let mut series = StringBuilder::with_capacity(n, n * 8);
    let mut ts = TimestampMicrosecondBuilder::with_capacity(n).with_timezone("UTC");
    let mut value = Float64Builder::with_capacity(n);
    for p in points {
        series.append_value(&p.series);
        ts.append_value(p.ts);
        value.append_value(p.value);
    }
    let cols: Vec<ArrayRef> =
        vec![Arc::new(series.finish()), Arc::new(ts.finish()), Arc::new(value.finish())];
    RecordBatch::try_new(metrics_schema(), cols)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_shape() {
        let b =
            metrics_to_batch(&[MetricPoint { series: "OT".into(), ts: 1, value: 2.5 }]).unwrap();
        assert_eq!(b.num_rows(), 1);
        assert_eq!(b.schema(), metrics_schema());
    }
}
