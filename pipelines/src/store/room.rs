//! A full disk: recognising the error a write met, and making room by removing the
//! oldest files of the tables whose retention allows it (`make_room = true`), until
//! [`HEADROOM`] is free: enough for the write that failed to be tried again, and for
//! the checkpoints and counters written beside the store.

use std::io;
use std::path::Path;

use super::{DataFile, Table, list_files};

/// Whether `e`, or an error it was made from, is "no space left on device" or "disk
/// quota exceeded".
pub fn is_disk_full(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(e);
    while let Some(e) = next {
        if let Some(io) = e.downcast_ref::<io::Error>()
            && (matches!(io.kind(), io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded)
                || matches!(io.raw_os_error(), Some(libc::ENOSPC | libc::EDQUOT)))
        {
            return true;
        }
        // Parquet and Arrow keep the I/O error as text only.
        let text = e.to_string();
        if text.contains("No space left on device") || text.contains("Disk quota exceeded") {
            return true;
        }
        next = e.source();
    }
    false
}

/// The free space making room aims for.
pub const HEADROOM: u64 = 8 << 20;

/// Bytes an unprivileged process may still write on the filesystem holding `path`.
pub fn free_bytes(path: &Path) -> io::Result<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).map_err(io::Error::other)?;
    // SAFETY: an all-zero `statvfs` is a valid value of this plain C struct.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a NUL-terminated path and `st` a valid, writable `statvfs`; the
    // return code is checked.
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // The field types vary by platform; widen whatever they are.
    #[allow(clippy::useless_conversion)]
    let (blocks, size) = (u64::from(st.f_bavail), u64::from(st.f_frsize));
    Ok(blocks * size)
}

/// Remove the oldest files of `tables` until [`HEADROOM`] is free on `root`'s
/// filesystem or they hold none; the files removed, with their tables.
pub fn make_room(root: &Path, tables: &[Table]) -> io::Result<Vec<(Table, DataFile)>> {
    let mut removed = Vec::new();
    while free_bytes(root)? < HEADROOM {
        match remove_oldest(root, tables)? {
            Some(r) => removed.push(r),
            None => break,
        }
    }
    Ok(removed)
}

/// Remove the oldest committed file among `tables` (by partition, then name); the file
/// removed, or `None` when they hold none.
pub fn remove_oldest(root: &Path, tables: &[Table]) -> io::Result<Option<(Table, DataFile)>> {
    let mut oldest: Option<(Table, DataFile)> = None;
    for &table in tables {
        if let Some(f) = list_files(root, table)?.into_iter().next()
            && oldest
                .as_ref()
                .is_none_or(|(_, o)| (&f.partition, &f.path) < (&o.partition, &o.path))
        {
            oldest = Some((table, f));
        }
    }
    if let Some((_, f)) = &oldest {
        std::fs::remove_file(&f.path)?;
    }
    Ok(oldest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disk_full_is_recognised_through_wrappers() {
        let enospc = io::Error::from_raw_os_error(libc::ENOSPC);
        assert!(is_disk_full(&enospc));
        let wrapped = io::Error::other(format!("parquet: External: {enospc}"));
        assert!(is_disk_full(&wrapped));
        let chained = anyhow::Error::new(enospc).context("cannot write flows");
        assert!(is_disk_full(chained.as_ref()));
        assert!(!is_disk_full(&io::Error::from_raw_os_error(libc::EACCES)));
    }
}
