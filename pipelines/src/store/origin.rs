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

    /// Record this batch in `origins`.
    pub fn add_to(&self, origins: &mut Origins) {
        origins.add(&self.key, self.records.clone(), self.dead.clone());
    }
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
        for f in list_files(root, table)? {
            let name = f.path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            if file_owner(name) != Some(sensor) {
                continue;
            }
            let Ok(modified) = std::fs::metadata(&f.path).and_then(|m| m.modified()) else {
                continue; // gone (compacted) since it was listed
            };
            if modified < since {
                continue;
            }
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
