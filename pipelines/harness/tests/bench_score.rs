//! `vigil-harness bench score` times our scoring path and a bare ONNX Runtime session.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn test_linear() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../onnx/artifacts/test-linear")
}

fn bench(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vigil-harness"))
        .args(["bench", "score"])
        .arg(test_linear())
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn bench_score_times_our_path_and_the_python_peer() {
    if !vigil_models::runtime::available_for_tests() {
        return;
    }
    let res = bench(&["--batch", "3,8", "--iters", "3", "--warmup", "1", "--json"]);
    assert!(res.status.success(), "{}", String::from_utf8_lossy(&res.stderr));
    let report: serde_json::Value = serde_json::from_slice(&res.stdout).unwrap();
    assert_eq!(
        (report["device_asked"].as_str(), report["device"].as_str()),
        (Some("cpu"), Some("cpu"))
    );
    let rows = report["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[1]["batch"], 8);
    for side in ["ours", "peer"] {
        if side == "peer" && report["peer"].is_null() {
            println!("no peer python: {}", report["peer_error"]);
            continue;
        }
        for r in rows {
            let l = &r[side];
            assert_eq!(l["calls"], 3, "{side}: {r}");
            assert!(l["rows_per_s"].as_f64().unwrap() > 0.0, "{side}: {r}");
            assert!(l["p50_ms"].as_f64().unwrap() <= l["p99_ms"].as_f64().unwrap(), "{side}: {r}");
        }
    }
    if !report["peer"].is_null() {
        assert_eq!(report["peer"]["providers"][0], "CPUExecutionProvider");
    }
}

#[test]
fn bench_score_on_cuda_without_a_gpu_says_why_and_exits_1() {
    if !vigil_models::runtime::available_for_tests() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("r.json");
    let res = bench(&[
        "--device",
        "cuda",
        "--no-peer",
        "--batch",
        "1",
        "--json-out",
        json.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&res.stderr);
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    if res.status.success() {
        assert_eq!(report["device"], "cuda"); // a GPU build on a machine with CUDA
        return;
    }
    assert_eq!(res.status.code(), Some(1), "{err}");
    assert!(err.contains("model test-linear: device cuda was asked for"), "{err}");
    assert!(report["load_error"].as_str().unwrap().contains("device cuda was asked for"));
    assert!(report["rows"][0]["ours"].is_null());
}
