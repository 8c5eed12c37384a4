//! Acknowledged delivery: a source learns the fate of every batch it sent.
//!
//! Each batch a source emits carries an [`Ack`]. Copies travel with the batch and
//! with everything derived from it (scored rows, alerts, dead letters); a fan-out
//! clones it, one copy per branch. Every copy must be resolved: a sink resolves its
//! copy once the rows are durable (the store: fsynced and renamed; EVE: flushed), a
//! transform resolves the copy of its input once it has handed copies to its
//! outputs. When the last copy is gone the source's [`AckTracker`] receives the
//! batch's status: the worst of its copies' ([`BatchStatus::Delivered`] <
//! [`BatchStatus::Rejected`] < [`BatchStatus::Errored`]).
//!
//! A copy dropped without being resolved counts as [`BatchStatus::Errored`]: a stage
//! that fails, panics or loses a batch can never move a checkpoint forward. (Vector's
//! finalizers take the opposite default; ours makes a forgotten path fail loudly.)

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use crate::store::origin::BatchOrigin;

/// The fate of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BatchStatus {
    /// Every sink that received it (or anything derived from it) made it durable or
    /// dead-lettered it.
    Delivered = 0,
    /// A stage refused it for good (the input cannot be processed).
    Rejected = 1,
    /// A stage failed while holding it: it may not be durable.
    Errored = 2,
}

impl BatchStatus {
    fn from_u8(v: u8) -> BatchStatus {
        match v {
            0 => BatchStatus::Delivered,
            1 => BatchStatus::Rejected,
            _ => BatchStatus::Errored,
        }
    }
}

/// Shared by every copy of one batch's acknowledgement; tells the tracker when the
/// last copy goes.
#[derive(Debug)]
struct Notifier {
    id: u64,
    /// Where the batch came from, when its source numbers its records.
    origin: Option<Arc<BatchOrigin>>,
    status: AtomicU8,
    tx: Mutex<mpsc::Sender<(u64, BatchStatus)>>,
}

impl Notifier {
    fn merge(&self, status: BatchStatus) {
        self.status.fetch_max(status as u8, Ordering::AcqRel);
    }
}

impl Drop for Notifier {
    fn drop(&mut self) {
        let status = BatchStatus::from_u8(self.status.load(Ordering::Acquire));
        let tx = self.tx.lock().unwrap_or_else(|e| e.into_inner());
        // The tracker may be gone (its source ended after a failure): nothing to tell.
        let _ = tx.send((self.id, status));
    }
}

/// One copy of a batch's acknowledgement. Clone it for each branch a batch (or
/// what is derived from it) takes; resolve each copy once.
#[derive(Debug)]
pub struct Ack {
    notifier: Option<Arc<Notifier>>,
}

impl Clone for Ack {
    fn clone(&self) -> Ack {
        Ack { notifier: self.notifier.clone() }
    }
}

impl Ack {
    /// Resolve this copy.
    pub fn resolve(mut self, status: BatchStatus) {
        if let Some(n) = self.notifier.take() {
            n.merge(status);
        }
    }
}

impl Drop for Ack {
    fn drop(&mut self) {
        if let Some(n) = self.notifier.take() {
            tracing::debug!(batch = n.id, "acknowledgement dropped unresolved: errored");
            n.merge(BatchStatus::Errored);
        }
    }
}

/// The acknowledgements an envelope carries: one per source batch it derives from.
#[derive(Debug, Clone, Default)]
pub struct Acks(Vec<Ack>);

impl Acks {
    /// No acknowledgements.
    pub fn new() -> Acks {
        Acks(Vec::new())
    }

    /// One batch's acknowledgement.
    pub fn one(ack: Ack) -> Acks {
        Acks(vec![ack])
    }

    /// Add the copies of `other` (a batch derived from several inputs).
    pub fn extend(&mut self, other: Acks) {
        self.0.extend(other.0);
    }

    /// Resolve every copy.
    pub fn resolve(self, status: BatchStatus) {
        self.0.into_iter().for_each(|a| a.resolve(status));
    }

    /// The origins of the source batches, one per acknowledgement; a batch of unknown
    /// origin counts as one the store holds nothing of.
    pub fn origins(&self) -> Vec<Arc<BatchOrigin>> {
        self.0
            .iter()
            .map(|a| {
                a.notifier
                    .as_ref()
                    .and_then(|n| n.origin.clone())
                    .unwrap_or_else(|| Arc::new(BatchOrigin::rows(None)))
            })
            .collect()
    }

    /// Whether any of the source batches is being read again after a crash.
    pub fn replayed(&self) -> bool {
        self.0.iter().any(|a| {
            a.notifier.as_ref().and_then(|n| n.origin.as_ref()).is_some_and(|o| o.replayed())
        })
    }
}

/// A source's view of its batches' fates, in the order they were sent.
///
/// [`AckTracker::issue`] hands out numbered acknowledgements; [`AckTracker::poll`]
/// returns how far the contiguous run of delivered batches reaches. An errored or
/// rejected batch stops that run for good, so a checkpoint never moves past it.
#[derive(Debug)]
pub struct AckTracker {
    tx: mpsc::Sender<(u64, BatchStatus)>,
    rx: mpsc::Receiver<(u64, BatchStatus)>,
    next_id: u64,
    /// Batches sent and not yet known delivered (with their status once resolved).
    open: BTreeMap<u64, Option<BatchStatus>>,
    /// Raised when a batch failed, here or (shared) anywhere in the run.
    failed: Arc<AtomicBool>,
    delivered: u64,
}

