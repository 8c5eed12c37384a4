//! The webhook sink's on-disk spool: alerts as JSON lines in numbered segment files
//! (`00000000000000000001.jsonl`, …), appended and fsynced by the [`SpoolWriter`],
//! read in order by the [`SpoolReader`], which commits the position after each
//! delivered line to `offset.json` (written to a temporary name, fsynced, renamed)
//! and deletes the segments before it. A `lock` file keeps a second sink (or
//! instance) off the same directory.
//!
//! The alerts spooled and not yet delivered take at most the byte bound (one line
//! longer than the bound still goes in when nothing else is pending); the writer
//! waits for room ([`SpoolWriter::room`]). Segments are rotated at an eighth of the
//! bound (at most 8 MiB), so the disk holds at most about one segment more.
//! Opening cuts a line torn by a crash off the last segment: its batch was never
//! acknowledged, so its source sends it again.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

/// Segments are rotated at this size at most.
pub const MAX_SEGMENT_BYTES: u64 = 8 << 20;

/// What the spool holds that is not delivered yet.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Backlog {
    /// Alerts (lines).
    pub alerts: u64,
    /// Their bytes, newlines included.
    pub bytes: u64,
}

/// The next line to deliver: a segment and a byte offset in it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Position {
    segment: u64,
    offset: u64,
}

/// Open the spool in `dir` (created if missing) with a bound of `max_bytes`
/// undelivered bytes; the writer appends to a new segment, the reader resumes after
/// the last committed line.
pub fn open(dir: &Path, max_bytes: u64) -> anyhow::Result<(SpoolWriter, SpoolReader)> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let lock = Arc::new(lock(dir)?);
    let pos = read_offset(dir)?.unwrap_or_default();
    let mut segments = list_segments(dir)?;
    for s in segments.iter().filter(|s| **s < pos.segment) {
        remove(&segment_path(dir, *s))?;
    }
    segments.retain(|s| *s >= pos.segment);
    let mut backlog = Backlog::default();
    for (i, s) in segments.iter().enumerate() {
        let path = segment_path(dir, *s);
        let mut data = Vec::new();
        File::open(&path)
            .and_then(|mut f| f.read_to_end(&mut data))
            .with_context(|| format!("cannot read {}", path.display()))?;
        let complete = data.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        if complete < data.len() {
            if i + 1 < segments.len() {
                bail!("{}: a torn line before the last segment", path.display());
            }
            tracing::warn!(
                spool = %dir.display(),
                "dropping a line torn by a crash from {} (its batch was never acknowledged)",
                path.display()
            );
            let f = OpenOptions::new().write(true).open(&path)?;
            f.set_len(complete as u64)?;
            f.sync_all()?;
        }
        let from = if *s == pos.segment { (pos.offset as usize).min(complete) } else { 0 };
        backlog.bytes += (complete - from) as u64;
        backlog.alerts += data[from..complete].iter().filter(|b| **b == b'\n').count() as u64;
    }
    let next = segments.last().copied().unwrap_or(pos.segment) + 1;
    let (state, _) = watch::channel(backlog);
    let state = Arc::new(state);
    let segment_max = (max_bytes / 8).clamp(4096, MAX_SEGMENT_BYTES);
    let writer = SpoolWriter {
        dir: dir.to_path_buf(),
        next,
        file: None,
        size: 0,
        segment_max,
        max_bytes,
        state: state.clone(),
        _lock: lock.clone(),
    };
    let reader = SpoolReader {
        dir: dir.to_path_buf(),
        read: pos,
        committed: pos,
        file: None,
        line: None,
        state,
        _lock: lock,
    };
    Ok((writer, reader))
}

/// Appends alerts to the spool.
pub struct SpoolWriter {
    dir: PathBuf,
    /// The number of the next segment to create.
    next: u64,
    file: Option<File>,
    size: u64,
    segment_max: u64,
    max_bytes: u64,
    state: Arc<watch::Sender<Backlog>>,
    _lock: Arc<File>,
}

impl SpoolWriter {
    /// Wait until `bytes` more fit under the bound, or nothing is pending.
    pub async fn room(&self, bytes: u64) -> anyhow::Result<()> {
        let max = self.max_bytes;
        let mut rx = self.state.subscribe();
        rx.wait_for(|b| b.bytes == 0 || b.bytes + bytes <= max).await?;
        Ok(())
    }

