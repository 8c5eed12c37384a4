//! Sources: blocking readers that turn input into micro-batches.
//!
//! Each runs on its own blocking thread, batches rows until `batch.max_rows` or
//! `batch.max_ms`, and stops reading when the stop flag is raised (first signal),
//! flushing what it holds. Unreadable input becomes dead-letter rows.

mod capture;
pub mod capture_ledger;
mod files;
mod kafka;
pub mod kafka_format;
pub mod kafka_packets;
mod kafka_tables;
mod packet_flows;
mod read_ahead;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use vigil_ingest::DeadLetter;
use vigil_tokenizers::NetfoundConfig;

pub use capture::CaptureSource;
pub use files::{
    ActionsSource, FlowCsvSource, MetricsSource, action_log_format, flow_mapping, guess_action_log,
};
pub use kafka::{KafkaSource, librdkafka_value};
pub use kafka_format::KafkaFormat;

use super::ack::{Acks, BatchStatus};
use super::checkpoint::{self, Checkpointer};
use super::config::{BatchConfig, SourceConfig};
use super::outputs::{Closed, Outputs};
use super::record::{Envelope, RecordKind};
use super::rows::dead_letters_batch;
use super::stats::StageStats;
use crate::store::origin::BatchOrigin;

/// What a source needs from the runtime.
pub struct SourceContext {
    /// The source's name in the topology.
    pub name: String,
    /// Downstream channels (closed by [`SourceContext::close`]).
    out: Mutex<Outputs>,
    /// This source's counters.
    pub stats: Arc<StageStats>,
    /// Raised on the first shutdown signal (or when a stage fails).
    pub stop: Arc<AtomicBool>,
    /// Batching thresholds.
    pub batch: BatchConfig,
    /// Stamped on every row.
    pub sensor: String,
    /// The store directory.
    pub store: PathBuf,
    /// Acknowledgements and the checkpoint they move.
    checkpoints: Mutex<Checkpointer>,
    /// Stop once no input came for this long (`vigil run --until-idle`).
    pub until_idle: Option<Duration>,
}

impl SourceContext {
    /// A context sending to `out` in batches of `batch`, stamping `sensor`, writing to
    /// the store `store`, tracking acknowledgements and checkpoints with `checkpoints`.
    pub fn new(
        name: &str,
        out: Outputs,
        stats: Arc<StageStats>,
        stop: Arc<AtomicBool>,
        (batch, sensor, store): (BatchConfig, &str, &Path),
        checkpoints: Checkpointer,
    ) -> SourceContext {
        SourceContext {
            name: name.to_string(),
            out: Mutex::new(out),
            stats,
            stop,
            batch,
            sensor: sensor.to_string(),
            store: store.to_path_buf(),
            checkpoints: Mutex::new(checkpoints),
            until_idle: None,
        }
    }

    /// Whether the source should stop reading.
    pub fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    fn checkpointer(&self) -> std::sync::MutexGuard<'_, Checkpointer> {
        self.checkpoints.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The state this source saved when it last ran, if it checkpoints and saved one.
    pub fn resume_state<T: serde::de::DeserializeOwned>(&self) -> anyhow::Result<Option<T>> {
        let path = self.checkpointer().path().map(Path::to_path_buf);
        match path {
            Some(p) => checkpoint::load(&p),
            None => Ok(None),
        }
    }

    /// When the checkpoint was last written, if there is one.
    pub fn checkpoint_written(&self) -> Option<std::time::SystemTime> {
        let path = self.checkpointer().path().map(Path::to_path_buf)?;
        std::fs::metadata(path).and_then(|m| m.modified()).ok()
    }

    /// Write `state` as the checkpoint now: the source starts its input from the
    /// beginning (see [`Checkpointer::start`]).
    ///
    /// On a full disk it waits for space (reading nothing, reported as the stage's
    /// `disk_full`) until the run is asked to stop.
    pub fn start_checkpoint(&self, state: serde_json::Value) -> anyhow::Result<()> {
        self.with_space(|| self.checkpointer().start(state.clone())).map_err(|e| {
            anyhow::anyhow!("source `{}`: cannot write the checkpoint: {e}", self.name)
        })
    }

