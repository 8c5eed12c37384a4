//! Merging an hour partition's small files of one sensor into one.
//!
//! Ownership: a sensor merges only its own files, `<sensor>-<uuid>.parquet`, and names
//! the merged file the same way. So instances with different sensor names can share
//! one store directory and compact concurrently: they never read, merge or remove each
//! other's files, and each recovers only its own journals.
//!
//! Two instances with the *same* sensor name in one store are not a supported layout
//! (their files are indistinguishable), but compaction stays safe: a run holds an
//! exclusive lock on `<table>/.compact-<sensor>.lock` (`flock`, released by the kernel
//! when the process dies, so a crash leaves no stale lock) for the whole table, and a
//! second run that finds it held skips the table ([`CompactStats::busy`]).
//!
//! Crash safety: before anything else, a hidden journal `.compact-<sensor>-<uuid>.json`
//! names the output and the inputs. The output is written under a temporary name and
//! renamed in, then the inputs are removed, then the journal. A run that finds one of
//! its journals finishes or undoes that work first: inputs are removed if the output
//! exists, else the journal (and any temporary output) is dropped and the inputs stay.
//! So rows are never lost; between the rename and the removal of the inputs
//! (milliseconds) a query can count the merged rows twice. Journals of earlier versions
//! (`.compact-<uuid>.json`, no sensor) are recovered by any sensor.
//!
//! Unreadable inputs (not Parquet, truncated, a corrupt page) are quarantined (see
//! [`super::quarantine`]) and the merge goes on without them.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::{ArrayRef, RecordBatch, new_null_array};
use arrow_schema::{Schema, SchemaRef};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde::{Deserialize, Serialize};

use super::Table;
use super::files::{DataFile, list_files};
use super::origin::Origins;
use super::quarantine::{FileCheck, check_file, quarantine};
use super::writer::{
    AtomicParquetWriter, TempGuard, file_name, file_owner, instance_name, temp_name,
};

/// Rows per record batch read from an input while merging.
pub const MERGE_BATCH_ROWS: usize = 8192;

/// The merged file's open row group is closed once it holds this many bytes.
pub const MERGE_ROW_GROUP_BYTES: usize = 64 << 20;

/// What a compaction run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CompactStats {
    /// Partitions whose files were merged.
    pub partitions: u64,
    /// Files merged (and removed).
    pub files_in: u64,
    /// Files written.
    pub files_out: u64,
    /// Rows rewritten.
    pub rows: u64,
    /// Interrupted compactions found and completed or undone.
    pub recovered: u64,
    /// Unreadable files moved to quarantine.
    pub quarantined: u64,
    /// Partitions left as they were after an error (logged; the next run retries).
    pub failed: u64,
    /// The table was skipped: another run for the same sensor held its lock.
    pub busy: bool,
}

#[derive(Debug, Serialize, Deserialize)]
struct Journal {
    output: PathBuf,
    inputs: Vec<PathBuf>,
}

/// Merge, in every hour partition of `table`, `sensor`'s files (named
/// `<sensor>-<uuid>.parquet`, the sensor sanitized as [`super::StoreWriter`] does)
/// smaller than `small_bytes` when there are at least `min_files` of them. Files of
/// different schemas (a model added later) merge into their union, the missing columns
/// null. Other sensors' files are left alone.
///
/// The merge streams: memory is bounded by one decoded input batch
/// ([`MERGE_BATCH_ROWS`] rows), the merged file's open row group (about
/// [`MERGE_ROW_GROUP_BYTES`]) and the inputs' footers, whatever the number and size of
/// the inputs.
///
/// An error in one partition is logged and counted ([`CompactStats::failed`]); the
/// other partitions are still compacted. Errors listing the table or taking its lock
/// are returned.
pub fn compact_table(
    root: &Path,
    table: Table,
    sensor: &str,
    min_files: usize,
    small_bytes: u64,
) -> io::Result<CompactStats> {
    let sensor = instance_name(sensor);
    let mut stats = CompactStats::default();
    if !root.join(table.name()).is_dir() {
        return Ok(stats);
    }
    let Some(_lock) = lock(root, table, &sensor)? else {
        stats.busy = true;
        return Ok(stats);
    };
    let files = list_files(root, table)?;
    let mut dirs: BTreeMap<PathBuf, Vec<DataFile>> = BTreeMap::new();
    for f in files {
        if let Some(dir) = f.path.parent() {
            dirs.entry(dir.to_path_buf()).or_default().push(f);
        }
    }
    for (dir, files) in dirs {
        let small: Vec<PathBuf> = files
            .into_iter()
            .filter(|f| f.bytes < small_bytes && owned_by(&f.path, &sensor))
            .map(|f| f.path)
            .collect();
        let result = recover(&dir, &sensor).and_then(|n| {
            stats.recovered += n;
            compact_partition(root, table, &dir, &sensor, small, min_files.max(2), &mut stats)
        });
        if let Err(e) = result {
            stats.failed += 1;
            tracing::warn!("compaction of {}: {e}", dir.display());
        }
    }
    Ok(stats)
}

