//! The event store and SQL over it: real Parquet files, DataFusion queries.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use arrow_array::builder::{Float32Builder, StringBuilder};
use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use arrow_array::{ArrayRef, RecordBatch, StructArray};
use arrow_schema::{DataType, Field, Fields, Schema};
use vigil_ingest::packet::DecoderConfig;
use vigil_ingest::{FlowTableConfig, flows_to_batch};
use vigil_pipelines::extract::flows_from_capture;
use vigil_pipelines::sql::{QueryLimits, SqlError, open_store, run_query};
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
    let t = Duration::from_secs(30);
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
    let t = Duration::from_secs(30);
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
    // A syntax error is a query error that says where.
    let err = run_query(&ctx, "selec 1", t).await.unwrap_err();
    assert!(matches!(err, SqlError::Query(_)), "{err}");
    // Ten billion rows cannot be counted in 200 ms.
    let err = run_query(
        &ctx,
        "select count(*) from generate_series(1, 10000000000)",
        Duration::from_millis(200),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, SqlError::Timeout(_)), "{err}");
}
