//! Scoring throughput and latency through `vigil-models` against a bare ONNX Runtime Python
//! session ([`peer`]) on the same model, inputs, batch sizes, device and thread count.
//!
//! Inputs come from the artifact's `parity.json`, its rows repeated up to the batch size.
//! Each side loads the model once (ours with `max_batch` = the largest batch, so that every
//! call is one ONNX Runtime run), then per batch size makes a few untimed warm-up calls and
//! times each following call on its own, until `iters` calls or `max_seconds` (see
//! [`Budget`]): rows/s, mean, p50 and p99 milliseconds per call. A batch size that fails on
//! one side (a model exported with a fixed batch, memory) is reported and skipped; the
//! others go on.

mod latency;
pub mod peer;

use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Serialize;
use vigil_models::manifest::DType;
use vigil_models::ndarray::{ArrayD, Axis, IxDyn, concatenate};
use vigil_models::{Device, InputTensor, Manifest, Model, ModelOptions, TensorSpec};

pub use latency::{Budget, Latency};
pub use peer::PeerInfo;

/// What to time.
#[derive(Debug, Clone)]
pub struct ScoreOptions {
    /// Batch sizes.
    pub batches: Vec<usize>,
    /// Calls per batch size and side.
    pub budget: Budget,
    /// The device asked for.
    pub device: Device,
    /// Intra-op threads, both sides.
    pub threads: usize,
    /// The peer's Python; `None`: no peer.
    pub python: Option<PathBuf>,
}

/// One batch size's figures.
#[derive(Debug, Clone, Serialize)]
pub struct ScoreTiming {
    /// Items per call.
    pub batch: usize,
    /// Our path: `Model::run` (input checks, tensor copies, output conversion included).
    pub ours: Option<Latency>,
    /// Why ours has no figures at this batch size.
    pub ours_error: Option<String>,
    /// The bare Python session.
    pub peer: Option<Latency>,
    /// Why the peer has no figures at this batch size.
    pub peer_error: Option<String>,
}

/// A model's figures at every batch size.
#[derive(Debug, Clone, Serialize)]
pub struct ScoreReport {
    /// The model's name.
    pub model: String,
    /// The artifact directory.
    pub dir: PathBuf,
    /// The device asked for.
    pub device_asked: String,
    /// The device our session uses (`None` when it could not be loaded).
    pub device: Option<String>,
    /// Intra-op threads, both sides.
    pub threads: usize,
    /// Calls per batch size and side.
    pub budget: Budget,
    /// Why our model could not be loaded, when so (the peer still runs).
    pub load_error: Option<String>,
    /// The peer's onnxruntime and session providers, when it ran.
    pub peer: Option<PeerInfo>,
    /// Why the peer did not run, when so.
    pub peer_error: Option<String>,
    /// Per batch size.
    pub rows: Vec<ScoreTiming>,
}

/// Whether the input's first dimension is dynamic (the batch axis).
fn is_batched(spec: &TensorSpec) -> bool {
    spec.shape.first().is_some_and(|d| d.size().is_none())
}

/// The parity inputs, batched inputs repeated to `batch` rows, in the manifest's dtypes.
pub(crate) fn inputs(
    manifest: &Manifest,
    parity: &serde_json::Value,
    batch: usize,
) -> anyhow::Result<Vec<(String, InputTensor)>> {
    let mut out = Vec::new();
    for (name, t) in parity["inputs"].as_object().context("parity.json has no inputs")? {
        let spec = manifest
            .input(name)
            .with_context(|| format!("parity input {name:?} is not the model's"))?;
        let shape: Vec<usize> =
            serde_json::from_value(t["shape"].clone()).context("parity input shape")?;
        let data: Vec<f64> = serde_json::from_value(t["data"].clone()).context("parity data")?;
        let mut a = ArrayD::from_shape_vec(IxDyn(&shape), data)?;
        if is_batched(spec) {
            let reps = batch.div_ceil(shape[0].max(1));
            let views: Vec<_> = (0..reps).map(|_| a.view()).collect();
            a = concatenate(Axis(0), &views)?.slice_axis(Axis(0), (0..batch).into()).to_owned();
        }
        let input = match spec.dtype {
            DType::Int64 => InputTensor::from(a.mapv(|x| x as i64)),
            DType::Int32 => InputTensor::from(a.mapv(|x| x as i32)),
            DType::Float64 => InputTensor::from(a),
            DType::Uint8 => InputTensor::from(a.mapv(|x| x as u8)),
            DType::Bool => InputTensor::from(a.mapv(|x| x != 0.0)),
            _ => InputTensor::from(a.mapv(|x| x as f32)),
        };
        out.push((name.clone(), input));
    }
    Ok(out)
}

