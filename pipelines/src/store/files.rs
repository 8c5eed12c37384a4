//! The committed files of a table: `<table>/date=…[/hour=…]/*.parquet` (see
//! [`Partitioning`](super::Partitioning)), oldest partition first.

use std::io;
use std::path::{Path, PathBuf};

use super::Table;

/// One committed Parquet file of a table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataFile {
    /// Its path.
    pub path: PathBuf,
    /// The partition it is in, `date=YYYY-MM-DD/hour=HH`, `date=YYYY-MM-DD` or
    /// `date=YYYY-MM`, which sort by time within a table's layout.
    pub partition: String,
    /// Its size in bytes.
    pub bytes: u64,
    /// When it was last written, where the filesystem says.
    pub modified: Option<std::time::SystemTime>,
}

/// The committed files of `table` under the store `root`, sorted by partition then
/// name. Temporary files (hidden, `.tmp`) and anything outside the partition layout
/// are not listed. A missing table directory lists nothing.
pub fn list_files(root: &Path, table: Table) -> io::Result<Vec<DataFile>> {
    let base = root.join(table.name());
    let mut out = Vec::new();
    for date in sorted_dirs(&base, "date=")? {
        let date_name = dir_name(&date);
        let hours = sorted_dirs(&date, "hour=")?;
        if hours.is_empty() {
            out.extend(files_in(&date, &date_name)?);
        }
        for hour in hours {
            out.extend(files_in(&hour, &format!("{date_name}/{}", dir_name(&hour)))?);
        }
    }
    Ok(out)
}

/// The committed Parquet files directly in the partition directory `dir`, by name.
fn files_in(dir: &Path, partition: &str) -> io::Result<Vec<DataFile>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') || !name.ends_with(".parquet") {
            continue;
        }
        let meta = entry.metadata()?;
        if meta.is_file() {
            files.push(DataFile {
                path: entry.path(),
                partition: partition.to_string(),
                bytes: meta.len(),
                modified: meta.modified().ok(),
            });
        }
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(files)
}

fn dir_name(dir: &Path) -> String {
    dir.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string()
}

/// Subdirectories of `dir` whose names start with `prefix`, sorted; none if `dir` is missing.
pub(crate) fn sorted_dirs(dir: &Path, prefix: &str) -> io::Result<Vec<PathBuf>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut dirs = Vec::new();
    for entry in entries {
        let entry = entry?;
        if entry.file_name().to_string_lossy().starts_with(prefix) && entry.file_type()?.is_dir() {
            dirs.push(entry.path());
        }
    }
    dirs.sort();
    Ok(dirs)
}
