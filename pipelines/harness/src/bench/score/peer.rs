//! The peer: the same model, inputs, batch sizes, device and threads through a bare
//! `onnxruntime.InferenceSession` in Python, each call timed on its own.
//!
//! Which Python: `--python`, else `VIGIL_PEER_PYTHON`, else the project's `.venv/bin/python3`
//! (the onnxruntime wheel the runtime is loaded from). On a GPU machine that is a Python whose
//! `onnxruntime` is `onnxruntime-gpu` (`PYTHONPATH` may point at an unpacked wheel); with
//! device `cuda` the peer refuses to time anything unless `CUDAExecutionProvider` is the
//! session's first provider, so a silent CPU fallback cannot pass for a GPU figure.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context;
use serde::{Deserialize, Serialize};
use vigil_models::{Device, Manifest};

use super::latency::Budget;

/// The environment variable naming the peer's Python.
pub const PEER_PYTHON: &str = "VIGIL_PEER_PYTHON";

const SCRIPT: &str = r#"
import json, os, sys, time
cfg = json.loads(sys.argv[1])
import numpy as np, onnxruntime as ort
out = {"version": ort.__version__, "file": os.path.dirname(ort.__file__),
       "available": ort.get_available_providers(), "providers": [], "batches": {}}
def fail(msg):
    out["error"] = msg; print(json.dumps(out)); sys.exit(0)
o = ort.SessionOptions()
o.intra_op_num_threads = cfg["threads"]; o.inter_op_num_threads = 1
providers = ["CPUExecutionProvider"]
if cfg["device"] == "cuda":
    if "CUDAExecutionProvider" not in out["available"]:
        fail("onnxruntime %s at %s has no CUDAExecutionProvider (it has %s): put onnxruntime-gpu "
             "first on PYTHONPATH or pick another python with --python / VIGIL_PEER_PYTHON"
             % (out["version"], out["file"], out["available"]))
    providers = [("CUDAExecutionProvider", {"device_id": 0}), "CPUExecutionProvider"]
try:
    s = ort.InferenceSession(cfg["model"], o, providers=providers)
except Exception as e:
    fail("cannot create the session: %s" % e)
out["providers"] = s.get_providers()
if cfg["device"] == "cuda" and out["providers"][:1] != ["CUDAExecutionProvider"]:
    fail("CUDAExecutionProvider is not active in the session (providers %s): onnxruntime could "
         "not load its CUDA libraries (source benchmarks/gpu-env.sh)"
         % out["providers"])
parity = json.load(open(cfg["parity"]))["inputs"]
base = {n: np.array(t["data"], dtype=cfg["dtypes"][n]).reshape(t["shape"]) for n, t in parity.items()}
b = cfg["budget"]
for batch in cfg["batches"]:
    feed = {}
    for n, a in base.items():
        if cfg["batched"][n]:
            a = np.concatenate([a] * -(-batch // a.shape[0]))[:batch]
        feed[n] = np.ascontiguousarray(a)
    try:
        for _ in range(b["warmup"]): s.run(None, feed)
        times, start = [], time.perf_counter()
        while len(times) < max(b["iters"], 1) and (not times or time.perf_counter() - start < b["max_seconds"]):
            t0 = time.perf_counter(); s.run(None, feed); times.append((time.perf_counter() - t0) * 1000)
        out["batches"][str(batch)] = times
    except Exception as e:
        out["batches"][str(batch)] = "batch %d: %s" % (batch, e)
print(json.dumps(out))
"#;

/// Which onnxruntime the peer used, and how it went.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PeerInfo {
    /// The Python run.
    #[serde(default)]
    pub python: PathBuf,
    /// Its onnxruntime version.
    pub version: String,
    /// Its onnxruntime package directory.
    pub file: String,
    /// The providers its onnxruntime was built with.
    pub available: Vec<String>,
    /// The session's providers, in priority order (empty when no session was made).
    pub providers: Vec<String>,
    /// Why nothing was timed, when so.
    #[serde(default)]
    pub error: Option<String>,
}

/// The peer's answer: its set-up, and per batch size the milliseconds of each call or an error.
#[derive(Debug, Deserialize)]
pub(super) struct PeerRun {
    #[serde(flatten)]
    pub info: PeerInfo,
    pub batches: BTreeMap<String, BatchResult>,
}

/// One batch size's calls, or why they failed.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(super) enum BatchResult {
    /// Milliseconds per call.
    Times(Vec<f64>),
    /// What onnxruntime said.
    Error(String),
}

