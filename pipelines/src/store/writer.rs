//! Writing record batches into a table: one Parquet file per hour partition per call.

use std::collections::BTreeMap;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use arrow_array::cast::AsArray;
use arrow_array::types::TimestampMicrosecondType;
use arrow_array::{Array, BooleanArray, RecordBatch};
use datafusion::arrow::compute::filter_record_batch;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use vigil_ingest::time::civil_from_us;

use super::Table;

const US_PER_HOUR: i64 = 3_600_000_000;

/// Writes batches into the store's tables. Each [`write`](Self::write) makes one file
/// per hour its rows fall in, written under a hidden temporary name, fsynced, renamed
/// to `<instance>-<uuid>.parquet`, and the directory fsynced: a file is either
/// complete and visible, or absent (also after `kill -9` or a power cut).
#[derive(Debug, Clone)]
pub struct StoreWriter {
    root: PathBuf,
    instance: String,
}

impl StoreWriter {
    /// A writer into the store at `root`, naming its files after `instance` (so that
    /// several instances can share one directory).
    pub fn new(root: impl Into<PathBuf>, instance: &str) -> StoreWriter {
        let instance: String = instance
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' })
            .collect();
        let instance = if instance.is_empty() { "vigil".to_string() } else { instance };
        StoreWriter { root: root.into(), instance }
    }

    /// The store directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Write `batch` into `table`, split by the hour of the table's time column.
    /// Returns the files committed. An empty batch writes nothing.
    pub fn write(&self, table: Table, batch: &RecordBatch) -> io::Result<Vec<PathBuf>> {
        if batch.num_rows() == 0 {
            return Ok(Vec::new());
        }
        let column = batch.column_by_name(table.time_column()).ok_or_else(|| {
            io::Error::other(format!("{table}: the batch has no `{}` column", table.time_column()))
        })?;
        let ts = column.as_primitive_opt::<TimestampMicrosecondType>().ok_or_else(|| {
            io::Error::other(format!("{table}: `{}` is not a µs timestamp", table.time_column()))
        })?;
        let hours: Vec<i64> = (0..ts.len())
            .map(|i| if ts.is_null(i) { 0 } else { ts.value(i).div_euclid(US_PER_HOUR) })
            .collect();
        let mut distinct: BTreeMap<i64, ()> = BTreeMap::new();
        hours.iter().for_each(|h| {
            distinct.insert(*h, ());
        });
        let mut written = Vec::with_capacity(distinct.len());
        if distinct.len() == 1 {
            written.push(self.write_file(table, hours[0], batch)?);
            return Ok(written);
        }
        for &hour in distinct.keys() {
            let mask = BooleanArray::from(hours.iter().map(|h| *h == hour).collect::<Vec<_>>());
            let part = filter_record_batch(batch, &mask).map_err(io::Error::other)?;
            written.push(self.write_file(table, hour, &part)?);
        }
        Ok(written)
    }

    /// The partition directory of an hour (hours since the epoch).
    pub fn partition_dir(&self, table: Table, hour: i64) -> PathBuf {
        let c = civil_from_us(hour * US_PER_HOUR);
        self.root
            .join(table.name())
            .join(format!("date={:04}-{:02}-{:02}/hour={:02}", c.year, c.month, c.day, c.hour))
    }

    fn write_file(&self, table: Table, hour: i64, batch: &RecordBatch) -> io::Result<PathBuf> {
        let dir = self.partition_dir(table, hour);
        std::fs::create_dir_all(&dir)?;
        let name = format!("{}-{}.parquet", self.instance, uuid::Uuid::new_v4().simple());
        let path = dir.join(&name);
        write_parquet_atomically(&path, std::slice::from_ref(batch))?;
        Ok(path)
    }
}

/// The hidden temporary name a file is written under before its rename; query engines
/// skip it (leading dot, no `.parquet` extension).
pub(crate) fn temp_name(path: &Path) -> PathBuf {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    path.with_file_name(format!(".{name}.tmp"))
}

/// Write `batches` (one schema) as a zstd Parquet file at `path`: temporary name,
/// fsync, rename, fsync of the directory.
pub(crate) fn write_parquet_atomically(path: &Path, batches: &[RecordBatch]) -> io::Result<u64> {
    let Some(first) = batches.first() else {
        return Err(io::Error::other("no batches to write"));
    };
    let tmp = temp_name(path);
    let result = (|| {
        let file = File::create(&tmp)?;
        let props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::try_new(3).map_err(io::Error::other)?))
            .build();
        let mut writer =
            ArrowWriter::try_new(file, first.schema(), Some(props)).map_err(io::Error::other)?;
        let mut rows = 0u64;
        for b in batches {
            writer.write(b).map_err(io::Error::other)?;
            rows += b.num_rows() as u64;
        }
        let file = writer.into_inner().map_err(io::Error::other)?;
        file.sync_all()?;
        Ok(rows)
    })();
    let rows = match result {
        Ok(rows) => rows,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
    };
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        File::open(dir)?.sync_all()?;
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::{Float64Array, StringArray, TimestampMicrosecondArray};
    use arrow_schema::{DataType, Field, Schema};

    use super::*;
    use crate::store::list_files;
    use crate::store::tables::ts_type;

    fn metrics(ts: &[i64]) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("series", DataType::Utf8, false),
            Field::new("ts", ts_type(), false),
            Field::new("value", DataType::Float64, true),
        ]));
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(StringArray::from(vec!["cpu"; ts.len()])),
                Arc::new(TimestampMicrosecondArray::from(ts.to_vec()).with_timezone("UTC")),
                Arc::new(Float64Array::from(vec![1.0; ts.len()])),
            ],
        )
        .unwrap()
    }

    #[test]
    fn rows_land_in_their_hour_partitions() {
        let dir = tempfile::tempdir().unwrap();
        let w = StoreWriter::new(dir.path(), "sensor 1");
        // 2026-11-29 10:59:59.999999, 11:00:00 and 10:30:00.
        let t = vigil_ingest::time::civil_to_us(2026, 11, 29, 11, 0, 0, 0).unwrap();
        let files = w.write(Table::Metrics, &metrics(&[t - 1, t, t - US_PER_HOUR / 2])).unwrap();
        assert_eq!(files.len(), 2);
        let listed = list_files(dir.path(), Table::Metrics).unwrap();
        assert_eq!(listed.len(), 2);
        let rows: Vec<usize> = files
            .iter()
            .map(|f| {
                parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
                    File::open(f).unwrap(),
                )
                .unwrap()
                .build()
                .unwrap()
                .map(|b| b.unwrap().num_rows())
                .sum()
            })
            .collect();
        assert_eq!(rows, [2, 1]);
        let name = files[0].file_name().unwrap().to_str().unwrap();
        assert!(name.starts_with("sensor_1-") && name.ends_with(".parquet"), "{name}");
        assert!(files[0].ends_with(format!("date=2026-11-29/hour=10/{name}")), "{files:?}");
        assert!(files[1].parent().unwrap().ends_with("date=2026-11-29/hour=11"));
        // No temporary file is left behind.
        let leftovers =
            walk(dir.path()).into_iter().filter(|p| p.to_str().unwrap().ends_with(".tmp"));
        assert_eq!(leftovers.count(), 0);
    }

    #[test]
    fn a_batch_without_the_time_column_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let w = StoreWriter::new(dir.path(), "x");
        let err = w.write(Table::Flows, &metrics(&[1])).unwrap_err().to_string();
        assert!(err.contains("flows: the batch has no `ts_start` column"), "{err}");
    }

    fn walk(dir: &Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
        out
    }
}
