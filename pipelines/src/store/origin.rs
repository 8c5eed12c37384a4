//! Where a file's rows came from: the records (and dead letters) of each input, by
//! ordinal, kept in the Parquet file's key-value metadata under [`ORIGIN_KEY`].
//!
//! A line source (flow CSV, metrics, action log) numbers its records and dead letters
//! from the start of its input. Every file the store commits for a batch records the
//! ranges of the batches it holds, as JSON: `{"<input key>": {"records": [[0, 1000]],
//! "dead": [[0, 3]]}}` (half-open ranges). After a crash, the rows committed after the
//! source's last checkpoint are found by reading these footers ([`stored_since`]); the
//! re-run cuts its batches at the same places and the writer skips a batch's rows in a
//! table partition that already holds them. Compaction keeps the union.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::path::Path;
use std::time::SystemTime;

use arrow_array::{Array, RecordBatch};
use serde::{Deserialize, Serialize};

use super::Table;
use super::files::list_files;
use super::writer::file_owner;

/// The key-value metadata key holding a file's origins.
pub const ORIGIN_KEY: &str = "vigil.origin";

/// Sorted, disjoint, non-adjacent half-open ranges.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RangeSet(Vec<[u64; 2]>);

impl RangeSet {
    /// Add `r` (an empty range adds nothing).
    pub fn insert(&mut self, r: Range<u64>) {
        if r.is_empty() {
            return;
        }
        self.0.push([r.start, r.end]);
        self.normalize();
    }

    /// Add every range of `other`.
    pub fn extend(&mut self, other: &RangeSet) {
        self.0.extend_from_slice(&other.0);
        self.normalize();
    }

    /// Whether every ordinal of `r` is in the set (an empty range always is).
    pub fn contains(&self, r: &Range<u64>) -> bool {
        r.is_empty() || self.0.iter().any(|[a, b]| *a <= r.start && r.end <= *b)
    }

    /// The ranges' ends and starts.
    pub fn bounds(&self) -> impl Iterator<Item = u64> + '_ {
        self.0.iter().flat_map(|[a, b]| [*a, *b])
    }

    fn normalize(&mut self) {
        self.0.retain(|[a, b]| a < b);
        self.0.sort_unstable();
        let mut out: Vec<[u64; 2]> = Vec::with_capacity(self.0.len());
        for [a, b] in self.0.drain(..) {
            match out.last_mut() {
                Some(last) if a <= last[1] => last[1] = last[1].max(b),
                _ => out.push([a, b]),
            }
        }
        self.0 = out;
    }
}

/// The records and dead letters of one input that a file (or a batch) holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputRanges {
    /// Record ordinals (from 0, the input's first record).
    #[serde(default)]
    pub records: RangeSet,
    /// Dead-letter ordinals (from 0).
    #[serde(default)]
    pub dead: RangeSet,
}

impl InputRanges {
    /// Whether both `records` and `dead` are held.
    pub fn covers(&self, records: &Range<u64>, dead: &Range<u64>) -> bool {
        self.records.contains(records) && self.dead.contains(dead)
    }

    fn extend(&mut self, other: &InputRanges) {
        self.records.extend(&other.records);
        self.dead.extend(&other.dead);
    }
}

/// The origins of a file: input key → the ranges it holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Origins(BTreeMap<String, InputRanges>);

impl Origins {
    /// Add one batch: `records` and `dead` of input `key`.
    pub fn add(&mut self, key: &str, records: Range<u64>, dead: Range<u64>) {
        let e = self.0.entry(key.to_string()).or_default();
        e.records.insert(records);
        e.dead.insert(dead);
    }

    /// Add everything `other` holds.
    pub fn merge(&mut self, other: &Origins) {
        for (k, r) in &other.0 {
            self.0.entry(k.clone()).or_default().extend(r);
        }
    }

    /// Whether nothing is recorded.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The ranges of input `key`, if any.
    pub fn get(&self, key: &str) -> Option<&InputRanges> {
        self.0.get(key)
    }

    /// As the metadata value.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("origins serialise")
    }

    /// From a metadata value.
    pub fn from_json(s: &str) -> Option<Origins> {
        serde_json::from_str(s).ok()
    }

    /// The origins recorded in a Parquet file's key-value metadata (none if absent).
    pub fn of_metadata(kv: Option<&Vec<parquet::file::metadata::KeyValue>>) -> Origins {
        kv.into_iter()
            .flatten()
            .filter(|e| e.key == ORIGIN_KEY)
            .filter_map(|e| e.value.as_deref().and_then(Origins::from_json))
            .fold(Origins::default(), |mut acc, o| {
                acc.merge(&o);
                acc
            })
    }
}

