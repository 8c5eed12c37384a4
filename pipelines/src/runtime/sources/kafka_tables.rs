//! Kafka payloads already in a store table's schema: `flows_json` (one JSON object
//! per message, as the Kafka sink writes them) and Arrow IPC streams (`arrow`,
//! `arrow_metrics`, `arrow_actions`).
//!
//! Columns are matched by name and cast to the table's types; columns the table does
//! not have (a scored row's verdicts) are dropped. A missing `sensor` is this
//! instance's, a missing `source` the topic; any other missing required column, or a
//! value that does not cast, makes the message a dead letter.

use std::io::Cursor;
use std::sync::Arc;

use arrow_array::{Array, ArrayRef, RecordBatch, StringArray, new_null_array};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::compute::{cast, concat_batches};
use datafusion::arrow::ipc::reader::StreamReader;
use datafusion::arrow::json::ReaderBuilder;
use vigil_ingest::DeadLetter;

use super::kafka_format::Message;
use crate::store::Table;

/// The rows of `messages` (one topic) as `table` rows of `sensor`; a dead letter for
/// each message that is not. `json`: one JSON object per message; else an Arrow IPC
/// stream per message.
pub fn decode(
    table: Table,
    json: bool,
    messages: &[Message],
    sensor: &str,
) -> anyhow::Result<(Option<RecordBatch>, Vec<DeadLetter>)> {
    let schema = table.base_schema();
    let mut batches = Vec::with_capacity(messages.len());
    let mut dead = Vec::new();
    for m in messages {
        let read = if json { read_json(m, &schema) } else { read_ipc(m) };
        match read.and_then(|b| conform(&b, &schema, &m.topic, sensor)) {
            Ok(b) => batches.push(b),
            Err(reason) => dead.push(m.dead(reason)),
        }
    }
    if batches.is_empty() {
        return Ok((None, dead));
    }
    Ok((Some(concat_batches(&schema, &batches)?), dead))
}

/// A message's JSON object as a one-row batch of `schema` with every column nullable.
fn read_json(m: &Message, schema: &SchemaRef) -> Result<RecordBatch, String> {
    let text = std::str::from_utf8(&m.payload).map_err(|_| "not UTF-8".to_string())?;
    if !text.trim_start().starts_with('{') {
        return Err("not a JSON object".into());
    }
    let nullable: Vec<Field> =
        schema.fields().iter().map(|f| f.as_ref().clone().with_nullable(true)).collect();
    let mut decoder = ReaderBuilder::new(Arc::new(Schema::new(nullable)))
        .build_decoder()
        .map_err(|e| e.to_string())?;
    decoder.decode(text.as_bytes()).map_err(|e| format!("not a row: {e}"))?;
    match decoder.flush().map_err(|e| format!("not a row: {e}"))? {
        Some(b) if b.num_rows() == 1 => Ok(b),
        _ => Err("not exactly one JSON object".into()),
    }
}

/// A message's Arrow IPC stream as one batch.
fn read_ipc(m: &Message) -> Result<RecordBatch, String> {
    check_ipc_framing(&m.payload).map_err(|e| format!("not an Arrow IPC stream: {e}"))?;
    let reader = StreamReader::try_new(Cursor::new(&m.payload[..]), None)
        .map_err(|e| format!("not an Arrow IPC stream: {e}"))?;
    let schema = reader.schema();
    let batches: Vec<RecordBatch> =
        reader.collect::<Result<_, _>>().map_err(|e| format!("Arrow IPC stream cut short: {e}"))?;
    concat_batches(&schema, &batches).map_err(|e| e.to_string())
}

/// Walk an IPC stream's framing (continuation marker, metadata length, metadata, body)
/// and refuse a message whose metadata or body is longer than what is left of the
/// payload. Arrow's reader allocates what a message declares before reading it, so a
/// 20-byte message could otherwise make it allocate gigabytes.
fn check_ipc_framing(payload: &[u8]) -> Result<(), String> {
    let word =
        |at: usize| payload.get(at..at + 4).map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]));
    let (mut at, mut n) = (0usize, 0);
    loop {
        let Some(mut len) = word(at) else { return Ok(()) };
        let mut head = 4;
        if len == -1 {
            let Some(l) = word(at + 4) else { return Ok(()) };
            (len, head) = (l, 8);
        }
        if len == 0 {
            return Ok(());
        }
        let meta_len =
            usize::try_from(len).map_err(|_| format!("message {n}: metadata length {len}"))?;
        let left = payload.len() - at - head;
        if meta_len > left {
            return Err(format!("message {n}: {meta_len} bytes of metadata, {left} left"));
        }
        let meta = &payload[at + head..at + head + meta_len];
        let message = datafusion::arrow::ipc::root_as_message(meta)
            .map_err(|e| format!("message {n}: unreadable metadata: {e}"))?;
        let body = usize::try_from(message.bodyLength())
            .map_err(|_| format!("message {n}: body length {}", message.bodyLength()))?;
        let left = left - meta_len;
        if body > left {
            return Err(format!("message {n}: a body of {body} bytes, {left} left"));
        }
        at += head + meta_len + body;
        n += 1;
    }
}

