//! SQL rule results as alerts: columns with the alert's field names fill those fields,
//! and every column goes into the evidence with the window.

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Float32Type, Float64Type, Int8Type, Int16Type, Int32Type, Int64Type, TimestampMicrosecondType,
    TimestampMillisecondType, TimestampNanosecondType, TimestampSecondType, UInt8Type, UInt16Type,
    UInt32Type, UInt64Type,
};
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::{DataType, TimeUnit};
use serde_json::{Map, Value, json};
use vigil_ingest::time::rfc3339_us;

use super::alert::{Alert, ModelRef};
use super::sql_rules::SqlMatch;

/// A cell as JSON: numbers, strings, booleans, timestamps (RFC 3339); other types as
/// their display.
pub fn cell(a: &ArrayRef, r: usize) -> Value {
    if a.is_null(r) {
        return Value::Null;
    }
    macro_rules! num {
        ($t:ty) => {
            json!(a.as_primitive::<$t>().value(r))
        };
    }
    match a.data_type() {
        DataType::Int8 => num!(Int8Type),
        DataType::Int16 => num!(Int16Type),
        DataType::Int32 => num!(Int32Type),
        DataType::Int64 => num!(Int64Type),
        DataType::UInt8 => num!(UInt8Type),
        DataType::UInt16 => num!(UInt16Type),
        DataType::UInt32 => num!(UInt32Type),
        DataType::UInt64 => num!(UInt64Type),
        DataType::Float32 => num!(Float32Type),
        DataType::Float64 => num!(Float64Type),
        DataType::Boolean => json!(a.as_boolean().value(r)),
        DataType::Utf8 => json!(a.as_string::<i32>().value(r)),
        DataType::LargeUtf8 => json!(a.as_string::<i64>().value(r)),
        DataType::Utf8View => json!(a.as_string_view().value(r)),
        DataType::Timestamp(..) => micros(a, r).map_or(Value::Null, |t| json!(rfc3339_us(t))),
        _ => {
            json!(datafusion::arrow::util::display::array_value_to_string(a, r).unwrap_or_default())
        }
    }
}

/// A timestamp cell in µs since the epoch.
fn micros(a: &ArrayRef, r: usize) -> Option<i64> {
    if a.is_null(r) {
        return None;
    }
    Some(match a.data_type() {
        DataType::Timestamp(TimeUnit::Second, _) => {
            a.as_primitive::<TimestampSecondType>().value(r) * 1_000_000
        }
        DataType::Timestamp(TimeUnit::Millisecond, _) => {
            a.as_primitive::<TimestampMillisecondType>().value(r) * 1_000
        }
        DataType::Timestamp(TimeUnit::Microsecond, _) => {
            a.as_primitive::<TimestampMicrosecondType>().value(r)
        }
        DataType::Timestamp(TimeUnit::Nanosecond, _) => {
            a.as_primitive::<TimestampNanosecondType>().value(r) / 1_000
        }
        _ => return None,
    })
}

/// The alerts of one SQL match (one per result row), not yet signed or thresholded.
/// The alert's time is the row's `last_seen`, else the window's end.
pub fn sql_alerts(m: &SqlMatch, sensor: &str) -> Vec<Alert> {
    let b: &RecordBatch = &m.batch;
    let schema = b.schema();
    let col = |names: &[&str]| names.iter().find_map(|n| schema.index_of(n).ok());
    let (src, dst) = (col(&["src_ip"]), col(&["dest_ip", "dst_ip"]));
    let (sp, dp) = (col(&["src_port"]), col(&["dest_port", "dst_port"]));
    let (proto, entity) = (col(&["proto"]), col(&["entity", "series"]));
    let (score, last) = (col(&["score"]), col(&["last_seen"]));
    let (cid, flow) = (col(&["community_id"]), col(&["flow_id"]));
    let mut out = Vec::with_capacity(b.num_rows());
    for r in 0..b.num_rows() {
        let mut ev = Map::new();
        for (i, f) in schema.fields().iter().enumerate() {
            ev.insert(f.name().clone(), cell(b.column(i), r));
        }
        ev.insert(
            "window".into(),
            json!({ "start": rfc3339_us(m.window.0), "end": rfc3339_us(m.window.1) }),
        );
        let text = |i: Option<usize>| {
            i.map(|i| cell(b.column(i), r)).and_then(|v| match v {
                Value::String(s) => Some(s),
                Value::Null => None,
                other => Some(other.to_string()),
            })
        };
        let num = |i: Option<usize>| i.and_then(|i| cell(b.column(i), r).as_f64());
        let ts = last.and_then(|i| micros(b.column(i), r)).unwrap_or(m.window.1);
        let score = num(score)
            .or_else(|| {
                // Else the first numeric column.
                (0..b.num_columns()).find_map(|i| cell(b.column(i), r).as_f64())
            })
            .unwrap_or(0.0);
        out.push(Alert {
            ts,
            sig: Default::default(),
            model: ModelRef { name: "sql".into(), version: None, sha256: None },
            flow_id: num(flow).map(|v| v as u64),
            community_id: text(cid),
            src_ip: text(src),
            src_port: num(sp).map(|v| v as u16),
            dest_ip: text(dst),
            dest_port: num(dp).map(|v| v as u16),
            proto: num(proto).map(|v| v as u8),
            entity: text(entity),
            label: None,
            score: score as f32,
            evidence: Value::Object(ev),
            sensor: sensor.to_string(),
            ..Default::default()
        });
    }
    out
}
