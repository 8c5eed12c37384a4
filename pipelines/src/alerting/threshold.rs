//! Thresholding as Suricata does it (`threshold: type limit|threshold|both, track …,
//! count N, seconds T`), in event time so that a replay alerts as the live run did.
//!
//! Each (rule, tracked key) has a bucket that starts at its first match and lasts
//! `seconds`. `limit` raises the first `count` matches of a bucket; `threshold` every
//! `count`-th; `both` the `count`-th only. Matches not raised are counted: the count is
//! carried by the next alert raised in the same period (its `suppressed` field), and
//! when the period closes with matches still held back they are handed out as a
//! [`Closed`] period, which the alerts stage writes as a summary alert.
//!
//! The state is bounded: a bucket is closed once the newest event time seen is past its
//! period, and past a cap on the number of buckets ([`DEFAULT_MAX_KEYS`]) the oldest are
//! closed early, counted by [`Thresholds::evicted`]. Nothing held back is forgotten.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

/// Buckets kept at most, unless configured otherwise.
pub const DEFAULT_MAX_KEYS: usize = 100_000;

/// How matches become alerts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ThresholdType {
    /// At most `count` alerts per period.
    Limit,
    /// An alert at every `count`-th match in a period.
    Threshold,
    /// One alert per period, at the `count`-th match.
    Both,
}

/// What the bucket is per.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Track {
    /// The source address (else the entity).
    BySrc,
    /// The destination address (else the entity).
    ByDst,
    /// Source and destination addresses.
    ByBoth,
    /// The rule alone.
    ByRule,
    /// The entity or series (else the source address).
    ByEntity,
}

/// A rule's thresholding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Threshold {
    /// `limit`, `threshold` or `both`.
    #[serde(rename = "type")]
    pub kind: ThresholdType,
    /// What a bucket is per.
    pub track: Track,
    /// Matches (see the type).
    pub count: u64,
    /// The period, in seconds of event time.
    pub seconds: u64,
}

impl Threshold {
    /// One alert per key and period.
    pub fn limit_one(track: Track, seconds: u64) -> Threshold {
        Threshold { kind: ThresholdType::Limit, track, count: 1, seconds }
    }

    /// Why it cannot be used, if so.
    pub fn problem(&self) -> Option<String> {
        (self.count == 0).then(|| "threshold.count must be at least 1".to_string())
    }

    /// The tracked key of an alert from its source, destination and entity.
    pub fn key(&self, src: Option<&str>, dst: Option<&str>, entity: Option<&str>) -> String {
        let pick = |a: Option<&str>, b: Option<&str>| a.or(b).unwrap_or_default().to_string();
        match self.track {
            Track::BySrc => pick(src, entity),
            Track::ByDst => pick(dst, entity),
            Track::ByBoth => format!("{}|{}", src.unwrap_or_default(), dst.unwrap_or_default()),
            Track::ByRule => String::new(),
            Track::ByEntity => pick(entity, src),
        }
    }
}

#[derive(Debug)]
struct Bucket<T> {
    start: i64,
    matches: u64,
    /// Matches not raised since the last alert of this key.
    held: u64,
    /// The latest of them.
    last_held: Option<T>,
}

/// A period that closed with matches held back and not handed to a later alert.
#[derive(Debug, PartialEq)]
pub struct Closed<T> {
    /// The rule.
    pub sid: u32,
    /// Matches held back.
    pub held: u64,
    /// The period's start and end, µs of event time.
    pub period: (i64, i64),
    /// The latest match held back.
    pub last: T,
}

/// The thresholding state of an alerts stage; `T` is what a match carries (an alert),
/// kept for the latest match held back so that a closing period can be summarised.
#[derive(Debug)]
pub struct Thresholds<T> {
    buckets: HashMap<(u32, String), (Bucket<T>, i64)>,
    max_keys: usize,
    /// The shortest period of any bucket so far, µs.
    shortest: i64,
    watermark: i64,
    pruned_at: i64,
    evicted: u64,
    closed: Vec<Closed<T>>,
    /// Matches not raised so far.
    pub suppressed: u64,
}

impl<T> Default for Thresholds<T> {
    fn default() -> Self {
        Thresholds::new(DEFAULT_MAX_KEYS)
    }
}

impl<T> Thresholds<T> {
    /// Empty state keeping at most `max_keys` (at least 1) buckets.
    pub fn new(max_keys: usize) -> Thresholds<T> {
        Thresholds {
            buckets: HashMap::new(),
            max_keys: max_keys.max(1),
            shortest: i64::MAX,
            watermark: i64::MIN,
            pruned_at: i64::MIN,
            evicted: 0,
            closed: Vec::new(),
            suppressed: 0,
        }
    }