    /// Run the write `f`; while it fails for a full disk, and the run is not asked to
    /// stop, wait for space and try again (the wait is blocked time, and the stage
    /// shows `disk_full`).
    fn with_space<T>(&self, mut f: impl FnMut() -> std::io::Result<T>) -> std::io::Result<T> {
        let (mut wait, mut warned) = (Duration::from_millis(250), false);
        loop {
            match f() {
                Err(e) if crate::store::room::is_disk_full(&e) && !self.stopped() => {
                    if !std::mem::replace(&mut warned, true) {
                        tracing::warn!(
                            source = %self.name,
                            "disk full ({e}): waiting for space to write the checkpoint"
                        );
                        self.stats.set_disk_full(true);
                    }
                    self.stats.blocked(|| std::thread::sleep(wait));
                    wait = (wait * 2).min(Duration::from_secs(4));
                }
                result => {
                    self.stats.set_disk_full(false);
                    return result;
                }
            }
        }
    }

    /// Hand acknowledged states back ([`delivered`](Self::delivered)) instead of
    /// writing a checkpoint file: the source keeps its position elsewhere (Kafka).
    pub fn hand_back_checkpoints(&self) {
        self.checkpointer().hand_back();
    }

    /// The newest state whose batch and every earlier one are delivered, once.
    pub fn delivered(&self) -> Option<serde_json::Value> {
        self.checkpointer().take_delivered()
    }

    /// Wait (at most `timeout`) for every batch sent so far; the newest delivered state.
    pub fn drain(&self, timeout: Duration) -> Option<serde_json::Value> {
        self.checkpointer().wait_delivered(timeout)
    }

    /// Close the outputs (the source sends nothing more) and wait for every batch's
    /// fate; the newest delivered state.
    pub fn close_and_wait(&self) -> Option<serde_json::Value> {
        *self.out.lock().unwrap_or_else(|e| e.into_inner()) = Outputs::default();
        self.checkpointer().wait_delivered(ACK_WAIT)
    }

    /// Stop keeping a checkpoint (the input turned out not to be resumable).
    pub fn no_checkpoint(&self) {
        self.checkpointer().disable();
    }

    /// Send one batch downstream: its rows (if any) and its dead letters, both under
    /// one acknowledgement; once it and every earlier batch are delivered, `state`
    /// becomes the source's checkpoint. `took`: how long the oldest row waited.
    pub fn emit(
        &self,
        rows: Option<Envelope>,
        dead: &[DeadLetter],
        state: Option<serde_json::Value>,
        took: Duration,
    ) -> Result<(), Closed> {
        self.emit_from(rows, dead, state, took, None)
    }

    /// Like [`emit`](Self::emit), for a batch of known `origin` (which the store
    /// records, and uses to skip what it holds already when the batch is read again).
    pub fn emit_from(
        &self,
        rows: Option<Envelope>,
        dead: &[DeadLetter],
        state: Option<serde_json::Value>,
        took: Duration,
        origin: Option<BatchOrigin>,
    ) -> Result<(), Closed> {
        let ack = self.checkpointer().issue_from(state, origin);
        let mut envs = Vec::with_capacity(2);
        if let Some(mut env) = rows.filter(|e| e.rows() > 0) {
            self.stats.add_out(env.rows());
            self.stats.observe_batch(took);
            env.acks = Acks::one(ack.clone());
            env.arrived = Instant::now().checked_sub(took).unwrap_or(env.arrived);
            envs.push(env);
        }
        if !dead.is_empty() {
            self.stats.add_dead_lettered(dead.len());
            let mut env =
                Envelope::new(RecordKind::DeadLetters, dead_letters_batch(dead, &self.sensor));
            env.acks = Acks::one(ack.clone());
            envs.push(env);
        }
        ack.resolve(BatchStatus::Delivered);
        for env in envs {
            self.send(env)?;
        }
        if let Err(e) = self.checkpointer().poll() {
            tracing::error!(source = %self.name, "cannot write the checkpoint: {e}");
        }
        Ok(())
    }