    /// Bytes that fit under the bound now (the bound when nothing is pending).
    pub fn free(&self) -> u64 {
        let pending = self.state.borrow().bytes;
        if pending == 0 { self.max_bytes } else { self.max_bytes.saturating_sub(pending) }
    }

    /// What is spooled and not delivered.
    pub fn backlog(&self) -> watch::Receiver<Backlog> {
        self.state.subscribe()
    }

    /// Append `lines` (JSON without newlines) and fsync; only then can the reader
    /// see them. Does not wait for room: call [`room`](Self::room) first.
    pub fn append(&mut self, lines: &[Vec<u8>]) -> anyhow::Result<()> {
        let mut buf = Vec::new();
        let mut bytes = 0u64;
        for line in lines {
            debug_assert!(!line.contains(&b'\n'), "a spool line holds no newline");
            if self.file.is_none() || self.size + buf.len() as u64 >= self.segment_max {
                self.write_out(&mut buf)?;
                self.rotate()?;
            }
            buf.extend_from_slice(line);
            buf.push(b'\n');
            bytes += line.len() as u64 + 1;
        }
        self.write_out(&mut buf)?;
        self.state.send_modify(|b| {
            b.alerts += lines.len() as u64;
            b.bytes += bytes;
        });
        Ok(())
    }

    /// Write `buf` to the current segment and fsync it.
    fn write_out(&mut self, buf: &mut Vec<u8>) -> anyhow::Result<()> {
        let Some(f) = self.file.as_mut() else { return Ok(()) };
        if buf.is_empty() {
            return Ok(());
        }
        let path = segment_path(&self.dir, self.next - 1);
        f.write_all(buf)
            .and_then(|()| f.sync_data())
            .with_context(|| format!("cannot write {}", path.display()))?;
        self.size += buf.len() as u64;
        buf.clear();
        Ok(())
    }

    /// Start the next segment.
    fn rotate(&mut self) -> anyhow::Result<()> {
        let path = segment_path(&self.dir, self.next);
        let f = OpenOptions::new()
            .create_new(true)
            .append(true)
            .open(&path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        sync_dir(&self.dir)?;
        self.file = Some(f);
        self.size = 0;
        self.next += 1;
        Ok(())
    }
}

/// Reads the spool in order and commits what was delivered.
pub struct SpoolReader {
    dir: PathBuf,
    /// Where the next line is read.
    read: Position,
    /// Where the offset file says the next undelivered line is.
    committed: Position,
    file: Option<BufReader<File>>,
    /// The line read and not yet committed, with the position after it.
    line: Option<(Vec<u8>, Position)>,
    state: Arc<watch::Sender<Backlog>>,
    _lock: Arc<File>,
}

impl SpoolReader {
    /// What is spooled and not delivered.
    pub fn backlog(&self) -> watch::Receiver<Backlog> {
        self.state.subscribe()
    }

    /// The oldest line not yet committed (without its newline), or `None` when
    /// nothing is pending. The same line until [`commit`](Self::commit).
    pub fn peek(&mut self) -> anyhow::Result<Option<&[u8]>> {
        if self.line.is_none() {
            if self.state.borrow().alerts == 0 {
                return Ok(None);
            }
            self.line = Some(self.read_line()?);
        }
        Ok(self.line.as_ref().map(|(l, _)| l.as_slice()))
    }

    fn read_line(&mut self) -> anyhow::Result<(Vec<u8>, Position)> {
        loop {
            if self.file.is_none() {
                let path = segment_path(&self.dir, self.read.segment);
                match File::open(&path) {
                    Ok(mut f) => {
                        f.seek(SeekFrom::Start(self.read.offset))?;
                        self.file = Some(BufReader::new(f));
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        self.next_segment()?;
                        continue;
                    }
                    Err(e) => bail!("cannot open {}: {e}", path.display()),
                }
            }
            let f = self.file.as_mut().expect("opened above");
            let mut line = Vec::new();
            let n = f.read_until(b'\n', &mut line).with_context(|| {
                format!("cannot read {}", segment_path(&self.dir, self.read.segment).display())
            })?;
            if n == 0 {
                self.next_segment()?;
                continue;
            }
            if line.pop() != Some(b'\n') {
                bail!(
                    "{}: a line at byte {} has no end",
                    segment_path(&self.dir, self.read.segment).display(),
                    self.read.offset
                );
            }
            self.read.offset += n as u64;
            return Ok((line, self.read));
        }
    }

