//! Writing record batches into a table: one Parquet file per partition per write.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use arrow_array::cast::AsArray;
use arrow_array::types::TimestampMicrosecondType;
use arrow_array::{Array, BooleanArray, RecordBatch};
use arrow_schema::SchemaRef;
use datafusion::arrow::compute::{concat_batches, filter_record_batch};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;
use std::sync::Arc;

use super::origin::{BatchOrigin, ORIGIN_KEY, Origins};
use super::{Partitioning, Table};

/// Writes batches into the store's tables. Each [`write`](Self::write) makes one file
/// per partition its rows fall in (see [`Partitioning`]), written under a hidden
/// temporary name, fsynced, renamed to `<instance>-<uuid>.parquet`, and the directory
/// fsynced: a file is either complete and visible, or absent (also after `kill -9` or a
/// power cut).
#[derive(Debug, Clone)]
pub struct StoreWriter {
    root: PathBuf,
    instance: String,
    layouts: HashMap<Table, Partitioning>,
}

/// Rows of one table to write, with the source batches they derive from.
#[derive(Debug, Clone)]
pub struct Part {
    /// The rows.
    pub batch: RecordBatch,
    /// The source batches they come from (none: not recorded).
    pub origins: Vec<Arc<BatchOrigin>>,
}

impl StoreWriter {
    /// A writer into the store at `root`, naming its files after `instance` (so that
    /// several instances can share one directory). Each table is written in the layout
    /// its directory already has, else its default ([`Partitioning::default_for`]).
    pub fn new(root: impl Into<PathBuf>, instance: &str) -> StoreWriter {
        let root = root.into();
        let layouts = Table::ALL
            .iter()
            .map(|&t| {
                let found = Partitioning::on_disk(&root, t).ok().flatten();
                (t, found.unwrap_or_else(|| Partitioning::default_for(t)))
            })
            .collect();
        StoreWriter { root, instance: instance_name(instance), layouts }
    }

    /// Write `table` in `layout` from now on.
    #[must_use]
    pub fn with_partitioning(mut self, table: Table, layout: Partitioning) -> StoreWriter {
        self.layouts.insert(table, layout);
        self
    }

    /// The layout `table` is written in.
    pub fn partitioning(&self, table: Table) -> Partitioning {
        self.layouts.get(&table).copied().unwrap_or_else(|| Partitioning::default_for(table))
    }

    /// The (sanitized) instance name its files start with.
    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// The store directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Write `batch` into `table`, split by the partition of the table's time column.
    /// Returns the files committed. An empty batch writes nothing.
    pub fn write(&self, table: Table, batch: &RecordBatch) -> io::Result<Vec<PathBuf>> {
        self.write_from(table, batch, &[]).map(|w| w.files)
    }

    /// Write `batch`, derived from the source batches `origins`, into `table` (see
    /// [`write_parts`](Self::write_parts)).
    pub fn write_from(
        &self,
        table: Table,
        batch: &RecordBatch,
        origins: &[Arc<BatchOrigin>],
    ) -> io::Result<Written> {
        self.write_parts(table, &[Part { batch: batch.clone(), origins: origins.to_vec() }])
    }

    /// Write `parts` into `table`, split by the partition of the table's time column:
    /// one file per partition and schema, holding every part's rows of that partition
    /// and recording their origins in its metadata. A part's rows in a partition are
    /// skipped when that partition already holds every one of the part's origins (a
    /// batch read again after a crash); rows an origin lists as stored (a capture
    /// re-run) are dropped.
    pub fn write_parts(&self, table: Table, parts: &[Part]) -> io::Result<Written> {
        let layout = self.partitioning(table);
        let mut out = Written::default();
        // (partition key, schema index) → the rows and origins going there.
        let mut groups: BTreeMap<(i64, usize), (Vec<RecordBatch>, Origins)> = BTreeMap::new();
        let mut schemas: Vec<SchemaRef> = Vec::new();
        for part in parts {
            let filtered;
            let batch = match part.origins.iter().find_map(|o| o.stored_rows.as_ref()) {
                Some(stored) => {
                    filtered = stored.filter(table, &part.batch)?;
                    out.skipped += part.batch.num_rows() - filtered.num_rows();
                    &filtered
                }
                None => &part.batch,
            };
            if batch.num_rows() == 0 {
                continue;
            }
            let schema = match schemas.iter().position(|s| *s == batch.schema()) {
                Some(i) => i,
                None => {
                    schemas.push(batch.schema());
                    schemas.len() - 1
                }
            };
            for (key, rows) in split_by_partition(table, layout, batch)? {
                let partition = layout.name(key);
                let origins = &part.origins;
                if !origins.is_empty() && origins.iter().all(|o| o.stored_in(table, &partition)) {
                    out.skipped += rows.num_rows();
                    continue;
                }
                let (batches, metadata) = groups.entry((key, schema)).or_default();
                origins.iter().for_each(|o| o.add_to(metadata));
                batches.push(rows);
            }
        }
        for ((key, schema), (batches, metadata)) in groups {
            let rows = concat_batches(&schemas[schema], &batches).map_err(io::Error::other)?;
            out.rows += rows.num_rows();
            match self.write_file(table, &layout.name(key), &rows, &metadata) {
                Ok(path) => out.files.push(path),
                Err(e) => {
                    // All or nothing: a retry (after a full disk) must not store twice.
                    out.files.iter().for_each(|f| drop(std::fs::remove_file(f)));
                    return Err(e);
                }
            }
        }
        Ok(out)
    }

