//! Kafka message payloads → rows: one record per message, decoded a batch at a time
//! by the same readers the file sources use. A message that does not decode becomes a
//! dead letter at its topic, partition and offset, with its bytes.

use std::io::{Cursor, Read};

use vigil_ingest::actions::{ActionColumns, ActionLogFormat, ActionReader};
use vigil_ingest::flow_records::{ColumnMapping, FlowCsvReader};
use vigil_ingest::metrics::{MetricsFormat, MetricsReader, MetricsReaderConfig};
use vigil_ingest::{DeadLetter, Position};

use super::files::{flow_mapping, flows_envelope};
use super::kafka_tables;
use crate::runtime::record::{Envelope, RecordKind};
use crate::runtime::rows::{actions_batch, metrics_batch};

/// One consumed message.
#[derive(Debug, Clone)]
pub struct Message {
    /// Its topic.
    pub topic: String,
    /// Its partition.
    pub partition: i32,
    /// Its offset.
    pub offset: i64,
    /// Its payload (empty when it had none).
    pub payload: Vec<u8>,
    /// Its `vigil.linktype` header, if any (packet messages).
    pub linktype: Option<String>,
}

impl Message {
    /// A dead letter for this message, at its partition and offset, with its bytes.
    pub(super) fn dead(&self, reason: impl Into<String>) -> DeadLetter {
        DeadLetter::new(
            self.topic.clone(),
            Position::Kafka { partition: self.partition, offset: self.offset },
            reason,
            self.payload.clone(),
        )
    }
}

/// What a Kafka source's messages hold.
#[derive(Debug, Clone)]
pub enum KafkaFormat {
    /// Flow rows in the store's `flows` schema as JSON objects (as the Kafka sink
    /// writes them).
    FlowsJson,
    /// Rows of a store table (`arrow`: flows, `arrow_metrics`, `arrow_actions`) as
    /// Arrow IPC streams.
    Arrow(RecordKind),
    /// One packet per message (a pcap record; see [`super::kafka_packets`]), made into
    /// flows as captures are.
    Pcap,
    /// Metric points as JSON objects (`{"series":…,"ts":…,"value":…}`).
    MetricsJson,
    /// Actions as JSON objects (`{"entity":…,"ts":…,"action":…,"object":…}`).
    ActionsJson,
    /// One flow row per message, in a flow-CSV mapping's columns: a JSON object keyed
    /// by column name, or a CSV line of the mapping's columns in order (its `columns`
    /// if it names them, else the columns it reads, as [`flow_columns`] lists them).
    FlowCsv(Box<ColumnMapping>),
}

impl KafkaFormat {
    /// The formats named other than by a flow-CSV mapping.
    pub const NAMES: [&str; 7] = [
        "flows_json",
        "metrics_json",
        "actions_json",
        "arrow",
        "arrow_metrics",
        "arrow_actions",
        "pcap",
    ];

    /// The format named `name` (see [`crate::runtime::config::KafkaSourceConfig`]).
    pub fn parse(name: &str) -> anyhow::Result<KafkaFormat> {
        Ok(match name {
            "flows_json" => KafkaFormat::FlowsJson,
            "arrow" => KafkaFormat::Arrow(RecordKind::Flows),
            "arrow_metrics" => KafkaFormat::Arrow(RecordKind::Metrics),
            "arrow_actions" => KafkaFormat::Arrow(RecordKind::Actions),
            "pcap" => KafkaFormat::Pcap,
            "metrics_json" => KafkaFormat::MetricsJson,
            "actions_json" => KafkaFormat::ActionsJson,
            other => KafkaFormat::FlowCsv(Box::new(flow_mapping(other).map_err(|e| {
                anyhow::anyhow!("unknown format: {}, or {e}", Self::NAMES.join(", "))
            })?)),
        })
    }

    /// The records it gives.
    pub fn kind(&self) -> RecordKind {
        match self {
            KafkaFormat::MetricsJson => RecordKind::Metrics,
            KafkaFormat::ActionsJson => RecordKind::Actions,
            KafkaFormat::FlowCsv(_) | KafkaFormat::FlowsJson | KafkaFormat::Pcap => {
                RecordKind::Flows
            }
            KafkaFormat::Arrow(kind) => *kind,
        }
    }

