//! The committed files of a table: `<table>/date=…/hour=…/*.parquet`, oldest hour first.

use std::io;
use std::path::{Path, PathBuf};

use super::Table;

/// One committed Parquet file of a table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataFile {
    /// Its path.
    pub path: PathBuf,
    /// The partition it is in, `date=YYYY-MM-DD/hour=HH`, which sorts by time.
    pub partition: String,
    /// Its size in bytes.
    pub bytes: u64,
}

/// The committed files of `table` under the store `root`, sorted by partition then
/// name. Temporary files (hidden, `.tmp`) and anything outside the partition layout
/// are not listed. A missing table directory lists nothing.
pub fn list_files(root: &Path, table: Table) -> io::Result<Vec<DataFile>> {
    let base = root.join(table.name());
    let mut out = Vec::new();
    for date in sorted_dirs(&base, "date=")? {
        for hour in sorted_dirs(&date, "hour=")? {
            let partition = format!(
                "{}/{}",
                date.file_name().and_then(|n| n.to_str()).unwrap_or_default(),
                hour.file_name().and_then(|n| n.to_str()).unwrap_or_default()
            );
            let mut files = Vec::new();
            for entry in std::fs::read_dir(&hour)? {
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
                        partition: partition.clone(),
                        bytes: meta.len(),
                    });
                }
            }
            files.sort_by(|a, b| a.path.cmp(&b.path));
            out.extend(files);
        }
    }
    Ok(out)
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