    /// The directory of a partition (`date=…[/hour=…]`) of `table`.
    pub fn partition_dir(&self, table: Table, partition: &str) -> PathBuf {
        self.root.join(table.name()).join(partition)
    }

    fn write_file(
        &self,
        table: Table,
        partition: &str,
        batch: &RecordBatch,
        origins: &Origins,
    ) -> io::Result<PathBuf> {
        let dir = self.partition_dir(table, partition);
        std::fs::create_dir_all(&dir)?;
        let path = dir.join(file_name(&self.instance));
        let mut w = AtomicParquetWriter::create_with(&path, batch.schema(), origins)?;
        w.write(batch)?;
        w.commit()?;
        Ok(path)
    }
}

/// `batch`'s rows by partition of the table's time column (null times in the epoch's),
/// in time order of the partitions.
fn split_by_partition(
    table: Table,
    layout: Partitioning,
    batch: &RecordBatch,
) -> io::Result<Vec<(i64, RecordBatch)>> {
    let column = batch.column_by_name(table.time_column()).ok_or_else(|| {
        io::Error::other(format!("{table}: the batch has no `{}` column", table.time_column()))
    })?;
    let ts = column.as_primitive_opt::<TimestampMicrosecondType>().ok_or_else(|| {
        io::Error::other(format!("{table}: `{}` is not a µs timestamp", table.time_column()))
    })?;
    let keys: Vec<i64> =
        (0..ts.len()).map(|i| layout.key(if ts.is_null(i) { 0 } else { ts.value(i) })).collect();
    let mut distinct = keys.clone();
    distinct.sort_unstable();
    distinct.dedup();
    if let [only] = distinct[..] {
        return Ok(vec![(only, batch.clone())]);
    }
    distinct
        .into_iter()
        .map(|key| {
            let mask = BooleanArray::from(keys.iter().map(|k| *k == key).collect::<Vec<_>>());
            Ok((key, filter_record_batch(batch, &mask).map_err(io::Error::other)?))
        })
        .collect()
}

/// What [`StoreWriter::write_from`] did.
#[derive(Debug, Default)]
pub struct Written {
    /// The files committed.
    pub files: Vec<PathBuf>,
    /// Rows written.
    pub rows: usize,
    /// Rows not written because their partition already held them.
    pub skipped: usize,
}

/// The hidden temporary name a file is written under before its rename; query engines
/// skip it (leading dot, no `.parquet` extension).
pub(crate) fn temp_name(path: &Path) -> PathBuf {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    path.with_file_name(format!(".{name}.tmp"))
}

/// The sanitized instance (sensor) name files are named after: ASCII letters, digits,
/// `-` and `_` kept, anything else `_`; `vigil` when empty.
pub(crate) fn instance_name(instance: &str) -> String {
    let name: String = instance
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' })
        .collect();
    if name.is_empty() { "vigil".to_string() } else { name }
}

/// A new committed file name of `instance`: `<instance>-<uuid>.parquet` (32 hex digits).
pub(crate) fn file_name(instance: &str) -> String {
    format!("{instance}-{}.parquet", uuid::Uuid::new_v4().simple())
}