/// The Python to run: `explicit`, else `VIGIL_PEER_PYTHON`, else the first `.venv/bin/python3`
/// in the current directory, its parent or `root`.
pub fn python(explicit: Option<&Path>, root: Option<&Path>) -> Option<PathBuf> {
    if let Some(p) = explicit {
        return Some(p.to_path_buf());
    }
    if let Some(p) = std::env::var_os(PEER_PYTHON).filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(p));
    }
    let mut candidates =
        vec![PathBuf::from(".venv/bin/python3"), PathBuf::from("../.venv/bin/python3")];
    candidates.extend(root.map(|r| r.join(".venv/bin/python3")));
    candidates.into_iter().find(|p| p.exists())
}

/// Runs the peer on the artifact in `dir` at each of `batches`, on `device` (CPU or CUDA).
pub(super) fn run(
    python: &Path,
    dir: &Path,
    manifest: &Manifest,
    batches: &[usize],
    budget: Budget,
    device: Device,
    threads: usize,
) -> anyhow::Result<PeerRun> {
    let specs = || manifest.inputs.iter();
    let config = serde_json::json!({
        "model": dir.join("model.onnx"),
        "parity": dir.join("parity.json"),
        "dtypes": specs().map(|s| (s.name.clone(), s.dtype.as_str())).collect::<BTreeMap<_, _>>(),
        "batched": specs().map(|s| (s.name.clone(), super::is_batched(s))).collect::<BTreeMap<_, _>>(),
        "batches": batches,
        "budget": budget,
        "device": if device == Device::Cuda { "cuda" } else { "cpu" },
        "threads": threads,
    });
    let out = Command::new(python)
        .args(["-c", SCRIPT])
        .arg(config.to_string())
        .env("PYTHONUNBUFFERED", "1")
        .output()
        .with_context(|| format!("cannot run the peer python {}", python.display()))?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !stderr.trim().is_empty() {
        tracing::info!(python = %python.display(), "peer stderr:\n{}", stderr.trim_end());
    }
    anyhow::ensure!(
        out.status.success(),
        "the peer python {} failed ({}): {}",
        python.display(),
        out.status,
        last_lines(&stderr, 6)
    );
    let mut run: PeerRun = serde_json::from_slice(&out.stdout).with_context(|| {
        format!("the peer printed no result: {}", String::from_utf8_lossy(&out.stdout))
    })?;
    run.info.python = python.to_path_buf();
    if let Some(error) = &mut run.info.error
        && !stderr.trim().is_empty()
    {
        error.push_str(&format!(" [its stderr: {}]", last_lines(&stderr, 4)));
    }
    Ok(run)
}

/// The last `n` lines of `text`, joined with ` | `.
fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].join(" | ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_times_and_errors() {
        let run: PeerRun = serde_json::from_str(
            r#"{"version": "1.31.1", "file": "/x/onnxruntime", "available": ["CPUExecutionProvider"],
                "providers": ["CPUExecutionProvider"], "batches": {"1": [0.5, 0.25], "4096": "batch 4096: OOM"}}"#,
        )
        .unwrap();
        assert!(matches!(&run.batches["1"], BatchResult::Times(t) if t.len() == 2));
        assert!(matches!(&run.batches["4096"], BatchResult::Error(e) if e.contains("OOM")));
        assert_eq!(run.info.error, None);
    }

    #[test]
    fn explicit_python_wins() {
        assert_eq!(
            python(Some(Path::new("/usr/bin/python3")), None),
            Some("/usr/bin/python3".into())
        );
        assert_eq!(last_lines("a\n\nb\nc\n", 2), "b | c");
    }
}