/// Whether `path` is named `<sensor>-<uuid>.parquet`.
fn owned_by(path: &Path, sensor: &str) -> bool {
    path.file_name().and_then(|n| n.to_str()).and_then(file_owner) == Some(sensor)
}

/// The table's compaction lock for `sensor`, or `None` when another run holds it.
fn lock(root: &Path, table: Table, sensor: &str) -> io::Result<Option<File>> {
    let path = root.join(table.name()).join(format!(".compact-{sensor}.lock"));
    let file = OpenOptions::new().create(true).truncate(false).write(true).open(&path)?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(std::fs::TryLockError::WouldBlock) => Ok(None),
        Err(std::fs::TryLockError::Error(e)) => Err(e),
    }
}

/// Merge `inputs` (files of one partition directory `dir`) when at least `min_files`
/// of them are readable; unreadable ones are quarantined first.
fn compact_partition(
    root: &Path,
    table: Table,
    dir: &Path,
    sensor: &str,
    mut inputs: Vec<PathBuf>,
    min_files: usize,
    stats: &mut CompactStats,
) -> io::Result<()> {
    loop {
        let mut readable = Vec::with_capacity(inputs.len());
        let mut schemas = Vec::with_capacity(inputs.len());
        for input in inputs {
            match check_file(&input) {
                FileCheck::Readable(schema) => {
                    readable.push(input);
                    schemas.push(schema);
                }
                FileCheck::Unreadable(reason) => {
                    stats.quarantined +=
                        u64::from(quarantine(root, table, &input, &reason)?.is_some());
                }
                FileCheck::Inaccessible(e) if e.kind() == io::ErrorKind::NotFound => {}
                FileCheck::Inaccessible(e) => {
                    return Err(io::Error::new(e.kind(), format!("{}: {e}", input.display())));
                }
            }
        }
        if readable.len() < min_files {
            return Ok(());
        }
        let schema = union_schema(schemas.into_iter())?;
        match merge(dir, sensor, &readable, &schema)? {
            Merged::Done(rows) => {
                stats.rows += rows;
                stats.partitions += 1;
                stats.files_in += readable.len() as u64;
                stats.files_out += 1;
                return Ok(());
            }
            Merged::Unreadable(bad, reason) => {
                stats.quarantined += u64::from(quarantine(root, table, &bad, &reason)?.is_some());
                readable.retain(|p| *p != bad);
                inputs = readable;
            }
        }
    }
}

/// Finish or undo `sensor`'s interrupted compactions in `dir`; returns how many were found.
fn recover(dir: &Path, sensor: &str) -> io::Result<u64> {
    let mut found = 0;
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if !journal_is_mine(name, sensor) {
            continue;
        }
        found += 1;
        let journal: Option<Journal> =
            std::fs::read(&path).ok().and_then(|b| serde_json::from_slice(&b).ok());
        if let Some(j) = journal {
            if j.output.exists() {
                for input in &j.inputs {
                    remove_if_present(input)?;
                }
            } else {
                remove_if_present(&temp_name(&j.output))?;
            }
        }
        std::fs::remove_file(&path)?;
    }
    Ok(found)
}

/// Whether a file named `name` is a journal of `sensor` (`.compact-<sensor>-<uuid>.json`)
/// or of an earlier version (`.compact-<uuid>.json`).
fn journal_is_mine(name: &str, sensor: &str) -> bool {
    let Some(rest) = name.strip_prefix(".compact-").and_then(|r| r.strip_suffix(".json")) else {
        return false;
    };
    let is_id = |s: &str| s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit());
    is_id(rest) || rest.rsplit_once('-').is_some_and(|(owner, id)| owner == sensor && is_id(id))
}

fn remove_if_present(path: &Path) -> io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// How a merge ended.
enum Merged {
    /// The output is in and the inputs are gone; this many rows.
    Done(u64),
    /// An input could not be read (nothing changed): which, and why.
    Unreadable(PathBuf, String),
}

