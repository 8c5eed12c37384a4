//! The size-or-deadline batcher in front of a scoring transform: small batches from
//! the sources (a quiet capture, a slow log) are joined until `max_batch` rows or
//! until the oldest has waited `max_delay`, so a model sees full batches however the
//! source batched. Larger batches pass whole (the model layer cuts its own runs).
//! Batches are joined only when they have the same kind, schema and side data;
//! another shape flushes what is held first, so the order of rows is kept. A batch
//! replayed after a crash is never joined.

use std::sync::Arc;
use std::time::Duration;

use arrow_array::RecordBatch;
use datafusion::arrow::compute::concat_batches;
use tokio::time::Instant;

use super::ack::Acks;
use super::record::Envelope;

/// Rows held for the next scoring batch.
#[derive(Debug)]
pub struct Batcher {
    max_rows: usize,
    max_delay: Duration,
    held: Vec<Envelope>,
    rows: usize,
    since: Option<Instant>,
}

impl Batcher {
    /// A batcher cutting at `max_rows` rows or `max_delay` of waiting.
    pub fn new(max_rows: usize, max_delay: Duration) -> Batcher {
        Batcher { max_rows: max_rows.max(1), max_delay, held: Vec::new(), rows: 0, since: None }
    }

    /// When the held rows are due, if any are held.
    pub fn deadline(&self) -> Option<Instant> {
        self.since.map(|t| t + self.max_delay)
    }

    /// Take `env` in; returns the batches ready to score, in order.
    pub fn push(&mut self, env: Envelope) -> anyhow::Result<Vec<Envelope>> {
        let mut ready = Vec::new();
        if self.held.first().is_some_and(|h| !same_shape(h, &env)) {
            ready.extend(self.flush()?);
        }
        // A batch read again after a crash may be stored already: it goes alone, so
        // that the store holds all of what derives from it or none (see
        // `crate::store::origin`).
        if env.acks.replayed() {
            ready.extend(self.flush()?);
            ready.push(env);
            return Ok(ready);
        }
        self.since.get_or_insert_with(Instant::now);
        self.rows += env.rows();
        self.held.push(env);
        if self.rows >= self.max_rows {
            ready.extend(self.flush()?);
        }
        Ok(ready)
    }

    /// Whatever is held, joined into one batch.
    pub fn flush(&mut self) -> anyhow::Result<Option<Envelope>> {
        self.since = None;
        self.rows = 0;
        let held = std::mem::take(&mut self.held);
        if held.len() <= 1 {
            return Ok(held.into_iter().next());
        }
        join(held).map(Some)
    }
}

/// Whether two envelopes can be joined.
fn same_shape(a: &Envelope, b: &Envelope) -> bool {
    a.kind == b.kind
        && a.batch.schema() == b.batch.schema()
        && a.tokens.is_some() == b.tokens.is_some()
        && a.features.is_some() == b.features.is_some()
}

/// One envelope of several of the same shape: rows, side data and acknowledgements.
fn join(mut held: Vec<Envelope>) -> anyhow::Result<Envelope> {
    let schema = held[0].batch.schema();
    let batches: Vec<&RecordBatch> = held.iter().map(|e| &e.batch).collect();
    let batch = concat_batches(&schema, batches)?;
    let tokens = held[0].tokens.is_some().then(|| {
        Arc::new(
            held.iter().flat_map(|e| e.tokens.iter().flat_map(|t| t.iter().cloned())).collect(),
        )
    });
    let features = held[0].features.is_some().then(|| {
        Arc::new(
            held.iter().flat_map(|e| e.features.iter().flat_map(|f| f.iter().cloned())).collect(),
        )
    });
    let mut acks = Acks::new();
    for e in &mut held {
        acks.extend(e.take_acks());
    }
    let arrived = held.iter().map(|e| e.arrived).min().unwrap_or_else(std::time::Instant::now);
    Ok(Envelope { kind: held[0].kind, batch, tokens, features, acks, arrived })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::ack::{AckTracker, BatchStatus};
    use crate::runtime::record::RecordKind;
    use arrow_array::{ArrayRef, Int32Array};
    use std::sync::atomic::AtomicBool;

    fn env(rows: i32, tracker: &mut AckTracker) -> Envelope {
        let col: ArrayRef = Arc::new(Int32Array::from_iter_values(0..rows));
        let batch = RecordBatch::try_from_iter([("x", col)]).unwrap();
        let mut e = Envelope::new(RecordKind::Metrics, batch);
        e.acks = Acks::one(tracker.issue().1);
        e
    }

    #[test]
    fn joins_small_batches_up_to_the_size() {
        let mut t = AckTracker::new(Arc::new(AtomicBool::new(false)));
        let mut b = Batcher::new(100, Duration::from_secs(60));
        assert!(b.push(env(40, &mut t)).unwrap().is_empty());
        assert!(b.deadline().is_some());
        assert!(b.push(env(40, &mut t)).unwrap().is_empty());
        let ready = b.push(env(40, &mut t)).unwrap();
        assert_eq!(ready.len(), 1);
        assert_eq!(ready[0].rows(), 120);
        assert!(b.deadline().is_none());
        // The joined batch carries all three acknowledgements.
        ready.into_iter().for_each(|e| e.resolve(BatchStatus::Delivered));
        assert_eq!(t.poll(), Some(3));
    }

    #[test]
    fn a_replayed_batch_is_never_joined() {
        use crate::store::origin::{BatchOrigin, StoredInput};
        let mut t = AckTracker::new(Arc::new(AtomicBool::new(false)));
        let mut b = Batcher::new(100, Duration::from_secs(60));
        b.push(env(10, &mut t)).unwrap();
        let mut replayed = env(0, &mut t);
        let mut shape = env(5, &mut t);
        let origin = BatchOrigin {
            key: "src:1:2".into(),
            records: 0..5,
            dead: 0..0,
            stored: Some(Arc::new(StoredInput::default())),
            stored_rows: None,
        };
        replayed.batch = shape.batch.clone();
        replayed.acks = Acks::one(t.issue_from(Some(origin)).1);
        shape.acks = Acks::new();
        let ready = b.push(replayed).unwrap();
        assert_eq!(ready.iter().map(Envelope::rows).collect::<Vec<_>>(), vec![10, 5]);
        assert!(b.deadline().is_none(), "nothing held");
        ready.into_iter().for_each(|e| e.resolve(BatchStatus::Delivered));
    }

    #[test]
    fn another_shape_flushes_first() {
        let mut t = AckTracker::new(Arc::new(AtomicBool::new(false)));
        let mut b = Batcher::new(100, Duration::from_secs(60));
        b.push(env(10, &mut t)).unwrap();
        let mut other = env(5, &mut t);
        other.kind = RecordKind::DeadLetters;
        let ready = b.push(other).unwrap();
        assert_eq!(ready.iter().map(Envelope::rows).collect::<Vec<_>>(), vec![10]);
        let rest = b.flush().unwrap().unwrap();
        assert_eq!((rest.kind, rest.rows()), (RecordKind::DeadLetters, 5));
        ready.into_iter().chain([rest]).for_each(|e| e.resolve(BatchStatus::Delivered));
        assert_eq!(t.poll(), Some(2));
    }
}
