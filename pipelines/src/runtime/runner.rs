//! Running a topology: one task per stage joined by bounded channels, scoring on a
//! blocking pool bounded by the cores, graceful shutdown, counters.
//!
//! Shutdown: [`Runner::stop`] (the first SIGINT/SIGTERM) tells the sources to stop
//! reading; each flushes what it holds and closes its channels, every later stage
//! drains its channel, flushes and closes in turn, and [`Runner::run`] returns when the
//! sinks have committed everything. A second signal exits at once (see `vigil run`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinHandle;

use super::ack::{AckTracker, Acks, BatchStatus};
use super::batcher::Batcher;
use super::checkpoint::{Checkpointer, checkpoint_path};
use super::outputs::Outputs;
use super::record::Envelope;
use super::sinks::Sink;
use super::sources::SourceContext;
use super::stats::{StageSnapshot, StageStats, StatsRegistry};
use super::topology::Topology;
use super::transforms::ModelReload;
use super::transforms::Transform;
use crate::store::{Table, compact_table, enforce_retention};

/// What a finished run reports.
#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    /// Every stage's counters at the end.
    pub stages: Vec<StageSnapshot>,
    /// The store directory.
    pub store: PathBuf,
    /// Wall time in seconds.
    pub seconds: f64,
    /// Stage failures, each naming its stage; any makes the run fail.
    pub errors: Vec<String>,
    /// Records lost over all stages; any loss makes the run fail.
    pub lost: u64,
}

impl RunSummary {
    /// Whether the run failed: a stage failed or records were lost.
    pub fn failed(&self) -> bool {
        !self.errors.is_empty() || self.lost > 0
    }

    /// Input records the sources could not read (kept in `dead_letters`).
    pub fn dead_lettered(&self) -> u64 {
        self.stages.iter().filter(|s| s.role == "source").map(|s| s.dead_lettered).sum()
    }
}

/// A topology about to run, with its stop flag and counters.
pub struct Runner {
    topology: Topology,
    stop: Arc<AtomicBool>,
    stats: StatsRegistry,
}

/// Stage failures of a run: each stops the run and fails it.
#[derive(Clone)]
struct Failures {
    errors: Arc<std::sync::Mutex<Vec<String>>>,
    /// Raised on the first failure: acknowledgement trackers stop advancing.
    failed: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
}

impl Failures {
    /// Record that `stage` failed: the run stops (sources stop reading, the rest
    /// drains) and will exit non-zero.
    fn fail(&self, role: &str, stage: &str, stats: &StageStats, e: &anyhow::Error) {
        let msg = format!("{e:#}");
        tracing::error!(%role, %stage, "{msg}");
        stats.fail(&msg);
        self.failed.store(true, Ordering::Relaxed);
        self.stop.store(true, Ordering::Relaxed);
        self.errors
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(format!("{role} `{stage}` failed: {msg}"));
    }
}

/// Where `vigil stats` finds the counters of the last or running instance.
pub fn stats_file(store: &std::path::Path, sensor: &str) -> PathBuf {
    store.join("_stats").join(format!("{sensor}.json"))
}

impl Runner {
    /// Prepare to run `topology`.
    pub fn new(topology: Topology) -> Runner {
        Runner { topology, stop: Arc::new(AtomicBool::new(false)), stats: StatsRegistry::default() }
    }

    /// The flag that stops the sources; raise it to shut down gracefully.
    pub fn stop_flag(&self) -> Arc<AtomicBool> {
        self.stop.clone()
    }

    /// The counters (shared with the `/metrics` listener).
    pub fn stats(&self) -> StatsRegistry {
        self.stats.clone()
    }

