//! Thresholding as Suricata does it (`threshold: type limit|threshold|both, track …,
//! count N, seconds T`), in event time so that a replay alerts as the live run did.
//!
//! Each (rule, tracked key) has a bucket that starts at its first match and lasts
//! `seconds`. `limit` raises the first `count` matches of a bucket; `threshold` every
//! `count`-th; `both` the `count`-th only. Matches not raised are counted and the count
//! is carried by the next alert of the same rule and key (its `suppressed` field).
//!
//! The state is bounded: a bucket is dropped once the newest event time seen is a
//! whole period past its start (unless it still holds a suppressed count to hand on,
//! which is then kept one more period), and past a cap on the number of buckets
//! ([`DEFAULT_MAX_KEYS`]) the oldest are evicted, counted by [`Thresholds::evicted`].

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

#[derive(Debug, Clone, Copy)]
struct Bucket {
    start: i64,
    matches: u64,
    /// Matches not raised since the last alert of this key.
    held: u64,
}

/// The thresholding state of an alerts stage.
#[derive(Debug)]
pub struct Thresholds {
    buckets: HashMap<(u32, String), (Bucket, i64)>,
    max_keys: usize,
    /// The shortest period of any bucket so far, µs.
    shortest: i64,
    watermark: i64,
    pruned_at: i64,
    evicted: u64,
    /// Matches not raised so far.
    pub suppressed: u64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds::new(DEFAULT_MAX_KEYS)
    }
}

impl Thresholds {
    /// Empty state keeping at most `max_keys` (at least 1) buckets.
    pub fn new(max_keys: usize) -> Thresholds {
        Thresholds {
            buckets: HashMap::new(),
            max_keys: max_keys.max(1),
            shortest: i64::MAX,
            watermark: i64::MIN,
            pruned_at: i64::MIN,
            evicted: 0,
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

    /// Forget the buckets of rules other than `keep` (after a reload).
    pub fn retain_rules(&mut self, keep: &std::collections::HashSet<u32>) {
        self.buckets.retain(|(sid, _), _| keep.contains(sid));
    }

    /// A match of rule `sid` for `key` at `ts` (µs): `Some(suppressed)` when it is raised
    /// (with the matches held back before it), `None` when it is held back.
    pub fn admit(&mut self, sid: u32, t: &Threshold, key: String, ts: i64) -> Option<u64> {
        self.watermark = self.watermark.max(ts);
        let period = (t.seconds as i64).saturating_mul(1_000_000);
        self.shortest = self.shortest.min(period);
        let fresh = |held| Bucket { start: ts, matches: 0, held };
        let entry = self.buckets.entry((sid, key)).or_insert((fresh(0), period));
        let bucket = &mut entry.0;
        entry.1 = period;
        if ts >= bucket.start.saturating_add(period) {
            *bucket = fresh(bucket.held);
        }
        bucket.matches += 1;
        let n = t.count.max(1);
        let raise = match t.kind {
            ThresholdType::Limit => bucket.matches <= n,
            ThresholdType::Threshold => bucket.matches.is_multiple_of(n),
            ThresholdType::Both => bucket.matches == n,
        };
        let out = if raise {
            Some(std::mem::take(&mut bucket.held))
        } else {
            bucket.held += 1;
            self.suppressed += 1;
            None
        };
        self.prune(false);
        out
    }

    /// Drop the buckets whose period has passed (those still holding a count, one
    /// period later); then evict the oldest above the cap.
    fn prune(&mut self, now: bool) {
        let over = self.buckets.len() > self.max_keys;
        let due = self.watermark.saturating_sub(self.pruned_at) >= self.shortest;
        if !(now || over || due) {
            return;
        }
        self.pruned_at = self.watermark;
        let w = self.watermark;
        self.buckets.retain(|_, (b, p)| {
            let end = b.start.saturating_add(*p);
            w < end || (b.held > 0 && w < end.saturating_add(*p))
        });
        if self.buckets.len() > self.max_keys {
            self.evict_oldest();
        }
    }

    /// Evict the oldest buckets, down to nine tenths of the cap.
    fn evict_oldest(&mut self) {
        let target = self.max_keys - self.max_keys / 10;
        let excess = self.buckets.len().saturating_sub(target);
        if excess == 0 {
            return;
        }
        let mut starts: Vec<((u32, String), i64)> =
            self.buckets.iter().map(|(k, (b, _))| (k.clone(), b.start)).collect();
        starts.select_nth_unstable_by_key(excess - 1, |(_, s)| *s);
        for (k, _) in starts.into_iter().take(excess) {
            self.buckets.remove(&k);
        }
        self.evicted += excess as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000;

    fn run(t: Threshold, times: &[i64]) -> Vec<Option<u64>> {
        let mut s = Thresholds::default();
        times.iter().map(|ts| s.admit(1, &t, "k".into(), ts * S)).collect()
    }

    #[test]
    fn limit_threshold_and_both_follow_suricata() {
        let t = |kind, count| Threshold { kind, track: Track::BySrc, count, seconds: 60 };
        // limit 2 per 60 s: the first two, then held back; the next period reports 3 held.
        let got = run(t(ThresholdType::Limit, 2), &[0, 1, 2, 3, 4, 61]);
        assert_eq!(got, [Some(0), Some(0), None, None, None, Some(3)]);
        // threshold 3: every third match.
        let got = run(t(ThresholdType::Threshold, 3), &[0, 1, 2, 3, 4, 5]);
        assert_eq!(got, [None, None, Some(2), None, None, Some(2)]);
        // both 3: once, at the third match of the period.
        let got = run(t(ThresholdType::Both, 3), &[0, 1, 2, 3, 4, 70, 71, 72]);
        assert_eq!(got, [None, None, Some(2), None, None, None, None, Some(4)]);
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
    fn the_state_is_pruned_in_event_time_and_capped() {
        let t = Threshold::limit_one(Track::BySrc, 60);
        let mut s = Thresholds::new(1_000_000);
        for i in 0..1000 {
            assert!(s.admit(1, &t, format!("h{i}"), 0).is_some());
        }
        assert_eq!(s.tracked_keys(), 1000);
        assert!(s.admit(1, &t, "h1".into(), 30 * S).is_none());
        assert!(s.admit(1, &t, "new".into(), 61 * S).is_some());
        // h1 still holds a suppressed count to hand on; the rest are gone.
        assert_eq!(s.tracked_keys(), 2);
        assert_eq!(s.admit(1, &t, "h1".into(), 70 * S), Some(1));

        let mut s = Thresholds::new(10);
        for i in 0..25 {
            assert!(
                s.admit(1, &Threshold::limit_one(Track::BySrc, 3600), format!("h{i}"), i * S)
                    .is_some()
            );
            assert!(s.tracked_keys() <= 10);
        }
        assert_eq!(s.evicted(), 25 - s.tracked_keys() as u64);
    }
}
