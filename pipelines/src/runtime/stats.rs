//! Per-stage counters: records in and out, passed on unscored, dead-lettered, lost,
//! the stage's failure if it failed, a histogram of
//! batch latency, and where the time went (a source's busy and blocked time, a
//! scoring transform's tokenize and score time); rendered as Prometheus text and as
//! JSON for `vigil stats`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub use vigil_ingest::stage_stats::{
    ALERT_LATENCY_BUCKETS_MS, LATENCY_BUCKETS_MS, PartitionSnapshot, StageSnapshot,
    WebhookSnapshot, prometheus_text, stages_table,
};

/// The counters of one stage. Cheap to update from any thread.
#[derive(Debug, Default)]
pub struct StageStats {
    records_in: AtomicU64,
    records_out: AtomicU64,
    unscored: AtomicU64,
    dead_lettered: AtomicU64,
    lost: AtomicU64,
    suppression_evicted: AtomicU64,
    unexplained: AtomicU64,
    model_reloads: AtomicU64,
    model_reload_failures: AtomicU64,
    disk_full: std::sync::atomic::AtomicBool,
    /// When the wait the source is in now began (see [`StageStats::blocked`]).
    blocked_since: Mutex<Option<Instant>>,
    room_made_files: AtomicU64,
    room_made_bytes: AtomicU64,
    error: Mutex<Option<String>>,
    batches: AtomicU64,
    buckets: [AtomicU64; LATENCY_BUCKETS_MS.len() + 1],
    latency_us_sum: AtomicU64,
    busy_us: AtomicU64,
    blocked_us: AtomicU64,
    tokenize_us: AtomicU64,
    score_us: AtomicU64,
    partitions: Mutex<Vec<PartitionSnapshot>>,
    weirds: Mutex<BTreeMap<String, u64>>,
    webhook: std::sync::OnceLock<DeliveryCounters>,
    alert_latency: [AtomicU64; ALERT_LATENCY_BUCKETS_MS.len() + 1],
    alert_latency_us_sum: AtomicU64,
}

/// A webhook sink's delivery counters ([`StageStats::delivery`]).
#[derive(Debug, Default)]
pub struct DeliveryCounters {
    /// Alerts the receiver accepted.
    pub delivered: AtomicU64,
    /// Failed attempts.
    pub retries: AtomicU64,
    /// Failed attempts answered with a permanent 4xx.
    pub rejected: AtomicU64,
    /// Alerts spooled and not delivered.
    pub pending: AtomicU64,
}

fn add_us(counter: &AtomicU64, took: Duration) {
    counter.fetch_add(took.as_micros() as u64, Ordering::Relaxed);
}

impl StageStats {
    /// A store sink starts (`true`) or stops waiting for disk space.
    pub fn set_disk_full(&self, full: bool) {
        self.disk_full.store(full, Ordering::Relaxed);
    }

