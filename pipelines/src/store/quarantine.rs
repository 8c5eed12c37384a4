//! Files in a table that are not readable Parquet (truncated, or not Parquet at all):
//! moved out of the table, never deleted, and recorded as a dead letter.
//!
//! ```text
//! <store>/<table>/date=…/hour=…/x.parquet  →  <store>/_quarantine/<table>/date=…/hour=…/x.parquet
//! ```
//!
//! The dead letter is a `dead_letters` row written through the [`StoreWriter`] (a
//! normal committed file): `source` is the file's original (absolute) path, `position` is
//! `file`, `error` the reason, `raw` its first [`RAW_BYTES`] bytes. Its `sensor` (and
//! file name) is the bad file's owner when its name is `<sensor>-<uuid>.parquet`,
//! else `vigil`.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::builder::{BinaryBuilder, StringBuilder, TimestampMicrosecondBuilder};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::SchemaRef;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::writer::file_owner;
use super::{StoreWriter, Table};

/// The store subdirectory quarantined files are moved to.
pub const QUARANTINE_DIR: &str = "_quarantine";

/// How many leading bytes of a quarantined file its dead letter keeps.
pub const RAW_BYTES: usize = 256;

/// What reading a file's Parquet footer found.
#[derive(Debug)]
pub enum FileCheck {
    /// A readable Parquet file with this Arrow schema.
    Readable(SchemaRef),
    /// Not readable Parquet: why (truncated, bad magic, corrupt metadata, ...).
    Unreadable(String),
    /// The file could not be opened (gone, or no permission): nothing is known.
    Inaccessible(io::Error),
}

/// Read `path`'s footer and metadata (not its data pages) and say whether it is
/// readable Parquet.
pub fn check_file(path: &Path) -> FileCheck {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) => return FileCheck::Inaccessible(e),
    };
    match ParquetRecordBatchReaderBuilder::try_new(file) {
        Ok(b) => FileCheck::Readable(b.schema().clone()),
        Err(e) => FileCheck::Unreadable(e.to_string()),
    }
}

/// Where `path`, a file of `table` in the store at `root`, goes in quarantine: the
/// same path relative to the table directory under `<root>/_quarantine/<table>/`.
pub fn quarantine_path(root: &Path, table: Table, path: &Path) -> PathBuf {
    let rel = path
        .strip_prefix(root.join(table.name()))
        .map(Path::to_path_buf)
        .unwrap_or_else(|_| path.file_name().map(PathBuf::from).unwrap_or_default());
    root.join(QUARANTINE_DIR).join(table.name()).join(rel)
}

/// Move `path` (a file of `table` in the store at `root`) into quarantine, warn, and
/// record a dead letter saying `reason`. The file is never overwritten nor lost: when
/// its quarantine path is taken a suffix `.1`, `.2`, ... is added. Returns where it
/// went, or `None` when it was gone already (another process quarantined or removed
/// it; then no dead letter is written).
pub fn quarantine(
    root: &Path,
    table: Table,
    path: &Path,
    reason: &str,
) -> io::Result<Option<PathBuf>> {
    let source = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let base = quarantine_path(root, table, path);
    if let Some(dir) = base.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let Some(dest) = move_no_clobber(path, &base)? else { return Ok(None) };
    tracing::warn!(
        "{}: not readable Parquet ({reason}); skipped and moved to {}",
        path.display(),
        dest.display()
    );
    let mut raw = Vec::with_capacity(RAW_BYTES);
    File::open(&dest)?.take(RAW_BYTES as u64).read_to_end(&mut raw)?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    let sensor = file_owner(name).unwrap_or("vigil");
    let batch = dead_letter(&source.display().to_string(), reason, &raw, sensor);
    StoreWriter::new(root, sensor).write(Table::DeadLetters, &batch)?;
    Ok(Some(dest))
}