/// `batch` in `schema`: columns by name, cast to its types; `source` and `sensor`
/// filled in where missing.
fn conform(
    batch: &RecordBatch,
    schema: &SchemaRef,
    topic: &str,
    sensor: &str,
) -> Result<RecordBatch, String> {
    let n = batch.num_rows();
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
    for field in schema.fields() {
        let name = field.name().as_str();
        let fill = match name {
            "sensor" => Some(sensor),
            "source" => Some(topic),
            _ => None,
        };
        let column = match (batch.column_by_name(name), fill) {
            (Some(c), Some(value)) if c.null_count() > 0 => fill_nulls(c, value)?,
            (Some(c), _) => cast(c, field.data_type())
                .map_err(|e| format!("column `{name}`: cannot be {}: {e}", field.data_type()))?,
            (None, Some(value)) => Arc::new(StringArray::from(vec![value; n])),
            (None, None) if field.is_nullable() => new_null_array(field.data_type(), n),
            (None, None) => return Err(format!("no column `{name}`")),
        };
        if !field.is_nullable() && column.null_count() > 0 {
            return Err(format!("column `{name}` is null"));
        }
        columns.push(column);
    }
    RecordBatch::try_new(schema.clone(), columns).map_err(|e| e.to_string())
}

/// A text column with its nulls set to `value`.
fn fill_nulls(c: &ArrayRef, value: &str) -> Result<ArrayRef, String> {
    let c = cast(c, &DataType::Utf8).map_err(|e| e.to_string())?;
    let s = c.as_any().downcast_ref::<StringArray>().ok_or("not text")?;
    Ok(Arc::new(s.iter().map(|v| Some(v.unwrap_or(value))).collect::<StringArray>()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::ipc::writer::StreamWriter;
    use datafusion::arrow::json::LineDelimitedWriter;

    fn msg(offset: i64, payload: Vec<u8>) -> Message {
        Message { topic: "t".into(), partition: 0, offset, payload, linktype: None }
    }

    fn flows() -> RecordBatch {
        let flows =
            [super::super::test_flow(1, "C1", 1000), super::super::test_flow(2, "C2", 1001)];
        vigil_ingest::flows_to_batch(&flows, "edge-1").unwrap()
    }

    #[test]
    fn a_message_declaring_more_than_it_holds_is_refused_before_allocating() {
        let mut ipc = Vec::new();
        let batch = flows();
        let mut w = StreamWriter::try_new(&mut ipc, &batch.schema()).unwrap();
        w.write(&batch).unwrap();
        w.finish().unwrap();
        drop(w);
        assert!(check_ipc_framing(&ipc).is_ok(), "a whole stream passes");
        // Metadata claiming 574 MB, then a batch message whose body is cut.
        let huge = [0xff, 0xff, 0xff, 0xff, 0x6f, 0x10, 0x3a, 0x22, 1, 2, 3];
        assert!(check_ipc_framing(&huge).unwrap_err().contains("bytes of metadata"));
        let cut = &ipc[..ipc.len() - 40];
        let e = check_ipc_framing(cut).unwrap_err();
        assert!(e.contains("a body of"), "{e}");
        let (_, dead) = decode(Table::Flows, false, &[msg(0, huge.to_vec())], "s").unwrap();
        assert!(dead[0].reason.contains("metadata"), "{:?}", dead[0]);
    }

    #[test]
    fn flows_as_the_kafka_sink_writes_them_and_bad_rows() {
        let mut buf = Vec::new();
        let mut w = LineDelimitedWriter::new(&mut buf);
        w.write(&flows()).unwrap();
        w.finish().unwrap();
        let lines: Vec<Vec<u8>> =
            buf.split(|b| *b == b'\n').filter(|l| !l.is_empty()).map(<[u8]>::to_vec).collect();
        let mut no_uid: serde_json::Value = serde_json::from_slice(&lines[0]).unwrap();
        no_uid.as_object_mut().unwrap().remove("uid");
        let messages = [
            msg(0, lines[0].clone()),
            msg(1, no_uid.to_string().into_bytes()),
            msg(2, b"[1,2]".to_vec()),
            msg(3, lines[1].clone()),
        ];
        let (rows, dead) = decode(Table::Flows, true, &messages, "central").unwrap();
        let rows = rows.unwrap();
        assert_eq!(rows.num_rows(), 2);
        assert_eq!(rows.schema(), Table::Flows.base_schema());
        assert_eq!(vigil_ingest::flows_from_batch(&rows).unwrap().len(), 2);
        let why: Vec<_> = dead.iter().map(|d| (d.position.to_string(), d.reason.clone())).collect();
        assert_eq!(why[0], ("partition 0 offset 1".into(), "column `uid` is null".into()));
        assert_eq!(why[1].0, "partition 0 offset 2");
    }

    #[test]
    fn arrow_streams_with_extra_columns_and_garbage() {
        let b = flows();
        let mut fields: Vec<Field> = b.schema().fields().iter().map(|f| (**f).clone()).collect();
        fields.push(Field::new("score", DataType::Float32, true));
        let mut cols = b.columns().to_vec();
        cols.push(new_null_array(&DataType::Float32, 2));
        let scored = RecordBatch::try_new(Arc::new(Schema::new(fields)), cols).unwrap();
        let mut buf = Vec::new();
        let mut w = StreamWriter::try_new(&mut buf, &scored.schema()).unwrap();
        w.write(&scored).unwrap();
        w.finish().unwrap();
        drop(w);
        let messages = [msg(0, buf.clone()), msg(1, buf[..buf.len() / 2].to_vec())];
        let (rows, dead) = decode(Table::Flows, false, &messages, "central").unwrap();
        assert_eq!(rows.unwrap().num_rows(), 2);
        assert_eq!(dead.len(), 1);
        // A metrics table reading flows: no `series`.
        let (rows, dead) = decode(Table::Metrics, false, &messages[..1], "c").unwrap();
        assert!(rows.is_none());
        assert_eq!(dead[0].reason, "no column `series`");
    }
}