    /// Run until every source has ended (or been stopped) and everything is committed.
    pub async fn run(self) -> anyhow::Result<RunSummary> {
        let started = Instant::now();
        let Runner { mut topology, stop, stats } = self;
        let cap = topology.config.channel_capacity;
        let score_pool = Arc::new(Semaphore::new(topology.scoring_workers));

        // One channel per transform and sink; a stage's outputs are the channels of the
        // stages that name it as an input.
        let mut receivers: BTreeMap<String, mpsc::Receiver<Envelope>> = BTreeMap::new();
        let mut readers_of: BTreeMap<String, Vec<mpsc::Sender<Envelope>>> = BTreeMap::new();
        let consumers = topology
            .transforms
            .iter()
            .map(|(n, _, i)| (n, i))
            .chain(topology.sinks.iter().map(|(n, _, i)| (n, i)));
        for (name, inputs) in consumers {
            let (tx, rx) = mpsc::channel(cap);
            receivers.insert(name.clone(), rx);
            for i in inputs {
                readers_of.entry(i.clone()).or_default().push(tx.clone());
            }
        }
        let outputs_of =
            |name: &str, readers: &mut BTreeMap<String, Vec<mpsc::Sender<Envelope>>>| {
                Outputs::new(readers.remove(name).unwrap_or_default())
            };

        let failures = Failures {
            errors: Arc::new(std::sync::Mutex::new(Vec::new())),
            failed: Arc::new(AtomicBool::new(false)),
            stop: stop.clone(),
        };
        // Each stage's task, with its role, name and counters (to name it if it panics).
        let mut tasks: Vec<(&str, String, Arc<StageStats>, JoinHandle<()>)> = Vec::new();
        let store_dir = topology.store_dir.clone();
        for (name, source) in topology.sources {
            let mut ctx = SourceContext::new(
                &name,
                outputs_of(&name, &mut readers_of),
                stats.stage(&name, "source"),
                stop.clone(),
                (topology.config.batch, &topology.config.sensor, &store_dir),
                Checkpointer::new(
                    AckTracker::new(failures.failed.clone()),
                    Some(checkpoint_path(&store_dir, &topology.config.sensor, &name)),
                ),
            );
            ctx.until_idle = topology.config.until_idle_secs.map(Duration::from_secs_f64);
            let failures = failures.clone();
            let named = (name.clone(), ctx.stats.clone());
            let task = tokio::task::spawn_blocking(move || {
                let started = Instant::now();
                let result = source.run(&ctx);
                let blocked = Duration::from_secs_f64(ctx.stats.blocked_seconds());
                ctx.stats.add_busy(started.elapsed().saturating_sub(blocked));
                // Waiting for the last acknowledgements is neither reading nor blocked.
                let result = result.and_then(|()| ctx.finish().map(|_| ()));
                if let Err(e) = result {
                    // Whatever it sent is resolved by the stages downstream, which drain.
                    let _ = ctx.finish();
                    failures.fail("source", &name, &ctx.stats, &e);
                }
            });
            tasks.push(("source", named.0, named.1, task));
        }
        let mut reloads = std::mem::take(&mut topology.reloads);
        for (name, transform, inputs) in topology.transforms {
            stats.set_inputs(&name, &inputs);
            let reload = reloads.remove(&name).map(|r| Arc::new(std::sync::Mutex::new(r)));
            let batcher =
                topology.batching.get(&name).map(|b| Batcher::new(b.max_rows, b.max_delay));
            let rx = receivers.remove(&name).expect("a channel per transform");
            let out = outputs_of(&name, &mut readers_of);
            let st = stats.stage(&name, "transform");
            let (failures, pool) = (failures.clone(), score_pool.clone());
            let named = (name.clone(), st.clone());
            let task = tokio::spawn(async move {
                let stage = TransformStage {
                    scores: !matches!(transform, Transform::Alerts(_)),
                    transform: Arc::new(std::sync::Mutex::new(transform)),
                    out,
                    stats: st.clone(),
                    pool,
                    held: Vec::new(),
                    batcher,
                    reload,
                };
                if let Err(e) = stage.run(rx, &failures.stop).await {
                    failures.fail("transform", &name, &st, &e);
                }
            });
            tasks.push(("transform", named.0, named.1, task));
        }
        for (name, mut sink, inputs) in topology.sinks {
            stats.set_inputs(&name, &inputs);
            if let Sink::Store(s) = &mut sink {
                s.stop_when(stop.clone());
            }
            let rx = receivers.remove(&name).expect("a channel per sink");
            let st = stats.stage(&name, "sink");
            let failures = failures.clone();
            let named = (name.clone(), st.clone());
            let task = tokio::spawn(async move {
                if let Err(e) = sink.run(rx, st.clone()).await {
                    failures.fail("sink", &name, &st, &e);
                }
            });
            tasks.push(("sink", named.0, named.1, task));
        }
        drop(readers_of);

        let store = topology.store_dir.clone();
        let sensor = topology.config.sensor.clone();
        let every =
            Duration::from_secs(topology.config.store.maintenance_secs.unwrap_or(300).max(1));
        let retention = topology.config.store.retention.clone();
        let min_files =
            topology.config.store.compact_min_files.unwrap_or(DEFAULT_COMPACT_MIN_FILES);
        let upkeep = {
            let (store, stats, sensor) = (store.clone(), stats.clone(), sensor.clone());
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_secs(2));
                let mut last_maintenance = Instant::now();
                loop {
                    tick.tick().await;
                    write_stats(&store, &sensor, &stats.snapshot());
                    if last_maintenance.elapsed() >= every {
                        last_maintenance = Instant::now();
                        let (store, retention) = (store.clone(), retention.clone());
                        let sensor = sensor.clone();
                        let _ = tokio::task::spawn_blocking(move || {
                            maintain(&store, &sensor, &retention, min_files);
                        })
                        .await;
                    }
                }
            })
        };
        for (role, name, st, task) in tasks {
            if let Err(e) = task.await {
                // A panic: the batches it held resolved as errored when they dropped.
                failures.fail(role, &name, &st, &anyhow::anyhow!("panicked: {e}"));
            }
        }
        upkeep.abort();
        let snapshot = stats.snapshot();
        write_stats(&store, &sensor, &snapshot);
        let errors = failures.errors.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let lost = snapshot.iter().map(|s| s.lost).sum();
        Ok(RunSummary {
            stages: snapshot,
            store,
            seconds: started.elapsed().as_secs_f64(),
            errors,
            lost,
        })
    }
}

