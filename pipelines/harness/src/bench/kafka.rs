//! Kafka → FlowTransformer → store, each `vigil run` a child process reading one
//! consumer group: records/s for one and for two instances, their peak RSS, and the
//! end-to-end latency from produce to a row `vigil sql` can see.
//!
//! Rows are flow-CSV rows (JSON objects keyed by column, as `vigil kafka produce
//! --format flow-csv` sends them) cycled from a CSV. For the latency, each row's
//! timestamp is its produce time, and a row counts as visible when the store file
//! holding it appears (the store commits a file by renaming it into place; `vigil sql`
//! lists files when it plans); the store is polled every [`POLL`].

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use arrow_array::cast::AsArray;
use arrow_array::types::TimestampMicrosecondType;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use serde::Serialize;
use vigil_pipelines::runtime::kafka_sink::{Deliveries, idempotent_producer, send_waiting};

use super::pipeline::parse_vm_hwm;

/// How often the store is listed for new files.
const POLL: Duration = Duration::from_millis(10);

/// What to run.
#[derive(Debug, Clone)]
pub struct KafkaBench {
    /// Bootstrap brokers.
    pub brokers: String,
    /// The `vigil` binary.
    pub vigil: PathBuf,
    /// The FlowTransformer model directory.
    pub model: PathBuf,
    /// Its flow-CSV mapping (built-in name).
    pub mapping: String,
    /// Rows to cycle, with a header.
    pub csv: PathBuf,
    /// Rows per throughput run.
    pub rows: usize,
    /// Rows of the latency run.
    pub latency_rows: usize,
    /// Their rate, rows/s.
    pub latency_rate: f64,
    /// Where stores and configs go.
    pub scratch: PathBuf,
}

/// One throughput run.
#[derive(Debug, Clone, Serialize)]
pub struct Throughput {
    /// Instances in the group.
    pub instances: usize,
    /// Rows stored.
    pub rows: usize,
    /// From the first row visible to the last, seconds.
    pub secs: f64,
    /// Rows a second over that span.
    pub rows_per_s: f64,
    /// The largest peak RSS of the instances, MiB.
    pub peak_rss_mib: f64,
}

/// The latency run.
#[derive(Debug, Clone, Serialize)]
pub struct Latency {
    /// Rows produced.
    pub rows: usize,
    /// Their rate, rows/s.
    pub rate: f64,
    /// Produce → visible, median, milliseconds.
    pub p50_ms: f64,
    /// 99th percentile, milliseconds.
    pub p99_ms: f64,
    /// The slowest row, milliseconds.
    pub max_ms: f64,
}

/// Everything measured.
#[derive(Debug, Clone, Serialize)]
pub struct KafkaReport {
    /// One instance, then two.
    pub throughput: Vec<Throughput>,
    /// At a steady rate.
    pub latency: Latency,
}

/// Run the throughput runs (one, then two instances) and the latency run.
pub fn bench_kafka(b: &KafkaBench) -> anyhow::Result<KafkaReport> {
    std::fs::create_dir_all(&b.scratch)?;
    let rows = Arc::new(csv_rows(&b.csv)?);
    let mut throughput = Vec::new();
    for instances in [1, 2] {
        let topic = name("bench-rows");
        b.produce_csv(&topic, b.rows, 4)?;
        let run = Run::start(b, &topic, instances)?;
        let watched = run.watch(b.rows, 0, Duration::from_secs(600))?;
        let secs = watched.last.duration_since(watched.first).as_secs_f64();
        throughput.push(Throughput {
            instances,
            rows: watched.times.len(),
            secs,
            rows_per_s: watched.times.len() as f64 / secs.max(1e-9),
            peak_rss_mib: watched.peak_rss_kib as f64 / 1024.0,
        });
    }
    // Latency: one instance, joined (it stored a first row) before the timed rows.
    let topic = name("bench-latency");
    b.produce_csv(&topic, 1, 1)?;
    let run = Run::start(b, &topic, 1)?;
    run.wait_for_rows(1, Duration::from_secs(60))?;
    let (started, start_us) = (Instant::now(), now_us());
    let feeder = {
        let (brokers, topic, rows) = (b.brokers.clone(), topic.clone(), rows.clone());
        let (n, rate) = (b.latency_rows, b.latency_rate);
        std::thread::spawn(move || -> anyhow::Result<()> {
            let producer = idempotent_producer(&brokers, 5, &Default::default())?;
            for i in 0..n {
                let due = started + Duration::from_secs_f64(i as f64 / rate);
                if let Some(wait) = due.checked_duration_since(Instant::now()) {
                    std::thread::sleep(wait);
                }
                send(&producer, &topic, &rows[i % rows.len()], Some(now_us()))?;
                producer.poll(Duration::ZERO);
            }
            producer.flush(Duration::from_secs(60)).context("produce")?;
            Ok(())
        })
    };
    let watched = run.watch(b.latency_rows, start_us, Duration::from_secs(600))?;
    feeder.join().map_err(|_| anyhow::anyhow!("the producer panicked"))??;
    let mut ms = watched.latencies_ms;
    ms.sort_by(f64::total_cmp);
    let at = |q: f64| ms[((ms.len() as f64 - 1.0) * q).round() as usize];
    let latency = Latency {
        rows: ms.len(),
        rate: b.latency_rate,
        p50_ms: at(0.5),
        p99_ms: at(0.99),
        max_ms: *ms.last().unwrap_or(&0.0),
    };
    Ok(KafkaReport { throughput, latency })
}