/// What the store holds of one input, per table partition, as found after a crash.
#[derive(Debug, Clone, Default)]
pub struct StoredInput {
    /// (table, partition `date=…/hour=…`) → ranges held there.
    parts: BTreeMap<(Table, String), InputRanges>,
}

impl StoredInput {
    /// Whether the partition `partition` of `table` already holds `records` and `dead`
    /// of this input. Dead letters are partitioned by the time they were read, which a
    /// re-run does not repeat, so for them any partition counts.
    pub fn covers(
        &self,
        table: Table,
        partition: &str,
        records: &Range<u64>,
        dead: &Range<u64>,
    ) -> bool {
        if table == Table::DeadLetters {
            return self.parts.iter().any(|((t, _), r)| *t == table && r.covers(records, dead));
        }
        self.parts.get(&(table, partition.to_string())).is_some_and(|r| r.covers(records, dead))
    }

    /// Every record ordinal where a stored batch began or ended: a re-run cuts its
    /// batches there so that each is either wholly stored in a partition or not at all.
    pub fn record_bounds(&self) -> BTreeSet<u64> {
        self.parts.values().flat_map(|r| r.records.bounds()).collect()
    }

    /// The ends of the stored records and dead letters: nothing at or past them is stored.
    pub fn ends(&self) -> (u64, u64) {
        self.parts.values().fold((0, 0), |(r, d), p| {
            (
                r.max(p.records.bounds().max().unwrap_or(0)),
                d.max(p.dead.bounds().max().unwrap_or(0)),
            )
        })
    }

    /// Whether nothing of the input was found.
    pub fn is_empty(&self) -> bool {
        self.parts.is_empty()
    }
}

/// Where one source batch came from (records and dead letters of one input, by
/// ordinal) and, on a re-run after a crash, what of it the store already holds.
#[derive(Debug, Clone)]
pub struct BatchOrigin {
    /// The input: source name and file identity.
    pub key: String,
    /// Its records.
    pub records: Range<u64>,
    /// Its dead letters.
    pub dead: Range<u64>,
    /// What the store held of the input when the re-run began (`None`: a first run, or
    /// past what was stored).
    pub stored: Option<std::sync::Arc<StoredInput>>,
    /// Rows the store held when a re-run of an input that cannot number its records
    /// (a capture) began: they are not written again.
    pub stored_rows: Option<std::sync::Arc<StoredRows>>,
}

impl BatchOrigin {
    /// Whether this batch is being read again after a crash: it may be stored already,
    /// so it must not be joined with others (each table partition holds all of it or
    /// none of it).
    pub fn replayed(&self) -> bool {
        self.stored.is_some()
    }

    /// Whether `partition` of `table` already holds this batch's rows.
    pub fn stored_in(&self, table: Table, partition: &str) -> bool {
        self.stored.as_ref().is_some_and(|s| s.covers(table, partition, &self.records, &self.dead))
    }

    /// Record this batch in `origins` (when its input numbers its records).
    pub fn add_to(&self, origins: &mut Origins) {
        if !self.key.is_empty() {
            origins.add(&self.key, self.records.clone(), self.dead.clone());
        }
    }

    /// The origin of a capture batch: no record numbers; `stored_rows` (if any) are
    /// not written again.
    pub fn rows(stored_rows: Option<std::sync::Arc<StoredRows>>) -> BatchOrigin {
        BatchOrigin { key: String::new(), records: 0..0, dead: 0..0, stored: None, stored_rows }
    }
}

/// The committed files of `table` that `sensor` wrote (or compacted) at or after `since`.
fn files_since(
    root: &Path,
    sensor: &str,
    table: Table,
    since: SystemTime,
) -> std::io::Result<Vec<super::DataFile>> {
    let mut out = list_files(root, table)?;
    out.retain(|f| {
        let name = f.path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        file_owner(name) == Some(sensor)
            // A file gone since it was listed (compacted) holds nothing any more.
            && std::fs::metadata(&f.path).and_then(|m| m.modified()).is_ok_and(|m| m >= since)
    });
    Ok(out)
}