/// The instance a committed file name belongs to: the `<instance>` of
/// `<instance>-<32 hex digits>.parquet`, `None` for any other name.
pub(crate) fn file_owner(name: &str) -> Option<&str> {
    let stem = name.strip_suffix(".parquet")?;
    let (owner, id) = stem.rsplit_once('-')?;
    (!owner.is_empty() && id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()))
        .then_some(owner)
}

/// The store's Parquet settings: zstd level 3.
pub(crate) fn writer_properties(origins: &Origins) -> io::Result<WriterProperties> {
    let metadata = (!origins.is_empty())
        .then(|| vec![KeyValue::new(ORIGIN_KEY.to_string(), origins.to_json())]);
    Ok(WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(3).map_err(io::Error::other)?))
        .set_key_value_metadata(metadata)
        .build())
}

/// A temporary file that is removed when dropped, unless [`disarm`](Self::disarm)ed
/// (after its rename): every error path, early return or panic between its creation and
/// its commit leaves nothing behind.
#[derive(Debug)]
pub(crate) struct TempGuard {
    path: Option<PathBuf>,
}

impl TempGuard {
    /// Guard `path` (which need not exist yet).
    pub(crate) fn new(path: PathBuf) -> TempGuard {
        TempGuard { path: Some(path) }
    }

    /// The guarded path.
    pub(crate) fn path(&self) -> &Path {
        self.path.as_deref().expect("an armed guard")
    }

    /// Keep the file (it has been renamed away, or is wanted).
    pub(crate) fn disarm(mut self) {
        self.path = None;
    }
}

