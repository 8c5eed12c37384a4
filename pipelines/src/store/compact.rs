//! Merging an hour partition's small files into one.
//!
//! Crash safety: before anything else, a hidden journal `.compact-<uuid>.json` names
//! the output and the inputs. The output is written under a temporary name and
//! renamed in, then the inputs are removed, then the journal. A run that finds a
//! journal finishes or undoes that work first: inputs are removed if the output
//! exists, else the journal is dropped and the inputs stay. So rows are never lost;
//! between the rename and the removal of the inputs (milliseconds) a query can count
//! the merged rows twice.

use std::collections::BTreeMap;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::{ArrayRef, RecordBatch, new_null_array};
use arrow_schema::{Schema, SchemaRef};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde::{Deserialize, Serialize};

use super::Table;
use super::files::{DataFile, list_files};
use super::writer::write_parquet_atomically;

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
}

#[derive(Debug, Serialize, Deserialize)]
struct Journal {
    output: PathBuf,
    inputs: Vec<PathBuf>,
}

/// Merge, in every hour partition of `table`, the files smaller than `small_bytes`
/// when there are at least `min_files` of them. Files of different schemas (a model
/// added later) merge into their union, the missing columns null.
pub fn compact_table(
    root: &Path,
    table: Table,
    min_files: usize,
    small_bytes: u64,
) -> io::Result<CompactStats> {
    let mut stats = CompactStats::default();
    let files = list_files(root, table)?;
    let mut dirs: BTreeMap<PathBuf, Vec<DataFile>> = BTreeMap::new();
    for f in files {
        if let Some(dir) = f.path.parent() {
            dirs.entry(dir.to_path_buf()).or_default().push(f);
        }
    }
    for (dir, files) in dirs {
        stats.recovered += recover(&dir)?;
        let small: Vec<PathBuf> = files
            .into_iter()
            .filter(|f| f.bytes < small_bytes && f.path.exists())
            .map(|f| f.path)
            .collect();
        if small.len() < min_files.max(2) {
            continue;
        }
        stats.rows += merge(&dir, &small)?;
        stats.partitions += 1;
        stats.files_in += small.len() as u64;
        stats.files_out += 1;
    }
    Ok(stats)
}

/// Finish or undo interrupted compactions in `dir`; returns how many were found.
fn recover(dir: &Path) -> io::Result<u64> {
    let mut found = 0;
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if !(name.starts_with(".compact-") && name.ends_with(".json")) {
            continue;
        }
        found += 1;
        let journal: Option<Journal> =
            std::fs::read(&path).ok().and_then(|b| serde_json::from_slice(&b).ok());
        if let Some(j) = journal
            && j.output.exists()
        {
            for input in &j.inputs {
                remove_if_present(input)?;
            }
        }
        std::fs::remove_file(&path)?;
    }
    Ok(found)
}

fn remove_if_present(path: &Path) -> io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