/// Stream `inputs` into one new file of `sensor` in `dir`, with `schema`, under a journal.
fn merge(dir: &Path, sensor: &str, inputs: &[PathBuf], schema: &SchemaRef) -> io::Result<Merged> {
    let output = dir.join(file_name(sensor));
    let journal = TempGuard::new(
        dir.join(format!(".compact-{sensor}-{}.json", uuid::Uuid::new_v4().simple())),
    );
    let j = Journal { output: output.clone(), inputs: inputs.to_vec() };
    std::fs::write(journal.path(), serde_json::to_vec(&j).map_err(io::Error::other)?)?;
    File::open(journal.path())?.sync_all()?;
    File::open(dir)?.sync_all()?;
    // From here until the output is renamed in, any error drops the writer (its
    // temporary file goes) and the journal guard (the journal goes): nothing changed.
    let mut writer = AtomicParquetWriter::create(&output, schema.clone())?;
    // The output holds the inputs' rows, so it records their origins too.
    let mut origins = Origins::default();
    for input in inputs {
        let reader = File::open(input).and_then(|f| {
            ParquetRecordBatchReaderBuilder::try_new(f)
                .and_then(|b| {
                    origins.merge(&Origins::of_metadata(
                        b.metadata().file_metadata().key_value_metadata(),
                    ));
                    b.with_batch_size(MERGE_BATCH_ROWS).build()
                })
                .map_err(io::Error::other)
        });
        let reader = match reader {
            Ok(r) => r,
            Err(e) => return Ok(Merged::Unreadable(input.clone(), e.to_string())),
        };
        for batch in reader {
            let batch = match batch {
                Ok(b) => b,
                Err(e) => return Ok(Merged::Unreadable(input.clone(), e.to_string())),
            };
            writer.write(&conform(&batch, schema)?)?;
            writer.flush_past(MERGE_ROW_GROUP_BYTES)?;
        }
    }
    writer.add_origins(&origins);
    let rows = writer.commit()?;
    // The output is in: the journal must now survive until the inputs are gone.
    let journal_path = journal.path().to_path_buf();
    journal.disarm();
    for input in inputs {
        remove_if_present(input)?;
    }
    std::fs::remove_file(&journal_path)?;
    File::open(dir)?.sync_all()?;
    Ok(Merged::Done(rows))
}

/// The union of schemas: the first schema's fields, then every later new field, in order.
pub(crate) fn union_schema(schemas: impl Iterator<Item = SchemaRef>) -> io::Result<SchemaRef> {
    let mut fields: Vec<arrow_schema::FieldRef> = Vec::new();
    for s in schemas {
        for f in s.fields() {
            match fields.iter().find(|g| g.name() == f.name()) {
                Some(g) if g.data_type() != f.data_type() => {
                    return Err(io::Error::other(format!(
                        "column `{}` is {} in one file and {} in another",
                        f.name(),
                        g.data_type(),
                        f.data_type()
                    )));
                }
                Some(_) => {}
                None => fields.push(f.clone()),
            }
        }
    }
    // Columns missing from some files must be nullable in the merged file.
    let fields: Vec<arrow_schema::Field> =
        fields.iter().map(|f| f.as_ref().clone().with_nullable(true)).collect();
    Ok(Arc::new(Schema::new(fields)))
}

