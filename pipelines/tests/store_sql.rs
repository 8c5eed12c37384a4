//! The event store and SQL over it: real Parquet files, DataFusion queries.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::Duration;

use arrow_array::builder::{
    Float32Builder, Float64Builder, StringBuilder, TimestampMicrosecondBuilder,
};
use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use arrow_array::{ArrayRef, RecordBatch, StructArray};
use arrow_schema::{DataType, Field, Fields, Schema};
use vigil_ingest::packet::DecoderConfig;
use vigil_ingest::{FlowTableConfig, flows_to_batch};
use vigil_pipelines::extract::flows_from_capture;
use vigil_pipelines::sql::{QueryLimits, SqlError, open_store, query_store, run_query};
use vigil_pipelines::store::{StoreWriter, Table, compact_table, list_files};

fn sample() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../samples/ssh.pcap")
}

/// `batch` plus a verdict struct column `model` with a constant label and score.
fn with_verdict(batch: &RecordBatch, model: &str) -> RecordBatch {
    let n = batch.num_rows();
    let mut labels = StringBuilder::new();
    let mut scores = Float32Builder::new();
    for _ in 0..n {
        labels.append_value("benign");
        scores.append_value(0.9);
    }
    let fields = Fields::from(vec![
        Field::new("label", DataType::Utf8, false),
        Field::new("score", DataType::Float32, false),
    ]);
    let verdict = StructArray::new(
        fields.clone(),
        vec![Arc::new(labels.finish()) as ArrayRef, Arc::new(scores.finish())],
        None,
    );
    let mut schema_fields: Vec<Field> =
        batch.schema().fields().iter().map(|f| f.as_ref().clone()).collect();
    schema_fields.push(Field::new(model, DataType::Struct(fields), false));
    let mut cols = batch.columns().to_vec();
    cols.push(Arc::new(verdict));
    RecordBatch::try_new(Arc::new(Schema::new(schema_fields)), cols).unwrap()
}

fn count(batches: &[RecordBatch]) -> i64 {
    batches[0].column(0).as_primitive::<Int64Type>().value(0)
}

#[tokio::test]
async fn flows_written_to_the_store_are_queried_across_schema_versions() {
    let dir = tempfile::tempdir().unwrap();
    let (flows, error) =
        flows_from_capture(&sample(), DecoderConfig::default(), FlowTableConfig::default());
    assert!(error.is_none());
    let (old, new) = flows.split_at(flows.len() / 2);
    let w = StoreWriter::new(dir.path(), "test");
    // Old files have no verdict; newer ones carry a model's struct column.
    w.write(Table::Flows, &flows_to_batch(old, "s1").unwrap()).unwrap();
    w.write(Table::Flows, &with_verdict(&flows_to_batch(new, "s1").unwrap(), "netfound")).unwrap();

    let ctx = open_store(dir.path(), QueryLimits::default()).await.unwrap();
    let t = &QueryLimits { timeout: Duration::from_secs(30), ..QueryLimits::default() };
    let all = run_query(&ctx, "select count(*) from flows", t).await.unwrap();
    assert_eq!(count(&all.batches), flows.len() as i64);
    let scored = run_query(
        &ctx,
        "select count(*) from flows where netfound.label = 'benign' and netfound.score > 0.5",
        t,
    )
    .await
    .unwrap();
    assert_eq!(count(&scored.batches), new.len() as i64);
    let unscored =
        run_query(&ctx, "select count(*) from flows where netfound is null", t).await.unwrap();
    assert_eq!(count(&unscored.batches), old.len() as i64);
    // Partition columns come from the layout.
    let parts =
        run_query(&ctx, "select count(distinct date || ' ' || hour) from flows", t).await.unwrap();
    assert!(count(&parts.batches) >= 1);
    // Empty tables exist with their columns.
    let alerts = run_query(&ctx, "select count(*), max(score) from alerts", t).await.unwrap();
    assert_eq!(count(&alerts.batches), 0);
    // The saved queries plan and run over this store.
    for q in vigil_pipelines::sql::SAVED_QUERIES {
        run_query(&ctx, q.sql, t).await.unwrap_or_else(|e| panic!("{}: {e}", q.name));
    }

    // Compaction keeps every row and the union of the columns: the old flows again
    // share their hours with the first write.
    w.write(Table::Flows, &flows_to_batch(old, "s1").unwrap()).unwrap();
    let before = list_files(dir.path(), Table::Flows).unwrap().len() as u64;
    let stats = compact_table(dir.path(), Table::Flows, "test", 2, u64::MAX).unwrap();
    let after = list_files(dir.path(), Table::Flows).unwrap().len() as u64;
    assert_eq!(after, before - stats.files_in + stats.files_out, "{stats:?}");
    assert!(after < before, "{stats:?}");
    let ctx = open_store(dir.path(), QueryLimits::default()).await.unwrap();
    let all = run_query(&ctx, "select count(*), count(netfound) from flows", t).await.unwrap();
    assert_eq!(count(&all.batches), (flows.len() + old.len()) as i64);
    let scored = all.batches[0].column(1).as_primitive::<Int64Type>().value(0);
    assert_eq!(scored, new.len() as i64);
}