impl KafkaBench {
    /// `rows` rows of the CSV (cycled) into a new `topic` of `partitions`, through
    /// `vigil kafka produce`.
    fn produce_csv(&self, topic: &str, rows: usize, partitions: usize) -> anyhow::Result<()> {
        let mut lines =
            std::fs::read_to_string(&self.csv)?.lines().map(str::to_string).collect::<Vec<_>>();
        anyhow::ensure!(lines.len() > 1, "{}: no rows", self.csv.display());
        let header = lines.remove(0);
        let file = self.scratch.join(format!("{topic}.csv"));
        let body: Vec<&str> = (0..rows).map(|i| lines[i % lines.len()].as_str()).collect();
        std::fs::write(&file, format!("{header}\n{}\n", body.join("\n")))?;
        let status = Command::new(&self.vigil)
            .args(["-q", "kafka", "produce", "--format", "flow-csv", "--mapping", &self.mapping])
            .args(["--brokers", &self.brokers, "--topic", topic, "--partitions"])
            .arg(partitions.to_string())
            .arg(&file)
            .status()?;
        anyhow::ensure!(status.success(), "vigil kafka produce: {status}");
        std::fs::remove_file(&file)?;
        Ok(())
    }
}

/// `vigil run` instances reading one topic in one group into one store.
struct Run {
    children: Vec<Child>,
    store: PathBuf,
}

/// What a watch saw.
struct Watched {
    /// When each row became visible.
    times: Vec<Instant>,
    first: Instant,
    last: Instant,
    /// Visible time minus the row's timestamp, in the order seen.
    latencies_ms: Vec<f64>,
    peak_rss_kib: u64,
}

impl Run {
    fn start(b: &KafkaBench, topic: &str, instances: usize) -> anyhow::Result<Run> {
        let dir = b.scratch.join(name("run"));
        std::fs::create_dir_all(&dir)?;
        let store = dir.join("store");
        let group = name("bench-group");
        let mut children = Vec::new();
        for i in 0..instances {
            let config = dir.join(format!("vigil-{i}.toml"));
            std::fs::write(
                &config,
                format!(
                    "sensor = \"bench-{i}\"\n[store]\ndir = \"{store}\"\n[sources.kafka]\ntype = \"kafka\"\nbrokers = \"{brokers}\"\ntopics = [\"{topic}\"]\ngroup = \"{group}\"\nformat = \"{mapping}\"\n[sources.kafka.librdkafka]\n\"session.timeout.ms\" = \"6000\"\n[transforms.score]\ntype = \"score\"\nmodel = \"{model}\"\ninputs = [\"kafka\"]\n[sinks.store]\ntype = \"store\"\ninputs = [\"score\"]\n",
                    store = store.display(),
                    brokers = b.brokers,
                    mapping = b.mapping,
                    model = b.model.display(),
                ),
            )?;
            let child = Command::new(&b.vigil)
                .args(["-q", "run", "--until-idle", "5", "--config"])
                .arg(&config)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .spawn()
                .with_context(|| format!("cannot run {}", b.vigil.display()))?;
            children.push(child);
        }
        Ok(Run { children, store })
    }

