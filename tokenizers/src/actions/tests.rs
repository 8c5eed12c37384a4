use proptest::prelude::*;
use vigil_ingest::actions::ActionEvent;

use super::*;

const S: i64 = 1_000_000;

fn ev(entity: &str, ts: i64, action: &str, object: &str) -> ActionEvent {
    ActionEvent { entity: entity.into(), ts, action: action.into(), object: object.into() }
}

fn vocab() -> ActionVocab {
    let train = [ev("x", 0, "a", "o1"), ev("x", 0, "a", "o2"), ev("x", 0, "b", "o1")];
    ActionVocab::fit(&train, 10, 10).unwrap()
}

fn cfg(max_len: usize, max_entities: usize) -> ActionSequenceConfig {
    ActionSequenceConfig { max_len, max_entities, ..ActionSequenceConfig::default() }
}

#[test]
fn golden_sequence_worked_by_hand() {
    // Vocab: actions a=2, b=3; objects o1=2, o2=3; OOV=1.
    let mut s = ActionSequencer::new(cfg(3, 10), vocab()).unwrap();
    s.push(&ev("u", 0, "a", "o1"));
    s.push(&ev("u", 60 * S, "b", "o2"));
    let snap = s.push(&ev("u", 1060 * S, "zzz", "o1"));
    // Gaps to the scored ts (1060 s): 1060 s → ln 1060 / 0.301 = 23.14 → 23; 1000 s → 22; 0 → 0.
    assert_eq!(snap.action_ids, vec![2, 3, OOV_ID]);
    assert_eq!(snap.object_ids, vec![2, 3, 2]);
    assert_eq!(snap.time_buckets, vec![23, 22, 0]);
    assert_eq!(snap.length, 3);
    // A fourth event drops the oldest.
    let snap = s.push(&ev("u", 1061 * S, "a", "o1"));
    assert_eq!(snap.action_ids, vec![3, OOV_ID, 2]);
    assert_eq!(snap.time_buckets, vec![22, 0, 0]);
    // Another entity starts left-padded.
    let snap = s.push(&ev("v", 5, "b", "nope"));
    assert_eq!(
        (snap.action_ids, snap.object_ids, snap.length),
        (vec![0, 0, 3], vec![0, 0, OOV_ID], 1)
    );
}

#[test]
fn late_events_see_only_their_past_and_snapshot_on_demand() {
    let mut s = ActionSequencer::new(cfg(5, 10), vocab()).unwrap();
    s.push(&ev("u", 10 * S, "a", "o1"));
    s.push(&ev("u", 30 * S, "b", "o1"));
    let late = s.push(&ev("u", 20 * S, "a", "o2"));
    assert_eq!(late.length, 2, "the 30 s event is in its future");
    assert_eq!(s.stats().late_events, 1);
    let now = s.snapshot("u", 100 * S).unwrap();
    assert_eq!(now.length, 3);
    assert_eq!(&now.action_ids[2..], &[2, 2, 3]);
    assert!(s.snapshot("u", 0).is_none());
    assert!(s.snapshot("nobody", 100 * S).is_none());
}

#[test]
fn lru_eviction_is_counted() {
    let mut s = ActionSequencer::new(cfg(4, 2), vocab()).unwrap();
    s.push(&ev("a", 1, "a", "o1"));
    s.push(&ev("b", 2, "a", "o1"));
    s.push(&ev("a", 3, "a", "o1")); // a is now the most recent
    s.push(&ev("c", 4, "a", "o1")); // evicts b
    assert_eq!(s.stats().evictions, 1);
    assert_eq!(s.entities(), 2);
    assert!(s.snapshot("b", 10).is_none());
    assert_eq!(s.snapshot("a", 10).unwrap().length, 2);
}

#[test]
fn bad_config_is_refused() {
    assert!(ActionSequencer::new(cfg(0, 1), vocab()).is_err());
}

proptest! {
    #[test]
    fn sequences_are_causal_bounded_and_left_padded(
        raw in proptest::collection::vec((0u8..4, 0i64..10_000, 0u8..3), 1..120),
        max_len in 1usize..40,
        max_entities in 1usize..5,
    ) {
        let events: Vec<ActionEvent> = raw
            .iter()
            .map(|(e, t, a)| ev(&format!("e{e}"), t * S, ["a", "b", "c"][*a as usize], "o1"))
            .collect();
        let mut s = ActionSequencer::new(cfg(max_len, max_entities), vocab()).unwrap();
        for (i, e) in events.iter().enumerate() {
            let snap = s.push(e);
            prop_assert_eq!(snap.action_ids.len(), max_len);
            prop_assert_eq!(snap.object_ids.len(), max_len);
            prop_assert_eq!(snap.time_buckets.len(), max_len);
            let len = snap.length as usize;
            prop_assert!(len >= 1 && len <= max_len);
            let pad = max_len - len;
            prop_assert!(snap.action_ids[..pad].iter().all(|&x| x == PAD_ID));
            prop_assert!(snap.object_ids[..pad].iter().all(|&x| x == PAD_ID));
            prop_assert!(snap.time_buckets[..pad].iter().all(|&x| x == 0));
            prop_assert!(snap.action_ids[pad..].iter().all(|&x| x != PAD_ID));
            // The last position is the pushed event itself.
            prop_assert_eq!(snap.action_ids[max_len - 1], s.vocab().actions.id(&e.action));
            prop_assert_eq!(snap.time_buckets[max_len - 1], 0);
            // No future events: the real events are a subset of the entity's
            // events pushed so far with ts ≤ the scored ts, so there are no more
            // of them than that.
            let past = events[..=i].iter().filter(|x| x.entity == e.entity && x.ts <= e.ts).count();
            prop_assert!(len <= past);
            // Buckets never grow towards the newest event (older = larger gap).
            prop_assert!(snap.time_buckets[pad..].windows(2).all(|w| w[0] >= w[1]));
            prop_assert!(snap.time_buckets.iter().all(|&b| b < DEFAULT_NUM_BUCKETS));
        }
        prop_assert!(s.entities() <= max_entities);
    }

    #[test]
    fn bucket_is_monotone_in_abs_dt_and_in_range(a in any::<i64>(), b in any::<i64>(), n in 1u32..300) {
        let (x, y) = if a.unsigned_abs() <= b.unsigned_abs() { (a, b) } else { (b, a) };
        prop_assert!(time_bucket(x, n) <= time_bucket(y, n));
        prop_assert!(time_bucket(x, n) < n);
        prop_assert_eq!(time_bucket(x, n), time_bucket(x.saturating_neg(), n));
    }
}
