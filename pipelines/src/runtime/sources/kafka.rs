//! The Kafka source: topics read in a consumer group, at least once.
//!
//! As Vector's kafka source does: `enable.auto.offset.store=false`, and a message's
//! offset is stored (as `offset + 1`) only once its batch, and every batch sent before
//! it, is delivered (see [`super::super::ack`]); librdkafka commits stored offsets on
//! its timer (`auto.commit.interval.ms`, 1 s here) and this source commits once more,
//! synchronously, at the end. Before partitions are revoked it sends what it holds,
//! waits for the batches in flight (at most [`REVOKE_DRAIN`]), stores and commits, so
//! a rebalance duplicates nothing. An errored batch never moves an offset. Malformed messages become dead letters (topic, partition, offset,
//! bytes) and count as delivered, so they never block a partition.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::producer::BaseProducer;
use rdkafka::statistics::Statistics;
use rdkafka::{ClientContext, Offset, TopicPartitionList};

use super::SourceContext;
use super::kafka_format::{KafkaFormat, Message};
use super::kafka_packets::{KafkaPackets, LINKTYPE_HEADER};
use crate::runtime::config::KafkaSourceConfig;
use crate::runtime::kafka_sink::{Deliveries, send_waiting};
use crate::runtime::record::RecordKind;
use crate::runtime::stats::PartitionSnapshot;
use vigil_tokenizers::NetfoundConfig;

/// Topics of a Kafka cluster, read in a consumer group.
pub struct KafkaSource {
    topics: Vec<String>,
    format: KafkaFormat,
    /// netFound tokenizer settings, when a netFound model reads its packets.
    tokens: Option<NetfoundConfig>,
    client: ClientConfig,
    /// The dead-letter topic and its producer's settings.
    dlq: Option<(String, ClientConfig)>,
}

impl KafkaSource {
    /// A source for `config`; checks the settings (it connects when it runs). `tokens`
    /// asks a packet topic (`format = "pcap"`) for netFound tokens with these settings.
    pub fn new(
        config: &KafkaSourceConfig,
        tokens: Option<NetfoundConfig>,
    ) -> anyhow::Result<KafkaSource> {
        if config.brokers.trim().is_empty() {
            bail!("`brokers` is empty");
        }
        if config.topics.is_empty() || config.topics.iter().any(|t| t.trim().is_empty()) {
            bail!("`topics` must name at least one topic, none empty");
        }
        if config.group.trim().is_empty() {
            bail!("`group` is empty");
        }
        let format = KafkaFormat::parse(&config.format).context("`format`")?;
        let reset = match config.start.as_deref().unwrap_or("earliest") {
            s @ ("earliest" | "latest") => s,
            other => bail!("`start` is `{other}`: expected earliest or latest"),
        };
        let mut client = ClientConfig::new();
        client
            .set("bootstrap.servers", &config.brokers)
            .set("group.id", &config.group)
            .set("enable.auto.offset.store", "false")
            .set("enable.auto.commit", "true")
            .set("auto.commit.interval.ms", "1000")
            .set("auto.offset.reset", reset)
            .set("partition.assignment.strategy", "cooperative-sticky")
            .set("enable.partition.eof", "false")
            // Offsets and lag of owned partitions, for `vigil stats` and `/metrics`.
            .set("statistics.interval.ms", "1000");
        let mut producer = ClientConfig::new();
        producer.set("bootstrap.servers", &config.brokers).set("enable.idempotence", "true");
        for (k, v) in &config.librdkafka {
            let v = librdkafka_value(k, v)?;
            client.set(k, &v);
            producer.set(k, &v);
        }
        let dlq = config.dlq_topic.clone().filter(|t| !t.trim().is_empty()).map(|t| (t, producer));
        Ok(KafkaSource { topics: config.topics.clone(), format, tokens, client, dlq })
    }

    /// The records it gives.
    pub fn kind(&self) -> RecordKind {
        self.format.kind()
    }

