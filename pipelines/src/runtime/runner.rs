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
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinHandle;

use super::outputs::Outputs;
use super::record::Envelope;
use super::sinks::Sink;
use super::sources::SourceContext;
use super::stats::{StageSnapshot, StatsRegistry};
use super::topology::Topology;
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
    /// Stage failures (a source that could not read, ...); the run went on without them.
    pub errors: Vec<String>,
}

/// A topology about to run, with its stop flag and counters.
pub struct Runner {
    topology: Topology,
    stop: Arc<AtomicBool>,
    stats: StatsRegistry,
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
        let Runner { topology, stop, stats } = self;
        let cap = topology.config.channel_capacity;
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
        let score_pool = Arc::new(Semaphore::new(cores));

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

        let errors = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
        let mut tasks: Vec<JoinHandle<()>> = Vec::new();
        for (name, source) in topology.sources {
            let ctx = SourceContext {
                out: outputs_of(&name, &mut readers_of),
                stats: stats.stage(&name, "source"),
                stop: stop.clone(),
                batch: topology.config.batch,
                sensor: topology.config.sensor.clone(),
            };
            let errors = errors.clone();
            tasks.push(tokio::task::spawn_blocking(move || {
                let started = Instant::now();
                let result = source.run(&ctx);
                let blocked = Duration::from_secs_f64(ctx.stats.blocked_seconds());
                ctx.stats.add_busy(started.elapsed().saturating_sub(blocked));
                if let Err(e) = result {
                    tracing::error!(source = %name, "{e:#}");
                    errors
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push(format!("source `{name}`: {e:#}"));
                }
            }));
        }
        for (name, transform, _) in topology.transforms {
            let rx = receivers.remove(&name).expect("a channel per transform");
            let out = outputs_of(&name, &mut readers_of);
            let st = stats.stage(&name, "transform");
            tasks.push(tokio::spawn(run_transform(
                name,
                transform,
                rx,
                out,
                st,
                score_pool.clone(),
            )));
        }
        for (name, sink, _) in topology.sinks {
            let rx = receivers.remove(&name).expect("a channel per sink");
            let st = stats.stage(&name, "sink");
            tasks.push(tokio::spawn(run_sink(name, sink, rx, st)));
        }
        drop(readers_of);

        let store = topology.store_dir.clone();
        let sensor = topology.config.sensor.clone();
        let every =
            Duration::from_secs(topology.config.store.maintenance_secs.unwrap_or(300).max(1));
        let retention = topology.config.store.retention.clone();
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
                        let _ =
                            tokio::task::spawn_blocking(move || maintain(&store, &retention)).await;
                    }
                }
            })
        };
        for t in tasks {
            t.await?;
        }
        upkeep.abort();
        let snapshot = stats.snapshot();
        write_stats(&store, &sensor, &snapshot);
        let errors = errors.lock().unwrap_or_else(|e| e.into_inner()).clone();
        Ok(RunSummary { stages: snapshot, store, seconds: started.elapsed().as_secs_f64(), errors })
    }
}

/// Compaction, then retention, of every table (errors are logged; the next run retries).
pub fn maintain(store: &std::path::Path, retention: &BTreeMap<String, crate::store::Retention>) {
    let now = super::rows::now_us();
    for table in Table::ALL {
        if let Err(e) = compact_table(store, table, 8, 16 << 20) {
            tracing::warn!(%table, "compaction: {e}");
        }
        if let Some(policy) = retention.get(table.name())
            && let Err(e) = enforce_retention(store, table, policy, now)
        {
            tracing::warn!(%table, "retention: {e}");
        }
    }
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

async fn run_transform(
    name: String,
    mut transform: Transform,
    mut rx: mpsc::Receiver<Envelope>,
    out: Outputs,
    stats: Arc<super::stats::StageStats>,
    pool: Arc<Semaphore>,
) {
    while let Some(env) = rx.recv().await {
        stats.add_in(env.rows());
        let rows = env.rows();
        let started = Instant::now();
        let permit = pool.clone().acquire_owned().await.expect("the pool is never closed");
        // Kept to pass on unscored if scoring fails: accepted rows are never lost.
        let original = env.clone();
        let st = stats.clone();
        let joined = tokio::task::spawn_blocking(move || {
            let result = transform.apply(env, &st);
            drop(permit);
            (transform, result)
        })
        .await;
        let (t, result) = match joined {
            Ok(v) => v,
            Err(e) => {
                tracing::error!(transform = %name, "the scoring task failed: {e}");
                return;
            }
        };
        transform = t;
        stats.observe_batch(started.elapsed());
        match result {
            Ok(envs) => {
                for e in envs {
                    stats.add_out(e.rows());
                    if out.send(e).await.is_err() {
                        return;
                    }
                }
            }
            Err(e) => {
                tracing::error!(transform = %name, rows, "batch passed on unscored: {e:#}");
                stats.add_dropped(rows);
                if !matches!(transform, Transform::Alerts(_)) && out.send(original).await.is_err() {
                    return;
                }
            }
        }
    }
    match transform.finish(&stats) {
        Ok(envs) => {
            for e in envs {
                stats.add_out(e.rows());
                let _ = out.send(e).await;
            }
        }
        Err(e) => tracing::error!(transform = %name, "{e:#}"),
    }
}

async fn run_sink(
    name: String,
    mut sink: Sink,
    mut rx: mpsc::Receiver<Envelope>,
    stats: Arc<super::stats::StageStats>,
) {
    while let Some(env) = rx.recv().await {
        let rows = env.rows();
        stats.add_in(rows);
        let started = Instant::now();
        let (s, result) = match tokio::task::spawn_blocking(move || {
            let r = sink.write(&env);
            (sink, r)
        })
        .await
        {
            Ok(v) => v,
            Err(e) => {
                tracing::error!(sink = %name, "the write task failed: {e}");
                return;
            }
        };
        sink = s;
        stats.observe_batch(started.elapsed());
        match result {
            Ok(written) => stats.add_out(written),
            Err(e) => {
                tracing::error!(sink = %name, rows, "write failed, rows dropped: {e:#}");
                stats.add_dropped(rows);
            }
        }
    }
}