#[tokio::test]
async fn writes_are_refused_and_queries_are_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = open_store(dir.path(), QueryLimits::default()).await.unwrap();
    let t = &QueryLimits { timeout: Duration::from_secs(30), ..QueryLimits::default() };
    for sql in [
        "create table x as select 1",
        "create external table y stored as parquet location '/tmp'",
        "insert into flows select * from flows",
        "drop table flows",
        "copy (select 1) to '/tmp/vigil-should-not-exist.parquet'",
        "set datafusion.execution.batch_size = 1",
    ] {
        let err = run_query(&ctx, sql, t).await.unwrap_err();
        assert!(matches!(err, SqlError::ReadOnly(_)), "{sql}: {err}");
        assert!(err.to_string().contains("read-only"), "{err}");
    }
    assert!(!std::path::Path::new("/tmp/vigil-should-not-exist.parquet").exists());
    // Writes hidden behind a CTE, EXPLAIN or a second statement.
    for sql in [
        "with t as (select * from flows) insert into flows select * from t",
        "with t as (select 1) copy (select * from t) to '/tmp/vigil-should-not-exist.csv'",
        "explain analyze insert into flows select * from flows",
        "select 1; drop table flows",
    ] {
        let err = run_query(&ctx, sql, t).await.unwrap_err();
        assert!(matches!(err, SqlError::ReadOnly(_) | SqlError::Query(_)), "{sql}: {err}");
    }
    assert!(!std::path::Path::new("/tmp/vigil-should-not-exist.csv").exists());
    // Files outside the store cannot be read: as a table, or through a file function.
    for sql in [
        "select * from '/etc/passwd'",
        "select * from read_csv('/etc/passwd')",
        "select * from read_parquet('/etc/passwd')",
        "select * from read_json('/etc/passwd')",
    ] {
        let err = run_query(&ctx, sql, t).await.unwrap_err();
        assert!(!err.to_string().contains("root:"), "{sql} read the file: {err}");
    }
    // A syntax error is a query error that says where.
    let err = run_query(&ctx, "selec 1", t).await.unwrap_err();
    assert!(matches!(err, SqlError::Query(_)), "{err}");
    // Ten billion rows cannot be counted in 200 ms.
    let fast = QueryLimits { timeout: Duration::from_millis(200), ..QueryLimits::default() };
    let err = run_query(&ctx, "select count(*) from generate_series(1, 10000000000)", &fast)
        .await
        .unwrap_err();
    assert!(matches!(err, SqlError::Timeout(_)), "{err}");
    // Ten billion rows are not collected: the query stops at the row bound, well within
    // its time.
    let capped = QueryLimits { max_rows: Some(1000), ..fast };
    let r = run_query(&ctx, "select * from generate_series(1, 10000000000)", &capped).await;
    let r = r.unwrap();
    assert_eq!(r.batches.iter().map(|b| b.num_rows()).sum::<usize>(), 1000);
    assert!(r.truncated);
    let r = run_query(&ctx, "select * from generate_series(1, 1000)", &capped).await.unwrap();
    assert!(!r.truncated, "exactly the bound is not truncated");
    // A huge LIMIT on a grouped top-k (found by the sql_guard fuzz target): DataFusion's
    // top-k aggregation sized a hash table by the limit and panicked.
    let sql = "select value % 7 as k, max(value) as m from generate_series(1, 100) \
               group by k order by m desc limit 9223372036854775807";
    let r = run_query(&ctx, sql, t).await.unwrap();
    assert_eq!(r.batches.iter().map(|b| b.num_rows()).sum::<usize>(), 7);
    let sql = "select * from generate_series(1, 100) order by value desc \
               limit 9223372036854775807 offset 9223372036854775806";
    let r = run_query(&ctx, sql, t).await.unwrap();
    assert_eq!(r.batches.iter().map(|b| b.num_rows()).sum::<usize>(), 0);
}