/// Why `batch` cannot be fed to a model whose inputs all have a fixed first dimension.
fn fixed_batch(manifest: &Manifest, batch: usize) -> Option<String> {
    if manifest.inputs.iter().any(is_batched) {
        return None;
    }
    let fixed = manifest.inputs.first()?.shape.first()?.size()?;
    (fixed != batch).then(|| format!("the model's batch dimension is fixed at {fixed}: skipped"))
}

/// Times our path at each batch size; per batch size the milliseconds of each call or an error.
fn ours(
    model: &Model,
    parity: &serde_json::Value,
    batches: &[usize],
    budget: Budget,
) -> Vec<Result<Vec<f64>, String>> {
    batches
        .iter()
        .map(|&batch| {
            if let Some(why) = fixed_batch(model.manifest(), batch) {
                return Err(why);
            }
            let named = inputs(model.manifest(), parity, batch).map_err(|e| format!("{e:#}"))?;
            let feed: Vec<(&str, InputTensor)> =
                named.iter().map(|(n, t)| (n.as_str(), t.clone())).collect();
            budget.time(|| model.run(&feed).map(drop)).map_err(|e| format!("batch {batch}: {e}"))
        })
        .collect()
}

/// Times the artifact in `model_dir`, ours and the Python peer's.
///
/// Fails only when the artifact cannot be read; a model that does not load on the device
/// asked for is reported in [`ScoreReport::load_error`] (the peer still runs).
pub fn bench_score(model_dir: &Path, options: &ScoreOptions) -> anyhow::Result<ScoreReport> {
    let manifest = Manifest::from_path(&model_dir.join("manifest.json"))?;
    let parity_path = model_dir.join("parity.json");
    let parity: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(&parity_path)
            .with_context(|| format!("cannot read {}", parity_path.display()))?,
    )
    .with_context(|| format!("invalid {}", parity_path.display()))?;
    let largest = options.batches.iter().copied().max().unwrap_or(1).max(1);
    let loaded = Model::load_with(
        model_dir,
        &ModelOptions::default()
            .device(options.device)
            .intra_threads(options.threads)
            .max_batch(largest),
    );
    let (ours_times, device, load_error) = match &loaded {
        Ok(model) => {
            tracing::info!(model = model.name(), device = %model.device(), "timing vigil-models");
            (ours(model, &parity, &options.batches, options.budget), Some(model.device()), None)
        }
        Err(e) => {
            let all = options.batches.iter().map(|_| Err("model not loaded".to_string())).collect();
            (all, None, Some(e.to_string()))
        }
    };
    drop(loaded); // free the device before the peer takes it
    // The peer runs where ours does; where ours could not load, where it was asked to.
    let peer_device = match (device, options.device) {
        (Some(d), _) | (None, d) => d,
    };
    let (peer, peer_error) = match &options.python {
        None => (None, Some("no peer python (pass --python or set VIGIL_PEER_PYTHON)".into())),
        Some(python) => {
            tracing::info!(python = %python.display(), device = %peer_device, "timing the peer");
            match peer::run(
                python,
                model_dir,
                &manifest,
                &options.batches,
                options.budget,
                peer_device,
                options.threads,
            ) {
                Ok(run) => (Some(run), None),
                Err(e) => (None, Some(format!("{e:#}"))),
            }
        }
    };
    let rows = options
        .batches
        .iter()
        .zip(ours_times)
        .map(|(&batch, ours)| {
            let (peer_lat, peer_err) = match &peer {
                None => (None, None),
                Some(run) if run.info.error.is_some() => (None, None),
                Some(run) => match run.batches.get(&batch.to_string()) {
                    Some(peer::BatchResult::Times(t)) => (Latency::of(batch, t), None),
                    Some(peer::BatchResult::Error(e)) => (None, Some(e.clone())),
                    None => (None, Some("no result".into())),
                },
            };
            let (ours, ours_error) = match ours {
                Ok(t) => (Latency::of(batch, &t), None),
                Err(e) => (None, Some(e)),
            };
            ScoreTiming { batch, ours, ours_error, peer: peer_lat, peer_error: peer_err }
        })
        .collect();
    Ok(ScoreReport {
        model: manifest.name.clone(),
        dir: model_dir.to_path_buf(),
        device_asked: options.device.to_string(),
        device: device.map(|d| d.to_string()),
        threads: options.threads,
        budget: options.budget,
        load_error,
        peer: peer.map(|r| r.info),
        peer_error,
        rows,
    })
}

