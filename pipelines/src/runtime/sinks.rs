//! Sinks: the event store, EVE JSON lines for alerts, Kafka, an HTTP webhook for
//! alerts, and the console's live alert stream.
//!
//! A sink is an async task reading its channel ([`Sink::run`]); it resolves each
//! batch's acknowledgements once the rows are durable (the store: fsynced and
//! renamed, see [`StoreSink`]; EVE: flushed; Kafka: every delivery confirmed; webhook:
//! fsynced in its spool, see [`WebhookSink`]; dashboard: handed to the open streams),
//! and fails the run (its rows counted lost, their acknowledgements errored) when a
//! write fails.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Float32Type, TimestampMicrosecondType, UInt8Type, UInt16Type, UInt32Type, UInt64Type,
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
    /// Alerts pushed to the console's live streams (the store keeps them; this sink
    /// only shows them sooner).
    Dashboard(vigil_dashboards::LiveAlerts),
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
            let alerts = (env.kind == RecordKind::Alerts).then_some(env.arrived);
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
                    if let Some(arrived) = alerts.filter(|_| written > 0) {
                        stats.observe_alert_latency(arrived.elapsed(), written);
                    }
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

    /// Write one batch to an EVE, Kafka or dashboard sink; returns the rows now durable
    /// (the dashboard's: shown).
    fn write(&mut self, env: &Envelope) -> anyhow::Result<usize> {
        match self {
            Sink::Store(_) | Sink::Webhook(_) => unreachable!("these sinks run on their own"),
            Sink::Eve(w) if env.kind == RecordKind::Alerts => w.write(&env.batch),
            Sink::Eve(_) => Ok(0),
            Sink::Kafka(w) => w.write(env),
            Sink::Dashboard(feed) if env.kind == RecordKind::Alerts => {
                feed.publish(&env.batch)?;
                Ok(env.rows())
            }
            Sink::Dashboard(_) => Ok(0),
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
            let line = eve_line(b, r)?;
            writeln!(out, "{line}").map_err(err)?;
        }
        out.flush().map_err(err)?;
        Ok(b.num_rows())
    }
}

