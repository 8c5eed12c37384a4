//! The store read from outside Vigil: `tests/python/` (pytest) checks that DuckDB, Polars
//! and pyarrow read every table of stores this build's `vigil` writes, partition columns
//! included, with the row counts and sums of `vigil sql`, across files written before and
//! after a model's verdict column appeared, and that the README's notebook snippets run.
//!
//! Needs the project's `.venv` with `tests/python/requirements.txt` installed (`.ci/run`
//! does it) and the ONNX Runtime library; skipped with a printed reason without them, a
//! failure when `VIGIL_REQUIRE_DATA=1`.

mod common;

use std::process::Command;

use vigil_ingest::data_dir::data_required;

#[test]
fn duckdb_polars_and_pyarrow_read_the_store_as_vigil_sql_does() {
    if common::no_runtime() {
        return;
    }
    let python = common::repo(".venv/bin/python");
    let ready = Command::new(&python)
        .args(["-c", "import duckdb, polars, pyarrow, pytest"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ready {
        let why = format!(
            "{} lacks duckdb, polars, pyarrow or pytest: run \
             `.venv/bin/pip install -r tests/python/requirements.txt`",
            python.display()
        );
        assert!(!data_required(), "VIGIL_REQUIRE_DATA=1 but {why}");
        println!("skipped: {why}");
        return;
    }
    let out = Command::new(&python)
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/python"])
        .current_dir(common::repo(""))
        .env("VIGIL_BIN", common::VIGIL)
        .output()
        .expect("python runs");
    let text =
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "pytest tests/python failed:\n{text}");
    println!("{text}");
}
