//! Every artifact under `onnx/artifacts/` that ships a `parity.json` (inputs and the
//! outputs PyTorch or numpy gave for them) must give the same outputs through our
//! `Model` (ONNX Runtime via `ort`): max abs diff ≤ 1e-4 in fp32.
//!
//! Needs the ONNX Runtime library (`.ci/run` installs it); without it the test says why and passes.

use std::path::{Path, PathBuf};

use vigil_models::manifest::DType;
use vigil_models::ndarray::{ArrayD, IxDyn};
use vigil_models::{InputTensor, Model};

fn artifacts() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../onnx/artifacts");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|d| d.join("parity.json").is_file())
        .collect();
    dirs.sort();
    dirs
}

/// (shape, values) of one named tensor in the fixture.
fn tensor(t: &serde_json::Value) -> (Vec<usize>, Vec<f64>) {
    let shape = t["shape"].as_array().unwrap().iter().map(|d| d.as_u64().unwrap() as usize);
    let data = t["data"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap());
    (shape.collect(), data.collect())
}

#[test]
fn every_artifact_matches_its_parity_fixture() {
    if !vigil_models::runtime::available_for_tests() {
        return;
    }
    let dirs = artifacts();
    assert!(dirs.len() >= 2, "expected the shipped artifacts, found {dirs:?}");
    for dir in dirs {
        let model = Model::load(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        let fixture: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("parity.json")).unwrap())
                .unwrap();
        let mut inputs = Vec::new();
        for (name, t) in fixture["inputs"].as_object().unwrap() {
            let (shape, data) = tensor(t);
            let spec = model.manifest().input(name).unwrap_or_else(|| {
                panic!("{}: parity input `{name}` is not a model input", dir.display())
            });
            let input = match spec.dtype {
                DType::Int64 => InputTensor::from(
                    ArrayD::from_shape_vec(IxDyn(&shape), data.iter().map(|&v| v as i64).collect())
                        .unwrap(),
                ),
                _ => InputTensor::from(
                    ArrayD::from_shape_vec(IxDyn(&shape), data.iter().map(|&v| v as f32).collect())
                        .unwrap(),
                ),
            };
            inputs.push((name.as_str(), input));
        }
        let outputs = model.run(&inputs).unwrap();
        for (name, t) in fixture["outputs"].as_object().unwrap() {
            let (shape, want) = tensor(t);
            let got = outputs.get(name).unwrap();
            assert_eq!(got.shape(), shape.as_slice(), "{}: {name}", dir.display());
            let diff =
                got.iter().zip(&want).map(|(g, w)| (f64::from(*g) - w).abs()).fold(0.0, f64::max);
            assert!(diff <= 1e-4, "{}: {name}: max abs diff {diff}", dir.display());
            println!("{}: {name}: max abs diff {diff:.2e}", dir.display());
        }
    }
}
