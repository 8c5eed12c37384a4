//! Source checkpoints: where a source resumes after a restart.
//!
//! A source attaches to every batch it sends the state it would resume from once
//! that batch, and every batch before it, is delivered (see [`super::ack`]). The
//! [`Checkpointer`] keeps those states until the batches' fates are known and writes
//! the newest fully acknowledged one to
//! `<store>/_checkpoints/<sensor>/<source>.json` (temporary file, fsync, rename,
//! directory fsync). An errored or rejected batch never moves it forward.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize, de::DeserializeOwned};

use super::ack::{Ack, AckTracker};
use crate::store::origin::BatchOrigin;

/// How often, at most, a checkpoint file is rewritten while a source runs (the last
/// one is always written when the source ends). Zero: on every advance, which keeps
/// the rows committed beyond the checkpoint (re-sent after a crash) to the batches in
/// flight.
pub const CHECKPOINT_EVERY: Duration = Duration::ZERO;

/// Where the checkpoint of source `source` of `sensor` lives.
pub fn checkpoint_path(store: &Path, sensor: &str, source: &str) -> PathBuf {
    store.join("_checkpoints").join(sensor).join(format!("{source}.json"))
}

/// Identity of an input file: a checkpoint applies only to the same file, grown or
/// not, never to another file at the same path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileIdentity {
    /// The path as configured.
    pub path: String,
    /// Device and inode numbers (0 where the platform has none).
    pub dev: u64,
    /// Inode number.
    pub ino: u64,
    /// Size in bytes when read.
    pub size: u64,
}

impl FileIdentity {
    /// The identity of the file at `path` now.
    pub fn of(path: &Path) -> std::io::Result<FileIdentity> {
        let m = std::fs::metadata(path)?;
        #[cfg(unix)]
        let (dev, ino) = {
            use std::os::unix::fs::MetadataExt;
            (m.dev(), m.ino())
        };
        #[cfg(not(unix))]
        let (dev, ino) = (0, 0);
        Ok(FileIdentity { path: path.display().to_string(), dev, ino, size: m.len() })
    }

    /// Whether `now` is this file, possibly grown since.
    pub fn same_file(&self, now: &FileIdentity) -> bool {
        self.dev == now.dev && self.ino == now.ino && now.size >= self.size
    }
}

/// Read a checkpoint; a missing file is `None`, an unreadable one is an error.
pub fn load<T: DeserializeOwned>(path: &Path) -> anyhow::Result<Option<T>> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| anyhow::anyhow!("checkpoint {}: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(anyhow::anyhow!("checkpoint {}: {e}", path.display())),
    }
}

/// Write `bytes` to `path` atomically and durably.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().expect("a checkpoint path has a parent");
    std::fs::create_dir_all(dir)?;
    let name = path.file_name().expect("a file name").to_string_lossy();
    let tmp = dir.join(format!(".{name}.tmp"));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        std::fs::File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// A source's acknowledgements and the states they unlock.
#[derive(Debug)]
pub struct Checkpointer {
    tracker: AckTracker,
    /// Where to write (`None`: the source is not resumable, e.g. stdin).
    path: Option<PathBuf>,
    /// Hand acknowledged states back to the source instead of writing them (a Kafka
    /// source stores them as offsets).
    hand_back: bool,
    /// The resume state after each batch still in flight.
    states: BTreeMap<u64, serde_json::Value>,
    /// The newest acknowledged state not yet written.
    unwritten: Option<serde_json::Value>,
    last_write: Option<Instant>,
}

impl Checkpointer {
    /// A checkpointer writing to `path` (or to nothing).
    pub fn new(tracker: AckTracker, path: Option<PathBuf>) -> Checkpointer {
        Checkpointer {
            tracker,
            path,
            hand_back: false,
            states: BTreeMap::new(),
            unwritten: None,
            last_write: None,
        }
    }

    /// Where this source's checkpoint lives, if it has one.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The acknowledgement of the next batch; once it and every earlier batch are
    /// delivered, `state` is what the source resumes from.
    pub fn issue(&mut self, state: Option<serde_json::Value>) -> Ack {
        self.issue_from(state, None)
    }

    /// Like [`issue`](Self::issue), for a batch of known `origin`.
    pub fn issue_from(
        &mut self,
        state: Option<serde_json::Value>,
        origin: Option<BatchOrigin>,
    ) -> Ack {
        let (id, ack) = self.tracker.issue_from(origin);
        if let Some(state) = state.filter(|_| self.path.is_some() || self.hand_back) {
            self.states.insert(id, state);
        }
        ack
    }

    /// Write `state` now: a source starting an input from its beginning marks the
    /// start, so that what a crash leaves committed before the first acknowledged
    /// batch is found on the re-run (it looks at files written since the checkpoint).
    pub fn start(&mut self, state: serde_json::Value) -> std::io::Result<()> {
        self.unwritten = Some(state);
        self.write()
    }

    /// Write no file: acknowledged states go back to the source through
    /// [`take_delivered`](Self::take_delivered).
    pub fn hand_back(&mut self) {
        self.path = None;
        self.hand_back = true;
    }