fn vigil(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vigil")).args(args).output().expect("vigil runs")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `vigil sql --data root QUERY --format json`'s single row's `n`.
fn sql_count(root: &Path, query: &str) -> (i64, String) {
    let out = vigil(&["sql", "--data", root.to_str().unwrap(), query, "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{query}: {}", stderr(&out));
    let row: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    (row["n"].as_i64().unwrap(), stderr(&out))
}

/// Where a file of `table` is moved to by the quarantine.
fn quarantined(root: &Path, table: &str, file: &Path) -> PathBuf {
    root.join("_quarantine").join(table).join(file.strip_prefix(root.join(table)).unwrap())
}

/// The first half of a good Parquet file, and a file that is not Parquet at all, both
/// named like committed files, in `good`'s partition.
fn bad_files_beside(good: &Path) -> (PathBuf, PathBuf) {
    let part = good.parent().unwrap();
    let truncated = part.join("s1-0123456789abcdef0123456789abcdef.parquet");
    let bytes = std::fs::read(good).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let foreign = part.join("notes.parquet");
    std::fs::write(&foreign, b"ts,src_ip\n2026-01-01,10.0.0.1\n").unwrap();
    (truncated, foreign)
}

#[test]
fn unreadable_files_are_quarantined_and_the_rest_stays_queryable() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let (flows, _) =
        flows_from_capture(&sample(), DecoderConfig::default(), FlowTableConfig::default());
    let w = StoreWriter::new(root, "s1");
    let files = w.write(Table::Flows, &flows_to_batch(&flows, "s1").unwrap()).unwrap();
    w.write(Table::Metrics, &metrics(&[1, 2, 3])).unwrap();
    let (truncated, foreign) = bad_files_beside(&files[0]);

    let (n, said) = sql_count(root, "select count(*) as n from flows");
    assert_eq!(n, flows.len() as i64);
    for f in [&truncated, &foreign] {
        let name = f.file_name().unwrap().to_str().unwrap();
        assert!(said.contains(name) && said.contains("not readable Parquet"), "{said}");
        assert!(!f.exists(), "{name} is out of the table");
        assert!(quarantined(root, "flows", f).is_file(), "{name} is kept in quarantine");
    }
    // Every other table still answers; the dead letters count both files.
    assert_eq!(sql_count(root, "select count(*) as n from metrics").0, 3);
    let (n, said) = sql_count(root, "select count(*) as n from dead_letters");
    assert_eq!(n, 2);
    assert!(!said.contains("not readable"), "warned once: {said}");
    let (n, _) = sql_count(
        root,
        &format!(
            "select count(*) as n from dead_letters where position = 'file' \
             and source = '{}' and error like '%' and length(raw) > 0",
            foreign.display()
        ),
    );
    assert_eq!(n, 1);
    // Compaction runs over what is left.
    let stats = compact_table(root, Table::Flows, "s1", 1, u64::MAX).unwrap();
    assert_eq!((stats.failed, stats.quarantined), (0, 0), "{stats:?}");
}

/// A metrics batch: one row per timestamp (µs).
fn metrics(ts: &[i64]) -> RecordBatch {
    let schema = Table::Metrics.base_schema();
    let mut t = TimestampMicrosecondBuilder::new().with_timezone("UTC");
    let mut v = Float64Builder::new();
    for (i, x) in ts.iter().enumerate() {
        t.append_value(*x);
        v.append_value(i as f64);
    }
    let text = |s: &str| {
        let mut b = StringBuilder::new();
        ts.iter().for_each(|_| b.append_value(s));
        Arc::new(b.finish()) as ArrayRef
    };
    let nulls = |dt: &DataType| arrow_array::new_null_array(dt, ts.len());
    let cols: Vec<ArrayRef> = vec![
        text("cpu"),
        Arc::new(t.finish()),
        Arc::new(v.finish()),
        nulls(&DataType::Float64),
        nulls(&DataType::Float32),
        nulls(&DataType::Utf8),
        text("test"),
        text("s1"),
    ];
    RecordBatch::try_new(schema, cols).unwrap()
}

#[tokio::test]
async fn a_file_that_goes_bad_under_an_open_session_is_quarantined_and_the_query_retried() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let w = StoreWriter::new(root, "s1");
    let first = w.write(Table::Metrics, &metrics(&[1, 2, 3])).unwrap().remove(0);
    let ctx = open_store(root, QueryLimits::default()).await.unwrap();
    let t = &QueryLimits { timeout: Duration::from_secs(30), ..QueryLimits::default() };
    let sql = "select count(*), sum(value), max(ts), max(series) from metrics";

    // A truncated file appears after the session was opened.
    let (truncated, _) = bad_files_beside(&first);
    std::fs::remove_file(truncated.parent().unwrap().join("notes.parquet")).unwrap();
    let err = run_query(&ctx, sql, t).await.unwrap_err();
    assert!(err.is_data_error(), "{err}");
    let r = query_store(&ctx, root, sql, t).await.unwrap();
    assert_eq!(count(&r.batches), 3);
    assert!(quarantined(root, "metrics", &truncated).is_file());

    // A file whose footer reads but whose pages are garbage.
    let ts: Vec<i64> = (0..50_000).map(|i| 10 + i).collect();
    let damaged = w.write(Table::Metrics, &metrics(&ts)).unwrap().remove(0);
    let mut bytes = std::fs::read(&damaged).unwrap();
    let n = bytes.len();
    let footer = u32::from_le_bytes(bytes[n - 8..n - 4].try_into().unwrap()) as usize;
    for b in &mut bytes[4..n - 8 - footer] {
        *b ^= 0x5a;
    }
    std::fs::write(&damaged, &bytes).unwrap();
    let err = run_query(&ctx, sql, t).await.unwrap_err();
    assert!(err.is_data_error(), "{err}");
    let r = query_store(&ctx, root, sql, t).await.unwrap();
    assert_eq!(count(&r.batches), 3);
    assert!(quarantined(root, "metrics", &damaged).is_file());
    let letters = run_query(&ctx, "select count(*) from dead_letters", t).await.unwrap();
    assert_eq!(count(&letters.batches), 2);
}

