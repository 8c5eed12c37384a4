//! `POST /api/sql`: read-only SQL over the store, answered as JSON, CSV or Arrow IPC.

use std::sync::Arc;
use std::time::Instant;

use arrow_array::RecordBatch;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::backend::QueryOutput;
use crate::error::ApiError;
use crate::serve::Shared;

/// The media type of an Arrow IPC stream.
pub const ARROW_STREAM: &str = "application/vnd.apache.arrow.stream";

/// The request body.
#[derive(Debug, Deserialize)]
pub struct SqlRequest {
    sql: String,
}

/// Run the query; the `Accept` header picks the answer's format.
pub async fn query(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Json(req): Json<SqlRequest>,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let out = shared.backend.sql(&req.sql).await?;
    let (out, truncated) = cut(out, shared.max_rows);
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("");
    let ms = started.elapsed().as_secs_f64() * 1e3;
    let timing =
        [("x-vigil-query-ms", format!("{ms:.1}")), ("x-vigil-truncated", truncated.to_string())];
    if accept.contains("text/csv") {
        return Ok((timing, [(header::CONTENT_TYPE, "text/csv")], to_csv(&out)?).into_response());
    }
    if accept.contains(ARROW_STREAM) {
        return Ok((timing, [(header::CONTENT_TYPE, ARROW_STREAM)], to_ipc(&out)?).into_response());
    }
    let mut body = to_json(&out)?;
    body["truncated"] = json!(truncated);
    body["elapsed_ms"] = json!((ms * 10.0).round() / 10.0);
    Ok((timing, Json(body)).into_response())
}

/// At most `max` rows of `out`, and whether rows were cut.
pub(crate) fn cut(out: QueryOutput, max: usize) -> (QueryOutput, bool) {
    let mut left = max;
    let mut batches = Vec::with_capacity(out.batches.len());
    let mut truncated = false;
    for b in out.batches {
        if left == 0 {
            truncated |= b.num_rows() > 0;
            continue;
        }
        if b.num_rows() > left {
            truncated = true;
            batches.push(b.slice(0, left));
            left = 0;
        } else {
            left -= b.num_rows();
            batches.push(b);
        }
    }
    (QueryOutput { schema: out.schema, batches }, truncated)
}

/// `{"columns": [{"name", "type"}], "rows": [[…], …]}`, rows in column order.
pub(crate) fn to_json(out: &QueryOutput) -> anyhow::Result<Value> {
    let columns: Vec<Value> = out
        .schema
        .fields()
        .iter()
        .map(|f| json!({ "name": f.name(), "type": f.data_type().to_string() }))
        .collect();
    let names: Vec<&str> = out.schema.fields().iter().map(|f| f.name().as_str()).collect();
    let rows: Vec<Value> = objects(&out.batches)?
        .into_iter()
        .map(|o| {
            Value::Array(names.iter().map(|n| o.get(*n).cloned().unwrap_or(Value::Null)).collect())
        })
        .collect();
    Ok(json!({ "columns": columns, "rows": rows }))
}

/// Alert rows with their evidence (JSON text in the table) as JSON.
pub(crate) fn with_evidence(
    mut alerts: Vec<serde_json::Map<String, Value>>,
) -> Vec<serde_json::Map<String, Value>> {
    for a in &mut alerts {
        if let Some(Value::String(s)) = a.get("evidence") {
            let parsed = serde_json::from_str(s).unwrap_or(Value::String(s.clone()));
            a.insert("evidence".into(), parsed);
        }
    }
    alerts
}

/// Columns whose 64-bit values are given as strings: a JSON number loses precision past
/// 2^53 in JavaScript (and in jq), and flow ids are hashes.
const ID_COLUMNS: [&str; 1] = ["flow_id"];

/// The rows as JSON objects (nulls left out; flow ids as strings).
pub(crate) fn objects(
    batches: &[RecordBatch],
) -> anyhow::Result<Vec<serde_json::Map<String, Value>>> {
    let mut buf = Vec::new();
    {
        let mut w = arrow::json::ArrayWriter::new(&mut buf);
        for b in batches {
            w.write(b)?;
        }
        w.finish()?;
    }
    if buf.is_empty() {
        return Ok(Vec::new());
    }
    let mut rows: Vec<serde_json::Map<String, Value>> = serde_json::from_slice(&buf)?;
    for r in &mut rows {
        for k in ID_COLUMNS {
            if let Some(v @ Value::Number(_)) = r.get_mut(k) {
                *v = Value::String(v.to_string());
            }
        }
    }
    Ok(rows)
}

fn to_csv(out: &QueryOutput) -> anyhow::Result<Vec<u8>> {
    let mut buf = Vec::new();
    {
        let mut w = arrow::csv::WriterBuilder::new().with_header(true).build(&mut buf);
        for b in &out.batches {
            w.write(b)?;
        }
    }
    if out.batches.is_empty() {
        let names: Vec<&str> = out.schema.fields().iter().map(|f| f.name().as_str()).collect();
        buf.extend_from_slice(names.join(",").as_bytes());
        buf.push(b'\n');
    }
    Ok(buf)
}

fn to_ipc(out: &QueryOutput) -> anyhow::Result<Vec<u8>> {
    let mut buf = Vec::new();
    {
        let mut w = arrow::ipc::writer::StreamWriter::try_new(&mut buf, &out.schema)?;
        for b in &out.batches {
            w.write(b)?;
        }
        w.finish()?;
    }
    Ok(buf)
}