    /// The newest state whose batch and every earlier one are delivered, once.
    pub fn take_delivered(&mut self) -> Option<serde_json::Value> {
        if let Some(through) = self.tracker.poll() {
            self.advance(through);
        }
        self.unwritten.take()
    }

    /// Wait (at most `timeout`) for every batch's fate; the newest delivered state.
    pub fn wait_delivered(&mut self, timeout: Duration) -> Option<serde_json::Value> {
        if let Some(through) = self.tracker.wait_all(timeout) {
            self.advance(through);
        }
        self.unwritten.take()
    }

    /// Keep no checkpoint from now on (the input is not resumable).
    pub fn disable(&mut self) {
        self.path = None;
        self.states.clear();
        self.unwritten = None;
    }

    /// Take in the fates that arrived and write the checkpoint when due.
    pub fn poll(&mut self) -> std::io::Result<()> {
        if let Some(through) = self.tracker.poll() {
            self.advance(through);
        }
        let due = self.last_write.is_none_or(|t| t.elapsed() >= CHECKPOINT_EVERY);
        match if due { self.write() } else { Ok(()) } {
            // The state stays unwritten and is written at the next poll with space.
            Err(e) if crate::store::room::is_disk_full(&e) => {
                tracing::warn!("checkpoint not written, disk full: {e}");
                Ok(())
            }
            other => other,
        }
    }

    /// Wait for every batch's fate (at most `timeout`) and write the final checkpoint.
    /// Returns whether every batch was delivered.
    pub fn finish(&mut self, timeout: Duration) -> std::io::Result<bool> {
        if let Some(through) = self.tracker.wait_all(timeout) {
            self.advance(through);
        }
        self.write()?;
        Ok(!self.tracker.failed() && self.tracker.outstanding() == 0)
    }

    fn advance(&mut self, through: u64) {
        let later = self.states.split_off(&(through + 1));
        if let Some((_, state)) = std::mem::replace(&mut self.states, later).pop_last() {
            self.unwritten = Some(state);
        }
    }

    fn write(&mut self) -> std::io::Result<()> {
        let (Some(path), Some(state)) = (&self.path, self.unwritten.take()) else {
            return Ok(());
        };
        let bytes = serde_json::to_vec_pretty(&state).map_err(std::io::Error::other)?;
        if let Err(e) = write_atomic(path, &bytes) {
            // Kept for the next write, unless a newer state came meanwhile.
            self.unwritten.get_or_insert(state);
            return Err(e);
        }
        self.last_write = Some(Instant::now());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::ack::BatchStatus;
    use std::sync::Arc;
    use std::sync::atomic::AtomicBool;

    fn checkpointer(path: &Path) -> Checkpointer {
        let tracker = AckTracker::new(Arc::new(AtomicBool::new(false)));
        Checkpointer::new(tracker, Some(path.to_path_buf()))
    }

    #[test]
    fn writes_the_newest_fully_acknowledged_state() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c/src.json");
        let mut c = checkpointer(&path);
        let a1 = c.issue(Some(serde_json::json!({"records": 10})));
        let a2 = c.issue(Some(serde_json::json!({"records": 20})));
        let a3 = c.issue(Some(serde_json::json!({"records": 30})));
        a2.resolve(BatchStatus::Delivered);
        c.poll().unwrap();
        assert!(!path.exists(), "batch 1 is still in flight");
        a1.resolve(BatchStatus::Delivered);
        c.poll().unwrap();
        let v: serde_json::Value = load(&path).unwrap().unwrap();
        assert_eq!(v["records"], 20);
        a3.resolve(BatchStatus::Delivered);
        assert!(c.finish(Duration::from_secs(1)).unwrap());
        let v: serde_json::Value = load(&path).unwrap().unwrap();
        assert_eq!(v["records"], 30);
        let leftovers: Vec<_> = std::fs::read_dir(path.parent().unwrap()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temporary file left");
    }

    #[test]
    fn an_errored_batch_never_moves_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("src.json");
        let mut c = checkpointer(&path);
        let a1 = c.issue(Some(serde_json::json!({"records": 10})));
        let a2 = c.issue(Some(serde_json::json!({"records": 20})));
        a1.resolve(BatchStatus::Delivered);
        c.poll().unwrap();
        a2.resolve(BatchStatus::Errored);
        assert!(!c.finish(Duration::from_secs(1)).unwrap());
        let v: serde_json::Value = load(&path).unwrap().unwrap();
        assert_eq!(v["records"], 10);
    }

    #[test]
    fn file_identity_follows_the_file_not_the_name() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.log");
        std::fs::write(&p, b"one\n").unwrap();
        let first = FileIdentity::of(&p).unwrap();
        std::fs::OpenOptions::new().append(true).open(&p).unwrap().write_all(b"two\n").unwrap();
        let grown = FileIdentity::of(&p).unwrap();
        assert!(first.same_file(&grown), "grown, same file");
        std::fs::remove_file(&p).unwrap();
        std::fs::write(&p, b"x\n").unwrap();
        assert!(!grown.same_file(&FileIdentity::of(&p).unwrap()), "replaced by a shorter file");
    }
}