    /// Poll until `rows` rows are visible.
    fn wait_for_rows(&self, rows: usize, limit: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + limit;
        let mut seen = BTreeSet::new();
        let mut n = 0;
        while n < rows {
            anyhow::ensure!(Instant::now() < deadline, "{n} of {rows} rows after {limit:?}");
            for f in new_files(&self.store, &mut seen) {
                n += read_ts(&f)?.len();
            }
            std::thread::sleep(POLL);
        }
        Ok(())
    }

    /// Poll the store until `rows` rows stamped at or after `since_us` are visible,
    /// then wait for the instances to end.
    fn watch(mut self, rows: usize, since_us: i64, limit: Duration) -> anyhow::Result<Watched> {
        let deadline = Instant::now() + limit;
        let mut seen = BTreeSet::new();
        let (mut times, mut latencies_ms) = (Vec::new(), Vec::new());
        let mut peak = 0;
        while times.len() < rows {
            if Instant::now() > deadline {
                bail!("{} of {rows} rows visible after {limit:?}", times.len());
            }
            for c in &self.children {
                let status = std::fs::read_to_string(format!("/proc/{}/status", c.id()));
                peak = peak.max(status.ok().as_deref().and_then(parse_vm_hwm).unwrap_or(0));
            }
            for f in new_files(&self.store, &mut seen) {
                let (at, now) = (Instant::now(), now_us());
                for ts in read_ts(&f)?.into_iter().filter(|ts| *ts >= since_us) {
                    times.push(at);
                    latencies_ms.push((now - ts) as f64 / 1000.0);
                }
            }
            std::thread::sleep(POLL);
        }
        for c in &mut self.children {
            let status = c.wait()?;
            anyhow::ensure!(status.success(), "vigil run ended with {status}");
        }
        let (first, last) = (times[0], *times.last().expect("rows"));
        Ok(Watched { times, first, last, latencies_ms, peak_rss_kib: peak })
    }
}

/// Parquet files of the store's `flows` table not in `seen` yet (now added).
fn new_files(store: &Path, seen: &mut BTreeSet<PathBuf>) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut dirs = vec![store.join("flows")];
    while let Some(d) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "parquet") && seen.insert(p.clone()) {
                found.push(p);
            }
        }
    }
    found
}

/// The `ts_start` of every row of a store file, µs.
fn read_ts(file: &Path) -> anyhow::Result<Vec<i64>> {
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
        std::fs::File::open(file)?,
    )?
    .build()?;
    let mut out = Vec::new();
    for batch in reader {
        let batch = batch?;
        let ts = batch.column_by_name("ts_start").context("no ts_start")?;
        let ts = ts.as_primitive::<TimestampMicrosecondType>();
        out.extend((0..ts.len()).map(|i| ts.value(i)));
    }
    Ok(out)
}

/// The rows of a CSV as JSON objects keyed by its header.
fn csv_rows(csv: &Path) -> anyhow::Result<Vec<serde_json::Map<String, serde_json::Value>>> {
    let mut r = csv::Reader::from_path(csv).with_context(|| format!("{}", csv.display()))?;
    let header: Vec<String> = r.headers()?.iter().map(|h| h.trim().to_string()).collect();
    let mut rows = Vec::new();
    for rec in r.records() {
        let rec = rec?;
        rows.push(
            header
                .iter()
                .zip(rec.iter())
                .map(|(h, v)| (h.clone(), serde_json::Value::from(v.trim())))
                .collect(),
        );
    }
    anyhow::ensure!(!rows.is_empty(), "{}: no rows", csv.display());
    Ok(rows)
}

/// Send one row; `stamp` (µs) replaces its `Timestamp`.
fn send(
    producer: &BaseProducer<Deliveries>,
    topic: &str,
    row: &serde_json::Map<String, serde_json::Value>,
    stamp: Option<i64>,
) -> anyhow::Result<()> {
    let mut row = row.clone();
    if let Some(us) = stamp {
        row.insert("Timestamp".into(), vigil_ingest::time::rfc3339_us(us).into());
    }
    let payload = serde_json::Value::Object(row).to_string();
    send_waiting(producer, BaseRecord::to(topic).payload(payload.as_bytes()))
}

fn now_us() -> i64 {
    vigil_pipelines::runtime::rows::now_us()
}

/// A name no other run uses.
fn name(what: &str) -> String {
    format!("{what}-{}-{}", std::process::id(), now_us())
}
