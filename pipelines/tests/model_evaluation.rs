//! The models' test figures, recomputed from the committed artifacts and splits by
//! `python -m vigil_onnx.evaluate ci` (issue 12's protocol) with this build's `vigil` as the
//! tokenizer: a retrained artifact whose manifest does not match its split fails here.
//!
//! Needs the project's `.venv` (`onnxruntime`, `pyarrow`; `.ci/run` installs them) and
//! `$VIGIL_DATA`; skipped with a printed reason without them, a failure when
//! `VIGIL_REQUIRE_DATA=1`.

mod common;

use std::process::Command;

use vigil_ingest::data_dir::{data_required, shared_data};

#[test]
fn artifacts_reproduce_their_test_figures() {
    let Some(data) = shared_data(env!("CARGO_MANIFEST_DIR").as_ref(), "flows") else {
        return;
    };
    let data = data.parent().unwrap().to_path_buf();
    let python = common::repo(".venv/bin/python");
    if !python.exists() {
        let why = format!("{} is absent (see .ci/run)", python.display());
        assert!(!data_required(), "VIGIL_REQUIRE_DATA=1 but {why}");
        println!("skipped: {why}");
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let out = Command::new(&python)
        .args(["-m", "vigil_onnx.evaluate", "ci", "--work"])
        .arg(work.path())
        .arg("--data")
        .arg(&data)
        .current_dir(common::repo("onnx"))
        .env("VIGIL_BIN", common::VIGIL)
        .output()
        .expect("python runs");
    let text =
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "evaluate ci failed:\n{text}");
    assert!(text.contains("flow-transformer-cicids2017"), "{text}");
}
