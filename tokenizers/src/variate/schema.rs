//! The Arrow table of iTransformer windows, one row per window.
//!
//! `window_end timestamp µs UTC, series list<utf8>, values list<list<f32>>`
//! (N × L, normalised), `mean list<f32>, std list<f32>` (N each),
//! `mask list<list<bool>>` (N × L, true = observed; null when nothing was
//! missing) and `time_features list<list<f32>>` (4 × L; null when off).

use std::sync::{Arc, LazyLock};

use arrow_array::builder::{
    BooleanBuilder, Float32Builder, ListBuilder, StringBuilder, TimestampMicrosecondBuilder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{ArrowError, DataType, Field, Schema, SchemaRef, TimeUnit};

use super::VariateWindow;
use super::time_features::TIME_FEATURES;

/// Column names, in schema order.
pub mod columns {
    /// Time of the window's last step.
    pub const WINDOW_END: &str = "window_end";
    /// Variate names.
    pub const SERIES: &str = "series";
    /// Normalised values, one list per variate.
    pub const VALUES: &str = "values";
    /// Per-variate means.
    pub const MEAN: &str = "mean";
    /// Per-variate standard deviations (with epsilon).
    pub const STD: &str = "std";
    /// Observed flags, one list per variate; null when all observed.
    pub const MASK: &str = "mask";
    /// Time features, one list per feature; null when off.
    pub const TIME_FEATURES: &str = "time_features";
}

fn list_of(dt: DataType) -> DataType {
    DataType::List(Arc::new(Field::new_list_field(dt, true)))
}

static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new(
            columns::WINDOW_END,
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
        Field::new(columns::SERIES, list_of(DataType::Utf8), false),
        Field::new(columns::VALUES, list_of(list_of(DataType::Float32)), false),
        Field::new(columns::MEAN, list_of(DataType::Float32), false),
        Field::new(columns::STD, list_of(DataType::Float32), false),
        Field::new(columns::MASK, list_of(list_of(DataType::Boolean)), true),
        Field::new(columns::TIME_FEATURES, list_of(list_of(DataType::Float32)), true),
    ]))
});

/// The schema of [`to_record_batch`]'s output.
pub fn variate_schema() -> SchemaRef {
    SCHEMA.clone()
}

/// One row per window, in the order given.
pub fn to_record_batch(windows: &[VariateWindow]) -> Result<RecordBatch, ArrowError> {
    let n = windows.len();
    let mut end = TimestampMicrosecondBuilder::with_capacity(n).with_timezone("UTC");
    let mut series = ListBuilder::new(StringBuilder::new());
    let mut values = ListBuilder::new(ListBuilder::new(Float32Builder::new()));
    let mut mean = ListBuilder::new(Float32Builder::new());
    let mut std = ListBuilder::new(Float32Builder::new());
    let mut mask = ListBuilder::new(ListBuilder::new(BooleanBuilder::new()));
    let mut feats = ListBuilder::new(ListBuilder::new(Float32Builder::new()));
    for w in windows {
        let l = w.lookback();
        end.append_value(w.window_end);
        for s in w.series.iter() {
            series.values().append_value(s);
        }
        series.append(true);
        for chunk in w.values.chunks(l.max(1)) {
            values.values().values().append_slice(chunk);
            values.values().append(true);
        }
        values.append(true);
        mean.values().append_slice(&w.stats.mean);
        mean.append(true);
        std.values().append_slice(&w.stats.std);
        std.append(true);
        match &w.observed {
            Some(o) => {
                for chunk in o.chunks(l.max(1)) {
                    mask.values().values().append_slice(chunk);
                    mask.values().append(true);
                }
                mask.append(true);
            }
            None => mask.append(false),
        }
        match &w.time_features {
            Some(f) => {
                for chunk in f.chunks(l.max(1)).take(TIME_FEATURES) {
                    feats.values().values().append_slice(chunk);
                    feats.values().append(true);
                }
                feats.append(true);
            }
            None => feats.append(false),
        }
    }
    let cols: Vec<ArrayRef> = vec![
        Arc::new(end.finish()),
        Arc::new(series.finish()),
        Arc::new(values.finish()),
        Arc::new(mean.finish()),
        Arc::new(std.finish()),
        Arc::new(mask.finish()),
        Arc::new(feats.finish()),
    ];
    RecordBatch::try_new(variate_schema(), cols)
}

#[cfg(test)]
mod tests {
    use arrow_array::Array;
    use arrow_array::cast::AsArray;
    use arrow_array::types::Float32Type;

    use super::*;
    use crate::variate::{VariateConfig, VariateTokenizer};

    #[test]
    fn rows_and_nulls() {
        let c = VariateConfig { lookback: 2, time_features: true, ..VariateConfig::default() };
        let mut t = VariateTokenizer::new(vec!["a".into(), "b".into()], c).unwrap();
        let mut ws = Vec::new();
        for (i, v) in [[1.0, 4.0], [3.0, f64::NAN], [5.0, 6.0], [7.0, 8.0]].iter().enumerate() {
            ws.extend(t.push(i as i64 * 3_600_000_000, v, None).unwrap());
        }
        let b = to_record_batch(&ws).unwrap();
        assert_eq!(b.num_rows(), 3);
        assert_eq!(b.schema(), variate_schema());
        let mask = b.column(5);
        assert!(mask.is_valid(0) && mask.is_valid(1) && mask.is_null(2));
        let values = b.column(2).as_list::<i32>();
        let row0 = values.value(0);
        let row0 = row0.as_list::<i32>();
        assert_eq!(row0.len(), 2);
        let a = row0.value(0);
        assert_eq!(a.as_primitive::<Float32Type>().values().len(), 2);
        let feats = b.column(6).as_list::<i32>().value(0);
        assert_eq!(feats.as_list::<i32>().len(), TIME_FEATURES);
    }
}