/// What `sensor`'s files modified at or after `since` hold of input `key`, in every table.
/// Only footers are read. An unreadable file is skipped (the SQL layer quarantines it).
pub fn stored_since(
    root: &Path,
    sensor: &str,
    key: &str,
    since: SystemTime,
) -> std::io::Result<StoredInput> {
    use parquet::file::reader::{FileReader, SerializedFileReader};

    let mut stored = StoredInput::default();
    for table in Table::ALL {
        for f in files_since(root, sensor, table, since)? {
            let reader = match std::fs::File::open(&f.path)
                .map_err(|e| e.to_string())
                .and_then(|file| SerializedFileReader::new(file).map_err(|e| e.to_string()))
            {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!(file = %f.path.display(), "cannot read its origins: {e}");
                    continue;
                }
            };
            let origins =
                Origins::of_metadata(reader.metadata().file_metadata().key_value_metadata());
            if let Some(r) = origins.get(key) {
                stored.parts.entry((table, f.partition.clone())).or_default().extend(r);
            }
        }
    }
    Ok(stored)
}

/// Rows already stored, by key: how a capture re-run (which rebuilds flows from a
/// resume point, so cannot number them) tells which of its rows a crash left
/// committed after the checkpoint. Flows are keyed by `uid`, alerts by signature,
/// flow, entity and time, dead letters by source and position.
#[derive(Debug, Default)]
pub struct StoredRows {
    keys: BTreeMap<Table, std::collections::HashSet<String>>,
}

/// The columns that identify a row of `table` (none: not keyed).
fn key_columns(table: Table) -> &'static [&'static str] {
    match table {
        Table::Flows => &["uid"],
        Table::Alerts => &["signature", "flow_id", "entity", "timestamp"],
        Table::DeadLetters => &["source", "position"],
        Table::Metrics | Table::Actions | Table::AlertState => &[],
    }
}

/// Each row's key in `batch` of `table`, if the batch has the key columns.
fn row_keys(table: Table, batch: &RecordBatch) -> Option<Vec<String>> {
    use arrow_array::cast::AsArray;
    let columns = key_columns(table)
        .iter()
        .map(|c| {
            let col = batch.column_by_name(c)?;
            datafusion::arrow::compute::cast(col, &arrow_schema::DataType::Utf8).ok()
        })
        .collect::<Option<Vec<_>>>()?;
    if columns.is_empty() {
        return None;
    }
    let strings: Vec<_> = columns.iter().map(|c| c.as_string::<i32>()).collect();
    Some(
        (0..batch.num_rows())
            .map(|r| {
                strings
                    .iter()
                    .map(|s| if s.is_valid(r) { s.value(r) } else { "" })
                    .collect::<Vec<_>>()
                    .join("\u{1f}")
            })
            .collect(),
    )
}

impl StoredRows {
    /// The keys of the rows `sensor` committed in files modified at or after `since`.
    /// Only the key columns are read; an unreadable file is skipped (the SQL layer
    /// quarantines it).
    pub fn since(root: &Path, sensor: &str, since: SystemTime) -> anyhow::Result<StoredRows> {
        use parquet::arrow::ProjectionMask;
        use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

        let mut stored = StoredRows::default();
        for table in Table::ALL.into_iter().filter(|t| !key_columns(*t).is_empty()) {
            for f in files_since(root, sensor, table, since)? {
                let builder = match std::fs::File::open(&f.path)
                    .map_err(anyhow::Error::from)
                    .and_then(|file| Ok(ParquetRecordBatchReaderBuilder::try_new(file)?))
                {
                    Ok(b) => b,
                    Err(e) => {
                        tracing::warn!(file = %f.path.display(), "cannot read its keys: {e}");
                        continue;
                    }
                };
                let schema = builder.schema().clone();
                let Some(indices) = key_columns(table)
                    .iter()
                    .map(|c| schema.index_of(c).ok())
                    .collect::<Option<Vec<_>>>()
                else {
                    continue;
                };
                let mask = ProjectionMask::roots(builder.parquet_schema(), indices);
                let keys = stored.keys.entry(table).or_default();
                for batch in builder.with_projection(mask).build()? {
                    keys.extend(row_keys(table, &batch?).unwrap_or_default());
                }
            }
        }
        Ok(stored)
    }

    /// Rows found.
    pub fn len(&self) -> usize {
        self.keys.values().map(|k| k.len()).sum()
    }

