//! Sinks: the event store, EVE JSON lines for alerts, Kafka, and an HTTP webhook for
//! alerts.
//!
//! A sink is an async task reading its channel ([`Sink::run`]); it resolves each
//! batch's acknowledgements once the rows are durable (the store: fsynced and
//! renamed, see [`StoreSink`]; EVE: flushed; Kafka: every delivery confirmed; webhook:
//! fsynced in its spool, see [`WebhookSink`]), and fails the run (its rows counted
//! lost, their acknowledgements errored) when a write fails.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Float32Type, TimestampMicrosecondType, UInt8Type, UInt16Type, UInt64Type,
};
use arrow_array::{Array, RecordBatch};
use serde_json::{Map, Value, json};

use std::sync::Arc;

use tokio::sync::mpsc;

use super::ack::BatchStatus;
pub use super::kafka_sink::KafkaWriter;
use super::record::{Envelope, RecordKind};
use super::stats::StageStats;
pub use super::store_sink::StoreSink;
pub use super::webhook::WebhookSink;

/// A sink ready to run.
pub enum Sink {
    /// Batches to their tables of the store, written at size or age.
    Store(StoreSink),
    /// Alerts appended to an EVE JSON file.
    Eve(EveWriter),
    /// Records produced to a Kafka topic.
    Kafka(Box<KafkaWriter>),
    /// Alerts spooled on disk and POSTed to an HTTP receiver.
    Webhook(Box<WebhookSink>),
}

impl Sink {
    /// Write every batch `rx` brings until it closes; a failed write ends the sink
    /// with the error (the batch's rows counted lost).
    pub async fn run(
        self,
        mut rx: mpsc::Receiver<Envelope>,
        stats: Arc<StageStats>,
    ) -> anyhow::Result<()> {
        let mut this = match self {
            Sink::Store(store) => return store.run(rx, stats).await,
            Sink::Webhook(hook) => return hook.run(rx, stats).await,
            other => other,
        };
        while let Some(mut env) = rx.recv().await {
            let acks = env.take_acks();
            let rows = env.rows();
            stats.add_in(rows);
            let started = std::time::Instant::now();
            let (sink, result) = tokio::task::spawn_blocking(move || {
                let r = this.write(&env);
                (this, r)
            })
            .await?;
            this = sink;
            stats.observe_batch(started.elapsed());
            match result {
                Ok(written) => {
                    stats.add_out(written);
                    acks.resolve(BatchStatus::Delivered);
                }
                Err(e) => {
                    stats.add_lost(rows);
                    acks.resolve(BatchStatus::Errored);
                    return Err(e.context(format!("{rows} rows not written")));
                }
            }
        }
        Ok(())
    }

    /// Write one batch to an EVE or Kafka sink; returns the rows now durable.
    fn write(&mut self, env: &Envelope) -> anyhow::Result<usize> {
        match self {
            Sink::Store(_) | Sink::Webhook(_) => unreachable!("these sinks run on their own"),
            Sink::Eve(w) if env.kind == RecordKind::Alerts => w.write(&env.batch),
            Sink::Eve(_) => Ok(0),
            Sink::Kafka(w) => w.write(env),
        }
    }
}

/// Appends alerts as Suricata-style EVE JSON, one object per line. The file (and
/// its directory) is made at the first alert.
pub struct EveWriter {
    path: PathBuf,
    out: Option<BufWriter<File>>,
}

impl EveWriter {
    /// A writer appending to (or creating) `path` when the first alert comes.
    pub fn new(path: &Path) -> EveWriter {
        EveWriter { path: path.to_path_buf(), out: None }
    }

    /// The file it appends to.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn file(&mut self) -> anyhow::Result<&mut BufWriter<File>> {
        if self.out.is_none() {
            if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)
                    .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
            }
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)
                .map_err(|e| anyhow::anyhow!("cannot open {}: {e}", self.path.display()))?;
            self.out = Some(BufWriter::new(file));
        }
        Ok(self.out.as_mut().expect("opened above"))
    }

    /// Append the rows of an `alerts` batch and flush.
    pub fn write(&mut self, b: &RecordBatch) -> anyhow::Result<usize> {
        let path = self.path.clone();
        let err = |e: std::io::Error| anyhow::anyhow!("{}: {e}", path.display());
        let out = self.file()?;
        for r in 0..b.num_rows() {
            let line = eve_alert(b, r)?;
            writeln!(out, "{line}").map_err(err)?;
        }
        out.flush().map_err(err)?;
        Ok(b.num_rows())
    }
}

