//! Sources: blocking readers that turn input into micro-batches.
//!
//! Each runs on its own blocking thread, batches rows until `batch.max_rows` or
//! `batch.max_ms`, and stops reading when the stop flag is raised (first signal),
//! flushing what it holds. Unreadable input becomes dead-letter rows.

mod capture;
mod files;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use vigil_ingest::DeadLetter;
use vigil_tokenizers::NetfoundConfig;

pub use capture::CaptureSource;
pub use files::{ActionsSource, FlowCsvSource, MetricsSource};

use super::config::{BatchConfig, SourceConfig};
use super::outputs::{Closed, Outputs};
use super::record::{Envelope, RecordKind};
use super::rows::dead_letters_batch;
use super::stats::StageStats;

/// What a source needs from the runtime.
pub struct SourceContext {
    /// Downstream channels.
    pub out: Outputs,
    /// This source's counters.
    pub stats: Arc<StageStats>,
    /// Raised on the first shutdown signal.
    pub stop: Arc<AtomicBool>,
    /// Batching thresholds.
    pub batch: BatchConfig,
    /// Stamped on every row.
    pub sensor: String,
}

impl SourceContext {
    /// Whether the source should stop reading.
    pub fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// Send a batch downstream and count it.
    pub fn emit(&self, env: Envelope, took: Duration) -> Result<(), Closed> {
        if env.rows() == 0 {
            return Ok(());
        }
        self.stats.add_out(env.rows());
        self.stats.observe_batch(took);
        self.send(env)
    }

    /// Send downstream, counting the time blocked on full channels.
    pub fn send(&self, env: Envelope) -> Result<(), Closed> {
        let started = Instant::now();
        let sent = self.out.blocking_send(env);
        self.stats.add_blocked(started.elapsed());
        sent
    }

    /// Send dead letters downstream (to the `dead_letters` table) and count them.
    pub fn dead_letters(&self, letters: &[DeadLetter]) -> Result<(), Closed> {
        if letters.is_empty() {
            return Ok(());
        }
        self.stats.add_dead_lettered(letters.len());
        let batch = dead_letters_batch(letters, &self.sensor);
        self.send(Envelope::new(RecordKind::DeadLetters, batch))
    }
}

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
}

impl Source {
    /// The source for a configuration; `tokens` asks a capture source for netFound
    /// tokens with these settings (when a netFound model reads it).
    pub fn new(config: &SourceConfig, tokens: Option<NetfoundConfig>) -> anyhow::Result<Source> {
        Ok(match config {
            SourceConfig::Pcap { paths, follow } => {
                check_paths(paths)?;
                Source::Capture(Box::new(CaptureSource::files(paths.clone(), *follow, tokens)))
            }
            SourceConfig::Interface { name } => {
                Source::Capture(Box::new(CaptureSource::interface(name.clone(), tokens)))
            }
            SourceConfig::FlowCsv { path, mapping } => {
                check_paths(std::slice::from_ref(path))?;
                Source::FlowCsv(Box::new(FlowCsvSource::new(path.clone(), mapping)?))
            }
            SourceConfig::Metrics { path } => {
                check_paths(std::slice::from_ref(path))?;
                Source::Metrics(MetricsSource::new(path.clone()))
            }
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
        }
    }

    /// Read to the end (or until stopped), sending batches downstream.
    pub fn run(self, ctx: &SourceContext) -> anyhow::Result<()> {
        let result = match self {
            Source::Capture(s) => s.run(ctx),
            Source::FlowCsv(s) => s.run(ctx),
            Source::Metrics(s) => s.run(ctx),
            Source::Actions(s) => s.run(ctx),
        };
        match result {
            Err(e) if e.downcast_ref::<Closed>().is_some() => Ok(()),
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