impl AckTracker {
    /// A tracker; `failed` is raised by the runner when any stage fails, which also
    /// freezes this tracker's progress.
    pub fn new(failed: Arc<AtomicBool>) -> AckTracker {
        let (tx, rx) = mpsc::channel();
        AckTracker { tx, rx, next_id: 1, open: BTreeMap::new(), failed, delivered: 0 }
    }

    /// The acknowledgement for the next batch, and its number (from 1, increasing).
    pub fn issue(&mut self) -> (u64, Ack) {
        self.issue_from(None)
    }

    /// Like [`issue`](Self::issue), for a batch of known `origin`.
    pub fn issue_from(&mut self, origin: Option<BatchOrigin>) -> (u64, Ack) {
        let id = self.next_id;
        self.next_id += 1;
        self.open.insert(id, None);
        let notifier = Notifier {
            id,
            origin: origin.map(Arc::new),
            status: AtomicU8::new(BatchStatus::Delivered as u8),
            tx: Mutex::new(self.tx.clone()),
        };
        (id, Ack { notifier: Some(Arc::new(notifier)) })
    }

    /// Take in the fates that arrived; returns the highest batch number up to which
    /// every batch is delivered, when that moved forward.
    pub fn poll(&mut self) -> Option<u64> {
        while let Ok((id, status)) = self.rx.try_recv() {
            self.record(id, status);
        }
        self.advance()
    }

    /// Wait up to `timeout` for every batch sent to be resolved; returns the highest
    /// contiguous delivered batch number reached when it moved forward.
    pub fn wait_all(&mut self, timeout: Duration) -> Option<u64> {
        let deadline = std::time::Instant::now() + timeout;
        let mut moved = None;
        while self.open.values().any(Option::is_none) {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.rx.recv_timeout(left.max(Duration::from_millis(1))) {
                Ok((id, status)) => self.record(id, status),
                Err(_) if std::time::Instant::now() >= deadline => break,
                Err(mpsc::RecvTimeoutError::Timeout) => continue,
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
            if let Some(m) = self.advance() {
                moved = Some(m);
            }
        }
        self.advance().or(moved)
    }

    fn record(&mut self, id: u64, status: BatchStatus) {
        if status != BatchStatus::Delivered {
            tracing::warn!(batch = id, ?status, "a batch was not delivered");
            self.failed.store(true, Ordering::Relaxed);
        }
        if let Some(slot) = self.open.get_mut(&id) {
            *slot = Some(status);
        }
    }

    fn advance(&mut self) -> Option<u64> {
        if self.failed.load(Ordering::Relaxed) {
            return None;
        }
        let mut reached = None;
        while let Some((&id, &Some(BatchStatus::Delivered))) = self.open.first_key_value() {
            self.open.remove(&id);
            self.delivered = id;
            reached = Some(id);
        }
        reached
    }

    /// Batches sent whose fate is not known yet.
    pub fn outstanding(&self) -> usize {
        self.open.values().filter(|s| s.is_none()).count()
    }

    /// Whether a batch of this run failed (errored or rejected), here or elsewhere.
    pub fn failed(&self) -> bool {
        self.failed.load(Ordering::Relaxed)
    }

    /// The highest batch number up to which every batch was delivered (0: none yet).
    pub fn delivered_through(&self) -> u64 {
        self.delivered
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tracker() -> AckTracker {
        AckTracker::new(Arc::new(AtomicBool::new(false)))
    }

    #[test]
    fn resolves_when_every_branch_has() {
        let mut t = tracker();
        let (id, ack) = t.issue();
        let branch = ack.clone();
        ack.resolve(BatchStatus::Delivered);
        assert_eq!(t.poll(), None, "one branch still holds it");
        branch.resolve(BatchStatus::Delivered);
        assert_eq!(t.poll(), Some(id));
        assert_eq!(t.outstanding(), 0);
    }

    #[test]
    fn progress_is_contiguous_and_in_order() {
        let mut t = tracker();
        let (_, a1) = t.issue();
        let (_, a2) = t.issue();
        let (_, a3) = t.issue();
        a2.resolve(BatchStatus::Delivered);
        a3.resolve(BatchStatus::Delivered);
        assert_eq!(t.poll(), None, "batch 1 is still in flight");
        a1.resolve(BatchStatus::Delivered);
        assert_eq!(t.poll(), Some(3));
        assert_eq!(t.delivered_through(), 3);
    }

    #[test]
    fn the_worst_branch_wins_and_freezes_progress() {
        let mut t = tracker();
        let (_, a1) = t.issue();
        let (_, a2) = t.issue();
        let other = a1.clone();
        a1.resolve(BatchStatus::Delivered);
        other.resolve(BatchStatus::Rejected);
        a2.resolve(BatchStatus::Delivered);
        assert_eq!(t.poll(), None);
        assert!(t.failed());
        assert_eq!(t.delivered_through(), 0);
    }

    #[test]
    fn a_dropped_copy_is_an_error() {
        let mut t = tracker();
        let (_, a1) = t.issue();
        drop(a1);
        assert_eq!(t.poll(), None);
        assert!(t.failed());
    }

    #[test]
    fn a_copy_dropped_in_a_panic_is_an_error() {
        let mut t = tracker();
        let (_, a1) = t.issue();
        let r = std::thread::spawn(move || {
            let _held = a1;
            panic!("stage failed");
        })
        .join();
        assert!(r.is_err());
        assert_eq!(t.poll(), None);
        assert!(t.failed());
    }

    #[test]
    fn wait_all_returns_once_resolved_elsewhere() {
        let mut t = tracker();
        let (id, ack) = t.issue();
        let h = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            ack.resolve(BatchStatus::Delivered);
        });
        assert_eq!(t.wait_all(Duration::from_secs(5)), Some(id));
        h.join().unwrap();
    }
}