    /// Decode `messages` (of one topic): the rows of those that decode, and a dead
    /// letter for each of the others. Packets (`pcap`) are decoded by a
    /// [`super::kafka_packets::KafkaPackets`], which keeps flows open across batches.
    pub fn decode(
        &self,
        messages: &[Message],
        sensor: &str,
    ) -> anyhow::Result<(Option<Envelope>, Vec<DeadLetter>)> {
        let Some(topic) = messages.first().map(|m| m.topic.clone()) else {
            return Ok((None, Vec::new()));
        };
        let table = |kind: RecordKind, json: bool| -> anyhow::Result<_> {
            let (batch, dead) = kafka_tables::decode(kind.table(), json, messages, sensor)?;
            Ok((batch.map(|b| Envelope::new(kind, b)), dead))
        };
        match self {
            KafkaFormat::FlowsJson => return table(RecordKind::Flows, true),
            KafkaFormat::Arrow(kind) => return table(*kind, false),
            KafkaFormat::Pcap => anyhow::bail!("packets are decoded with their flow table"),
            _ => {}
        }
        let mut dead = Vec::new();
        let mut lines: Vec<(usize, Vec<u8>)> = Vec::with_capacity(messages.len());
        for (i, m) in messages.iter().enumerate() {
            match self.line(m) {
                Ok(line) => lines.push((i, line)),
                Err(reason) => dead.push(m.dead(reason)),
            }
        }
        // Every message dead: there is nothing for a reader (which would refuse an empty
        // input as a whole, found by the kafka_payload fuzz target).
        if lines.is_empty() {
            return Ok((None, dead));
        }
        let header = match self {
            KafkaFormat::FlowCsv(m) if m.columns.is_none() => {
                let delimiter = m.delimiter.to_string();
                Some(flow_columns(m).join(&delimiter).into_bytes())
            }
            _ => None,
        };
        let mut text = Vec::new();
        if let Some(h) = &header {
            text.extend_from_slice(h);
            text.push(b'\n');
        }
        for (_, line) in &lines {
            text.extend_from_slice(line);
            text.push(b'\n');
        }
        // The readers number lines from 1, the header included.
        let first = 1 + u64::from(header.is_some());
        let message_at = |line: u64| -> Option<&Message> {
            let i = usize::try_from(line.checked_sub(first)?).ok()?;
            lines.get(i).map(|(m, _)| &messages[*m])
        };
        let mut relabel = |letters: Vec<DeadLetter>| {
            for d in letters {
                match d.position.line().and_then(message_at) {
                    Some(m) => dead.push(m.dead(d.reason)),
                    None => dead.push(DeadLetter::new(topic.clone(), d.position, d.reason, d.raw)),
                }
            }
        };
        let env = match self {
            KafkaFormat::FlowCsv(mapping) => {
                let mut r = FlowCsvReader::new(Cursor::new(text), topic.clone(), mapping)?;
                let mut recs = Vec::new();
                while let Some(rec) = r.next_record()? {
                    recs.push(rec);
                }
                relabel(r.take_dead_letters());
                (!recs.is_empty()).then(|| flows_envelope(recs, sensor)).transpose()?
            }
            KafkaFormat::MetricsJson => {
                let config =
                    MetricsReaderConfig { format: MetricsFormat::JsonLines, ..Default::default() };
                let mut r = MetricsReader::from_reader(topic.clone(), Cursor::new(text), config)?;
                let mut points = Vec::new();
                while let Some(p) = r.next_point()? {
                    points.push(p);
                }
                relabel(r.take_dead_letters());
                (!points.is_empty()).then(|| {
                    Envelope::new(RecordKind::Metrics, metrics_batch(&points, &topic, sensor))
                })
            }
            KafkaFormat::FlowsJson | KafkaFormat::Arrow(_) | KafkaFormat::Pcap => {
                unreachable!("decoded above")
            }
            KafkaFormat::ActionsJson => {
                let format = ActionLogFormat::Jsonl(ActionColumns::default());
                let mut r = ActionReader::from_reader(topic.clone(), Cursor::new(text), format)?;
                let mut events = Vec::new();
                while let Some(e) = r.next_event()? {
                    events.push(e);
                }
                relabel(r.take_dead_letters());
                (!events.is_empty()).then(|| {
                    Envelope::new(RecordKind::Actions, actions_batch(&events, &topic, sensor))
                })
            }
        };
        Ok((env, dead))
    }

    /// A message as one input line for the format's reader, or why it cannot be one.
    fn line(&self, m: &Message) -> Result<Vec<u8>, String> {
        let text = std::str::from_utf8(&m.payload).map_err(|_| "not UTF-8".to_string())?;
        let text = text.trim_end_matches(['\r', '\n']);
        if text.trim().is_empty() {
            return Err("empty message".into());
        }
        if text.contains('\n') {
            return Err("more than one line in one message".into());
        }
        match self {
            KafkaFormat::FlowCsv(mapping) if text.trim_start().starts_with('{') => {
                json_to_csv_line(text, mapping).map(String::into_bytes)
            }
            KafkaFormat::FlowCsv(mapping) => {
                one_csv_record(text, mapping.delimiter as u8).map(|t| t.as_bytes().to_vec())
            }
            _ => Ok(text.as_bytes().to_vec()),
        }
    }
}