    /// Buckets evicted at the cap so far.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    /// Buckets held now.
    pub fn tracked_keys(&self) -> usize {
        self.buckets.len()
    }

    /// Forget the buckets of rules other than `keep` (after a reload); their held
    /// matches are summarised.
    pub fn retain_rules(&mut self, keep: &std::collections::HashSet<u32>) {
        let gone: Vec<(u32, String)> =
            self.buckets.keys().filter(|(sid, _)| !keep.contains(sid)).cloned().collect();
        for k in gone {
            self.close(k);
        }
    }

    /// A match `item` of rule `sid` for `key` at `ts` (µs): `Some((item, suppressed))`
    /// when it is raised (with the matches of the same period held back before it),
    /// `None` when it is held back.
    pub fn admit(
        &mut self,
        sid: u32,
        t: &Threshold,
        key: String,
        ts: i64,
        item: T,
    ) -> Option<(T, u64)> {
        self.watermark = self.watermark.max(ts);
        let period = (t.seconds as i64).saturating_mul(1_000_000);
        self.shortest = self.shortest.min(period);
        let fresh = || Bucket { start: ts, matches: 0, held: 0, last_held: None };
        let entry = self.buckets.entry((sid, key)).or_insert_with(|| (fresh(), period));
        entry.1 = period;
        let bucket = &mut entry.0;
        if ts >= bucket.start.saturating_add(period) {
            let old = std::mem::replace(bucket, fresh());
            if let Some(c) = closed(sid, old, period) {
                self.closed.push(c);
            }
        }
        let bucket = &mut entry.0;
        bucket.matches += 1;
        let n = t.count.max(1);
        let raise = match t.kind {
            ThresholdType::Limit => bucket.matches <= n,
            ThresholdType::Threshold => bucket.matches.is_multiple_of(n),
            ThresholdType::Both => bucket.matches == n,
        };
        let out = if raise {
            bucket.last_held = None;
            Some((item, std::mem::take(&mut bucket.held)))
        } else {
            bucket.held += 1;
            bucket.last_held = Some(item);
            self.suppressed += 1;
            None
        };
        self.prune();
        out
    }

    /// Event time has reached `watermark` (µs): the periods that closed with matches
    /// held back, to be summarised.
    pub fn advance(&mut self, watermark: i64) -> Vec<Closed<T>> {
        self.watermark = self.watermark.max(watermark);
        self.prune();
        std::mem::take(&mut self.closed)
    }

    /// End of input: every period with matches held back, closed now.
    pub fn close_all(&mut self) -> Vec<Closed<T>> {
        let keys: Vec<(u32, String)> = self.buckets.keys().cloned().collect();
        for k in keys {
            self.close(k);
        }
        std::mem::take(&mut self.closed)
    }

    fn close(&mut self, k: (u32, String)) {
        if let Some((b, p)) = self.buckets.remove(&k)
            && let Some(c) = closed(k.0, b, p)
        {
            self.closed.push(c);
        }
    }

    /// Drop the buckets whose period has passed (summarising their held matches); then
    /// evict the oldest above the cap.
    fn prune(&mut self) {
        let over = self.buckets.len() > self.max_keys;
        let due = self.watermark.saturating_sub(self.pruned_at) >= self.shortest;
        if !(over || due) {
            return;
        }
        self.pruned_at = self.watermark;
        let w = self.watermark;
        let ended: Vec<(u32, String)> = self
            .buckets
            .iter()
            .filter(|(_, (b, p))| w >= b.start.saturating_add(*p))
            .map(|(k, _)| k.clone())
            .collect();
        for k in ended {
            self.close(k);
        }
        if self.buckets.len() > self.max_keys {
            self.evict_oldest();
        }
    }

    /// Evict the oldest buckets, down to nine tenths of the cap (summarising them).
    fn evict_oldest(&mut self) {
        let target = self.max_keys - self.max_keys / 10;
        let excess = self.buckets.len().saturating_sub(target);
        if excess == 0 {
            return;
        }
        // Keys borrowed to pick the oldest; only those evicted are copied.
        let mut starts: Vec<(i64, &(u32, String))> =
            self.buckets.iter().map(|(k, (b, _))| (b.start, k)).collect();
        starts.select_nth_unstable_by_key(excess - 1, |(s, _)| *s);
        let oldest: Vec<(u32, String)> =
            starts[..excess].iter().map(|(_, k)| (*k).clone()).collect();
        for k in oldest {
            self.close(k);
        }
        self.evicted += excess as u64;
    }
}