/// Small files a partition gathers before compaction merges them, by default.
pub const DEFAULT_COMPACT_MIN_FILES: usize = 8;

/// The store's file count after a maintenance pass.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FileCount {
    /// Every committed file.
    pub files: usize,
    /// The files the pass left: `files` less those the sinks wrote while it ran, which
    /// are the next pass's to merge. On a live store `files` swings with every flush
    /// that lands during the pass (a file per partition written); a store whose
    /// compaction falls behind shows here.
    pub settled: usize,
}

/// Compaction of `sensor`'s files (in partitions holding at least `min_files` small
/// ones), then retention, of every table (errors are logged; the next run retries).
/// Logs and returns the file count after it.
pub fn maintain(
    store: &std::path::Path,
    sensor: &str,
    retention: &BTreeMap<String, crate::store::Retention>,
    min_files: usize,
) -> FileCount {
    let started = std::time::SystemTime::now();
    let now = super::rows::now_us();
    let mut count = FileCount::default();
    for table in Table::ALL {
        let merged = match compact_table(store, table, sensor, min_files.max(2), 16 << 20) {
            Ok(stats) => stats.files_out as usize,
            Err(e) => {
                tracing::warn!(%table, "compaction: {e}");
                0
            }
        };
        if let Some(policy) = retention.get(table.name())
            && let Err(e) = enforce_retention(store, table, policy, now)
        {
            tracing::warn!(%table, "retention: {e}");
        }
        let listed = crate::store::list_files(store, table).unwrap_or_default();
        count.files += listed.len();
        // The pass's own outputs are newer than its start too.
        count.settled +=
            merged + listed.iter().filter(|f| f.modified.is_some_and(|m| m < started)).count();
    }
    tracing::info!(files = count.files, settled = count.settled, "store maintenance done");
    count
}

fn write_stats(store: &std::path::Path, sensor: &str, stages: &[StageSnapshot]) {
    let path = stats_file(store, sensor);
    let write = || -> std::io::Result<()> {
        std::fs::create_dir_all(path.parent().expect("a parent"))?;
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(stages).map_err(std::io::Error::other)?)?;
        std::fs::rename(&tmp, &path)
    };
    if let Err(e) = write() {
        tracing::debug!("cannot write {}: {e}", path.display());
    }
}

fn lock(t: &std::sync::Mutex<Transform>) -> std::sync::MutexGuard<'_, Transform> {
    t.lock().unwrap_or_else(|e| e.into_inner())
}

/// A transform's task: batches in, scored (or alert) batches out, with their
/// acknowledgements handed on.
struct TransformStage {
    /// Shared with the blocking task that applies it, one batch at a time.
    transform: Arc<std::sync::Mutex<Transform>>,
    /// Whether it scores (a batch it cannot score is passed on unscored) rather
    /// than raising alerts (a failure fails the stage).
    scores: bool,
    out: Outputs,
    stats: Arc<StageStats>,
    pool: Arc<Semaphore>,
    /// Acknowledgements of input the transform still holds rows of, with the newest
    /// event time it took from each.
    held: Vec<(Acks, i64)>,
    /// Joins small batches before scoring (scoring transforms only).
    batcher: Option<Batcher>,
    /// Reloads the model when its artifact changes (scoring transforms only).
    reload: Option<Arc<std::sync::Mutex<ModelReload>>>,
}

impl TransformStage {
    async fn run(
        mut self,
        mut rx: mpsc::Receiver<Envelope>,
        stop: &AtomicBool,
    ) -> anyhow::Result<()> {
        loop {
            let deadline = self.batcher.as_ref().and_then(Batcher::deadline);
            let next = match deadline {
                Some(d) => tokio::select! {
                    env = rx.recv() => Some(env),
                    () = tokio::time::sleep_until(d) => None,
                },
                None => Some(rx.recv().await),
            };
            let ready = match (next, &mut self.batcher) {
                (Some(Some(env)), Some(b)) => b.push(env)?,
                (Some(Some(env)), None) => vec![env],
                (Some(None), _) => break,
                (None, Some(b)) => b.flush()?.into_iter().collect(),
                (None, None) => Vec::new(),
            };
            for env in ready {
                self.process(env, stop).await?;
            }
        }
        if let Some(env) = self.batcher.as_mut().map(Batcher::flush).transpose()?.flatten() {
            self.process(env, stop).await?;
        }
        let outs = lock(&self.transform).finish(&self.stats)?;
        let mut release = Acks::new();
        for (a, _) in std::mem::take(&mut self.held) {
            release.extend(a);
        }
        self.send(outs, release, stop).await
    }