/// `text` when it is exactly one CSV record that ends at its end: the messages of a
/// batch are read as the lines of one CSV text, so a message that ends inside a quoted
/// field, or holds a second record (a carriage return), would join or split another
/// message's record (found by the kafka_payload fuzz target). Checked the way it is
/// read: the message, then a line of its own, must read as two records.
fn one_csv_record(text: &str, delimiter: u8) -> Result<&str, String> {
    const NEXT: &[u8] = b"\nvigil-next-line\n";
    let mut r = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .from_reader(text.as_bytes().chain(NEXT));
    let mut records = Vec::new();
    for record in r.byte_records() {
        records.push(record.map_err(|e| format!("not one CSV record: {e}"))?);
    }
    match records.as_slice() {
        [_, next] if next.len() == 1 && &next[0] == b"vigil-next-line" => Ok(text),
        _ => Err("not one CSV record (a quote left open, or a line break inside)".into()),
    }
}

/// The columns a header-less flow message lists, in order: the mapping's `columns`
/// if it names them, else those it reads (time, addresses, ports, protocol, label,
/// numeric then categorical features), each once.
pub fn flow_columns(m: &ColumnMapping) -> Vec<String> {
    if let Some(c) = &m.columns {
        return c.clone();
    }
    let mut out: Vec<String> = Vec::new();
    let named = [
        m.ts.as_ref().map(|t| t.column.clone()),
        m.src_addr.clone(),
        m.src_port.clone(),
        m.dst_addr.clone(),
        m.dst_port.clone(),
        m.proto.clone(),
        m.label.clone(),
    ];
    let features = m.numeric.iter().chain(&m.categorical).map(|f| Some(f.column().to_string()));
    for c in named.into_iter().chain(features).flatten() {
        if !out.contains(&c) {
            out.push(c);
        }
    }
    out
}

/// A JSON object keyed by column name as a CSV line of the mapping's columns (a
/// missing key is an empty cell).
fn json_to_csv_line(text: &str, mapping: &ColumnMapping) -> Result<String, String> {
    let v: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("not a JSON object: {e}"))?;
    let obj = v.as_object().ok_or("not a JSON object")?;
    let mut w = csv::WriterBuilder::new()
        .delimiter(mapping.delimiter as u8)
        .has_headers(false)
        .from_writer(Vec::new());
    let cells: Vec<String> = flow_columns(mapping)
        .iter()
        .map(|c| match obj.get(c) {
            None | Some(serde_json::Value::Null) => String::new(),
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
        })
        .collect();
    w.write_record(&cells).map_err(|e| e.to_string())?;
    let bytes = w.into_inner().map_err(|e| e.to_string())?;
    Ok(String::from_utf8_lossy(&bytes).trim_end_matches(['\r', '\n']).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(offset: i64, payload: &str) -> Message {
        Message {
            topic: "flows".into(),
            partition: 2,
            offset,
            payload: payload.into(),
            linktype: None,
        }
    }

    #[test]
    fn flow_rows_as_json_or_csv_lines_and_dead_letters_at_their_offsets() {
        let f = KafkaFormat::parse("nf_v2").unwrap();
        let KafkaFormat::FlowCsv(m) = &f else { unreachable!() };
        let cols = flow_columns(m);
        let json: serde_json::Map<String, serde_json::Value> = cols
            .iter()
            .map(|c| {
                let v = match c.as_str() {
                    "IPV4_SRC_ADDR" => "10.0.0.1".into(),
                    "IPV4_DST_ADDR" => "10.0.0.2".into(),
                    "Label" | "Attack" => "0".into(),
                    _ => serde_json::json!(6),
                };
                (c.clone(), v)
            })
            .collect();
        let json = serde_json::Value::Object(json).to_string();
        let csv_line = json_to_csv_line(&json, m).unwrap();
        let messages = [msg(7, &json), msg(8, "{not json"), msg(9, &csv_line), msg(10, "")];
        let (env, dead) = f.decode(&messages, "s1").unwrap();
        assert_eq!(env.unwrap().rows(), 2);
        let at: Vec<_> = dead.iter().map(|d| d.position.to_string()).collect();
        assert_eq!(at, vec!["partition 2 offset 8", "partition 2 offset 10"]);
        assert_eq!(dead[0].raw, b"{not json");
        assert_eq!(dead[0].source, "flows");
    }

    #[test]
    fn metric_points_and_bad_ones() {
        let f = KafkaFormat::parse("metrics_json").unwrap();
        let messages = [
            msg(0, r#"{"series":"cpu","ts":"2026-12-04T10:00:00Z","value":1.5}"#),
            msg(1, r#"{"series":"cpu","ts":"yesterday","value":1.5}"#),
            msg(2, r#"{"series":"cpu","ts":"2026-12-04T10:01:00Z","value":2.5}"#),
        ];
        let (env, dead) = f.decode(&messages, "s1").unwrap();
        assert_eq!(env.unwrap().rows(), 2);
        assert_eq!(dead.len(), 1);
        assert_eq!(dead[0].position.to_string(), "partition 2 offset 1");
        assert!(KafkaFormat::parse("nonsense").is_err());
    }
}
