//! A model never scores tokens it was not built for: `vigil tokenize` stamps its
//! settings (and the vocabulary's fingerprint) into the token file's Parquet metadata,
//! and `vigil score netfound|actions tokens.parquet` refuses a stamp that differs from
//! the model's, or a file without one, naming both values.
//!
//! Needs the ONNX Runtime library; without it a test says why and passes.

use std::path::{Path, PathBuf};
use std::process::Output;

use arrow_array::RecordBatch;
use parquet::arrow::ArrowWriter;

mod common;

use common::{artifact, no_runtime, read, repo, run};

fn stderr(res: &Output) -> String {
    String::from_utf8_lossy(&res.stderr).into_owned()
}

/// `vigil tokenize netfound samples/ssh.pcap` with `extra` options.
fn netfound_tokens(dir: &Path, name: &str, extra: &[&str]) -> PathBuf {
    let out = dir.join(name);
    let pcap = repo("samples/ssh.pcap");
    let mut args = vec!["tokenize", "netfound", pcap.to_str().unwrap()];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["--out", out.to_str().unwrap(), "-q"]);
    let res = run(&args);
    assert!(res.status.success(), "{}", stderr(&res));
    out
}

/// `vigil score <family> tokens --model <model>`.
fn score(family: &str, tokens: &Path, model: &str, out: &Path) -> Output {
    let model = artifact(model);
    run(&[
        "score",
        family,
        tokens.to_str().unwrap(),
        "--model",
        model.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "-q",
    ])
}

/// A copy of `path` without key-value metadata, as token files were written before
/// they were stamped.
fn unstamped_copy(path: &Path, to: &Path) {
    let batches = read(path);
    let schema = std::sync::Arc::new(
        batches[0].schema().as_ref().clone().with_metadata(std::collections::HashMap::new()),
    );
    let mut w =
        ArrowWriter::try_new(std::fs::File::create(to).unwrap(), schema.clone(), None).unwrap();
    for b in &batches {
        w.write(&RecordBatch::try_new(schema.clone(), b.columns().to_vec()).unwrap()).unwrap();
    }
    w.close().unwrap();
}

#[test]
fn netfound_refuses_tokens_made_with_other_settings_or_without_a_stamp() {
    if no_runtime() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("scored.parquet");

    // The model's settings (the tokenizer's defaults): scored, one row per flow.
    let good = netfound_tokens(dir.path(), "good.parquet", &[]);
    let res = score("netfound", &good, "netfound", &out);
    assert!(res.status.success(), "{}", stderr(&res));
    let rows: usize = read(&out).iter().map(RecordBatch::num_rows).sum();
    assert_eq!(rows, read(&good).iter().map(RecordBatch::num_rows).sum::<usize>());

    // Three bursts without payload: refused, naming both settings.
    let small =
        netfound_tokens(dir.path(), "small.parquet", &["--max-bursts", "3", "--no-payload"]);
    let res = score("netfound", &small, "netfound", &out);
    assert_eq!(res.status.code(), Some(1), "{}", stderr(&res));
    let err = stderr(&res);
    assert!(err.contains("small.parquet"), "names the file: {err}");
    for both in
        [r#""max_bursts":3"#, r#""max_bursts":12"#, r#""payload":false"#, r#""payload":true"#]
    {
        assert!(err.contains(both), "{both} missing from: {err}");
    }

    // A file from before token files were stamped: refused, saying to re-tokenize.
    let old = dir.path().join("old.parquet");
    unstamped_copy(&good, &old);
    let res = score("netfound", &old, "netfound", &out);
    assert_eq!(res.status.code(), Some(1), "{}", stderr(&res));
    let err = stderr(&res);
    assert!(err.contains("re-tokenize") && err.contains("vigil tokenize netfound"), "{err}");
}

#[test]
fn actions_refuse_a_freshly_fitted_vocabulary_and_accept_the_models() {
    if no_runtime() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let log = repo("samples/actions/apache_access.log");
    let model = "hstu-user-actions";
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(artifact(model).join("manifest.json")).unwrap(),
    )
    .unwrap();
    let vocab = dir.path().join("vocab.json");
    std::fs::write(&vocab, manifest["preprocessing"]["vocab"].to_string()).unwrap();
    let tokenize = |name: &str, extra: &[&str]| {
        let out = dir.path().join(name);
        let mut args = vec!["tokenize", "actions", log.to_str().unwrap(), "--log", "access"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["--out", out.to_str().unwrap(), "-q"]);
        let res = run(&args);
        assert!(res.status.success(), "{}", stderr(&res));
        out
    };
    let out = dir.path().join("scored.parquet");

    // A vocabulary fitted on the log itself: refused, naming both fingerprints.
    let fitted = tokenize("fitted.parquet", &["--max-len", "50"]);
    let res = score("actions", &fitted, model, &out);
    assert_eq!(res.status.code(), Some(1), "{}", stderr(&res));
    let err = stderr(&res);
    assert!(err.contains("vocabulary of sha256") && err.contains("--vocab"), "{err}");
    let ours = vigil_tokenizers::stamp::sha256_hex(
        &vigil_tokenizers::actions::ActionVocab::from_json(
            &std::fs::read_to_string(&vocab).unwrap(),
        )
        .unwrap()
        .to_json(),
    );
    assert!(err.contains(&ours), "names the model's fingerprint {ours}: {err}");

    // The model's vocabulary but the default row length: refused, naming both.
    let long = tokenize("long.parquet", &["--vocab", vocab.to_str().unwrap()]);
    let res = score("actions", &long, model, &out);
    assert_eq!(res.status.code(), Some(1), "{}", stderr(&res));
    let err = stderr(&res);
    assert!(err.contains(r#""max_len":200"#) && err.contains(r#""max_len":50"#), "{err}");

    // The model's vocabulary and row length: scored, every row.
    let good = tokenize("good.parquet", &["--vocab", vocab.to_str().unwrap(), "--max-len", "50"]);
    let res = score("actions", &good, model, &out);
    assert!(res.status.success(), "{}", stderr(&res));
    let rows: usize = read(&out).iter().map(RecordBatch::num_rows).sum();
    assert_eq!(rows, read(&good).iter().map(RecordBatch::num_rows).sum::<usize>());

    // Tokens of another tokenizer: refused by name.
    let nf = netfound_tokens(dir.path(), "nf.parquet", &[]);
    let res = score("actions", &nf, model, &out);
    assert_eq!(res.status.code(), Some(1), "{}", stderr(&res));
    assert!(stderr(&res).contains(r#""tokenizer":"netfound""#), "{}", stderr(&res));
}