/// The summary of a bucket's period, if it held matches back.
fn closed<T>(sid: u32, b: Bucket<T>, period: i64) -> Option<Closed<T>> {
    let last = b.last_held.filter(|_| b.held > 0)?;
    Some(Closed { sid, held: b.held, period: (b.start, b.start.saturating_add(period)), last })
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000;

    /// Raised (with their suppressed count) and closed periods (held count) of matches
    /// at `times` seconds, each carrying its index.
    fn run(t: Threshold, times: &[i64]) -> (Vec<Option<u64>>, Vec<(u64, usize)>) {
        let mut s = Thresholds::default();
        let mut closed = Vec::new();
        let mut raised = Vec::new();
        for (i, ts) in times.iter().enumerate() {
            raised.push(s.admit(1, &t, "k".into(), ts * S, i).map(|(_, n)| n));
            closed.extend(s.advance(ts * S));
        }
        closed.extend(s.close_all());
        (raised, closed.into_iter().map(|c| (c.held, c.last)).collect())
    }

    #[test]
    fn limit_threshold_and_both_follow_suricata() {
        let t = |kind, count| Threshold { kind, track: Track::BySrc, count, seconds: 60 };
        // limit 2 per 60 s: the first two, then held back; the period closes with 3 held,
        // the last of them match 4.
        let (raised, closed) = run(t(ThresholdType::Limit, 2), &[0, 1, 2, 3, 4, 61]);
        assert_eq!(raised, [Some(0), Some(0), None, None, None, Some(0)]);
        assert_eq!(closed, [(3, 4)]);
        // threshold 3: every third match carries the two before it; the tail is summarised.
        let (raised, closed) = run(t(ThresholdType::Threshold, 3), &[0, 1, 2, 3, 4, 5, 6]);
        assert_eq!(raised, [None, None, Some(2), None, None, Some(2), None]);
        assert_eq!(closed, [(1, 6)]);
        // both 3: once, at the third match of the period.
        let (raised, closed) = run(t(ThresholdType::Both, 3), &[0, 1, 2, 3, 4, 70, 71, 72]);
        assert_eq!(raised, [None, None, Some(2), None, None, None, None, Some(2)]);
        assert_eq!(closed, [(2, 4)]);
    }

    #[test]
    fn keys_follow_the_track() {
        let t = |track| Threshold { kind: ThresholdType::Limit, track, count: 1, seconds: 60 };
        assert_eq!(t(Track::BySrc).key(Some("a"), Some("b"), None), "a");
        assert_eq!(t(Track::ByDst).key(Some("a"), Some("b"), None), "b");
        assert_eq!(t(Track::ByBoth).key(Some("a"), Some("b"), None), "a|b");
        assert_eq!(t(Track::ByRule).key(Some("a"), Some("b"), None), "");
        assert_eq!(t(Track::ByEntity).key(None, None, Some("alice")), "alice");
        assert_eq!(t(Track::BySrc).key(None, None, Some("alice")), "alice");
    }

    #[test]
    fn periods_close_in_event_time_and_the_cap_summarises_what_it_evicts() {
        let t = Threshold::limit_one(Track::BySrc, 60);
        let mut s = Thresholds::new(1_000_000);
        for i in 0..1000 {
            assert!(s.admit(1, &t, format!("h{i}"), 0, i).is_some());
        }
        assert_eq!(s.tracked_keys(), 1000);
        assert!(s.admit(1, &t, "h1".into(), 30 * S, 1001).is_none());
        assert!(s.advance(59 * S).is_empty(), "no period has ended");
        // At 60 s every period has ended: h1's held match is summarised, the rest go.
        let closed = s.advance(60 * S);
        assert_eq!(closed, [Closed { sid: 1, held: 1, period: (0, 60 * S), last: 1001 }]);
        assert_eq!(s.tracked_keys(), 0);
        assert_eq!(s.admit(1, &t, "h1".into(), 70 * S, 1002), Some((1002, 0)));

        let mut s = Thresholds::new(10);
        let hour = Threshold::limit_one(Track::BySrc, 3600);
        let mut summarised = 0;
        for i in 0..25 {
            assert!(s.admit(1, &hour, format!("h{i}"), i * S, 0).is_some());
            assert!(s.admit(1, &hour, format!("h{i}"), i * S, 1).is_none());
            summarised += s.advance(i * S).len();
            assert!(s.tracked_keys() <= 10);
        }
        assert_eq!(s.evicted(), 25 - s.tracked_keys() as u64);
        assert_eq!(summarised as u64, s.evicted(), "every evicted bucket held a match");
        assert_eq!(s.close_all().len(), 25 - summarised, "the rest close at the end");
    }
}