    /// Consume until stopped (or idle for `ctx.until_idle`), then commit what is
    /// delivered.
    pub fn run(self, ctx: &SourceContext) -> anyhow::Result<()> {
        ctx.hand_back_checkpoints();
        let mut batch = Batch::default();
        if matches!(self.format, KafkaFormat::Pcap) {
            batch.packets = Some(KafkaPackets::new(&ctx.sensor, self.tokens.clone())?);
        }
        if let Some((topic, config)) = &self.dlq {
            let producer: BaseProducer<Deliveries> = config
                .create_with_context(Deliveries::default())
                .context("cannot create the dead-letter producer")?;
            batch.dlq = Some((topic.clone(), producer));
        }
        let batch = Mutex::new(batch);
        let held = || batch.lock().unwrap_or_else(|e| e.into_inner());
        let rebalancer =
            Rebalancer { ctx, batch: &batch, format: &self.format, closing: Default::default() };
        let consumer: BaseConsumer<Rebalancer<'_>> = self
            .client
            .create_with_context(rebalancer)
            .context("cannot create the Kafka consumer")?;
        let topics: Vec<&str> = self.topics.iter().map(String::as_str).collect();
        consumer.subscribe(&topics).context("cannot subscribe")?;
        // Idle time counts from the first assignment (joining a group takes a few
        // seconds) or the last message; without an assignment for long, it ends too.
        let started = Instant::now();
        let mut last_input: Option<Instant> = None;
        while !ctx.stopped() {
            // Wait for a message at most until the held batch is due (so a short
            // `max_ms` is kept), and never more than 100 ms (the loop's other work).
            let wait = held().time_left(ctx).min(Duration::from_millis(100));
            // (A rebalance runs inside `poll`, on this thread: nothing is locked here.)
            let polled = consumer.poll(wait);
            let mut b = held();
            match polled {
                Some(Ok(m)) => {
                    last_input = Some(Instant::now());
                    ctx.stats.add_in(1);
                    b.push(message(&m));
                }
                Some(Err(e)) => tracing::warn!(source = %ctx.name, "Kafka: {e}"),
                None => {}
            }
            if b.due(ctx) {
                b.flush(ctx, &self.format)?;
            }
            b.tick(ctx)?;
            let idle_batch = b.messages.is_empty();
            drop(b);
            if let Some(state) = ctx.delivered() {
                store(&consumer, &state);
            }
            if last_input.is_none() && consumer.assignment().is_ok_and(|a| a.count() > 0) {
                last_input = Some(Instant::now());
            }
            let idle = |limit: Duration| match last_input {
                Some(t) => t.elapsed() >= limit,
                None => started.elapsed() >= limit + UNASSIGNED_GRACE,
            };
            if ctx.until_idle.is_some_and(idle) && idle_batch {
                tracing::info!(source = %ctx.name, "no input for the idle time; stopping");
                break;
            }
        }
        consumer.context().closing.store(true, std::sync::atomic::Ordering::Relaxed);
        held().finish(ctx, &self.format)?;
        if let Some(state) = ctx.close_and_wait() {
            store(&consumer, &state);
        }
        commit(&consumer, "final commit");
        Ok(())
    }
}

/// A consumed message, its payload copied.
fn message<M: rdkafka::message::Message>(m: &M) -> Message {
    use rdkafka::message::Headers;
    let linktype = m.headers().and_then(|h| {
        h.iter()
            .find(|h| h.key == LINKTYPE_HEADER)
            .map(|h| String::from_utf8_lossy(h.value.unwrap_or_default()).into_owned())
    });
    Message {
        topic: m.topic().to_string(),
        partition: m.partition(),
        offset: m.offset(),
        payload: m.payload().unwrap_or_default().to_vec(),
        linktype,
    }
}

/// Commit what is stored, synchronously; nothing stored is no error.
fn commit<C: ConsumerContext>(consumer: &BaseConsumer<C>, what: &str) {
    match consumer.commit_consumer_state(CommitMode::Sync) {
        Ok(()) => {}
        Err(e) if e.to_string().contains("No offset stored") => {}
        Err(e) => tracing::warn!("{what}: {e}"),
    }
}

/// How long a revoke waits for the batches in flight to be delivered: less than a
/// session timeout, so the group does not drop this member meanwhile.
const REVOKE_DRAIN: Duration = Duration::from_secs(4);

/// How much longer than the idle time `--until-idle` waits for a first assignment.
const UNASSIGNED_GRACE: Duration = Duration::from_secs(30);