/// One `alerts` row as an EVE alert event.
pub fn eve_alert(b: &RecordBatch, r: usize) -> anyhow::Result<Value> {
    let col = |n: &str| b.column_by_name(n).ok_or_else(|| anyhow::anyhow!("alerts without `{n}`"));
    let text = |n: &str| -> anyhow::Result<Option<String>> {
        let c = col(n)?.as_string::<i32>();
        Ok(c.is_valid(r).then(|| c.value(r).to_string()))
    };
    let ts = col("timestamp")?.as_primitive::<TimestampMicrosecondType>().value(r);
    let mut e = Map::new();
    e.insert("timestamp".into(), json!(rfc3339(ts)));
    e.insert("event_type".into(), json!("alert"));
    let flow_id = col("flow_id")?.as_primitive::<UInt64Type>();
    if flow_id.is_valid(r) {
        e.insert("flow_id".into(), json!(flow_id.value(r)));
    }
    if let Some(c) = text("community_id")? {
        e.insert("community_id".into(), json!(c));
    }
    if let Some(src) = text("src_ip")? {
        e.insert("src_ip".into(), json!(src));
        e.insert("src_port".into(), json!(col("src_port")?.as_primitive::<UInt16Type>().value(r)));
        e.insert("dest_ip".into(), json!(text("dest_ip")?));
        e.insert(
            "dest_port".into(),
            json!(col("dest_port")?.as_primitive::<UInt16Type>().value(r)),
        );
        let proto = col("proto")?.as_primitive::<UInt8Type>().value(r);
        let name = match proto {
            6 => "TCP".to_string(),
            17 => "UDP".to_string(),
            1 => "ICMP".to_string(),
            58 => "IPv6-ICMP".to_string(),
            p => p.to_string(),
        };
        e.insert("proto".into(), json!(name));
    }
    e.insert(
        "alert".into(),
        json!({
            "action": "allowed",
            "signature": text("signature")?,
            "category": text("category")?,
            "severity": col("severity")?.as_primitive::<UInt8Type>().value(r),
        }),
    );
    let evidence: Value =
        text("evidence")?.and_then(|s| serde_json::from_str(&s).ok()).unwrap_or(Value::Null);
    e.insert(
        "vigil".into(),
        json!({
            "model": text("model")?,
            "label": text("label")?,
            "score": col("score")?.as_primitive::<Float32Type>().value(r),
            "entity": text("entity")?,
            "evidence": evidence,
        }),
    );
    e.insert("host".into(), json!(text("sensor")?));
    Ok(Value::Object(e))
}

/// µs since the epoch as Suricata writes it: `2026-11-29T10:00:00.123456+0000`.
fn rfc3339(ts: i64) -> String {
    let utc = vigil_ingest::time::rfc3339_us(ts);
    format!("{}+0000", utc.trim_end_matches('Z'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::config::AlertRule;
    use crate::runtime::transforms::{Alert, alerts_batch};

    #[test]
    fn alerts_become_eve_lines() {
        let rule = AlertRule {
            name: "netfound-malicious".into(),
            model: "netfound".into(),
            label: None,
            not_label: None,
            field: Some("malicious".into()),
            min_score: 0.9,
            severity: 1,
            category: None,
            suppress_secs: 60,
        };
        let a = Alert {
            ts: 1_000_000_000_123_456,
            rule: 0,
            flow_id: Some(7),
            community_id: Some("1:abc".into()),
            tuple: Some(("10.0.0.1".into(), 1234, "10.0.0.2".into(), 80, 6)),
            entity: None,
            label: Some("HTTP".into()),
            score: 0.95,
            evidence: json!({"conn_state": "SF"}),
            sensor: "lab".into(),
        };
        let b = alerts_batch(&[a], &[rule]).unwrap();
        let e = eve_alert(&b, 0).unwrap();
        assert_eq!(e["timestamp"], "2001-09-09T01:46:40.123456+0000");
        assert_eq!(e["proto"], "TCP");
        assert_eq!(e["alert"]["signature"], "netfound-malicious");
        assert_eq!(e["alert"]["severity"], 1);
        assert_eq!(e["vigil"]["evidence"]["conn_state"], "SF");
        assert_eq!(e["dest_port"], 80);
    }
}
