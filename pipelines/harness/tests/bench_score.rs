//! `vigil-harness bench score` times our scoring path and a bare ONNX Runtime session.

use std::path::Path;
use std::process::Command;

#[test]
fn bench_score_times_our_path_and_the_python_peer() {
    if !vigil_models::runtime::available_for_tests() {
        return;
    }
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../onnx/artifacts/test-linear");
    let res = Command::new(env!("CARGO_BIN_EXE_vigil-harness"))
        .args(["bench", "score", model.to_str().unwrap(), "--batches", "3,8", "--iters", "3"])
        .arg("--json")
        .output()
        .unwrap();
    assert!(res.status.success(), "{}", String::from_utf8_lossy(&res.stderr));
    let rows: serde_json::Value = serde_json::from_slice(&res.stdout).unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[1]["batch"], 8);
    assert!(rows.iter().all(|r| r["ours_ms"].as_f64().unwrap() > 0.0));
}
