//! The models' test figures, recomputed from the committed artifacts and splits by
//! `python -m vigil_onnx.evaluate ci` (issue 12's protocol) with this build's `vigil` as the
//! tokenizer: a retrained artifact whose manifest does not match its split fails here. And
//! the shipped rules' detection quality (`evaluate alerts`: `vigil run` with `rules =
//! "builtin"` on the CIC-IDS2017 and IoT-23 test splits), against the recorded report
//! `pipelines/rules/quality.json`.
//!
//! Needs the project's `.venv` (`onnxruntime`, `pyarrow`; `.ci/run` installs them) and
//! `$VIGIL_DATA`; skipped with a printed reason without them, a failure when
//! `VIGIL_REQUIRE_DATA=1`.

mod common;

use std::process::Command;

use vigil_ingest::data_dir::{data_required, shared_data};

/// `python -m vigil_onnx.evaluate ARGS --work TMP --data DATA` in the project's `.venv`
/// with this build's `vigil`: its output, or `None` (skipped) without the data or `.venv`.
fn evaluate(args: &[&str]) -> Option<String> {
    let data = shared_data(env!("CARGO_MANIFEST_DIR").as_ref(), "flows")?;
    let data = data.parent().unwrap().to_path_buf();
    let python = common::repo(".venv/bin/python");
    if !python.exists() {
        let why = format!("{} is absent (see .ci/run)", python.display());
        assert!(!data_required(), "VIGIL_REQUIRE_DATA=1 but {why}");
        println!("skipped: {why}");
        return None;
    }
    let work = tempfile::tempdir().unwrap();
    let out = Command::new(&python)
        .args(["-m", "vigil_onnx.evaluate"])
        .args(args)
        .arg("--work")
        .arg(work.path())
        .arg("--data")
        .arg(&data)
        .current_dir(common::repo("onnx"))
        .env("VIGIL_BIN", common::VIGIL)
        .output()
        .expect("python runs");
    let text =
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "evaluate {args:?} failed:\n{text}");
    Some(text)
}

#[test]
fn artifacts_reproduce_their_test_figures() {
    let Some(text) = evaluate(&["ci"]) else { return };
    assert!(text.contains("flow-transformer-cicids2017"), "{text}");
}

#[test]
fn the_shipped_rules_detect_as_recorded() {
    let recorded = common::repo("pipelines/rules/quality.json");
    let recorded = recorded.to_str().unwrap();
    let args = ["alerts", "--only", "cicids2017", "iot23", "--check", recorded];
    let Some(text) = evaluate(&args) else { return };
    assert!(text.contains("as recorded"), "{text}");
}