    /// Send downstream, counting the time blocked on full channels.
    fn send(&self, env: Envelope) -> Result<(), Closed> {
        let out = self.out.lock().unwrap_or_else(|e| e.into_inner()).clone();
        self.stats.blocked(|| out.blocking_send(env))
    }

    /// The source has sent everything: close its channels, wait for every batch's
    /// fate and write the final checkpoint. Returns whether all were delivered.
    pub fn finish(&self) -> anyhow::Result<bool> {
        *self.out.lock().unwrap_or_else(|e| e.into_inner()) = Outputs::default();
        let delivered = self.checkpointer().finish(ACK_WAIT);
        // A final checkpoint that met a full disk is still unwritten: try it again.
        let delivered = match delivered {
            Err(e) if crate::store::room::is_disk_full(&e) => {
                self.with_space(|| self.checkpointer().finish(Duration::ZERO))
            }
            other => other,
        };
        delivered.map_err(|e| {
            anyhow::anyhow!("source `{}`: cannot write the checkpoint: {e}", self.name)
        })
    }
}

/// How long a finished source waits for its batches' fates before giving up.
const ACK_WAIT: Duration = Duration::from_secs(3600);

/// Rows waiting for their batch.
pub(crate) struct Pending<T> {
    pub(crate) items: Vec<T>,
    since: Option<Instant>,
}

impl<T> Pending<T> {
    pub(crate) fn new() -> Self {
        Pending { items: Vec::new(), since: None }
    }

    pub(crate) fn push(&mut self, item: T) {
        self.since.get_or_insert_with(Instant::now);
        self.items.push(item);
    }

    /// Whether the batch is full or its oldest row has waited long enough.
    pub(crate) fn due(&self, batch: &BatchConfig) -> bool {
        self.items.len() >= batch.max_rows
            || self.since.is_some_and(|t| t.elapsed() >= Duration::from_millis(batch.max_ms))
    }

    /// How long until the batch is due by age (`None` when empty).
    pub(crate) fn time_left(&self, batch: &BatchConfig) -> Option<Duration> {
        let since = self.since?;
        Some(Duration::from_millis(batch.max_ms).saturating_sub(since.elapsed()))
    }

    /// Take the rows and how long the oldest waited.
    pub(crate) fn take(&mut self) -> (Vec<T>, Duration) {
        let waited = self.since.take().map(|t| t.elapsed()).unwrap_or_default();
        (std::mem::take(&mut self.items), waited)
    }
}

/// A source ready to run.
pub enum Source {
    /// Captures or a live interface.
    Capture(Box<CaptureSource>),
    /// A flow CSV.
    FlowCsv(Box<FlowCsvSource>),
    /// A metrics file.
    Metrics(MetricsSource),
    /// An action log.
    Actions(Box<ActionsSource>),
    /// Kafka topics.
    Kafka(Box<KafkaSource>),
}

impl Source {
    /// Open its live interface now, if it reads one (see [`CaptureSource::open_live`]).
    pub fn open_live(&mut self) -> anyhow::Result<bool> {
        match self {
            Source::Capture(c) => c.open_live(),
            _ => Ok(false),
        }
    }