/// Move `from` to `to` (or `to.1`, `to.2`, ... when taken) without replacing anything:
/// a hard link, then the removal of `from`. `None` when `from` is gone.
fn move_no_clobber(from: &Path, to: &Path) -> io::Result<Option<PathBuf>> {
    for n in 0u32.. {
        let dest = if n == 0 {
            to.to_path_buf()
        } else {
            let mut s = to.as_os_str().to_owned();
            s.push(format!(".{n}"));
            PathBuf::from(s)
        };
        match std::fs::hard_link(from, &dest) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) if e.kind() == io::ErrorKind::NotFound && !from.exists() => return Ok(None),
            // No hard links here (some file systems): a plain rename to a free name.
            Err(_) if !dest.exists() => match std::fs::rename(from, &dest) {
                Ok(()) => return Ok(Some(dest)),
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(e),
            },
            Err(_) => continue,
        }
        return match std::fs::remove_file(from) {
            Ok(()) => Ok(Some(dest)),
            // Someone else moved it meanwhile: theirs is the quarantined copy.
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let _ = std::fs::remove_file(&dest);
                Ok(None)
            }
            Err(e) => Err(e),
        };
    }
    unreachable!("a free name is found")
}

/// One `dead_letters` row about a whole file.
fn dead_letter(source: &str, error: &str, raw: &[u8], sensor: &str) -> RecordBatch {
    let mut ts = TimestampMicrosecondBuilder::with_capacity(1).with_timezone("UTC");
    ts.append_value(crate::runtime::rows::now_us());
    let text = |v: &str| {
        let mut b = StringBuilder::new();
        b.append_value(v);
        Arc::new(b.finish()) as ArrayRef
    };
    let mut bytes = BinaryBuilder::new();
    bytes.append_value(raw);
    let cols: Vec<ArrayRef> = vec![
        Arc::new(ts.finish()),
        text(source),
        text("file"),
        text(error),
        Arc::new(bytes.finish()),
        text(sensor),
    ];
    RecordBatch::try_new(Table::DeadLetters.base_schema(), cols).expect("the dead_letters schema")
}

#[cfg(test)]
mod tests {
    use arrow_array::Array;
    use arrow_array::cast::AsArray;

    use super::*;
    use crate::store::list_files;

    #[test]
    fn a_bad_file_moves_to_quarantine_with_a_dead_letter() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let part = root.join("flows/date=2026-01-01/hour=03");
        std::fs::create_dir_all(&part).unwrap();
        let bad = part.join("s1-0123456789abcdef0123456789abcdef.parquet");
        std::fs::write(&bad, b"not parquet at all").unwrap();
        let FileCheck::Unreadable(reason) = check_file(&bad) else { panic!("readable?") };
        // A file already at the quarantine path is kept: the new one gets a suffix.
        let first = quarantine_path(root, Table::Flows, &bad);
        std::fs::create_dir_all(first.parent().unwrap()).unwrap();
        std::fs::write(&first, b"earlier").unwrap();
        let canonical = bad.canonicalize().unwrap();
        let dest = quarantine(root, Table::Flows, &bad, &reason).unwrap().unwrap();
        assert!(!bad.exists());
        assert_eq!(std::fs::read(&first).unwrap(), b"earlier");
        assert_eq!(
            dest.file_name().unwrap().to_str().unwrap(),
            format!("{}.1", bad.file_name().unwrap().to_str().unwrap())
        );
        assert_eq!(std::fs::read(&dest).unwrap(), b"not parquet at all");
        assert!(dest.starts_with(root.join("_quarantine/flows/date=2026-01-01/hour=03")));
        // The dead letter is a committed file of the dead_letters table.
        let letters = list_files(root, Table::DeadLetters).unwrap();
        assert_eq!(letters.len(), 1);
        let FileCheck::Readable(_) = check_file(&letters[0].path) else { panic!("unreadable") };
        let b = ParquetRecordBatchReaderBuilder::try_new(File::open(&letters[0].path).unwrap())
            .unwrap()
            .build()
            .unwrap()
            .next()
            .unwrap()
            .unwrap();
        assert_eq!(b.num_rows(), 1);
        let col = |n: &str| b.column_by_name(n).unwrap().as_string::<i32>().value(0).to_string();
        assert_eq!(col("source"), canonical.display().to_string());
        assert_eq!(col("position"), "file");
        assert_eq!(col("error"), reason);
        assert_eq!(col("sensor"), "s1");
        let raw = b.column_by_name("raw").unwrap().as_binary::<i32>();
        assert_eq!(raw.value(0), b"not parquet at all");
        assert!(!raw.is_null(0));
        // Gone already: nothing happens.
        assert_eq!(quarantine(root, Table::Flows, &bad, "x").unwrap(), None);
        assert_eq!(list_files(root, Table::DeadLetters).unwrap().len(), 1);
    }
}
