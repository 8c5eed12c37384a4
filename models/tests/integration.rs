//! End-to-end tests on the tiny artifact `onnx/artifacts/test-linear` (softmax(x·W + b)).
//!
//! They need the ONNX Runtime library (`.venv` with `onnxruntime==1.31.1`, or `ORT_DYLIB_PATH`);
//! without it they print why and pass. `bash .ci/run` installs it, so they run in CI.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use vigil_models::ndarray::{ArrayD, IxDyn};
use vigil_models::{Device, Error, InputTensor, Model, ModelOptions};

fn artifact() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../onnx/artifacts/test-linear")
}

/// A copy of the artifact in a temporary directory, to damage.
fn copy_artifact() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for f in ["model.onnx", "manifest.json", "parity.json"] {
        std::fs::copy(artifact().join(f), dir.path().join(f)).unwrap();
    }
    dir
}

fn edit_manifest(dir: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let path = dir.join("manifest.json");
    let mut m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    edit(&mut m);
    std::fs::write(&path, serde_json::to_string_pretty(&m).unwrap()).unwrap();
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// Named arrays.
type Named = Vec<(String, ArrayD<f32>)>;

/// The parity fixture: named inputs and expected outputs (computed with numpy).
fn parity() -> (Named, Named) {
    let text = std::fs::read_to_string(artifact().join("parity.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let arrays = |key: &str| {
        v[key]
            .as_object()
            .unwrap()
            .iter()
            .map(|(name, t)| {
                let shape: Vec<usize> = t["shape"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|d| d.as_u64().unwrap() as usize)
                    .collect();
                let data: Vec<f32> = t["data"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x.as_f64().unwrap() as f32)
                    .collect();
                (name.clone(), ArrayD::from_shape_vec(IxDyn(&shape), data).unwrap())
            })
            .collect::<Vec<_>>()
    };
    (arrays("inputs"), arrays("outputs"))
}

fn max_abs_diff(a: &ArrayD<f32>, b: &ArrayD<f32>) -> f32 {
    assert_eq!(a.shape(), b.shape());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

fn x(rows: usize) -> InputTensor {
    InputTensor::from(ArrayD::<f32>::from_shape_fn(IxDyn(&[rows, 4]), |i| {
        (i[0] as f32 - 2.0) * 0.3 + i[1] as f32 * 0.1
    }))
}

#[test]
fn loads_and_checks_the_artifact() {
    if !vigil_models::runtime::available_for_tests() {
        return;
    }
    let model = Model::load(artifact()).unwrap();
    let m = model.manifest();
    assert_eq!(model.name(), "test-linear");
    assert_eq!(m.labels, ["benign", "scan", "dos"]);
    assert_eq!(m.threshold("scan"), Some(0.5));
    assert_eq!(m.inputs[0].shape[0].size(), None);
    assert_eq!(model.device(), Device::Cpu);
    assert!(model.path().ends_with("model.onnx"));
}

#[test]
fn parity_with_the_reference_outputs() {
    if !vigil_models::runtime::available_for_tests() {
        return;
    }
    let model = Model::load(artifact()).unwrap();
    let (inputs, expected) = parity();
    let inputs: Vec<(&str, InputTensor)> =
        inputs.iter().map(|(n, a)| (n.as_str(), InputTensor::from(a.clone()))).collect();
    let outputs = model.run(&inputs).unwrap();
    assert_eq!(outputs.names(), ["logits", "probs"]);
    for (name, want) in &expected {
        let got = outputs.get(name).unwrap();
        let diff = max_abs_diff(got, want);
        assert!(diff <= 1e-4, "{name}: max abs diff {diff}");
    }
    let preds = model.top_labels(&outputs, "probs").unwrap();
    let probs = &expected.iter().find(|(n, _)| n == "probs").unwrap().1;
    assert_eq!(preds.len(), probs.shape()[0]);
    for (p, row) in preds.iter().zip(probs.outer_iter()) {
        let best = (0..row.len()).max_by(|&a, &b| row[a].total_cmp(&row[b])).unwrap();
        assert_eq!(p.index, best);
        assert_eq!(p.label, model.manifest().labels[best]);
        assert!((p.score - row[best]).abs() <= 1e-4);
    }
    // The decoder's softmax of the logits agrees with the graph's.
    let soft = vigil_models::decode::softmax(outputs.get("logits").unwrap());
    assert!(max_abs_diff(&soft, outputs.get("probs").unwrap()) <= 1e-5);
}

#[test]
fn batches_larger_than_max_batch_are_split_and_joined() {
    if !vigil_models::runtime::available_for_tests() {
        return;
    }
    let whole = Model::load(artifact()).unwrap().run(&[("x", x(7))]).unwrap();
    let small = Model::load_with(artifact(), &ModelOptions::default().max_batch(3)).unwrap();
    assert_eq!(small.max_batch(), 3);
    let split = small.run(&[("x", x(7))]).unwrap();
    for (name, a) in whole.iter() {
        let b = split.get(name).unwrap();
        assert_eq!(a.shape(), &[7, 3]);
        assert!(max_abs_diff(a, b) <= 1e-6, "{name}");
    }
    let one = small.run(&[("x", x(1))]).unwrap();
    assert_eq!(one.get("probs").unwrap().shape(), &[1, 3]);
    // Spread over three sessions, the runs come back in order.
    let pooled =
        Model::load_with(artifact(), &ModelOptions::default().max_batch(2).workers(3)).unwrap();
    let spread = pooled.run(&[("x", x(7))]).unwrap();
    for (name, a) in whole.iter() {
        assert!(max_abs_diff(a, spread.get(name).unwrap()) <= 1e-6, "{name}");
    }
}

#[test]
fn corrupt_model_file_is_refused_naming_it() {
    if !vigil_models::runtime::available_for_tests() {
        return;
    }
    let dir = copy_artifact();
    let garbage = b"this is not an ONNX protobuf \xff\xff\xff\xff".to_vec();
    std::fs::write(dir.path().join("model.onnx"), &garbage).unwrap();
    let sha = sha256_hex(&garbage);
    edit_manifest(dir.path(), |m| m["sha256"] = sha.into());
    let e = Model::load(dir.path()).unwrap_err();
    assert!(matches!(e, Error::ModelLoad { .. }), "{e:?}");
    assert!(e.to_string().contains("model.onnx"), "{e}");
}

#[test]
fn sha_mismatch_is_refused_naming_the_file() {
    let dir = copy_artifact();
    let path = dir.path().join("model.onnx");
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    std::fs::write(&path, &bytes).unwrap();
    let e = Model::load(dir.path()).unwrap_err();
    match &e {
        Error::ShaMismatch { path: p, expected, actual } => {
            assert_eq!(p, &path);
            assert_ne!(expected, actual);
        }
        other => panic!("expected a sha mismatch, got {other:?}"),
    }
    assert!(e.to_string().contains("model.onnx"), "{e}");
}

#[test]
fn broken_manifest_is_refused_naming_it() {
    let dir = copy_artifact();
    std::fs::write(dir.path().join("manifest.json"), "{\"name\": 1").unwrap();
    let e = Model::load(dir.path()).unwrap_err();
    assert!(matches!(e, Error::ManifestParse { .. }), "{e:?}");
    assert!(e.to_string().contains("manifest.json"), "{e}");
}

#[test]
fn manifest_shape_dtype_or_name_mismatch_is_refused() {
    if !vigil_models::runtime::available_for_tests() {
        return;
    }
    type Edit = fn(&mut serde_json::Value);
    let cases: [(Edit, &str); 5] = [
        (|m| m["inputs"][0]["shape"][1] = 5.into(), "dimension 1"),
        (|m| m["inputs"][0]["shape"] = serde_json::json!(["batch", 4, 1]), "rank"),
        (|m| m["inputs"][0]["dtype"] = "int64".into(), "int64"),
        (|m| m["outputs"][1]["name"] = "scores".into(), "scores"),
        (|m| m["inputs"][0]["shape"][0] = 1.into(), "dimension 0"),
    ];
    for (edit, needle) in cases {
        let dir = copy_artifact();
        edit_manifest(dir.path(), edit);
        if needle == "dimension 0" {
            // A manifest may be stricter than the graph: fixing the batch to 1 is allowed.
            Model::load(dir.path()).unwrap();
            continue;
        }
        let e = Model::load(dir.path()).unwrap_err();
        assert!(matches!(e, Error::SignatureMismatch { .. }), "{e:?}");
        let text = e.to_string();
        assert!(text.contains(needle) && text.contains("model.onnx"), "{text}");
    }
}

#[test]
fn wrong_inputs_are_refused() {
    if !vigil_models::runtime::available_for_tests() {
        return;
    }
    let model = Model::load(artifact()).unwrap();
    let cases: Vec<(Vec<(&str, InputTensor)>, &str)> = vec![
        (vec![], "missing"),
        (vec![("x", x(2)), ("y", x(2))], "unknown input \"y\""),
        (vec![("x", x(2)), ("x", x(2))], "twice"),
        (
            vec![("x", InputTensor::from(ArrayD::<i64>::zeros(IxDyn(&[2, 4]))))],
            "is int64, expected float32",
        ),
        (
            vec![("x", InputTensor::from(ArrayD::<f32>::zeros(IxDyn(&[2, 5]))))],
            "expected [batch, 4]",
        ),
        (vec![("x", InputTensor::from(ArrayD::<f32>::zeros(IxDyn(&[4]))))], "expected [batch, 4]"),
    ];
    for (inputs, needle) in cases {
        let e = model.run(&inputs).unwrap_err();
        assert!(matches!(e, Error::Input { .. }), "{e:?}");
        let text = e.to_string();
        assert!(text.contains(needle) && text.contains("test-linear"), "{text}");
    }
}

/// Counts `WARN` events from this crate.
struct WarnCounter(Arc<AtomicUsize>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for WarnCounter {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        let meta = event.metadata();
        if *meta.level() == tracing::Level::WARN && meta.target().starts_with("vigil_models") {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// `auto` without a usable GPU: one warning per process however many models load, and the
/// CPU's output. (The only test here that asks for `auto`: its warning is once per process.)
#[test]
fn auto_without_a_gpu_warns_once_and_scores_like_the_cpu() {
    if !vigil_models::runtime::available_for_tests() {
        return;
    }
    use tracing_subscriber::layer::SubscriberExt;
    let warnings = Arc::new(AtomicUsize::new(0));
    let subscriber = tracing_subscriber::registry().with(WarnCounter(warnings.clone()));
    let options = ModelOptions::default().device(Device::Auto);
    let (a, b) = tracing::subscriber::with_default(subscriber, || {
        (
            Model::load_with(artifact(), &options).unwrap(),
            Model::load_with(artifact(), &options).unwrap(),
        )
    });
    let cpu = Model::load(artifact()).unwrap();
    let (ours, expected) = (a.run(&[("x", x(3))]).unwrap(), cpu.run(&[("x", x(3))]).unwrap());
    match a.device() {
        // A GPU build on a machine with CUDA: no fallback, no warning.
        Device::Cuda => {
            assert_eq!(warnings.load(Ordering::SeqCst), 0);
            let (p, q) = (ours.get("probs").unwrap(), expected.get("probs").unwrap());
            assert!(p.iter().zip(q).all(|(p, q)| (p - q).abs() < 1e-4), "{p} vs {q}");
        }
        device => {
            assert_eq!((device, b.device()), (Device::Cpu, Device::Cpu));
            assert_eq!(warnings.load(Ordering::SeqCst), 1, "one warning for two models");
            assert_eq!(ours, expected);
        }
    }
}

#[test]
fn cuda_without_a_gpu_fails_naming_the_model_the_reason_and_what_to_do() {
    if !vigil_models::runtime::available_for_tests() {
        return;
    }
    let options = ModelOptions::default().device(Device::Cuda);
    match Model::load_with(artifact(), &options) {
        // A GPU build on a machine with CUDA.
        Ok(model) => assert_eq!(model.device(), Device::Cuda),
        Err(e) => {
            assert!(matches!(e, Error::Cuda { .. }), "{e:?}");
            let text = e.to_string();
            assert!(text.starts_with("model test-linear: device cuda was asked for"), "{text}");
            // Without the `cuda` feature, the build; with it on this CPU-only runtime, the wheel.
            let fix = if cfg!(feature = "cuda") {
                "onnxruntime-gpu==1.31.1"
            } else {
                "--features vigil-models/cuda"
            };
            assert!(text.contains(fix), "{text}");
            assert!(text.contains("use device auto"), "{text}");
        }
    }
}