/// A librdkafka setting's value: `env:NAME` from the environment, `file:PATH` from a
/// file (trimmed), anything else as written. Values are never logged.
pub fn librdkafka_value(key: &str, value: &str) -> anyhow::Result<String> {
    crate::runtime::config::secret_value(&format!("librdkafka `{key}`"), value)
}

/// Messages waiting for their batch, and the next offset of every partition sent.
#[derive(Default)]
struct Batch {
    messages: Vec<Message>,
    since: Option<Instant>,
    /// (topic, partition) → the offset after the last message sent.
    next: BTreeMap<(String, i32), i64>,
    /// Where malformed messages also go, if anywhere.
    dlq: Option<(String, BaseProducer<Deliveries>)>,
    /// The flow table of a packet topic.
    packets: Option<KafkaPackets>,
}

impl Batch {
    fn push(&mut self, m: Message) {
        self.since.get_or_insert_with(Instant::now);
        self.messages.push(m);
    }

    /// How long until the held messages are due by age (100 ms when none are held).
    fn time_left(&self, ctx: &SourceContext) -> Duration {
        match self.since {
            Some(t) => Duration::from_millis(ctx.batch.max_ms).saturating_sub(t.elapsed()),
            None => Duration::from_millis(100),
        }
    }

    fn due(&self, ctx: &SourceContext) -> bool {
        self.messages.len() >= ctx.batch.max_rows
            || self.since.is_some_and(|t| t.elapsed() >= Duration::from_millis(ctx.batch.max_ms))
    }

    /// Decode and send what is held, one batch per topic; each carries, as its
    /// state, the offset to store for every partition read so far.
    fn flush(&mut self, ctx: &SourceContext, format: &KafkaFormat) -> anyhow::Result<()> {
        let waited = self.since.take().map(|t| t.elapsed()).unwrap_or_default();
        let mut by_topic: BTreeMap<String, Vec<Message>> = BTreeMap::new();
        for m in self.messages.drain(..) {
            by_topic.entry(m.topic.clone()).or_default().push(m);
        }
        for (_, messages) in by_topic {
            for m in &messages {
                let next = self.next.entry((m.topic.clone(), m.partition)).or_insert(0);
                *next = (*next).max(m.offset + 1);
            }
            let (rows, dead) = match &mut self.packets {
                Some(p) => {
                    let decoded = p.decode(&messages, &ctx.sensor)?;
                    ctx.stats.add_tokenize(p.take_tokenize_time());
                    ctx.stats.set_weirds(p.weirds());
                    decoded
                }
                None => format.decode(&messages, &ctx.sensor)?,
            };
            if let Some((topic, producer)) = &self.dlq {
                to_dead_letter_topic(producer, topic, &dead)?;
            }
            ctx.emit(rows, &dead, Some(self.state()), waited)?;
        }
        Ok(())
    }

    /// The offsets to store once what was sent is delivered: the next offset of
    /// every partition, or for packets, where the oldest open flow began.
    fn state(&self) -> serde_json::Value {
        match &self.packets {
            Some(p) => serde_json::json!(p.offsets()),
            None => {
                let state: Vec<(&str, i32, i64)> =
                    self.next.iter().map(|((t, p), o)| (t.as_str(), *p, *o)).collect();
                serde_json::json!(state)
            }
        }
    }

    /// A quiet packet topic: flows that time out meanwhile are sent.
    fn tick(&mut self, ctx: &SourceContext) -> anyhow::Result<()> {
        if let Some(rows) = self.packets.as_mut().map(|p| p.tick(&ctx.sensor)).transpose()? {
            ctx.emit(rows, &[], Some(self.state()), Duration::ZERO)?;
        }
        Ok(())
    }

    /// A clean stop: send what is held, then every open flow of a packet topic.
    fn finish(&mut self, ctx: &SourceContext, format: &KafkaFormat) -> anyhow::Result<()> {
        self.flush(ctx, format)?;
        if let Some(rows) = self.packets.as_mut().map(|p| p.end_all(&ctx.sensor)).transpose()? {
            ctx.emit(rows, &[], Some(self.state()), Duration::ZERO)?;
        }
        Ok(())
    }
}

