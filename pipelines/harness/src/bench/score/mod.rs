//! Scoring throughput through `vigil-models` against a bare ONNX Runtime Python
//! session on the same model, inputs, batch size and thread count.
//!
//! Inputs come from the artifact's `parity.json`, its rows repeated up to the
//! batch size. Each side runs `iters` timed calls after a warm-up call, on one
//! intra-op thread; the peer is `python3` from the project's `.venv` (the
//! onnxruntime wheel the runtime is loaded from).

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use anyhow::Context;
use serde::Serialize;
use vigil_models::manifest::DType;
use vigil_models::ndarray::{ArrayD, Axis, IxDyn, concatenate};
use vigil_models::{InputTensor, Model, ModelOptions};

/// One batch size's timings, in milliseconds per call.
#[derive(Debug, Clone, Serialize)]
pub struct ScoreTiming {
    /// Items per call.
    pub batch: usize,
    /// Our path: `Model::run` (input checks, batching, output conversion included).
    pub ours_ms: f64,
    /// A bare `onnxruntime.InferenceSession.run` in Python, when it could run.
    pub peer_ms: Option<f64>,
}

/// The peer: the same calls through onnxruntime's Python API.
const PEER: &str = r#"
import json, sys, time
import numpy as np, onnxruntime as ort
model, parity, batch, iters = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
dtypes = json.loads(sys.argv[5])
o = ort.SessionOptions(); o.intra_op_num_threads = 1; o.inter_op_num_threads = 1
s = ort.InferenceSession(model, o, providers=["CPUExecutionProvider"])
p = json.load(open(parity))["inputs"]
feed = {}
for name, t in p.items():
    a = np.array(t["data"], dtype=dtypes[name]).reshape(t["shape"])
    reps = -(-batch // a.shape[0])
    feed[name] = np.concatenate([a] * reps)[:batch]
s.run(None, feed)
t0 = time.perf_counter()
for _ in range(iters): s.run(None, feed)
print((time.perf_counter() - t0) * 1000 / iters)
"#;

fn inputs(
    model: &Model,
    parity: &Path,
    batch: usize,
) -> anyhow::Result<Vec<(String, InputTensor)>> {
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(parity)?)?;
    let mut out = Vec::new();
    for (name, t) in v["inputs"].as_object().context("parity.json has no inputs")? {
        let shape: Vec<usize> =
            serde_json::from_value(t["shape"].clone()).context("parity input shape")?;
        let data: Vec<f64> = serde_json::from_value(t["data"].clone()).context("parity data")?;
        let reps = batch.div_ceil(shape[0].max(1));
        let tile = |a: ArrayD<f64>| -> anyhow::Result<ArrayD<f64>> {
            let views: Vec<_> = (0..reps).map(|_| a.view()).collect();
            let full = concatenate(Axis(0), &views)?;
            Ok(full.slice_axis(Axis(0), (0..batch).into()).to_owned())
        };
        let a = tile(ArrayD::from_shape_vec(IxDyn(&shape), data)?)?;
        let input = match model.manifest().input(name).map(|s| s.dtype) {
            Some(DType::Int64) => InputTensor::from(a.mapv(|x| x as i64)),
            _ => InputTensor::from(a.mapv(|x| x as f32)),
        };
        out.push((name.clone(), input));
    }
    Ok(out)
}

fn peer(dir: &Path, model: &Model, batch: usize, iters: usize) -> Option<f64> {
    let python = ["./.venv/bin/python3", "../.venv/bin/python3"]
        .into_iter()
        .map(Path::new)
        .find(|p| p.exists())?;
    let dtypes: serde_json::Map<String, serde_json::Value> = model
        .manifest()
        .inputs
        .iter()
        .map(|s| {
            let t = if s.dtype == DType::Int64 { "int64" } else { "float32" };
            (s.name.clone(), t.into())
        })
        .collect();
    let out = Command::new(python)
        .args(["-c", PEER])
        .arg(dir.join("model.onnx"))
        .arg(dir.join("parity.json"))
        .arg(batch.to_string())
        .arg(iters.to_string())
        .arg(serde_json::Value::Object(dtypes).to_string())
        .output()
        .ok()?;
    if !out.status.success() {
        tracing::warn!("peer failed: {}", String::from_utf8_lossy(&out.stderr));
        return None;
    }
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}

/// Time `model_dir` at each batch size, ours and the Python peer's.
pub fn bench_score(
    model_dir: &Path,
    batches: &[usize],
    iters: usize,
) -> anyhow::Result<Vec<ScoreTiming>> {
    let mut rows = Vec::new();
    for &batch in batches {
        let model = Model::load_with(
            model_dir,
            &ModelOptions::default().intra_threads(1).max_batch(batch.max(1)),
        )?;
        let named = inputs(&model, &model_dir.join("parity.json"), batch)?;
        let feed: Vec<(&str, InputTensor)> =
            named.iter().map(|(n, t)| (n.as_str(), t.clone())).collect();
        model.run(&feed)?;
        let t0 = Instant::now();
        for _ in 0..iters {
            model.run(&feed)?;
        }
        let ours_ms = t0.elapsed().as_secs_f64() * 1000.0 / iters as f64;
        rows.push(ScoreTiming { batch, ours_ms, peer_ms: peer(model_dir, &model, batch, iters) });
    }
    Ok(rows)
}
