//! One ONNX Runtime session shared by the scoring workers, or one session per worker:
//! which scores faster. The shared session runs one batch at a time on `workers`
//! intra-op threads (what the runtime does: a model's calls are serialised); the
//! per-worker sessions run `workers` batches at once, one thread each.

use std::path::Path;
use std::time::Instant;

use serde::Serialize;
use vigil_models::{InputTensor, Model, ModelOptions};

use super::score::inputs;

/// Rows/s of each arrangement for one model and batch size.
#[derive(Debug, Clone, Serialize)]
pub struct SessionsTiming {
    /// The model directory's name.
    pub model: String,
    /// Rows per call.
    pub batch: usize,
    /// Workers (threads) on each side.
    pub workers: usize,
    /// One session, `workers` intra-op threads, calls one after another.
    pub shared_rows_s: f64,
    /// `workers` sessions of one thread each, called at once.
    pub per_worker_rows_s: f64,
}

impl SessionsTiming {
    /// The faster arrangement.
    pub fn winner(&self) -> &'static str {
        if self.per_worker_rows_s > self.shared_rows_s { "per-worker" } else { "shared" }
    }
}

fn feed(named: &[(String, InputTensor)]) -> Vec<(&str, InputTensor)> {
    named.iter().map(|(n, t)| (n.as_str(), t.clone())).collect()
}

/// Time `calls` calls of `batch` rows of the model in `dir` both ways.
pub fn bench_sessions(
    dir: &Path,
    batch: usize,
    workers: usize,
    calls: usize,
) -> anyhow::Result<SessionsTiming> {
    let workers = workers.max(1);
    let calls = calls.max(workers);
    let load = |threads| {
        Model::load_with(dir, &ModelOptions::default().intra_threads(threads).max_batch(batch))
    };
    let shared = load(workers)?;
    let parity: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("parity.json"))?)?;
    let named = inputs(shared.manifest(), &parity, batch)?;
    shared.run(&feed(&named))?;
    let t0 = Instant::now();
    for _ in 0..calls {
        shared.run(&feed(&named))?;
    }
    let shared_s = t0.elapsed().as_secs_f64();
    drop(shared);

    let sessions: Vec<Model> = (0..workers).map(|_| load(1)).collect::<Result<_, _>>()?;
    for s in &sessions {
        s.run(&feed(&named))?;
    }
    let t0 = Instant::now();
    std::thread::scope(|scope| -> anyhow::Result<()> {
        let handles: Vec<_> = sessions
            .iter()
            .map(|s| {
                let named = &named;
                scope.spawn(move || -> anyhow::Result<()> {
                    for _ in 0..calls / workers {
                        s.run(&feed(named))?;
                    }
                    Ok(())
                })
            })
            .collect();
        for h in handles {
            h.join().map_err(|_| anyhow::anyhow!("a scoring thread panicked"))??;
        }
        Ok(())
    })?;
    let per_worker_s = t0.elapsed().as_secs_f64();
    let rows = |n: usize, s: f64| (n * batch) as f64 / s;
    Ok(SessionsTiming {
        model: dir.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string(),
        batch,
        workers,
        shared_rows_s: rows(calls, shared_s),
        per_worker_rows_s: rows(calls / workers * workers, per_worker_s),
    })
}
