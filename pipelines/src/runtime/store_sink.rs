//! The store sink: holds the batches it receives and writes them at size or age, one
//! file per table partition per flush instead of one per batch.
//!
//! Held batches are not yet acknowledged, so no checkpoint or Kafka offset moves past
//! them until their flush is durable; a crash loses nothing that was acknowledged.
//!
//! A full disk (or quota) does not fail the sink: it keeps what it holds, removes the
//! oldest files of the tables whose retention says `make_room`, and otherwise retries
//! every few seconds, reading nothing more meanwhile, so the channels behind it fill
//! and the sources stop consuming (backpressure). The condition shows in the log, in
//! `vigil stats` and in `/metrics` (`vigil_stage_disk_full`), and writing resumes when
//! space returns. Asked to stop while the disk is still full, the sink gives up: the
//! rows it holds are reported lost for this run (their input is not acknowledged, so
//! checkpoints and Kafka offsets stay before them and the next run reads them again).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

use super::ack::{Acks, BatchStatus};
use super::record::Envelope;
use super::stats::StageStats;
use crate::store::room::{is_disk_full, make_room};
use crate::store::writer::Part;
use crate::store::{StoreWriter, Table};

/// Rows held before a flush, by default.
pub const DEFAULT_FLUSH_ROWS: usize = 65_536;
/// How long the oldest held row waits for a flush, by default.
pub const DEFAULT_FLUSH_AGE: Duration = Duration::from_millis(1000);
/// The first wait before writing again on a full disk; it doubles up to
/// [`DISK_FULL_MAX_WAIT`].
const DISK_FULL_FIRST_WAIT: Duration = Duration::from_millis(250);
/// The longest wait between attempts on a full disk.
const DISK_FULL_MAX_WAIT: Duration = Duration::from_secs(4);

/// A store sink ready to run.
#[derive(Debug)]
pub struct StoreSink {
    writer: StoreWriter,
    flush_rows: usize,
    flush_age: Duration,
    /// Tables whose oldest files may go to make room on a full disk.
    make_room: Vec<Table>,
    /// Set when the run is asked to stop.
    stop: Arc<AtomicBool>,
}

/// What a flush needs besides the rows.
struct Flusher {
    writer: Arc<StoreWriter>,
    make_room: Vec<Table>,
    stop: Arc<AtomicBool>,
    stats: Arc<StageStats>,
}

/// What is held until the next flush.
#[derive(Default)]
struct Held {
    parts: BTreeMap<Table, Vec<Part>>,
    acks: Vec<Acks>,
    rows: usize,
    since: Option<Instant>,
}

impl StoreSink {
    /// A sink writing with `writer`, flushing at `flush_rows` rows held or when the
    /// oldest has waited `flush_age` (a zero age writes each batch as it comes).
    pub fn new(writer: StoreWriter, flush_rows: usize, flush_age: Duration) -> StoreSink {
        StoreSink {
            writer,
            flush_rows: flush_rows.max(1),
            flush_age,
            make_room: Vec::new(),
            stop: Arc::new(AtomicBool::new(false)),
        }
    }

    /// On a full disk, remove the oldest files of `tables` to make room.
    pub fn make_room(mut self, tables: Vec<Table>) -> StoreSink {
        self.make_room = tables;
        self
    }

    /// Give up waiting for space once `stop` is set.
    pub fn stop_when(&mut self, stop: Arc<AtomicBool>) {
        self.stop = stop;
    }