    /// The source for a configuration; `tokens` asks a capture source for netFound
    /// tokens with these settings (when a netFound model reads it).
    pub fn new(config: &SourceConfig, tokens: Option<NetfoundConfig>) -> anyhow::Result<Source> {
        Ok(match config {
            SourceConfig::Pcap { paths, follow } => {
                check_paths(paths)?;
                // A file named on its own must be a capture (an empty or foreign file is
                // a mistake, not input to skip); files found in a directory are read as
                // they come, and one that is not a capture becomes a dead letter.
                for p in paths.iter().filter(|p| p.is_file()) {
                    vigil_ingest::PcapReader::open(p)?;
                }
                Source::Capture(Box::new(CaptureSource::files(paths.clone(), *follow, tokens)))
            }
            SourceConfig::Interface { name } => {
                Source::Capture(Box::new(CaptureSource::interface(name.clone(), tokens)))
            }
            SourceConfig::FlowCsv { path, mapping } => {
                check_paths(std::slice::from_ref(path))?;
                let source = FlowCsvSource::new(path.clone(), mapping)?;
                source.check_header()?;
                Source::FlowCsv(Box::new(source))
            }
            SourceConfig::Metrics { path } => {
                check_paths(std::slice::from_ref(path))?;
                Source::Metrics(MetricsSource::new(path.clone()))
            }
            SourceConfig::Kafka(k) => Source::Kafka(Box::new(KafkaSource::new(k, tokens)?)),
            SourceConfig::Actions { path, format } => {
                check_paths(std::slice::from_ref(path))?;
                Source::Actions(Box::new(ActionsSource::new(path.clone(), format.as_deref())?))
            }
        })
    }

    /// The kind of records it produces.
    pub fn kind(&self) -> RecordKind {
        match self {
            Source::Capture(_) | Source::FlowCsv(_) => RecordKind::Flows,
            Source::Metrics(_) => RecordKind::Metrics,
            Source::Actions(_) => RecordKind::Actions,
            Source::Kafka(k) => k.kind(),
        }
    }

    /// Read to the end (or until stopped), sending batches downstream.
    pub fn run(self, ctx: &SourceContext) -> anyhow::Result<()> {
        let result = match self {
            Source::Capture(s) => s.run(ctx),
            Source::FlowCsv(s) => s.run(ctx),
            Source::Metrics(s) => s.run(ctx),
            Source::Actions(s) => s.run(ctx),
            Source::Kafka(s) => s.run(ctx),
        };
        match result {
            // Downstream closed: normal once the run is stopping (a signal, or another
            // stage's failure, which is reported there).
            Err(e) if e.downcast_ref::<Closed>().is_some() && ctx.stopped() => Ok(()),
            Err(e) if e.downcast_ref::<Closed>().is_some() => {
                Err(anyhow::anyhow!("every stage it feeds stopped before it ended"))
            }
            other => other,
        }
    }
}

/// Every path must exist (or be `-`).
fn check_paths(paths: &[PathBuf]) -> anyhow::Result<()> {
    anyhow::ensure!(!paths.is_empty(), "no input paths");
    for p in paths {
        anyhow::ensure!(
            p.as_os_str() == "-" || p.exists(),
            "{}: no such file or directory",
            p.display()
        );
    }
    Ok(())
}

/// A TCP flow 10.0.0.1:`port` → 10.0.0.2:80 for tests.
#[cfg(test)]
pub(crate) fn test_flow(flow_id: u64, uid: &str, port: u16) -> vigil_ingest::FlowRecord {
    let a: std::net::IpAddr = "10.0.0.1".parse().unwrap();
    let b: std::net::IpAddr = "10.0.0.2".parse().unwrap();
    vigil_ingest::FlowRecord {
        flow_id,
        uid: uid.into(),
        community_id: String::new(),
        ts_start: 0,
        ts_end: 0,
        orig_h: a,
        orig_p: port,
        resp_h: b,
        resp_p: 80,
        proto: 6,
        vlan: None,
        inner_vlan: None,
        orig: Default::default(),
        resp: Default::default(),
        conn_state: "SF",
        history: String::new(),
        missed_bytes: 0,
        tunnel_parents: Vec::new(),
        end_reason: vigil_ingest::flow::EndReason::Closed,
    }
}