#[test]
fn sql_errors_print_once_with_advice_and_csv_encodes_structs_as_json() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let (flows, _) =
        flows_from_capture(&sample(), DecoderConfig::default(), FlowTableConfig::default());
    let w = StoreWriter::new(root, "s1");
    w.write(Table::Flows, &with_verdict(&flows_to_batch(&flows, "s1").unwrap(), "netfound"))
        .unwrap();
    let data = root.to_str().unwrap();

    // One message, once.
    let out = vigil(&["sql", "--data", data, "select nosuch from flows"]);
    assert_eq!(out.status.code(), Some(1));
    let said = stderr(&out);
    assert_eq!(said.matches("vigil: error:").count(), 1, "{said}");
    assert_eq!(said.matches("No field named nosuch").count(), 1, "{said}");
    let out = vigil(&["sql", "--data", data, "selec 1"]);
    assert_eq!(stderr(&out).matches("selec").count(), 1, "{}", stderr(&out));
    // Limits say which option to raise.
    let out = vigil(&[
        "sql",
        "--data",
        data,
        "--memory-limit",
        "1",
        "select value from generate_series(1, 3000000) order by value desc limit 100000",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let said = stderr(&out);
    assert!(said.contains("(raise --memory-limit)"), "{said}");
    assert_eq!(said.matches("vigil: error:").count(), 1, "{said}");
    let out = vigil(&[
        "sql",
        "--data",
        data,
        "--timeout",
        "1",
        "select count(*) from generate_series(1, 10000000000)",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("raise --timeout"), "{}", stderr(&out));

    // CSV: a verdict struct is one cell of JSON text.
    let out = vigil(&[
        "sql",
        "--data",
        data,
        "select uid, netfound from flows order by uid limit 2",
        "--format",
        "csv",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert_eq!(lines[0], "uid,netfound");
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    for record in reader.records() {
        let cell: serde_json::Value = serde_json::from_str(&record.unwrap()[1]).unwrap();
        assert_eq!(cell["label"], "benign");
        assert!((cell["score"].as_f64().unwrap() - 0.9).abs() < 1e-6, "{cell}");
    }
    // Every column of every table, nested or binary, writes as CSV.
    for table in ["flows", "metrics", "actions", "alerts", "dead_letters"] {
        let q = format!("select * from {table}");
        let out = vigil(&["sql", "--data", data, &q, "--format", "csv"]);
        assert_eq!(out.status.code(), Some(0), "{table}: {}", stderr(&out));
    }
}
