//! `vigil score actions` end to end with the shipped HSTU artifacts: a generated
//! MovieLens-style CSV (raw and tokenized input give the same surprise), the web access
//! log of the shared data set, and a log that does not match the model (refused).
//!
//! Needs the ONNX Runtime library; without it (or without the shared data) a test says
//! why and passes.

use std::path::{Path, PathBuf};

use arrow_array::RecordBatch;
use arrow_array::cast::AsArray;
use arrow_array::types::{Float32Type, UInt32Type};

mod common;

use common::{artifact, no_runtime, read, run};

/// (score, rank) columns of the verdict struct named `model`, over all batches.
fn verdicts(batches: &[RecordBatch], model: &str) -> (Vec<Option<f32>>, Vec<Option<u32>>) {
    let (mut scores, mut ranks) = (Vec::new(), Vec::new());
    for b in batches {
        let s = b.column_by_name(model).unwrap().as_struct();
        scores.extend(s.column_by_name("score").unwrap().as_primitive::<Float32Type>().iter());
        ranks.extend(s.column_by_name("rank").unwrap().as_primitive::<UInt32Type>().iter());
    }
    (scores, ranks)
}

/// 3 users rating ml-100k items an hour apart (items 50, 100, … are in the vocabulary).
fn ml100k_csv(dir: &Path) -> PathBuf {
    let mut text = String::from("entity,ts,action,object\n");
    for user in 0..3 {
        for i in 0..6 {
            let item = [50, 100, 181, 258, 1, 7][(i + user) % 6];
            text.push_str(&format!("u{user},{},rate,{item}\n", 880_000_000 + 3600 * i));
        }
    }
    let path = dir.join("ratings.csv");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn raw_and_tokenized_input_give_the_same_surprise_with_the_ml100k_model() {
    if no_runtime() {
        return;
    }
    let model = artifact("hstu-ml100k");
    let dir = tempfile::tempdir().unwrap();
    let csv = ml100k_csv(dir.path());
    let (m, csv_s) = (model.to_str().unwrap(), csv.to_str().unwrap());
    let raw = dir.path().join("raw.parquet");
    let res = run(&["score", "actions", csv_s, "--model", m, "--out", raw.to_str().unwrap()]);
    assert!(res.status.success(), "{}", String::from_utf8_lossy(&res.stderr));
    let raw = read(&raw);
    assert_eq!(raw.iter().map(RecordBatch::num_rows).sum::<usize>(), 18);
    let names: Vec<String> = raw[0].schema().fields().iter().map(|f| f.name().clone()).collect();
    assert_eq!(names, ["entity", "ts", "action", "object", "hstu-ml100k"]);
    let (score, rank) = verdicts(&raw, "hstu-ml100k");
    // Each user's first event has no history; the others have a finite surprise.
    assert_eq!(score.iter().filter(|s| s.is_none()).count(), 3);
    assert!(score.iter().flatten().all(|s| s.is_finite() && *s > 0.0));
    assert!(rank.iter().flatten().all(|&r| (1..=1678).contains(&r)));

    // The same events tokenized with the model's vocabulary and --max-len.
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(model.join("manifest.json")).unwrap())
            .unwrap();
    let vocab = dir.path().join("vocab.json");
    std::fs::write(&vocab, manifest["preprocessing"]["vocab"].to_string()).unwrap();
    let seq = dir.path().join("seq.parquet");
    let res = run(&[
        "tokenize",
        "actions",
        csv_s,
        "--vocab",
        vocab.to_str().unwrap(),
        "--max-len",
        "50",
        "--out",
        seq.to_str().unwrap(),
    ]);
    assert!(res.status.success(), "{}", String::from_utf8_lossy(&res.stderr));
    let tok = dir.path().join("tok.parquet");
    let seq_s = seq.to_str().unwrap();
    let res = run(&["score", "actions", seq_s, "--model", m, "--out", tok.to_str().unwrap()]);
    assert!(res.status.success(), "{}", String::from_utf8_lossy(&res.stderr));
    let tok = read(&tok);
    assert!(tok[0].column_by_name("object_ids").is_some(), "the input columns are kept");
    assert_eq!(verdicts(&tok, "hstu-ml100k"), (score, rank));
}

#[test]
fn web_access_log_is_scored_and_a_mismatched_model_refused() {
    if no_runtime() {
        return;
    }
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let Some(log) = vigil_ingest::data_dir::shared_data(
        crate_dir,
        "user_actions/web-access-logs/elastic-apache/apache_logs",
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("surprise.parquet");
    let (log_s, out_s) = (log.to_str().unwrap(), out.to_str().unwrap());
    let model = artifact("hstu-user-actions");
    let m = model.to_str().unwrap();
    let res = run(&["score", "actions", log_s, "--log", "access", "--model", m, "--out", out_s]);
    assert!(res.status.success(), "{}", String::from_utf8_lossy(&res.stderr));
    let batch = read(&out);
    assert_eq!(batch.iter().map(RecordBatch::num_rows).sum::<usize>(), 10_000);
    let (score, rank) = verdicts(&batch, "hstu-user-actions");
    let scored: Vec<f32> = score.iter().flatten().copied().collect();
    // 1,753 client IPs; lines are written at request completion, so an event logged after
    // a later one of its IP has only the events before it in time (7,185 have some).
    assert!(scored.len() > 7_000, "{} events with history", scored.len());
    assert!(scored.iter().all(|s| s.is_finite() && *s >= 0.0));
    // The trained model ranks most observed paths near the top.
    let top10 = rank.iter().flatten().filter(|&&r| r <= 10).count();
    assert!(top10 * 2 > scored.len(), "{top10} of {} in the top 10", scored.len());

    let ml = artifact("hstu-ml100k");
    let res = run(&[
        "score",
        "actions",
        log_s,
        "--log",
        "access",
        "--model",
        ml.to_str().unwrap(),
        "--out",
        out_s,
    ]);
    assert!(!res.status.success());
    let err = String::from_utf8_lossy(&res.stderr);
    assert!(err.contains("does not match"), "{err}");
}