impl Drop for TempGuard {
    fn drop(&mut self) {
        if let Some(p) = self.path.take() {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// A Parquet file being written under its hidden temporary name; [`commit`](Self::commit)
/// fsyncs it, renames it to its final name and fsyncs the directory. Dropped without a
/// successful commit (an error anywhere), the temporary file is removed.
pub(crate) struct AtomicParquetWriter {
    writer: ArrowWriter<File>,
    guard: TempGuard,
    path: PathBuf,
    rows: u64,
}

impl AtomicParquetWriter {
    /// Start writing `path` with `schema`.
    pub(crate) fn create(path: &Path, schema: SchemaRef) -> io::Result<AtomicParquetWriter> {
        Self::create_with(path, schema, &Origins::default())
    }

    /// Start writing `path` with `schema`, recording `origins` in its metadata.
    pub(crate) fn create_with(
        path: &Path,
        schema: SchemaRef,
        origins: &Origins,
    ) -> io::Result<AtomicParquetWriter> {
        let guard = TempGuard::new(temp_name(path));
        let file = File::create(guard.path())?;
        let writer = ArrowWriter::try_new(file, schema, Some(writer_properties(origins)?))
            .map_err(io::Error::other)?;
        Ok(AtomicParquetWriter { writer, guard, path: path.to_path_buf(), rows: 0 })
    }

    /// Append a batch (of the file's schema).
    pub(crate) fn write(&mut self, batch: &RecordBatch) -> io::Result<()> {
        self.writer.write(batch).map_err(io::Error::other)?;
        self.rows += batch.num_rows() as u64;
        Ok(())
    }

    /// Close the current row group once its encoded size passes `bytes`, so that the
    /// writer holds at most about that much (plus one batch) in memory.
    pub(crate) fn flush_past(&mut self, bytes: usize) -> io::Result<()> {
        if self.writer.in_progress_size() >= bytes {
            self.writer.flush().map_err(io::Error::other)?;
        }
        Ok(())
    }

    /// Record `origins` in the file's metadata (in addition to any given at creation).
    pub(crate) fn add_origins(&mut self, origins: &Origins) {
        if !origins.is_empty() {
            self.writer.append_key_value_metadata(KeyValue::new(
                ORIGIN_KEY.to_string(),
                origins.to_json(),
            ));
        }
    }

    /// Finish the file and make it visible under its final name; returns its rows.
    pub(crate) fn commit(self) -> io::Result<u64> {
        let AtomicParquetWriter { writer, guard, path, rows } = self;
        let file = writer.into_inner().map_err(io::Error::other)?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(guard.path(), &path)?;
        guard.disarm();
        if let Some(dir) = path.parent() {
            File::open(dir)?.sync_all()?;
        }
        Ok(rows)
    }
}

#[cfg(test)]
/// Write `batches` (one schema) as a zstd Parquet file at `path`: temporary name,
/// fsync, rename, fsync of the directory. On any error the temporary file is removed.
pub(crate) fn write_parquet_atomically(path: &Path, batches: &[RecordBatch]) -> io::Result<u64> {
    let Some(first) = batches.first() else {
        return Err(io::Error::other("no batches to write"));
    };
    let mut w = AtomicParquetWriter::create(path, first.schema())?;
    for b in batches {
        w.write(b)?;
    }
    w.commit()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::{Float64Array, StringArray, TimestampMicrosecondArray};
    use arrow_schema::{DataType, Field, Schema};

    use super::*;
    use crate::store::list_files;
    use crate::store::tables::ts_type;

    const US_PER_HOUR: i64 = 3_600_000_000;

    /// A writer with the metrics table by hour, as these tests expect.
    fn hourly(root: &Path, instance: &str) -> StoreWriter {
        StoreWriter::new(root, instance).with_partitioning(Table::Metrics, Partitioning::Hour)
    }

    fn rows_of(path: &Path) -> usize {
        parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
            File::open(path).unwrap(),
        )
        .unwrap()
        .build()
        .unwrap()
        .map(|b| b.unwrap().num_rows())
        .sum()
    }

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
    fn a_batch_read_again_is_skipped_in_each_partition_that_holds_it() {
        use crate::store::origin::{BatchOrigin, stored_since};
        let dir = tempfile::tempdir().unwrap();
        let w = hourly(dir.path(), "s1");
        let origin = |stored| {
            Arc::new(BatchOrigin {
                key: "src:1:2".into(),
                records: 0..3,
                dead: 0..0,
                stored,
                stored_rows: None,
            })
        };
        // Three rows in two hours: two files, each recording the batch.
        let hour = US_PER_HOUR;
        let batch = metrics(&[1, 2, hour + 1]);
        let t0 = std::time::SystemTime::now() - std::time::Duration::from_secs(5);
        let first = w.write_from(Table::Metrics, &batch, &[origin(None)]).unwrap();
        assert_eq!((first.files.len(), first.rows, first.skipped), (2, 3, 0));
        // A crash took the second hour's file before the re-run.
        std::fs::remove_file(&first.files[1]).unwrap();
        let stored = Arc::new(stored_since(dir.path(), "s1", "src:1:2", t0).unwrap());
        assert!(stored_since(dir.path(), "s2", "src:1:2", t0).unwrap().is_empty());
        let again = w.write_from(Table::Metrics, &batch, &[origin(Some(stored))]).unwrap();
        assert_eq!((again.files.len(), again.rows, again.skipped), (1, 1, 2));
        let rows: usize = list_files(dir.path(), Table::Metrics)
            .unwrap()
            .iter()
            .map(|f| {
                let file = File::open(&f.path).unwrap();
                parquet::file::reader::FileReader::metadata(
                    &parquet::file::reader::SerializedFileReader::new(file).unwrap(),
                )
                .file_metadata()
                .num_rows() as usize
            })
            .sum();
        assert_eq!(rows, 3, "every row once");
    }

    #[test]
    fn rows_land_in_their_hour_partitions() {
        let dir = tempfile::tempdir().unwrap();
        let w = hourly(dir.path(), "sensor 1");
        // 2026-11-29 10:59:59.999999, 11:00:00 and 10:30:00.
        let t = vigil_ingest::time::civil_to_us(2026, 11, 29, 11, 0, 0, 0).unwrap();
        let files = w.write(Table::Metrics, &metrics(&[t - 1, t, t - US_PER_HOUR / 2])).unwrap();
        assert_eq!(files.len(), 2);
        let listed = list_files(dir.path(), Table::Metrics).unwrap();
        assert_eq!(listed.len(), 2);
        let rows: Vec<usize> = files.iter().map(|f| rows_of(f)).collect();
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
    fn parts_are_merged_into_one_file_per_partition_and_skipped_per_part() {
        use crate::store::origin::{BatchOrigin, stored_since};
        let dir = tempfile::tempdir().unwrap();
        // Metrics by month (the default): 2016-07-01, 2016-07-31 and 2016-08-01.
        let w = StoreWriter::new(dir.path(), "m");
        assert_eq!(w.partitioning(Table::Metrics), Partitioning::Month);
        let day = |d: i64| {
            vigil_ingest::time::civil_to_us(2016, 7, 1, 0, 0, 0, 0).unwrap() + d * 24 * US_PER_HOUR
        };
        let origin = |records: std::ops::Range<u64>, stored| {
            Arc::new(BatchOrigin {
                key: "in".into(),
                records,
                dead: 0..0,
                stored,
                stored_rows: None,
            })
        };
        let t0 = std::time::SystemTime::now() - std::time::Duration::from_secs(5);
        let parts = |stored: Option<Arc<_>>| {
            vec![
                Part {
                    batch: metrics(&[day(0), day(30)]),
                    origins: vec![origin(0..2, stored.clone())],
                },
                Part { batch: metrics(&[day(30), day(31)]), origins: vec![origin(2..4, stored)] },
            ]
        };
        let first = w.write_parts(Table::Metrics, &parts(None)).unwrap();
        assert_eq!((first.files.len(), first.rows, first.skipped), (2, 4, 0));
        assert!(first.files[0].parent().unwrap().ends_with("metrics/date=2016-07"));
        assert!(first.files[1].parent().unwrap().ends_with("metrics/date=2016-08"));
        assert_eq!((rows_of(&first.files[0]), rows_of(&first.files[1])), (3, 1));
        // A crash took August: a re-run writes only the second part's August row.
        std::fs::remove_file(&first.files[1]).unwrap();
        let stored = Arc::new(stored_since(dir.path(), "m", "in", t0).unwrap());
        let again = w.write_parts(Table::Metrics, &parts(Some(stored))).unwrap();
        assert_eq!((again.files.len(), again.rows, again.skipped), (1, 1, 3));
        let listed = list_files(dir.path(), Table::Metrics).unwrap();
        let partitions: Vec<&str> = listed.iter().map(|f| f.partition.as_str()).collect();
        assert_eq!(partitions, ["date=2016-07", "date=2016-08"]);
        // The layout on disk is kept by the next writer.
        assert_eq!(
            StoreWriter::new(dir.path(), "n").partitioning(Table::Metrics),
            Partitioning::Month
        );
    }

    #[test]
    fn a_batch_without_the_time_column_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let w = StoreWriter::new(dir.path(), "x");
        let err = w.write(Table::Flows, &metrics(&[1])).unwrap_err().to_string();
        assert!(err.contains("flows: the batch has no `ts_start` column"), "{err}");
    }

    fn temp_files(dir: &Path) -> Vec<PathBuf> {
        walk(dir).into_iter().filter(|p| p.to_str().unwrap().ends_with(".tmp")).collect()
    }

    #[test]
    fn a_failed_write_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        // The rename fails: its target is a directory.
        let target = dir.path().join("x.parquet");
        std::fs::create_dir(&target).unwrap();
        std::fs::write(target.join("keep"), b"").unwrap();
        let err = write_parquet_atomically(&target, &[metrics(&[1, 2])]).unwrap_err();
        assert!(!err.to_string().is_empty());
        assert_eq!(temp_files(dir.path()), Vec::<PathBuf>::new());
        assert!(target.join("keep").exists(), "the directory is untouched");
        // A write that fails half-way (a batch of another schema) leaves nothing either.
        let path = dir.path().join("y.parquet");
        let other = RecordBatch::try_new(
            Arc::new(Schema::new(vec![Field::new("v", DataType::Float64, false)])),
            vec![Arc::new(Float64Array::from(vec![1.0]))],
        )
        .unwrap();
        assert!(write_parquet_atomically(&path, &[metrics(&[1]), other]).is_err());
        assert!(!path.exists());
        assert_eq!(temp_files(dir.path()), Vec::<PathBuf>::new());
        // An abandoned streaming writer (dropped without commit) removes its file too.
        let w = AtomicParquetWriter::create(&path, metrics(&[1]).schema()).unwrap();
        assert_eq!(temp_files(dir.path()).len(), 1);
        drop(w);
        assert_eq!(temp_files(dir.path()), Vec::<PathBuf>::new());
    }

    #[test]
    fn file_names_name_their_owner() {
        let name = file_name("sensor-1");
        assert_eq!(file_owner(&name), Some("sensor-1"));
        assert_eq!(file_owner("a-b-0123456789abcdef0123456789abcdef.parquet"), Some("a-b"));
        assert_eq!(file_owner("compact-1234.parquet"), None);
        assert_eq!(file_owner("-0123456789abcdef0123456789abcdef.parquet"), None);
        assert_eq!(file_owner("notes.parquet"), None);
        assert_eq!(instance_name("sensor 1/x"), "sensor_1_x");
        assert_eq!(instance_name(""), "vigil");
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