    /// Write every batch `rx` brings until it closes; a failed write ends the sink
    /// with the error (the held rows counted lost, their acknowledgements errored).
    pub async fn run(
        self,
        mut rx: mpsc::Receiver<Envelope>,
        stats: Arc<StageStats>,
    ) -> anyhow::Result<()> {
        let mut held = Held::default();
        let f = Flusher {
            writer: Arc::new(self.writer),
            make_room: self.make_room,
            stop: self.stop,
            stats,
        };
        let stats = &f.stats;
        loop {
            let next = match held.since {
                Some(since) => tokio::select! {
                    env = rx.recv() => env,
                    () = tokio::time::sleep_until(since + self.flush_age) => {
                        f.flush(std::mem::take(&mut held)).await?;
                        continue;
                    }
                },
                None => rx.recv().await,
            };
            let Some(mut env) = next else { break };
            let rows = env.rows();
            stats.add_in(rows);
            let origins = env.acks.origins();
            held.acks.push(env.take_acks());
            held.rows += rows;
            held.since.get_or_insert_with(Instant::now);
            let table = env.kind.table();
            held.parts.entry(table).or_default().push(Part { batch: env.batch, origins });
            if held.rows >= self.flush_rows || self.flush_age.is_zero() {
                f.flush(std::mem::take(&mut held)).await?;
            }
        }
        f.flush(held).await
    }
}

impl Flusher {
    /// Write what is held (on a blocking thread) and resolve its acknowledgements,
    /// waiting for space on a full disk (see the module docs).
    async fn flush(&self, held: Held) -> anyhow::Result<()> {
        if held.acks.is_empty() {
            return Ok(());
        }
        let Held { parts, acks, rows, .. } = held;
        let parts = Arc::new(parts);
        let started = std::time::Instant::now();
        let (mut wait, mut full) = (DISK_FULL_FIRST_WAIT, false);
        let result = loop {
            let (w, p) = (self.writer.clone(), parts.clone());
            let result = tokio::task::spawn_blocking(move || write(&w, &p)).await?;
            match result {
                Err(e) if is_disk_full(e.as_ref()) && !self.stop.load(Ordering::Relaxed) => {
                    if !full {
                        full = true;
                        self.stats.set_disk_full(true);
                        tracing::warn!(
                            rows,
                            "store: disk full ({e:#}); holding the rows and reading no more \
                             until there is space"
                        );
                    }
                    if self.room_made().await? {
                        continue;
                    }
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(DISK_FULL_MAX_WAIT);
                }
                other => break other,
            }
        };
        if full {
            self.stats.set_disk_full(false);
            if result.is_ok() {
                tracing::info!(rows, "store: space returned; the held rows are written");
            }
        }
        self.stats.observe_batch(started.elapsed());
        match result {
            Ok(()) => {
                self.stats.add_out(rows);
                acks.into_iter().for_each(|a| a.resolve(BatchStatus::Delivered));
                Ok(())
            }
            Err(e) => {
                self.stats.add_lost(rows);
                acks.into_iter().for_each(|a| a.resolve(BatchStatus::Errored));
                Err(e.context(format!("{rows} rows not written")))
            }
        }
    }

    /// Remove the oldest files of the `make_room` tables; whether any was removed.
    async fn room_made(&self) -> anyhow::Result<bool> {
        if self.make_room.is_empty() {
            return Ok(false);
        }
        let (w, tables) = (self.writer.clone(), self.make_room.clone());
        let removed = tokio::task::spawn_blocking(move || make_room(w.root(), &tables))
            .await?
            .map_err(|e| anyhow::anyhow!("store: making room: {e}"))?;
        for (table, file) in &removed {
            self.stats.add_room_made(file.bytes);
            tracing::warn!(
                %table,
                file = %file.path.display(),
                bytes = file.bytes,
                "store: disk full; removed the table's oldest file to make room"
            );
        }
        Ok(!removed.is_empty())
    }
}

/// Write every table's parts.
fn write(w: &StoreWriter, parts: &BTreeMap<Table, Vec<Part>>) -> anyhow::Result<()> {
    for (table, parts) in parts {
        let written = w.write_parts(*table, parts).map_err(|e| {
            anyhow::Error::new(e).context(format!("cannot write {table} to {}", w.root().display()))
        })?;
        if written.skipped > 0 {
            tracing::debug!(
                %table,
                rows = written.skipped,
                "already stored before the restart; not stored again"
            );
        }
    }
    Ok(())
}