    /// Whether no row was found.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the row of `table` with key `key` is stored.
    fn holds(&self, table: Table, key: &str) -> bool {
        self.keys.get(&table).is_some_and(|k| k.contains(key))
    }

    /// `batch` of `table` without the rows already stored.
    pub fn filter(&self, table: Table, batch: &RecordBatch) -> std::io::Result<RecordBatch> {
        let Some(keys) = row_keys(table, batch) else { return Ok(batch.clone()) };
        let keep: arrow_array::BooleanArray =
            keys.iter().map(|k| Some(!self.holds(table, k))).collect();
        datafusion::arrow::compute::filter_record_batch(batch, &keep).map_err(std::io::Error::other)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_merge_and_contain() {
        let mut s = RangeSet::default();
        s.insert(10..20);
        s.insert(0..10);
        s.insert(30..40);
        s.insert(5..5);
        assert_eq!(s, RangeSet(vec![[0, 20], [30, 40]]));
        assert!(s.contains(&(3..20)));
        assert!(s.contains(&(7..7)));
        assert!(!s.contains(&(15..31)));
        assert_eq!(s.bounds().collect::<Vec<_>>(), vec![0, 20, 30, 40]);
    }

    #[test]
    fn origins_round_trip_and_merge() {
        let mut a = Origins::default();
        a.add("src:1:2", 0..100, 0..0);
        let mut b = Origins::default();
        b.add("src:1:2", 100..200, 0..2);
        b.add("other", 0..5, 0..0);
        a.merge(&b);
        let back = Origins::from_json(&a.to_json()).unwrap();
        assert_eq!(back, a);
        let r = back.get("src:1:2").unwrap();
        assert!(r.covers(&(50..150), &(0..2)));
        assert!(!r.covers(&(150..250), &(0..0)));
    }

    #[test]
    fn stored_rows_are_found_by_key_and_dropped() {
        use arrow_array::{ArrayRef, StringArray, TimestampMicrosecondArray};
        let flows = |uids: &[&str]| {
            let uid: ArrayRef = std::sync::Arc::new(StringArray::from(uids.to_vec()));
            let ts: ArrayRef = std::sync::Arc::new(
                TimestampMicrosecondArray::from(vec![1_000_000; uids.len()]).with_timezone("UTC"),
            );
            RecordBatch::try_from_iter([("uid", uid), ("ts_start", ts)]).unwrap()
        };
        let dir = tempfile::tempdir().unwrap();
        let since = SystemTime::now() - std::time::Duration::from_secs(5);
        crate::store::StoreWriter::new(dir.path(), "s1")
            .write(Table::Flows, &flows(&["a", "b"]))
            .unwrap();
        crate::store::StoreWriter::new(dir.path(), "s2")
            .write(Table::Flows, &flows(&["c"]))
            .unwrap();
        let stored = StoredRows::since(dir.path(), "s1", since).unwrap();
        assert_eq!(stored.len(), 2, "this sensor's rows only");
        let left = stored.filter(Table::Flows, &flows(&["a", "c", "b", "d"])).unwrap();
        let uids = left.column(0).as_any().downcast_ref::<StringArray>().unwrap();
        assert_eq!(uids.iter().flatten().collect::<Vec<_>>(), vec!["c", "d"]);
        let later = SystemTime::now() + std::time::Duration::from_secs(60);
        assert!(StoredRows::since(dir.path(), "s1", later).unwrap().is_empty());
    }

    #[test]
    fn dead_letters_count_in_any_partition() {
        let mut s = StoredInput::default();
        let mut r = InputRanges::default();
        r.records.insert(0..10);
        r.dead.insert(0..3);
        s.parts.insert((Table::DeadLetters, "date=2026-01-01/hour=00".into()), r.clone());
        s.parts.insert((Table::Metrics, "date=2026-01-01/hour=00".into()), r);
        assert!(s.covers(Table::DeadLetters, "date=2026-12-04/hour=17", &(0..10), &(0..3)));
        assert!(!s.covers(Table::Metrics, "date=2026-12-04/hour=17", &(0..10), &(0..3)));
        assert!(s.covers(Table::Metrics, "date=2026-01-01/hour=00", &(0..10), &(0..3)));
        assert_eq!(s.record_bounds().into_iter().collect::<Vec<_>>(), vec![0, 10]);
    }
}