    /// Move to the next segment there is: the current one is read to its end.
    fn next_segment(&mut self) -> anyhow::Result<()> {
        let next = list_segments(&self.dir)?.into_iter().find(|s| *s > self.read.segment);
        let Some(next) = next else {
            bail!(
                "spool {}: {} alerts pending, but no segment after {} holds them",
                self.dir.display(),
                self.state.borrow().alerts,
                self.read.segment
            );
        };
        self.read = Position { segment: next, offset: 0 };
        self.file = None;
        Ok(())
    }

    /// The peeked line was delivered: commit the position after it and delete the
    /// segments before that position.
    pub fn commit(&mut self) -> anyhow::Result<()> {
        let Some((line, after)) = self.line.take() else { return Ok(()) };
        write_offset(&self.dir, after)?;
        if after.segment > self.committed.segment {
            for s in list_segments(&self.dir)?.into_iter().filter(|s| *s < after.segment) {
                remove(&segment_path(&self.dir, s))?;
            }
        }
        self.committed = after;
        self.state.send_modify(|b| {
            b.alerts = b.alerts.saturating_sub(1);
            b.bytes = b.bytes.saturating_sub(line.len() as u64 + 1);
        });
        Ok(())
    }
}

fn segment_path(dir: &Path, n: u64) -> PathBuf {
    dir.join(format!("{n:020}.jsonl"))
}

/// The segment numbers in `dir`, in order.
fn list_segments(dir: &Path) -> anyhow::Result<Vec<u64>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
        let name = e?.file_name();
        let name = name.to_string_lossy();
        if let Some(n) = name.strip_suffix(".jsonl").and_then(|n| n.parse::<u64>().ok()) {
            out.push(n);
        }
    }
    out.sort_unstable();
    Ok(out)
}

fn read_offset(dir: &Path) -> anyhow::Result<Option<Position>> {
    let path = dir.join("offset.json");
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .with_context(|| format!("{} is not a spool offset", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => bail!("cannot read {}: {e}", path.display()),
    }
}

/// Write the offset file atomically: a temporary file, fsynced, renamed, the
/// directory fsynced.
fn write_offset(dir: &Path, pos: Position) -> anyhow::Result<()> {
    let path = dir.join("offset.json");
    let tmp = dir.join("offset.json.tmp");
    let write = || -> std::io::Result<()> {
        let mut f = File::create(&tmp)?;
        f.write_all(&serde_json::to_vec(&pos)?)?;
        f.sync_all()?;
        std::fs::rename(&tmp, &path)?;
        sync_dir(dir).map_err(std::io::Error::other)
    };
    write().with_context(|| format!("cannot write {}", path.display()))
}

fn remove(path: &Path) -> anyhow::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            bail!("cannot delete {}: {e}", path.display())
        }
        _ => Ok(()),
    }
}

fn sync_dir(dir: &Path) -> anyhow::Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("cannot sync {}", dir.display()))
}