/// One `alerts` row as an EVE JSON line, its keys in Suricata's order (`timestamp`
/// first), so that line-oriented parsers written for Suricata's output read it.
pub fn eve_line(b: &RecordBatch, r: usize) -> anyhow::Result<String> {
    let Value::Object(e) = eve_alert(b, r)? else { unreachable!("an object") };
    Ok(crate::output::eve_text(e))
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
    e.insert("timestamp".into(), json!(crate::output::eve_time(ts)));
    let event_type = b
        .column_by_name("event_type")
        .and_then(|c| c.as_string_opt::<i32>())
        .filter(|c| c.is_valid(r))
        .map_or(crate::alerting::ALERT, |c| c.value(r));
    e.insert("event_type".into(), json!(event_type));
    let flow_id = col("flow_id")?.as_primitive::<UInt64Type>();
    if flow_id.is_valid(r) {
        e.insert("flow_id".into(), json!(flow_id.value(r)));
    }
    if let Some(c) = text("community_id")? {
        e.insert("community_id".into(), json!(c));
    }
    if let Some(src) = text("src_ip")? {
        e.insert("src_ip".into(), json!(src));
        let port = |n: &str| -> anyhow::Result<Option<u16>> {
            let c = col(n)?.as_primitive::<UInt16Type>();
            Ok(c.is_valid(r).then(|| c.value(r)))
        };
        if let Some(p) = port("src_port")? {
            e.insert("src_port".into(), json!(p));
        }
        if let Some(dst) = text("dest_ip")? {
            e.insert("dest_ip".into(), json!(dst));
        }
        if let Some(p) = port("dest_port")? {
            e.insert("dest_port".into(), json!(p));
        }
        let proto = col("proto")?.as_primitive::<UInt8Type>();
        if proto.is_valid(r) {
            let name = match proto.value(r) {
                6 => "TCP".to_string(),
                17 => "UDP".to_string(),
                1 => "ICMP".to_string(),
                58 => "IPv6-ICMP".to_string(),
                p => p.to_string(),
            };
            e.insert("proto".into(), json!(name));
        }
    }
    let u32_of = |n: &str| -> Option<u32> {
        let c = b.column_by_name(n)?.as_primitive_opt::<UInt32Type>()?;
        c.is_valid(r).then(|| c.value(r))
    };
    e.insert(
        "alert".into(),
        json!({
            "action": "allowed",
            "gid": u32_of("gid").unwrap_or(1),
            "signature_id": u32_of("signature_id").unwrap_or(0),
            "rev": u32_of("rev").unwrap_or(1),
            "signature": text("signature")?,
            "category": text("category")?,
            "severity": col("severity")?.as_primitive::<UInt8Type>().value(r),
        }),
    );
    let evidence: Value =
        text("evidence")?.and_then(|s| serde_json::from_str(&s).ok()).unwrap_or(Value::Null);
    let opt_text = |n: &str| -> Option<String> {
        let c = b.column_by_name(n)?.as_string_opt::<i32>()?;
        c.is_valid(r).then(|| c.value(r).to_string())
    };
    let suppressed = b
        .column_by_name("suppressed")
        .and_then(|c| c.as_primitive_opt::<UInt64Type>().cloned())
        .filter(|c| c.is_valid(r))
        .map_or(0, |c| c.value(r));
    e.insert(
        "vigil".into(),
        json!({
            "alert_id": opt_text("alert_id"),
            "model": text("model")?,
            "model_version": opt_text("model_version"),
            "model_sha256": opt_text("model_sha256"),
            "label": text("label")?,
            "score": col("score")?.as_primitive::<Float32Type>().value(r),
            "entity": text("entity")?,
            "suppressed": suppressed,
            "evidence": evidence,
        }),
    );
    e.insert("host".into(), json!(text("sensor")?));
    Ok(Value::Object(e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerting::{Alert, ModelRef, Signature, alerts_batch};

    #[test]
    fn alerts_become_eve_lines() {
        let a = Alert {
            ts: 1_000_000_000_123_456,
            sig: Signature {
                sid: 9100001,
                gid: 1,
                rev: 2,
                text: "netfound-malicious".into(),
                category: "Potentially Bad Traffic".into(),
                severity: 1,
            },
            model: ModelRef { name: "netfound".into(), version: Some("3".into()), sha256: None },
            flow_id: Some(7),
            community_id: Some("1:abc".into()),
            src_ip: Some("10.0.0.1".into()),
            src_port: Some(1234),
            dest_ip: Some("10.0.0.2".into()),
            dest_port: Some(80),
            proto: Some(6),
            label: Some("HTTP".into()),
            score: 0.95,
            evidence: json!({"conn_state": "SF"}),
            sensor: "lab".into(),
            suppressed: 4,
            ..Default::default()
        };
        let hstu =
            Alert { entity: Some("192.0.2.9".into()), sig: a.sig.clone(), ..Default::default() };
        let b = alerts_batch(&[a.clone(), hstu]).unwrap();
        let e = eve_alert(&b, 0).unwrap();
        assert_eq!(e["timestamp"], "2001-09-09T01:46:40.123456+0000");
        assert_eq!(e["proto"], "TCP");
        assert_eq!(e["alert"]["signature"], "netfound-malicious");
        assert_eq!(e["alert"]["signature_id"], 9100001);
        assert_eq!((e["alert"]["gid"].clone(), e["alert"]["rev"].clone()), (json!(1), json!(2)));
        assert_eq!(e["alert"]["severity"], 1);
        assert_eq!(e["vigil"]["evidence"]["conn_state"], "SF");
        assert_eq!(e["vigil"]["alert_id"], a.alert_id());
        assert_eq!(e["vigil"]["suppressed"], 4);
        assert_eq!(e["vigil"]["model_version"], "3");
        assert_eq!(e["dest_port"], 80);
        // The first key is the timestamp, as Suricata writes it.
        let line = eve_line(&b, 0).unwrap();
        assert!(line.starts_with("{\"timestamp\":\"2001-09-09T01:46:40.123456+0000\",\"flow_id\":7,\"event_type\":\"alert\",\"src_ip\""), "{line}");
        assert_eq!(serde_json::from_str::<Value>(&line).unwrap(), e);
        // An entity that is an address is the source.
        let h = eve_alert(&b, 1).unwrap();
        assert_eq!(h["src_ip"], "192.0.2.9");
        assert!(h.get("src_port").is_none() && h.get("proto").is_none());
    }
}