/// `batch` in `schema`'s column order, with nulls for the columns it lacks.
fn conform(batch: &RecordBatch, schema: &SchemaRef) -> io::Result<RecordBatch> {
    let columns: Vec<ArrayRef> = schema
        .fields()
        .iter()
        .map(|f| match batch.column_by_name(f.name()) {
            Some(c) => c.clone(),
            None => new_null_array(f.data_type(), batch.num_rows()),
        })
        .collect();
    RecordBatch::try_new(schema.clone(), columns).map_err(io::Error::other)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use arrow_array::cast::AsArray;
    use arrow_array::types::TimestampMicrosecondType;
    use arrow_array::{Float32Array, StringArray, TimestampMicrosecondArray};
    use arrow_schema::{DataType, Field};

    use super::*;
    use crate::store::StoreWriter;
    use crate::store::tables::ts_type;
    use crate::store::writer::write_parquet_atomically;

    fn batch(ts: i64, with_score: bool) -> RecordBatch {
        entity_batch(&[ts], "alice", with_score)
    }

    fn entity_batch(ts: &[i64], entity: &str, with_score: bool) -> RecordBatch {
        let mut fields =
            vec![Field::new("ts", ts_type(), false), Field::new("entity", DataType::Utf8, false)];
        let mut cols: Vec<ArrayRef> = vec![
            Arc::new(TimestampMicrosecondArray::from(ts.to_vec()).with_timezone("UTC")),
            Arc::new(StringArray::from(vec![entity; ts.len()])),
        ];
        if with_score {
            fields.push(Field::new("surprise", DataType::Float32, false));
            cols.push(Arc::new(Float32Array::from(vec![1.5; ts.len()])));
        }
        RecordBatch::try_new(Arc::new(Schema::new(fields)), cols).unwrap()
    }

    /// Every row of the table as (entity, ts).
    fn all_rows(root: &Path) -> Vec<(String, i64)> {
        let mut out = Vec::new();
        for f in list_files(root, Table::Actions).unwrap() {
            let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(&f.path).unwrap())
                .unwrap()
                .build()
                .unwrap();
            for b in reader {
                let b = b.unwrap();
                let ts = b.column_by_name("ts").unwrap().as_primitive::<TimestampMicrosecondType>();
                let e = b.column_by_name("entity").unwrap().as_string::<i32>();
                out.extend((0..b.num_rows()).map(|i| (e.value(i).to_string(), ts.value(i))));
            }
        }
        out.sort();
        out
    }

    fn rows(root: &Path) -> usize {
        all_rows(root).len()
    }

    fn names(root: &Path) -> Vec<String> {
        list_files(root, Table::Actions)
            .unwrap()
            .iter()
            .map(|f| f.path.file_name().unwrap().to_str().unwrap().to_string())
            .collect()
    }

    #[test]
    fn small_files_merge_into_one_with_the_union_schema() {
        let dir = tempfile::tempdir().unwrap();
        let w = StoreWriter::new(dir.path(), "a");
        for i in 0..4 {
            let origin = crate::store::origin::BatchOrigin {
                key: "src:1:2".into(),
                records: i as u64 * 10..i as u64 * 10 + 10,
                dead: 0..0,
                stored: None,
                stored_rows: None,
            };
            w.write_from(Table::Actions, &batch(1_000_000 + i, i % 2 == 1), &[Arc::new(origin)])
                .unwrap();
        }
        assert_eq!(list_files(dir.path(), Table::Actions).unwrap().len(), 4);
        let stats = compact_table(dir.path(), Table::Actions, "a", 2, 1 << 20).unwrap();
        assert_eq!((stats.files_in, stats.files_out, stats.rows), (4, 1, 4));
        let files = list_files(dir.path(), Table::Actions).unwrap();
        assert_eq!(files.len(), 1);
        assert!(owned_by(&files[0].path, "a"), "{files:?}");
        assert_eq!(rows(dir.path()), 4);
        let reader =
            ParquetRecordBatchReaderBuilder::try_new(File::open(&files[0].path).unwrap()).unwrap();
        assert!(reader.schema().field_with_name("surprise").unwrap().is_nullable());
        // The merged file still tells which records it holds.
        let origins = Origins::of_metadata(reader.metadata().file_metadata().key_value_metadata());
        assert!(origins.get("src:1:2").unwrap().covers(&(0..40), &(0..0)));
        // Nothing left to do the second time.
        let again = compact_table(dir.path(), Table::Actions, "a", 2, 1 << 20).unwrap();
        assert_eq!(again.files_in, 0);
        // A table that does not exist is no error.
        assert_eq!(compact_table(dir.path(), Table::Flows, "a", 2, 1 << 20).unwrap().files_in, 0);
    }

    #[test]
    fn the_merge_streams_many_batches_into_one_file() {
        let dir = tempfile::tempdir().unwrap();
        let w = StoreWriter::new(dir.path(), "a");
        // Two inputs of 3 batches' worth of rows each: the merge reads them batch by batch.
        let n = (MERGE_BATCH_ROWS * 3) as i64;
        for k in 0..2 {
            let ts: Vec<i64> = (0..n).map(|i| k * n + i).collect();
            w.write(Table::Actions, &entity_batch(&ts, "bob", false)).unwrap();
        }
        let before = all_rows(dir.path());
        let stats = compact_table(dir.path(), Table::Actions, "a", 2, u64::MAX).unwrap();
        assert_eq!((stats.files_in, stats.rows), (2, 2 * n as u64));
        assert_eq!(all_rows(dir.path()), before);
    }

    #[test]
    fn an_interrupted_compaction_is_finished_without_losing_or_doubling_rows() {
        let dir = tempfile::tempdir().unwrap();
        let w = StoreWriter::new(dir.path(), "a");
        let inputs: Vec<PathBuf> = (0..3)
            .flat_map(|i| w.write(Table::Actions, &batch(2_000_000 + i, false)).unwrap())
            .collect();
        let part = inputs[0].parent().unwrap().to_path_buf();
        let id = |c: char| c.to_string().repeat(32);
        // Crash after the output was renamed in, before the inputs were removed.
        let output = part.join(file_name("a"));
        let all: Vec<RecordBatch> = (0..3).map(|i| batch(2_000_000 + i, false)).collect();
        write_parquet_atomically(&output, &all).unwrap();
        let j = Journal { output, inputs: inputs.clone() };
        let journal = part.join(format!(".compact-a-{}.json", id('1')));
        std::fs::write(&journal, serde_json::to_vec(&j).unwrap()).unwrap();
        assert_eq!(rows(dir.path()), 6, "duplicates are visible until recovery");
        // Another sensor's run leaves a's journal alone.
        assert_eq!(
            compact_table(dir.path(), Table::Actions, "b", 2, 1 << 20).unwrap().recovered,
            0
        );
        assert!(journal.exists());
        let stats = compact_table(dir.path(), Table::Actions, "a", 100, 1 << 20).unwrap();
        assert_eq!(stats.recovered, 1);
        assert_eq!(rows(dir.path()), 3);
        // Crash before the output existed (an earlier version's journal): the journal
        // and the temporary output go, the inputs stay.
        let more = w.write(Table::Actions, &batch(2_000_010, false)).unwrap();
        let output = part.join(file_name("a"));
        std::fs::write(temp_name(&output), b"half a file").unwrap();
        let j = Journal { output: output.clone(), inputs: more };
        let journal = part.join(format!(".compact-{}.json", id('2')));
        std::fs::write(&journal, serde_json::to_vec(&j).unwrap()).unwrap();
        compact_table(dir.path(), Table::Actions, "a", 100, 1 << 20).unwrap();
        assert_eq!(rows(dir.path()), 4);
        assert!(!journal.exists());
        assert!(!temp_name(&output).exists());
    }

    /// Sensors `a` and `b` each write `files` one-row files into one hour partition.
    fn two_sensors(root: &Path, files: i64) -> Vec<(String, i64)> {
        let (a, b) = (StoreWriter::new(root, "a"), StoreWriter::new(root, "b"));
        for i in 0..files {
            a.write(Table::Actions, &entity_batch(&[3_000_000 + i], "a", i % 2 == 0)).unwrap();
            b.write(Table::Actions, &entity_batch(&[3_000_000 + i], "b", false)).unwrap();
        }
        let before = all_rows(root);
        assert_eq!(before.len(), 2 * files as usize);
        assert_eq!(before.iter().collect::<BTreeSet<_>>().len(), before.len(), "distinct rows");
        before
    }

    #[test]
    fn each_sensor_merges_only_its_own_files() {
        let dir = tempfile::tempdir().unwrap();
        let before = two_sensors(dir.path(), 5);
        let sa = compact_table(dir.path(), Table::Actions, "a", 2, 1 << 20).unwrap();
        assert_eq!((sa.files_in, sa.files_out), (5, 1));
        let left = names(dir.path());
        assert_eq!(left.iter().filter(|n| n.starts_with("b-")).count(), 5, "{left:?}");
        assert_eq!(all_rows(dir.path()), before);
        let sb = compact_table(dir.path(), Table::Actions, "b", 2, 1 << 20).unwrap();
        assert_eq!((sb.files_in, sb.files_out), (5, 1));
        assert_eq!(all_rows(dir.path()), before);
        let left = names(dir.path());
        assert_eq!(left.len(), 2);
        assert!(
            left.iter().any(|n| n.starts_with("a-")) && left.iter().any(|n| n.starts_with("b-"))
        );
    }

    #[test]
    fn two_sensors_compacting_concurrently_neither_lose_nor_double_rows() {
        for round in 0..5 {
            let dir = tempfile::tempdir().unwrap();
            let root = dir.path().to_path_buf();
            let before = two_sensors(&root, 12);
            let threads: Vec<_> = ["a", "b"]
                .into_iter()
                .map(|sensor| {
                    let root = root.clone();
                    std::thread::spawn(move || {
                        compact_table(&root, Table::Actions, sensor, 2, 1 << 20).unwrap()
                    })
                })
                .collect();
            for t in threads {
                let stats = t.join().unwrap();
                assert_eq!((stats.files_in, stats.failed, stats.busy), (12, 0, false), "{round}");
            }
            assert_eq!(all_rows(&root), before, "round {round}");
            assert_eq!(list_files(&root, Table::Actions).unwrap().len(), 2);
        }
    }

    #[test]
    fn two_runs_of_one_sensor_never_merge_a_file_twice() {
        for round in 0..5 {
            let dir = tempfile::tempdir().unwrap();
            let root = dir.path().to_path_buf();
            let before = two_sensors(&root, 12);
            let threads: Vec<_> = (0..2)
                .map(|_| {
                    let root = root.clone();
                    std::thread::spawn(move || {
                        compact_table(&root, Table::Actions, "a", 2, 1 << 20).unwrap()
                    })
                })
                .collect();
            let stats: Vec<CompactStats> = threads.into_iter().map(|t| t.join().unwrap()).collect();
            // One merged a's 12 files; the other found the lock held, or nothing left.
            assert_eq!(stats.iter().map(|s| s.files_in).sum::<u64>(), 12, "{round}: {stats:?}");
            assert_eq!(all_rows(&root), before, "round {round}");
        }
        // A held lock makes a run skip the table.
        let dir = tempfile::tempdir().unwrap();
        two_sensors(dir.path(), 3);
        let held = lock(dir.path(), Table::Actions, "a").unwrap().unwrap();
        let stats = compact_table(dir.path(), Table::Actions, "a", 2, 1 << 20).unwrap();
        assert!(stats.busy && stats.files_in == 0, "{stats:?}");
        drop(held);
        assert_eq!(compact_table(dir.path(), Table::Actions, "a", 2, 1 << 20).unwrap().files_in, 3);
    }

    #[test]
    fn unreadable_inputs_are_quarantined_and_the_rest_merged() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let w = StoreWriter::new(root, "a");
        let files: Vec<PathBuf> = (0..3)
            .flat_map(|i| w.write(Table::Actions, &batch(4_000_000 + i, false)).unwrap())
            .collect();
        let good_rows = all_rows(root);
        let part = files[0].parent().unwrap().to_path_buf();
        // A truncated file, a file that is not Parquet, and one whose footer reads but
        // whose data page does not (garbage in the middle).
        let good = std::fs::read(&files[0]).unwrap();
        let truncated = part.join(file_name("a"));
        std::fs::write(&truncated, &good[..good.len() / 2]).unwrap();
        let foreign = part.join(file_name("a"));
        std::fs::write(&foreign, b"hello, I am a CSV file\n1,2,3\n").unwrap();
        let big: Vec<i64> = (0..50_000).map(|i| 4_000_100 + i * 7 % 1000).collect();
        let damaged = w.write(Table::Actions, &entity_batch(&big, "eve", false)).unwrap().remove(0);
        let mut bytes = std::fs::read(&damaged).unwrap();
        for b in &mut bytes[64..4096] {
            *b ^= 0x5a;
        }
        std::fs::write(&damaged, &bytes).unwrap();
        assert!(matches!(check_file(&damaged), FileCheck::Readable(_)), "the footer still reads");

        let stats = compact_table(root, Table::Actions, "a", 2, u64::MAX).unwrap();
        assert_eq!((stats.quarantined, stats.files_in, stats.failed), (3, 3, 0), "{stats:?}");
        for f in [&truncated, &foreign, &damaged] {
            assert!(!f.exists());
            let q = crate::store::quarantine::quarantine_path(root, Table::Actions, f);
            assert!(q.exists(), "{}", q.display());
        }
        assert_eq!(all_rows(root), good_rows);
        assert_eq!(list_files(root, Table::DeadLetters).unwrap().len(), 3);
    }

    #[test]
    fn journal_names_are_told_apart() {
        let id = "0123456789abcdef0123456789abcdef";
        assert!(journal_is_mine(&format!(".compact-a-{id}.json"), "a"));
        assert!(journal_is_mine(&format!(".compact-a-b-{id}.json"), "a-b"));
        assert!(!journal_is_mine(&format!(".compact-a-b-{id}.json"), "a"));
        assert!(!journal_is_mine(&format!(".compact-b-{id}.json"), "a"));
        assert!(journal_is_mine(&format!(".compact-{id}.json"), "a"), "an earlier version's");
        assert!(!journal_is_mine(".compact-a.lock", "a"));
    }
}