    /// Transform one batch and pass on what comes of it.
    async fn process(&mut self, mut env: Envelope, stop: &AtomicBool) -> anyhow::Result<()> {
        let acks = env.take_acks();
        let rows = env.rows();
        self.stats.add_in(rows);
        let holds = lock(&self.transform).holds(&env);
        // Kept to pass on unscored if scoring fails: accepted rows are never lost.
        let original = env.clone();
        let started = Instant::now();
        let permit = self.pool.clone().acquire_owned().await?;
        let (st, transform) = (self.stats.clone(), self.transform.clone());
        let reload = self.reload.clone();
        let result = tokio::task::spawn_blocking(move || {
            let mut t = lock(&transform);
            if let Some(r) = reload {
                r.lock().unwrap_or_else(|e| e.into_inner()).poll(&mut t, &st);
            }
            let result = t.apply(env, &st);
            st.set_suppression_evicted(t.suppression_evicted());
            drop(permit);
            result
        })
        .await?;
        self.stats.observe_batch(started.elapsed());
        let (outs, release) = match result {
            Ok(outs) => match holds {
                Some(newest) => {
                    self.held.push((acks, newest));
                    (outs, self.released())
                }
                None => (outs, acks),
            },
            Err(e) if self.scores => {
                tracing::error!(rows, "batch passed on unscored: {e:#}");
                self.stats.add_unscored(rows);
                (vec![original], acks)
            }
            Err(e) => {
                self.stats.add_lost(rows);
                acks.resolve(BatchStatus::Errored);
                return Err(e);
            }
        };
        self.send(outs, release, stop).await
    }

    /// The held acknowledgements whose rows have all been passed on now.
    fn released(&mut self) -> Acks {
        let since = lock(&self.transform).held_since();
        let mut out = Acks::new();
        let (done, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut self.held)
            .into_iter()
            .partition(|(_, t)| since.is_none_or(|s| *t < s));
        self.held = keep;
        done.into_iter().for_each(|(a, _)| out.extend(a));
        out
    }

    /// Send `outs`, each carrying copies of `acks`; with no output this branch has
    /// nothing more to deliver.
    async fn send(&self, outs: Vec<Envelope>, acks: Acks, stop: &AtomicBool) -> anyhow::Result<()> {
        let mut stamped = Vec::with_capacity(outs.len());
        for mut e in outs {
            e.acks.extend(acks.clone());
            stamped.push(e);
        }
        acks.resolve(BatchStatus::Delivered);
        for e in stamped {
            let rows = e.rows();
            self.stats.add_out(rows);
            if self.out.send(e).await.is_err() && !stop.load(Ordering::Relaxed) {
                self.stats.add_lost(rows);
                anyhow::bail!("every stage it feeds has stopped");
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::{RecordBatch, StringArray, TimestampMicrosecondArray};
    use arrow_schema::{DataType, Field, Schema, TimeUnit};

    use super::*;
    use crate::store::StoreWriter;

    fn one_action(ts: i64) -> RecordBatch {
        let schema = Schema::new(vec![
            Field::new("ts", DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())), false),
            Field::new("entity", DataType::Utf8, false),
        ]);
        RecordBatch::try_new(
            Arc::new(schema),
            vec![
                Arc::new(TimestampMicrosecondArray::from(vec![ts]).with_timezone("UTC")),
                Arc::new(StringArray::from(vec!["alice"])),
            ],
        )
        .unwrap()
    }

    #[test]
    fn a_pass_counts_apart_the_files_written_while_it_ran() {
        let dir = tempfile::tempdir().unwrap();
        let ours = StoreWriter::new(dir.path(), "a");
        for i in 0..3 {
            ours.write(Table::Actions, &one_action(1_000_000 + i)).unwrap();
        }
        // Another sensor's file (compaction leaves it) stamped after the pass began,
        // as a flush landing during the pass would be.
        let landed =
            StoreWriter::new(dir.path(), "b").write(Table::Actions, &one_action(1)).unwrap();
        let later = std::time::SystemTime::now() + std::time::Duration::from_secs(60);
        std::fs::File::options().write(true).open(&landed[0]).unwrap().set_modified(later).unwrap();

        let count = maintain(dir.path(), "a", &BTreeMap::new(), 2);
        // Sensor a's three files merged into one; b's file is there but not settled.
        assert_eq!(count, FileCount { files: 2, settled: 1 });
    }
}
