//! The Kafka sink: rows produced to a topic, idempotently, each delivery report checked.
//!
//! A batch is acknowledged only once every message of it is reported delivered
//! (librdkafka retries on its own, up to `message.timeout.ms`); a message that still
//! fails fails the sink, and so the batch's acknowledgement: nothing is dropped silently.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use arrow_array::RecordBatch;
use arrow_array::cast::AsArray;
use datafusion::arrow::ipc::writer::StreamWriter;
use datafusion::arrow::json::LineDelimitedWriter;
use rdkafka::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};

use super::config::KafkaSinkConfig;
use super::record::{Envelope, RecordKind};
use super::sources::librdkafka_value;

/// How long a batch may wait for its delivery reports.
const DELIVERY_WAIT: Duration = Duration::from_secs(300);

/// Produces batches to one topic.
pub struct KafkaWriter {
    topic: String,
    arrow: bool,
    producer: BaseProducer<Deliveries>,
}

/// A producer context counting delivery reports: every producer of Vigil checks them.
#[derive(Default)]
pub struct Deliveries {
    /// Messages reported delivered.
    pub ok: AtomicU64,
    /// Messages reported failed (after librdkafka's retries).
    pub failed: AtomicU64,
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(_) => self.ok.fetch_add(1, Ordering::Relaxed),
            Err((e, _)) => {
                tracing::error!("Kafka delivery failed: {e}");
                self.failed.fetch_add(1, Ordering::Relaxed)
            }
        };
    }
}

/// An idempotent producer that counts its deliveries: `brokers`, `linger_ms`, then the
/// librdkafka settings `extra` (values may be `env:NAME` or `file:PATH`).
pub fn idempotent_producer(
    brokers: &str,
    linger_ms: u32,
    extra: &BTreeMap<String, String>,
) -> anyhow::Result<BaseProducer<Deliveries>> {
    let mut client = ClientConfig::new();
    client
        .set("bootstrap.servers", brokers)
        .set("enable.idempotence", "true")
        .set("linger.ms", linger_ms.to_string());
    for (k, v) in extra {
        client.set(k, librdkafka_value(k, v)?);
    }
    client.create_with_context(Deliveries::default()).context("cannot create the Kafka producer")
}

/// Send one message, waiting while librdkafka's queue is full.
pub fn send_waiting<C: ProducerContext>(
    producer: &BaseProducer<C>,
    mut rec: BaseRecord<'_, [u8], [u8], C::DeliveryOpaque>,
) -> anyhow::Result<()> {
    loop {
        match producer.send(rec) {
            Ok(()) => {
                producer.poll(Duration::ZERO);
                return Ok(());
            }
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                rec = back;
                producer.poll(Duration::from_millis(20));
            }
            Err((e, r)) => bail!("cannot produce to {}: {e}", r.topic),
        }
    }
}

impl KafkaWriter {
    /// A producer for `config` (it connects on the first message).
    pub fn new(config: &KafkaSinkConfig) -> anyhow::Result<KafkaWriter> {
        if config.brokers.trim().is_empty() || config.topic.trim().is_empty() {
            bail!("`brokers` and `topic` must be set");
        }
        let arrow = match config.format.as_deref().unwrap_or("json") {
            "json" => false,
            "arrow" => true,
            other => bail!("`format` is `{other}`: expected json or arrow"),
        };
        let producer = idempotent_producer(&config.brokers, 10, &config.librdkafka)?;
        Ok(KafkaWriter { topic: config.topic.clone(), arrow, producer })
    }

    /// Produce the rows of `env` (dead letters stay in the store) and wait until
    /// every message is delivered; returns the rows produced.
    pub fn write(&mut self, env: &Envelope) -> anyhow::Result<usize> {
        if env.kind == RecordKind::DeadLetters || env.rows() == 0 {
            return Ok(0);
        }
        let failed_before = self.producer.context().failed.load(Ordering::Relaxed);
        if self.arrow {
            let mut buf = Vec::new();
            let mut w = StreamWriter::try_new(&mut buf, &env.batch.schema())?;
            w.write(&env.batch)?;
            w.finish()?;
            drop(w);
            self.send(None, &buf)?;
        } else {
            let mut buf = Vec::new();
            let mut w = LineDelimitedWriter::new(&mut buf);
            w.write(&env.batch)?;
            w.finish()?;
            let keys = keys(env.kind, &env.batch);
            for (i, line) in buf.split(|b| *b == b'\n').filter(|l| !l.is_empty()).enumerate() {
                self.send(keys.as_ref().and_then(|k| k[i].as_deref()), line)?;
            }
        }
        self.producer
            .flush(DELIVERY_WAIT)
            .with_context(|| format!("topic {}: deliveries did not finish", self.topic))?;
        let failed = self.producer.context().failed.load(Ordering::Relaxed) - failed_before;
        if failed > 0 {
            bail!("topic {}: {failed} messages were not delivered", self.topic);
        }
        Ok(env.rows())
    }

    fn send(&self, key: Option<&str>, payload: &[u8]) -> anyhow::Result<()> {
        let mut rec = BaseRecord::to(&self.topic).payload(payload);
        if let Some(k) = key {
            rec = rec.key(k.as_bytes());
        }
        send_waiting(&self.producer, rec)
    }
}

/// Each row's message key: `community_id` (flows, alerts), else the entity (alerts,
/// actions) or series (metrics).
fn keys(kind: RecordKind, batch: &RecordBatch) -> Option<Vec<Option<String>>> {
    let names: &[&str] = match kind {
        RecordKind::Flows => &["community_id"],
        RecordKind::Alerts => &["community_id", "entity"],
        RecordKind::Actions => &["entity"],
        RecordKind::Metrics => &["series"],
        RecordKind::DeadLetters => &[],
    };
    let columns: Vec<_> = names
        .iter()
        .filter_map(|n| batch.column_by_name(n))
        .filter_map(|c| c.as_string_opt::<i32>())
        .collect();
    if columns.is_empty() {
        return None;
    }
    Some(
        (0..batch.num_rows())
            .map(|r| {
                columns.iter().find_map(|c| {
                    use arrow_array::Array;
                    (c.is_valid(r) && !c.value(r).is_empty()).then(|| c.value(r).to_string())
                })
            })
            .collect(),
    )
}