    /// A file of `bytes` removed to make room on a full disk.
    pub fn add_room_made(&self, bytes: u64) {
        self.room_made_files.fetch_add(1, Ordering::Relaxed);
        self.room_made_bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    /// A model reload, done (`true`) or refused.
    pub fn add_model_reload(&self, done: bool) {
        let counter = if done { &self.model_reloads } else { &self.model_reload_failures };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// A packet source's weird counts so far (they replace the last ones).
    pub fn set_weirds(&self, weirds: &BTreeMap<&'static str, u64>) {
        let mut mine = self.weirds.lock().unwrap_or_else(|e| e.into_inner());
        mine.clear();
        mine.extend(weirds.iter().map(|(k, v)| (k.to_string(), *v)));
    }

    /// The Kafka partitions a source owns now, with their offsets.
    pub fn set_partitions(&self, partitions: Vec<PartitionSnapshot>) {
        *self.partitions.lock().unwrap_or_else(|e| e.into_inner()) = partitions;
    }

    /// The delivery counters of a webhook sink (made, and then reported, at the first call).
    pub fn delivery(&self) -> &DeliveryCounters {
        self.webhook.get_or_init(DeliveryCounters::default)
    }

    /// Count records taken in.
    pub fn add_in(&self, n: usize) {
        self.records_in.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// Count records passed on.
    pub fn add_out(&self, n: usize) {
        self.records_out.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// Count records a scoring stage could not score and passed on unscored.
    pub fn add_unscored(&self, n: usize) {
        self.unscored.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// Count records lost: taken in, neither passed on, stored nor dead-lettered
    /// (a failed write, a failed stage). Any loss fails the run.
    pub fn add_lost(&self, n: usize) {
        self.lost.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// Count flows at the alerting threshold left without occlusion evidence (the
    /// per-batch cap).
    pub fn add_unexplained(&self, n: u64) {
        self.unexplained.fetch_add(n, Ordering::Relaxed);
    }

    /// Set the alert suppression keys evicted so far.
    pub fn set_suppression_evicted(&self, n: u64) {
        self.suppression_evicted.store(n, Ordering::Relaxed);
    }

    /// Records lost so far.
    pub fn lost(&self) -> u64 {
        self.lost.load(Ordering::Relaxed)
    }

    /// Record that the stage failed, and why (the first failure is kept).
    pub fn fail(&self, error: &str) {
        let mut e = self.error.lock().unwrap_or_else(|e| e.into_inner());
        e.get_or_insert_with(|| error.to_string());
    }

    /// Count records that became dead letters.
    pub fn add_dead_lettered(&self, n: usize) {
        self.dead_lettered.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// Record one batch's processing time.
    pub fn observe_batch(&self, took: Duration) {
        self.batches.fetch_add(1, Ordering::Relaxed);
        let ms = took.as_secs_f64() * 1000.0;
        let i =
            LATENCY_BUCKETS_MS.iter().position(|b| ms <= *b).unwrap_or(LATENCY_BUCKETS_MS.len());
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
        self.latency_us_sum.fetch_add(took.as_micros() as u64, Ordering::Relaxed);
    }

    /// Record `alerts` alerts written `took` after their source rows arrived.
    pub fn observe_alert_latency(&self, took: Duration, alerts: usize) {
        let ms = took.as_secs_f64() * 1000.0;
        let i = ALERT_LATENCY_BUCKETS_MS
            .iter()
            .position(|b| ms <= *b)
            .unwrap_or(ALERT_LATENCY_BUCKETS_MS.len());
        self.alert_latency[i].fetch_add(alerts as u64, Ordering::Relaxed);
        self.alert_latency_us_sum
            .fetch_add(took.as_micros() as u64 * alerts as u64, Ordering::Relaxed);
    }

    /// Count time a source spent reading and decoding (its run, less the time blocked).
    pub fn add_busy(&self, took: Duration) {
        add_us(&self.busy_us, took);
    }

    /// Count time a source waited on full downstream channels (backpressure).
    pub fn add_blocked(&self, took: Duration) {
        add_us(&self.blocked_us, took);
    }

    /// Run `f`, a wait on what is downstream (a full channel, a full disk): counted as
    /// blocked time, which the counters show growing while it lasts.
    pub fn blocked<T>(&self, f: impl FnOnce() -> T) -> T {
        let started = Instant::now();
        *self.blocked_since.lock().unwrap_or_else(|e| e.into_inner()) = Some(started);
        let out = f();
        *self.blocked_since.lock().unwrap_or_else(|e| e.into_inner()) = None;
        self.add_blocked(started.elapsed());
        out
    }

    /// The blocked time counted so far, in seconds.
    pub fn blocked_seconds(&self) -> f64 {
        self.blocked_us.load(Ordering::Relaxed) as f64 / 1e6
    }

    /// Count time spent turning records into model inputs.
    pub fn add_tokenize(&self, took: Duration) {
        add_us(&self.tokenize_us, took);
    }

    /// Run `f`, counting its time as tokenizing.
    pub fn tokenizing<T>(&self, f: impl FnOnce() -> T) -> T {
        let started = Instant::now();
        let out = f();
        self.add_tokenize(started.elapsed());
        out
    }

    /// Run `f`, counting its time as scoring (model inputs, the model, its outputs).
    pub fn scoring<T>(&self, f: impl FnOnce() -> T) -> T {
        let started = Instant::now();
        let out = f();
        add_us(&self.score_us, started.elapsed());
        out
    }

    fn snapshot(&self, name: &str, role: &str) -> StageSnapshot {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        StageSnapshot {
            stage: name.to_string(),
            role: role.to_string(),
            records_in: load(&self.records_in),
            records_out: load(&self.records_out),
            unscored: load(&self.unscored),
            dead_lettered: load(&self.dead_lettered),
            lost: load(&self.lost),
            suppression_evicted: load(&self.suppression_evicted),
            unexplained: load(&self.unexplained),
            model_reloads: load(&self.model_reloads),
            model_reload_failures: load(&self.model_reload_failures),
            pending_rows: 0, // the registry knows the inputs: see StatsRegistry::snapshot
            disk_full: self.disk_full.load(Ordering::Relaxed),
            room_made_files: load(&self.room_made_files),
            room_made_bytes: load(&self.room_made_bytes),
            error: self.error.lock().unwrap_or_else(|e| e.into_inner()).clone(),
            batches: load(&self.batches),
            latency_buckets: self.buckets.iter().map(load).collect(),
            latency_seconds_sum: load(&self.latency_us_sum) as f64 / 1e6,
            busy_seconds: load(&self.busy_us) as f64 / 1e6,
            blocked_seconds: (load(&self.blocked_us) as f64 / 1e6)
                + self
                    .blocked_since
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .map_or(0.0, |s| s.elapsed().as_secs_f64()),
            tokenize_seconds: load(&self.tokenize_us) as f64 / 1e6,
            score_seconds: load(&self.score_us) as f64 / 1e6,
            partitions: self.partitions.lock().unwrap_or_else(|e| e.into_inner()).clone(),
            weirds: self.weirds.lock().unwrap_or_else(|e| e.into_inner()).clone(),
            webhook: self.webhook.get().map(|w| WebhookSnapshot {
                delivered: load(&w.delivered),
                retries: load(&w.retries),
                rejected: load(&w.rejected),
                pending: load(&w.pending),
            }),
            alert_latency_buckets: match self.alert_latency.iter().map(load).sum::<u64>() {
                0 => Vec::new(),
                _ => self.alert_latency.iter().map(load).collect(),
            },
            alert_latency_seconds_sum: load(&self.alert_latency_us_sum) as f64 / 1e6,
        }
    }
}

/// The counters each instance that ran over the store at `store` left in
/// `<store>/_stats/<instance>.json`, by instance name, in name order.
pub fn stored_snapshots(
    store: &std::path::Path,
) -> anyhow::Result<Vec<(String, Vec<StageSnapshot>)>> {
    use anyhow::Context;
    let dir = store.join("_stats");
    let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(&dir)
        .with_context(|| format!("no counters in {} (has an instance run there?)", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    let mut out = Vec::with_capacity(files.len());
    for f in &files {
        let stages: Vec<StageSnapshot> = serde_json::from_slice(&std::fs::read(f)?)
            .with_context(|| format!("{}: not a counters file", f.display()))?;
        let instance = f.file_stem().and_then(|s| s.to_str()).unwrap_or("?").to_string();
        out.push((instance, stages));
    }
    Ok(out)
}

/// A registered stage: name, role, counters.
type Registered = (String, String, Arc<StageStats>);

/// Every stage's counters.
#[derive(Debug, Default, Clone)]
pub struct StatsRegistry {
    stages: Arc<Mutex<Vec<Registered>>>,
    /// Each transform's and sink's inputs, for its pending rows.
    inputs: Arc<Mutex<BTreeMap<String, Vec<String>>>>,
}

impl StatsRegistry {
    /// The counters of a new stage.
    pub fn stage(&self, name: &str, role: &str) -> Arc<StageStats> {
        let stats = Arc::new(StageStats::default());
        let mut stages = self.stages.lock().unwrap_or_else(|e| e.into_inner());
        stages.push((name.to_string(), role.to_string(), stats.clone()));
        stats
    }

    /// Record the stages `stage` reads from.
    pub fn set_inputs(&self, stage: &str, inputs: &[String]) {
        let mut all = self.inputs.lock().unwrap_or_else(|e| e.into_inner());
        all.insert(stage.to_string(), inputs.to_vec());
    }

    /// A copy of every stage's counters, in registration order, with each stage's
    /// pending rows: what its inputs passed on, less what it took in (a transform) or
    /// finished writing or lost (a sink).
    pub fn snapshot(&self) -> Vec<StageSnapshot> {
        let stages = self.stages.lock().unwrap_or_else(|e| e.into_inner());
        let mut snaps: Vec<StageSnapshot> =
            stages.iter().map(|(n, r, s)| s.snapshot(n, r)).collect();
        let inputs = self.inputs.lock().unwrap_or_else(|e| e.into_inner());
        let out: BTreeMap<&str, u64> =
            snaps.iter().map(|s| (s.stage.as_str(), s.records_out)).collect();
        let pending: Vec<u64> = snaps
            .iter()
            .map(|s| {
                let Some(from) = inputs.get(&s.stage) else { return 0 };
                let sent: u64 = from.iter().filter_map(|i| out.get(i.as_str())).sum();
                let done = match s.role.as_str() {
                    "sink" => s.records_out + s.lost,
                    _ => s.records_in,
                };
                sent.saturating_sub(done)
            })
            .collect();
        for (s, p) in snaps.iter_mut().zip(pending) {
            s.pending_rows = p;
        }
        snaps
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_render_as_prometheus_text() {
        let reg = StatsRegistry::default();
        let s = reg.stage("capture", "source");
        s.add_out(10);
        s.add_dead_lettered(2);
        s.observe_batch(Duration::from_millis(3));
        s.observe_batch(Duration::from_secs(100));
        s.add_tokenize(Duration::from_millis(1500));
        assert_eq!(s.scoring(|| 7), 7);
        let k = reg.stage("kafka", "source");
        k.set_partitions(vec![PartitionSnapshot {
            topic: "flows".into(),
            partition: 3,
            next_offset: 90,
            committed_offset: 80,
            high_watermark: 100,
            lag: 10,
        }]);
        let w = reg.stage("siem", "sink");
        w.delivery().delivered.fetch_add(4, Ordering::Relaxed);
        w.delivery().pending.store(2, Ordering::Relaxed);
        let text = prometheus_text(&reg.snapshot());
        assert!(text.contains("vigil_webhook_delivered_total{stage=\"siem\"} 4"));
        assert!(text.contains(
            "# TYPE vigil_webhook_pending gauge\nvigil_webhook_pending{stage=\"siem\"} 2"
        ));
        assert!(text.contains(
            "vigil_kafka_partition_lag{stage=\"kafka\",topic=\"flows\",partition=\"3\"} 10"
        ));
        assert!(text.contains(
            "vigil_kafka_partition_committed_offset{stage=\"kafka\",topic=\"flows\",partition=\"3\"} 80"
        ));
        assert!(
            text.contains("vigil_stage_records_out_total{stage=\"capture\",role=\"source\"} 10")
        );
        assert!(
            text.contains("vigil_stage_dead_lettered_total{stage=\"capture\",role=\"source\"} 2")
        );
        assert!(text.contains(
            "vigil_stage_batch_seconds_bucket{stage=\"capture\",role=\"source\",le=\"0.005\"} 1"
        ));
        assert!(text.contains(
            "vigil_stage_batch_seconds_bucket{stage=\"capture\",role=\"source\",le=\"+Inf\"} 2"
        ));
        assert!(
            text.contains("vigil_stage_batch_seconds_count{stage=\"capture\",role=\"source\"} 2")
        );
        assert!(
            text.contains(
                "vigil_stage_tokenize_seconds_total{stage=\"capture\",role=\"source\"} 1.5"
            )
        );
    }
}
