//! [`ActionSequencer`]: per-entity action histories in bounded LRU state, and
//! the [`SequenceSnapshot`] a model scores.

use std::collections::{BTreeMap, HashMap, VecDeque};

use vigil_ingest::actions::ActionEvent;

use super::bucket::time_bucket;
use super::config::ActionSequenceConfig;
use super::vocab::{ActionVocab, PAD_ID};
use crate::TokenizerError;

/// One entity's sequence at one scored position: the last `length` events
/// with `ts ≤` the snapshot's `ts`, oldest first, left-padded to `max_len`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SequenceSnapshot {
    /// The entity.
    pub entity: String,
    /// The scored position's time (the pushed event's), µs since the epoch.
    pub ts: i64,
    /// Action ids; the first `max_len - length` are [`PAD_ID`].
    pub action_ids: Vec<u32>,
    /// Object ids, aligned with `action_ids`.
    pub object_ids: Vec<u32>,
    /// `time_bucket(ts - event.ts)` per event; 0 in the padding.
    pub time_buckets: Vec<u32>,
    /// The number of real events (the rest is padding).
    pub length: u32,
}

/// Counters of an [`ActionSequencer`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ActionSequencerStats {
    /// Events pushed.
    pub events: u64,
    /// Events older than their entity's newest event (inserted in time order).
    pub late_events: u64,
    /// Entities evicted to stay within `max_entities`.
    pub evictions: u64,
}

#[derive(Debug, Clone, Copy)]
struct Item {
    ts: i64,
    action: u32,
    object: u32,
}

#[derive(Debug)]
struct History {
    items: VecDeque<Item>,
    last_used: u64,
}

/// Builds HSTU input sequences from a stream of action events.
///
/// Each entity keeps its last `max_len` events in time order. [`push`](Self::push)
/// adds an event and returns the sequence ending with it (the model scores the
/// last position). An event older than the entity's newest is inserted at its
/// place in time and its snapshot holds only events at or before it, so a
/// snapshot never contains a later event; its older history may be shorter
/// since only `max_len` events are kept. Events with equal `ts` keep push order.
#[derive(Debug)]
pub struct ActionSequencer {
    cfg: ActionSequenceConfig,
    vocab: ActionVocab,
    entities: HashMap<String, History>,
    lru: BTreeMap<u64, String>,
    tick: u64,
    stats: ActionSequencerStats,
}

impl ActionSequencer {
    /// A sequencer, after [`ActionSequenceConfig::validate`].
    pub fn new(cfg: ActionSequenceConfig, vocab: ActionVocab) -> Result<Self, TokenizerError> {
        cfg.validate()?;
        Ok(ActionSequencer {
            cfg,
            vocab,
            entities: HashMap::new(),
            lru: BTreeMap::new(),
            tick: 0,
            stats: ActionSequencerStats::default(),
        })
    }

    /// Adds `event` and returns its entity's sequence ending with it.
    pub fn push(&mut self, event: &ActionEvent) -> SequenceSnapshot {
        self.stats.events += 1;
        self.tick += 1;
        let tick = self.tick;
        let item = Item {
            ts: event.ts,
            action: self.vocab.actions.id(&event.action),
            object: self.vocab.objects.id(&event.object),
        };
        let history = match self.entities.get_mut(event.entity.as_str()) {
            Some(h) => {
                self.lru.remove(&h.last_used);
                h.last_used = tick;
                h
            }
            None => {
                if self.entities.len() >= self.cfg.max_entities
                    && let Some((_, old)) = self.lru.pop_first()
                {
                    self.entities.remove(&old);
                    self.stats.evictions += 1;
                }
                let h = History {
                    items: VecDeque::with_capacity(self.cfg.max_len.min(16)),
                    last_used: tick,
                };
                self.entities.entry(event.entity.clone()).or_insert(h)
            }
        };
        self.lru.insert(tick, event.entity.clone());
        let at = history.items.partition_point(|x| x.ts <= event.ts);
        if at < history.items.len() {
            self.stats.late_events += 1;
        }
        history.items.insert(at, item);
        let snap = build(&self.cfg, &event.entity, event.ts, history.items.range(..=at));
        while history.items.len() > self.cfg.max_len {
            history.items.pop_front();
        }
        snap
    }

    /// The entity's sequence of events at or before `at_ts`, time buckets
    /// relative to `at_ts`, on demand (no state change); `None` when the
    /// entity has no such event in state.
    pub fn snapshot(&self, entity: &str, at_ts: i64) -> Option<SequenceSnapshot> {
        let h = self.entities.get(entity)?;
        let end = h.items.partition_point(|x| x.ts <= at_ts);
        (end > 0).then(|| build(&self.cfg, entity, at_ts, h.items.range(..end)))
    }

    /// The counters.
    pub fn stats(&self) -> ActionSequencerStats {
        self.stats
    }

    /// Entities in state now.
    pub fn entities(&self) -> usize {
        self.entities.len()
    }

    /// The vocabulary in use.
    pub fn vocab(&self) -> &ActionVocab {
        &self.vocab
    }

    /// The configuration.
    pub fn config(&self) -> &ActionSequenceConfig {
        &self.cfg
    }
}

fn build<'a>(
    cfg: &ActionSequenceConfig,
    entity: &str,
    at_ts: i64,
    items: impl DoubleEndedIterator<Item = &'a Item> + ExactSizeIterator,
) -> SequenceSnapshot {
    let n = items.len().min(cfg.max_len);
    let pad = cfg.max_len - n;
    let mut action_ids = vec![PAD_ID; cfg.max_len];
    let mut object_ids = vec![PAD_ID; cfg.max_len];
    let mut time_buckets = vec![0; cfg.max_len];
    for (i, it) in items.rev().take(n).enumerate() {
        let at = cfg.max_len - 1 - i;
        action_ids[at] = it.action;
        object_ids[at] = it.object;
        time_buckets[at] = time_bucket(at_ts.saturating_sub(it.ts), cfg.num_buckets);
    }
    debug_assert!(pad + n == cfg.max_len);
    SequenceSnapshot {
        entity: entity.to_owned(),
        ts: at_ts,
        action_ids,
        object_ids,
        time_buckets,
        length: n as u32,
    }
}

/// Batch convenience: one snapshot per event, in order, as [`ActionSequencer::push`] gives them.
pub fn sequences(
    events: &[ActionEvent],
    vocab: ActionVocab,
    cfg: ActionSequenceConfig,
) -> Result<Vec<SequenceSnapshot>, TokenizerError> {
    let mut s = ActionSequencer::new(cfg, vocab)?;
    Ok(events.iter().map(|e| s.push(e)).collect())
}
