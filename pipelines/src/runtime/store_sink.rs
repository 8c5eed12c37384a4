//! The store sink: holds the batches it receives and writes them at size or age, one
//! file per table partition per flush instead of one per batch.
//!
//! Held batches are not yet acknowledged, so no checkpoint or Kafka offset moves past
//! them until their flush is durable; a crash loses nothing that was acknowledged.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

use super::ack::{Acks, BatchStatus};
use super::record::Envelope;
use super::stats::StageStats;
use crate::store::writer::Part;
use crate::store::{StoreWriter, Table};

/// Rows held before a flush, by default.
pub const DEFAULT_FLUSH_ROWS: usize = 65_536;
/// How long the oldest held row waits for a flush, by default.
pub const DEFAULT_FLUSH_AGE: Duration = Duration::from_millis(1000);

/// A store sink ready to run.
#[derive(Debug)]
pub struct StoreSink {
    writer: StoreWriter,
    flush_rows: usize,
    flush_age: Duration,
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
        StoreSink { writer, flush_rows: flush_rows.max(1), flush_age }
    }

    /// Write every batch `rx` brings until it closes; a failed write ends the sink
    /// with the error (the held rows counted lost, their acknowledgements errored).
    pub async fn run(
        self,
        mut rx: mpsc::Receiver<Envelope>,
        stats: Arc<StageStats>,
    ) -> anyhow::Result<()> {
        let mut held = Held::default();
        let writer = Arc::new(self.writer);
        loop {
            let next = match held.since {
                Some(since) => tokio::select! {
                    env = rx.recv() => env,
                    () = tokio::time::sleep_until(since + self.flush_age) => {
                        flush(&writer, std::mem::take(&mut held), &stats).await?;
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
                flush(&writer, std::mem::take(&mut held), &stats).await?;
            }
        }
        flush(&writer, held, &stats).await
    }
}

/// Write what is held (on a blocking thread) and resolve its acknowledgements.
async fn flush(
    writer: &Arc<StoreWriter>,
    held: Held,
    stats: &Arc<StageStats>,
) -> anyhow::Result<()> {
    if held.acks.is_empty() {
        return Ok(());
    }
    let Held { parts, acks, rows, .. } = held;
    let started = std::time::Instant::now();
    let w = writer.clone();
    let result = tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        for (table, parts) in &parts {
            let written = w.write_parts(*table, parts).map_err(|e| {
                anyhow::anyhow!("cannot write {table} to {}: {e}", w.root().display())
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
    })
    .await?;
    stats.observe_batch(started.elapsed());
    match result {
        Ok(()) => {
            stats.add_out(rows);
            acks.into_iter().for_each(|a| a.resolve(BatchStatus::Delivered));
            Ok(())
        }
        Err(e) => {
            stats.add_lost(rows);
            acks.into_iter().for_each(|a| a.resolve(BatchStatus::Errored));
            Err(e.context(format!("{rows} rows not written")))
        }
    }
}