fn merge(dir: &Path, inputs: &[PathBuf]) -> io::Result<u64> {
    let mut batches = Vec::new();
    for input in inputs {
        let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(input)?)
            .and_then(|b| b.build())
            .map_err(|e| io::Error::other(format!("{}: {e}", input.display())))?;
        for b in reader {
            batches.push(b.map_err(|e| io::Error::other(format!("{}: {e}", input.display())))?);
        }
    }
    let schema = union_schema(batches.iter().map(|b| b.schema()))?;
    let batches = batches.iter().map(|b| conform(b, &schema)).collect::<io::Result<Vec<_>>>()?;
    let id = uuid::Uuid::new_v4().simple().to_string();
    let output = dir.join(format!("compact-{id}.parquet"));
    let journal = dir.join(format!(".compact-{id}.json"));
    let j = Journal { output: output.clone(), inputs: inputs.to_vec() };
    std::fs::write(&journal, serde_json::to_vec(&j).map_err(io::Error::other)?)?;
    File::open(&journal)?.sync_all()?;
    let rows = if batches.is_empty() { 0 } else { write_parquet_atomically(&output, &batches)? };
    for input in inputs {
        remove_if_present(input)?;
    }
    std::fs::remove_file(&journal)?;
    File::open(dir)?.sync_all()?;
    Ok(rows)
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
    use arrow_array::{Float32Array, StringArray, TimestampMicrosecondArray};
    use arrow_schema::{DataType, Field};

    use super::*;
    use crate::store::StoreWriter;
    use crate::store::tables::ts_type;

    fn batch(ts: i64, with_score: bool) -> RecordBatch {
        let mut fields =
            vec![Field::new("ts", ts_type(), false), Field::new("entity", DataType::Utf8, false)];
        let mut cols: Vec<ArrayRef> = vec![
            Arc::new(TimestampMicrosecondArray::from(vec![ts]).with_timezone("UTC")),
            Arc::new(StringArray::from(vec!["alice"])),
        ];
        if with_score {
            fields.push(Field::new("surprise", DataType::Float32, false));
            cols.push(Arc::new(Float32Array::from(vec![1.5])));
        }
        RecordBatch::try_new(Arc::new(Schema::new(fields)), cols).unwrap()
    }

    fn rows(root: &Path) -> usize {
        list_files(root, Table::Actions)
            .unwrap()
            .iter()
            .map(|f| {
                ParquetRecordBatchReaderBuilder::try_new(File::open(&f.path).unwrap())
                    .unwrap()
                    .build()
                    .unwrap()
                    .map(|b| b.unwrap().num_rows())
                    .sum::<usize>()
            })
            .sum()
    }

    #[test]
    fn small_files_merge_into_one_with_the_union_schema() {
        let dir = tempfile::tempdir().unwrap();
        let w = StoreWriter::new(dir.path(), "a");
        for i in 0..4 {
            w.write(Table::Actions, &batch(1_000_000 + i, i % 2 == 1)).unwrap();
        }
        assert_eq!(list_files(dir.path(), Table::Actions).unwrap().len(), 4);
        let stats = compact_table(dir.path(), Table::Actions, 2, 1 << 20).unwrap();
        assert_eq!((stats.files_in, stats.files_out, stats.rows), (4, 1, 4));
        let files = list_files(dir.path(), Table::Actions).unwrap();
        assert_eq!(files.len(), 1);
        assert_eq!(rows(dir.path()), 4);
        let reader =
            ParquetRecordBatchReaderBuilder::try_new(File::open(&files[0].path).unwrap()).unwrap();
        assert!(reader.schema().field_with_name("surprise").unwrap().is_nullable());
        // Nothing left to do the second time.
        assert_eq!(compact_table(dir.path(), Table::Actions, 2, 1 << 20).unwrap().files_in, 0);
    }

    #[test]
    fn an_interrupted_compaction_is_finished_without_losing_or_doubling_rows() {
        let dir = tempfile::tempdir().unwrap();
        let w = StoreWriter::new(dir.path(), "a");
        let inputs: Vec<PathBuf> = (0..3)
            .flat_map(|i| w.write(Table::Actions, &batch(2_000_000 + i, false)).unwrap())
            .collect();
        let part = inputs[0].parent().unwrap().to_path_buf();
        // Crash after the output was renamed in, before the inputs were removed.
        let output = part.join("compact-x.parquet");
        let all: Vec<RecordBatch> = (0..3).map(|i| batch(2_000_000 + i, false)).collect();
        write_parquet_atomically(&output, &all).unwrap();
        let j = Journal { output, inputs: inputs.clone() };
        std::fs::write(part.join(".compact-x.json"), serde_json::to_vec(&j).unwrap()).unwrap();
        assert_eq!(rows(dir.path()), 6, "duplicates are visible until recovery");
        let stats = compact_table(dir.path(), Table::Actions, 100, 1 << 20).unwrap();
        assert_eq!(stats.recovered, 1);
        assert_eq!(rows(dir.path()), 3);
        // Crash before the output existed: the journal goes, the inputs stay.
        let more = w.write(Table::Actions, &batch(2_000_010, false)).unwrap();
        let j = Journal { output: part.join("compact-y.parquet"), inputs: more };
        std::fs::write(part.join(".compact-y.json"), serde_json::to_vec(&j).unwrap()).unwrap();
        compact_table(dir.path(), Table::Actions, 100, 1 << 20).unwrap();
        assert_eq!(rows(dir.path()), 4);
        assert!(!part.join(".compact-y.json").exists());
    }
}
