//! Noticing that rules files changed: their size and modification time, looked at
//! no more often than every second.

use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

/// How often the files are looked at, at most.
pub const CHECK_EVERY: Duration = Duration::from_secs(1);

type Stamp = Option<(SystemTime, u64)>;

fn stamp(p: &PathBuf) -> Stamp {
    let m = std::fs::metadata(p).ok()?;
    Some((m.modified().ok()?, m.len()))
}

/// Watches files for changes.
#[derive(Debug)]
pub struct FileWatch {
    files: Vec<(PathBuf, Stamp)>,
    checked: Instant,
    every: Duration,
}

impl FileWatch {
    /// Watch `files` as they are now, looking at most every `every`.
    pub fn new(files: Vec<PathBuf>, every: Duration) -> FileWatch {
        let files = files.into_iter().map(|p| {
            let s = stamp(&p);
            (p, s)
        });
        FileWatch { files: files.collect(), checked: Instant::now(), every }
    }

    /// Whether any file changed (or appeared, or went) since the last time this said so.
    pub fn changed(&mut self) -> bool {
        if self.files.is_empty() || self.checked.elapsed() < self.every {
            return false;
        }
        self.checked = Instant::now();
        let mut changed = false;
        for (p, s) in &mut self.files {
            let now = stamp(p);
            if now != *s {
                *s = now;
                changed = true;
            }
        }
        changed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_are_noticed_once() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("rules.toml");
        std::fs::write(&f, "a").unwrap();
        let mut w = FileWatch::new(vec![f.clone()], Duration::ZERO);
        assert!(!w.changed());
        std::fs::write(&f, "ab").unwrap();
        assert!(w.changed());
        assert!(!w.changed());
        std::fs::remove_file(&f).unwrap();
        assert!(w.changed());
    }
}