/// Produce `dead` letters to `topic` (bytes as read; source, position and error as
/// headers) and wait until every one is reported delivered.
fn to_dead_letter_topic(
    producer: &BaseProducer<Deliveries>,
    topic: &str,
    dead: &[vigil_ingest::DeadLetter],
) -> anyhow::Result<()> {
    use rdkafka::message::{Header, OwnedHeaders};
    use rdkafka::producer::{BaseRecord, Producer};
    if dead.is_empty() {
        return Ok(());
    }
    let failed_before = producer.context().failed.load(std::sync::atomic::Ordering::Relaxed);
    for d in dead {
        let position = d.position.to_string();
        let headers = OwnedHeaders::new()
            .insert(Header { key: "vigil.source", value: Some(d.source.as_str()) })
            .insert(Header { key: "vigil.position", value: Some(position.as_str()) })
            .insert(Header { key: "vigil.error", value: Some(d.reason.as_str()) });
        send_waiting(producer, BaseRecord::to(topic).payload(&d.raw[..]).headers(headers))?;
    }
    producer
        .flush(Duration::from_secs(60))
        .with_context(|| format!("dead-letter topic {topic}"))?;
    let failed = producer.context().failed.load(std::sync::atomic::Ordering::Relaxed);
    anyhow::ensure!(failed == failed_before, "dead-letter topic {topic}: deliveries failed");
    Ok(())
}

/// Store the offsets of a delivered state (`[[topic, partition, next], …]`) for the
/// next commit. A partition no longer assigned here is skipped.
fn store<C: ConsumerContext>(consumer: &BaseConsumer<C>, state: &serde_json::Value) {
    let Ok(offsets) = serde_json::from_value::<Vec<(String, i32, i64)>>(state.clone()) else {
        return;
    };
    let assigned = consumer.assignment().unwrap_or_default();
    let mut tpl = TopicPartitionList::new();
    for (topic, partition, next) in offsets {
        if assigned.find_partition(&topic, partition).is_some() {
            let _ = tpl.add_partition_offset(&topic, partition, Offset::Offset(next));
        }
    }
    if tpl.count() > 0
        && let Err(e) = consumer.store_offsets(&tpl)
    {
        tracing::debug!("cannot store offsets: {e}");
    }
}

/// Before partitions are taken away: sends what is held, waits (at most
/// [`REVOKE_DRAIN`]) for the batches in flight, stores their offsets and commits, so
/// the next owner starts after them. Also reports the owned partitions' offsets to
/// the source's counters.
struct Rebalancer<'a> {
    ctx: &'a SourceContext,
    batch: &'a Mutex<Batch>,
    format: &'a KafkaFormat,
    /// Set once the source stops: the counters keep the partitions it last owned.
    closing: std::sync::atomic::AtomicBool,
}

impl ClientContext for Rebalancer<'_> {
    fn stats(&self, statistics: Statistics) {
        if self.closing.load(std::sync::atomic::Ordering::Relaxed) {
            return;
        }
        let mut owned = Vec::new();
        for (topic, t) in &statistics.topics {
            for p in t.partitions.values().filter(|p| p.partition >= 0 && p.desired) {
                let lag = if p.hi_offset >= 0 && p.next_offset >= 0 {
                    (p.hi_offset - p.next_offset).max(0)
                } else {
                    p.consumer_lag
                };
                owned.push(PartitionSnapshot {
                    topic: topic.clone(),
                    partition: p.partition,
                    next_offset: p.next_offset,
                    committed_offset: p.committed_offset,
                    high_watermark: p.hi_offset,
                    lag,
                });
            }
        }
        owned.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
        self.ctx.stats.set_partitions(owned);
    }
}

impl ConsumerContext for Rebalancer<'_> {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Revoke(tpl) => {
                let mut b = self.batch.lock().unwrap_or_else(|e| e.into_inner());
                if let Err(e) = b.flush(self.ctx, self.format) {
                    tracing::warn!(source = %self.ctx.name, "before the revoke: {e}");
                }
                drop(b);
                if let Some(state) = self.ctx.drain(REVOKE_DRAIN) {
                    store(consumer, &state);
                }
                commit(consumer, "commit before the revoke");
                tracing::info!(source = %self.ctx.name, partitions = tpl.count(), "partitions revoked");
            }
            Rebalance::Assign(tpl) => {
                tracing::info!(source = %self.ctx.name, partitions = tpl.count(), "partitions assigned");
            }
            Rebalance::Error(e) => tracing::warn!(source = %self.ctx.name, "rebalance: {e}"),
        }
    }
}
