//! Every artifact under `onnx/artifacts/` that ships a `parity.json` (inputs and the
//! outputs PyTorch or numpy gave for them) must give the same outputs through our
//! `Model` (ONNX Runtime via `ort`): max abs diff ≤ 1e-4 in fp32. Its int8 and fp16
//! variants must stay within the distance their manifest entry states.
//!
//! Needs the ONNX Runtime library (`.ci/run` installs it); without it the test says why and passes.

use std::path::{Path, PathBuf};

use vigil_models::manifest::DType;
use vigil_models::ndarray::{ArrayD, IxDyn};
use vigil_models::{InputTensor, Model, ModelOptions, Precision};

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
        check_parity(&dir, &model, 1e-4);
    }
}

#[test]
fn every_variant_stays_within_its_stated_distance() {
    if !vigil_models::runtime::available_for_tests() {
        return;
    }
    let mut checked = 0;
    for dir in artifacts() {
        let manifest: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).unwrap())
                .unwrap();
        // Where each tool writes the distance it measured on the parity rows.
        let stated = [
            (Precision::Int8, &manifest["int8"]["parity"]["max_abs_diff"]),
            (Precision::Fp16, &manifest["fp16"]["max_abs_diff"]),
        ];
        for (precision, stated) in stated {
            let Some(stated) = stated.as_f64() else { continue };
            let options = ModelOptions::default().precision(precision);
            let model = Model::load_with(&dir, &options)
                .unwrap_or_else(|e| panic!("{} {precision}: {e}", dir.display()));
            // Quantised kernels differ a little between CPUs.
            check_parity(&dir, &model, stated * 1.5 + 1e-3);
            checked += 1;
        }
    }
    assert!(checked >= 7, "expected the shipped int8 and fp16 variants, checked {checked}");
}

/// Run `dir`'s parity inputs through `model` and compare with its parity outputs.
fn check_parity(dir: &Path, model: &Model, tolerance: f64) {
    let fixture: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("parity.json")).unwrap()).unwrap();
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
    let what = format!("{} ({})", dir.display(), model.precision());
    for (name, t) in fixture["outputs"].as_object().unwrap() {
        let (shape, want) = tensor(t);
        let got = outputs.get(name).unwrap();
        assert_eq!(got.shape(), shape.as_slice(), "{what}: {name}");
        let diff =
            got.iter().zip(&want).map(|(g, w)| (f64::from(*g) - w).abs()).fold(0.0, f64::max);
        assert!(diff <= tolerance, "{what}: {name}: max abs diff {diff} > {tolerance}");
        println!("{what}: {name}: max abs diff {diff:.2e}");
    }
}