impl fmt::Display for ScoreReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let device = self.device.as_deref().unwrap_or("-");
        writeln!(
            f,
            "{}: vigil-models on {device} (asked: {}), {} intra-op thread(s), up to {} calls or {:.1} s per batch after {} warm-up",
            self.model,
            self.device_asked,
            self.threads,
            self.budget.iters,
            self.budget.max_seconds,
            self.budget.warmup
        )?;
        if let Some(e) = &self.load_error {
            writeln!(f, "  vigil-models could not load the model: {e}")?;
        }
        match (&self.peer, &self.peer_error) {
            (Some(p), _) => {
                writeln!(
                    f,
                    "  peer: {} onnxruntime {} ({}), session providers {:?}",
                    p.python.display(),
                    p.version,
                    p.file,
                    p.providers
                )?;
                if let Some(e) = &p.error {
                    writeln!(f, "  peer not timed: {e}")?;
                }
            }
            (None, Some(e)) => writeln!(f, "  peer not run: {e}")?,
            (None, None) => {}
        }
        writeln!(
            f,
            "{:>6} | {:>12} {:>9} {:>9} {:>6} | {:>12} {:>9} {:>9} {:>6} | {:>8}",
            "batch",
            "vigil rows/s",
            "p50 ms",
            "p99 ms",
            "calls",
            "peer rows/s",
            "p50 ms",
            "p99 ms",
            "calls",
            "vigil/py"
        )?;
        for r in &self.rows {
            let side = |l: &Option<Latency>| match l {
                Some(l) => format!(
                    "{:>12.0} {:>9.3} {:>9.3} {:>6}",
                    l.rows_per_s, l.p50_ms, l.p99_ms, l.calls
                ),
                None => format!("{:>12} {:>9} {:>9} {:>6}", "-", "-", "-", "-"),
            };
            let ratio = match (&r.ours, &r.peer) {
                (Some(o), Some(p)) => format!("{:.2}x", o.rows_per_s / p.rows_per_s),
                _ => "-".into(),
            };
            writeln!(f, "{:>6} | {} | {} | {:>8}", r.batch, side(&r.ours), side(&r.peer), ratio)?;
            for (who, e) in [("vigil", &r.ours_error), ("peer", &r.peer_error)] {
                if let Some(e) = e.as_ref().filter(|_| self.load_error.is_none() || who == "peer") {
                    writeln!(f, "         {who} skipped batch {}: {e}", r.batch)?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest() -> Manifest {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../onnx/artifacts/test-linear");
        Manifest::from_path(&dir.join("manifest.json")).unwrap()
    }

    #[test]
    fn parity_rows_are_repeated_to_the_batch() {
        let parity = serde_json::json!({"inputs": {"x": {"shape": [2, 4], "data": [0, 1, 2, 3, 4, 5, 6, 7]}}});
        let named = inputs(&manifest(), &parity, 5).unwrap();
        let InputTensor::F32(x) = &named[0].1 else { panic!("{named:?}") };
        assert_eq!(x.shape(), &[5, 4]);
        assert_eq!(x[[4, 3]], 3.0);
        assert_eq!(fixed_batch(&manifest(), 4096), None);
    }
}