/// Hold an exclusive lock on the spool directory (released when the file closes).
fn lock(dir: &Path) -> anyhow::Result<File> {
    let path = dir.join("lock");
    let f = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    match f.try_lock() {
        Ok(()) => Ok(f),
        Err(std::fs::TryLockError::WouldBlock) => {
            bail!("spool {} is in use by another sink or vigil instance", dir.display())
        }
        Err(std::fs::TryLockError::Error(e)) => bail!("cannot lock {}: {e}", path.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn lines(range: std::ops::Range<u32>) -> Vec<Vec<u8>> {
        range.map(|i| format!("{{\"n\":{i}}}").into_bytes()).collect()
    }

    /// Peek and commit `n` lines, returning them.
    fn take(r: &mut SpoolReader, n: usize) -> Vec<String> {
        (0..n)
            .map(|_| {
                let l = String::from_utf8(r.peek().unwrap().expect("a line").to_vec()).unwrap();
                r.commit().unwrap();
                l
            })
            .collect()
    }

    fn segments(dir: &Path) -> Vec<u64> {
        list_segments(dir).unwrap()
    }

    #[test]
    fn lines_come_back_in_order_once_committed() {
        let dir = tempfile::tempdir().unwrap();
        let (mut w, mut r) = open(dir.path(), 1 << 20).unwrap();
        assert_eq!(r.peek().unwrap(), None);
        w.append(&lines(0..3)).unwrap();
        w.append(&lines(3..5)).unwrap();
        assert_eq!(w.backlog().borrow().alerts, 5);
        assert_eq!(r.peek().unwrap(), Some(&b"{\"n\":0}"[..]));
        assert_eq!(r.peek().unwrap(), Some(&b"{\"n\":0}"[..]), "the same until committed");
        let got = take(&mut r, 5);
        let want: Vec<String> = (0..5).map(|i| format!("{{\"n\":{i}}}")).collect();
        assert_eq!(got, want);
        assert_eq!(r.peek().unwrap(), None);
        assert_eq!(*w.backlog().borrow(), Backlog::default());
    }

    #[test]
    fn a_reopened_spool_resumes_after_the_last_commit() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (mut w, mut r) = open(dir.path(), 1 << 20).unwrap();
            w.append(&lines(0..10)).unwrap();
            take(&mut r, 4);
            // Peeked but not committed: delivered again after a restart.
            assert!(r.peek().unwrap().is_some());
        }
        let (mut w, mut r) = open(dir.path(), 1 << 20).unwrap();
        assert_eq!(w.backlog().borrow().alerts, 6);
        w.append(&lines(10..12)).unwrap();
        let got = take(&mut r, 8);
        assert_eq!(got.first().unwrap(), "{\"n\":4}");
        assert_eq!(got.last().unwrap(), "{\"n\":11}");
        assert_eq!(r.peek().unwrap(), None);
        let off = read_offset(dir.path()).unwrap().unwrap();
        assert_eq!(off.segment, *segments(dir.path()).last().unwrap());
    }

    #[test]
    fn a_second_opener_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let held = open(dir.path(), 1 << 20).unwrap();
        let e = open(dir.path(), 1 << 20).err().unwrap().to_string();
        assert!(e.contains("in use"), "{e}");
        drop(held);
        open(dir.path(), 1 << 20).unwrap();
    }

    #[test]
    fn delivered_segments_are_deleted() {
        let dir = tempfile::tempdir().unwrap();
        // 4 KiB segments: 100-byte lines, 41 to a segment.
        let (mut w, mut r) = open(dir.path(), 32 << 10).unwrap();
        w.append(&vec![vec![b'x'; 99]; 200]).unwrap();
        let before = segments(dir.path());
        assert_eq!(before.len(), 5, "{before:?}");
        take(&mut r, 100);
        let after = segments(dir.path());
        assert_eq!(after, before[2..], "the first two segments were delivered");
        take(&mut r, 100);
        assert_eq!(segments(dir.path()), before[4..], "the last stays until the writer moves on");
        drop((w, r));
        let (mut w, mut r) = open(dir.path(), 32 << 10).unwrap();
        w.append(&lines(0..1)).unwrap();
        assert_eq!(take(&mut r, 1), ["{\"n\":0}"]);
        assert_eq!(segments(dir.path()), [before[4] + 1]);
    }

    #[test]
    fn a_torn_last_line_is_cut_off() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (mut w, _r) = open(dir.path(), 1 << 20).unwrap();
            w.append(&lines(0..2)).unwrap();
        }
        let seg = segment_path(dir.path(), segments(dir.path())[0]);
        OpenOptions::new().append(true).open(&seg).unwrap().write_all(b"{\"n\":").unwrap();
        let (mut w, mut r) = open(dir.path(), 1 << 20).unwrap();
        assert_eq!(w.backlog().borrow().alerts, 2);
        w.append(&lines(2..3)).unwrap();
        assert_eq!(take(&mut r, 3), ["{\"n\":0}", "{\"n\":1}", "{\"n\":2}"]);
    }

    #[tokio::test]
    async fn a_full_spool_makes_the_writer_wait() {
        let dir = tempfile::tempdir().unwrap();
        let (mut w, mut r) = open(dir.path(), 64).unwrap();
        // Eight-byte lines (with the newline): 8 fit.
        w.room(64).await.unwrap();
        w.append(&lines(0..8)).unwrap();
        assert_eq!(w.free(), 0);
        let wait = tokio::time::timeout(Duration::from_millis(200), w.room(8)).await;
        assert!(wait.is_err(), "the writer must wait while the spool is full");
        take(&mut r, 1);
        tokio::time::timeout(Duration::from_secs(5), w.room(8)).await.unwrap().unwrap();
        assert!(tokio::time::timeout(Duration::from_millis(50), w.room(9)).await.is_err());
        // A line over the bound goes in once nothing is pending.
        take(&mut r, 7);
        w.room(1000).await.unwrap();
    }
}
