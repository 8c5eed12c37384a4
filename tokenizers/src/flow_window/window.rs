//! [`FlowWindower`]: windows of W consecutive flows ending at the flow being scored.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use vigil_ingest::flow_records::{FlowFeatures, FlowTuple};

use super::EncodedFlow;
use crate::TokenizerError;

/// Which flows share a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupBy {
    /// Every flow of the sensor (FlowTransformer's windows: consecutive rows).
    #[default]
    None,
    /// Flows with the same source address.
    SrcAddr,
    /// Flows with the same destination address.
    DstAddr,
    /// Flows with the same (source, destination) pair.
    SrcDst,
}

/// Window shape and state bounds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlowWindowConfig {
    /// Flows per window, the scored one included (W).
    #[serde(default = "default_window")]
    pub window: usize,
    /// Grouping key; a record without the address the key needs joins the group of `None`.
    #[serde(default)]
    pub group_by: GroupBy,
    /// Groups kept; beyond it the least recently used group is dropped.
    #[serde(default = "default_max_groups")]
    pub max_groups: usize,
    /// Extra flows kept per group beyond W - 1, so a flow that arrives late (our
    /// flow table emits flows when they end, not when they start) still finds
    /// its predecessors by start time.
    #[serde(default = "default_reorder_slack")]
    pub reorder_slack: usize,
}

fn default_window() -> usize {
    8
}
fn default_max_groups() -> usize {
    65_536
}
fn default_reorder_slack() -> usize {
    8
}

impl Default for FlowWindowConfig {
    fn default() -> Self {
        FlowWindowConfig {
            window: default_window(),
            group_by: GroupBy::None,
            max_groups: default_max_groups(),
            reorder_slack: default_reorder_slack(),
        }
    }
}

impl FlowWindowConfig {
    /// Refuses `window = 0`, `window > 4096` and `max_groups = 0`.
    pub fn validate(&self) -> Result<(), TokenizerError> {
        let bad = |m: String| Err(TokenizerError::FlowWindowConfig(m));
        if self.window == 0 || self.window > 4096 {
            return bad(format!("window must be in 1..=4096, got {}", self.window));
        }
        if self.max_groups == 0 {
            return bad("max_groups must be at least 1".into());
        }
        if self.reorder_slack > 1 << 20 {
            return bad(format!("reorder_slack {} is too large", self.reorder_slack));
        }
        Ok(())
    }
}

/// One scored flow and its window, ready for [`windows_to_record_batch`](super::windows_to_record_batch).
///
/// The window has exactly W rows: `padding` all-zero rows (numeric 0.0,
/// categorical [`UNSEEN`](super::UNSEEN)) first, then up to W − 1 predecessors
/// oldest first, then the scored flow as the last row (LastToken semantics).
#[derive(Debug, Clone, PartialEq)]
pub struct FlowWindow {
    /// The scored flow's id, start time and 5-tuple.
    pub tuple: FlowTuple,
    /// Its label, when the source had one.
    pub label: Option<String>,
    /// Padding rows at the start of the window.
    pub padding: u32,
    /// Ids of the window's real flows, oldest first, the scored one last.
    pub member_ids: Vec<u64>,
    /// Numeric rows, flattened row-major: W × `n_numeric`.
    pub numeric: Vec<f32>,
    /// Categorical rows, flattened row-major: W × `n_categorical`.
    pub categorical: Vec<u32>,
    /// Numeric features per row.
    pub n_numeric: usize,
    /// Categorical features per row.
    pub n_categorical: usize,
}

impl FlowWindow {
    /// Rows in the window (W).
    pub fn len(&self) -> usize {
        self.member_ids.len() + self.padding as usize
    }

    /// Never true: a window holds at least the scored flow.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Numeric features of row `i`.
    pub fn numeric_row(&self, i: usize) -> &[f32] {
        &self.numeric[i * self.n_numeric..(i + 1) * self.n_numeric]
    }

    /// Categorical ids of row `i`.
    pub fn categorical_row(&self, i: usize) -> &[u32] {
        &self.categorical[i * self.n_categorical..(i + 1) * self.n_categorical]
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct GroupKey(Option<IpAddr>, Option<IpAddr>);

#[derive(Debug)]
struct Entry {
    ts: i64,
    flow_id: u64,
    row: EncodedFlow,
}

#[derive(Debug, Default)]
struct Group {
    last_used: u64,
    last_ts: i64,
    /// Sorted by (ts, arrival).
    entries: VecDeque<Entry>,
}

/// Counters of a [`FlowWindower`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlowWindowStats {
    /// Flows pushed.
    pub flows: u64,
    /// Windows that needed padding.
    pub padded: u64,
    /// Groups dropped to stay under `max_groups`.
    pub groups_evicted: u64,
    /// Flows that arrived with an earlier start time than a flow already in their group.
    pub out_of_order: u64,
}

/// Builds windows in a stream, with bounded state.
///
/// Each group keeps at most `window - 1 + reorder_slack` flows, sorted by
/// start time, and at most `max_groups` groups exist (LRU). A flow's window
/// holds only flows pushed before it whose start time is not later than its
/// own (ties: earlier arrival first), so no window ever sees a future flow.
/// Records without a start time (NF-v2) keep arrival order.
#[derive(Debug)]
pub struct FlowWindower {
    config: FlowWindowConfig,
    groups: HashMap<GroupKey, Group>,
    lru: BTreeMap<u64, GroupKey>,
    tick: u64,
    stats: FlowWindowStats,
}

impl FlowWindower {
    /// A windower; the config is checked here.
    pub fn new(config: FlowWindowConfig) -> Result<Self, TokenizerError> {
        config.validate()?;
        Ok(FlowWindower {
            config,
            groups: HashMap::new(),
            lru: BTreeMap::new(),
            tick: 0,
            stats: FlowWindowStats::default(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &FlowWindowConfig {
        &self.config
    }

    /// Counters so far.
    pub fn stats(&self) -> FlowWindowStats {
        self.stats
    }

    /// Groups held now.
    pub fn groups(&self) -> usize {
        self.groups.len()
    }

    fn key(&self, rec: &FlowFeatures) -> GroupKey {
        match self.config.group_by {
            GroupBy::None => GroupKey(None, None),
            GroupBy::SrcAddr => GroupKey(rec.tuple.src_addr, None),
            GroupBy::DstAddr => GroupKey(None, rec.tuple.dst_addr),
            GroupBy::SrcDst => GroupKey(rec.tuple.src_addr, rec.tuple.dst_addr),
        }
    }

    /// Scores `rec` (already encoded as `row`): returns its window and remembers it
    /// as a predecessor of later flows.
    pub fn push(&mut self, rec: &FlowFeatures, row: EncodedFlow) -> FlowWindow {
        let w = self.config.window;
        let cap = w - 1 + self.config.reorder_slack;
        let key = self.key(rec);
        self.tick += 1;
        let tick = self.tick;
        if let Some(g) = self.groups.get(&key) {
            self.lru.remove(&g.last_used);
        }
        self.lru.insert(tick, key.clone());
        let group = self
            .groups
            .entry(key)
            .or_insert_with(|| Group { last_ts: i64::MIN, ..Group::default() });
        group.last_used = tick;

        let ts = rec.tuple.ts_us.unwrap_or(group.last_ts);
        if ts < group.last_ts {
            self.stats.out_of_order += 1;
        }
        group.last_ts = group.last_ts.max(ts);
        let p = group.entries.partition_point(|e| e.ts <= ts);
        let start = p.saturating_sub(w - 1);
        let taken = p - start;
        let padding = w - 1 - taken;
        let (nn, nc) = (row.numeric.len(), row.categorical.len());
        let mut numeric = vec![0.0f32; padding * nn];
        let mut categorical = vec![super::UNSEEN; padding * nc];
        numeric.reserve(w * nn - numeric.len());
        categorical.reserve(w * nc - categorical.len());
        let mut member_ids = Vec::with_capacity(taken + 1);
        for e in group.entries.range(start..p) {
            numeric.extend_from_slice(&e.row.numeric);
            categorical.extend_from_slice(&e.row.categorical);
            member_ids.push(e.flow_id);
        }
        numeric.extend_from_slice(&row.numeric);
        categorical.extend_from_slice(&row.categorical);
        member_ids.push(rec.tuple.flow_id);

        group.entries.insert(p, Entry { ts, flow_id: rec.tuple.flow_id, row });
        while group.entries.len() > cap {
            group.entries.pop_front();
        }
        self.stats.flows += 1;
        if padding > 0 {
            self.stats.padded += 1;
        }
        while self.groups.len() > self.config.max_groups {
            let Some((_, old)) = self.lru.pop_first() else {
                break;
            };
            self.groups.remove(&old);
            self.stats.groups_evicted += 1;
        }
        FlowWindow {
            tuple: rec.tuple,
            label: rec.label.clone(),
            padding: padding as u32,
            member_ids,
            numeric,
            categorical,
            n_numeric: nn,
            n_categorical: nc,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use proptest::prelude::*;
    use vigil_ingest::flow_records::FeatureNames;

    use super::*;

    fn rec(id: u64, ts: Option<i64>, src: u8, dst: u8) -> FlowFeatures {
        FlowFeatures {
            tuple: FlowTuple {
                flow_id: id,
                ts_us: ts,
                src_addr: Some(IpAddr::from([10, 0, 0, src])),
                src_port: Some(1000),
                dst_addr: Some(IpAddr::from([10, 0, 1, dst])),
                dst_port: Some(80),
                proto: Some(6),
            },
            names: Arc::new(FeatureNames::default()),
            numeric: vec![],
            categorical: vec![],
            label: None,
        }
    }

    /// Row = [flow id + 1] so padding (0.0) and members can be told apart.
    fn row(id: u64) -> EncodedFlow {
        EncodedFlow { numeric: vec![id as f32 + 1.0], categorical: vec![id as u32 + 1] }
    }

    fn group_by() -> impl Strategy<Value = GroupBy> {
        prop_oneof![
            Just(GroupBy::None),
            Just(GroupBy::SrcAddr),
            Just(GroupBy::DstAddr),
            Just(GroupBy::SrcDst)
        ]
    }

    #[test]
    fn golden_padding_and_last_token() {
        let config = FlowWindowConfig { window: 3, ..FlowWindowConfig::default() };
        let mut w = FlowWindower::new(config).unwrap();
        let a = w.push(&rec(0, Some(10), 1, 1), row(0));
        // [pad, pad, flow 0]
        assert_eq!((a.padding, a.member_ids.clone()), (2, vec![0]));
        assert_eq!(a.numeric, vec![0.0, 0.0, 1.0]);
        assert_eq!(a.categorical, vec![0, 0, 1]);
        w.push(&rec(1, Some(20), 1, 1), row(1));
        let c = w.push(&rec(2, Some(30), 1, 1), row(2));
        assert_eq!((c.padding, c.member_ids.clone()), (0, vec![0, 1, 2]));
        let d = w.push(&rec(3, Some(40), 1, 1), row(3));
        assert_eq!(d.numeric, vec![2.0, 3.0, 4.0]);
        // A late flow (ended later, started at 15) sees only flow 0, which started before it.
        let late = w.push(&rec(4, Some(15), 1, 1), row(4));
        assert_eq!((late.padding, late.member_ids.clone()), (1, vec![0, 4]));
        assert_eq!(w.stats().out_of_order, 1);
    }

    #[test]
    fn lru_bounds_groups() {
        let config = FlowWindowConfig {
            window: 2,
            group_by: GroupBy::SrcAddr,
            max_groups: 2,
            ..FlowWindowConfig::default()
        };
        let mut w = FlowWindower::new(config).unwrap();
        w.push(&rec(0, Some(1), 1, 0), row(0));
        w.push(&rec(1, Some(2), 2, 0), row(1));
        w.push(&rec(2, Some(3), 1, 0), row(2)); // touches host 1
        w.push(&rec(3, Some(4), 3, 0), row(3)); // evicts host 2
        assert_eq!((w.groups(), w.stats().groups_evicted), (2, 1));
        assert_eq!(w.push(&rec(4, Some(5), 2, 0), row(4)).padding, 1, "host 2 was forgotten");
        // Bringing host 2 back evicted host 1, the least recently used.
        assert_eq!(w.stats().groups_evicted, 2);
        assert_eq!(w.push(&rec(5, Some(6), 1, 0), row(5)).member_ids, vec![5]);
        assert_eq!(w.push(&rec(6, Some(7), 2, 0), row(6)).member_ids, vec![4, 6]);
    }

    #[test]
    fn config_is_checked() {
        for bad in [
            FlowWindowConfig { window: 0, ..FlowWindowConfig::default() },
            FlowWindowConfig { max_groups: 0, ..FlowWindowConfig::default() },
        ] {
            assert!(FlowWindower::new(bad).is_err());
        }
    }

    proptest! {
        #[test]
        fn windows_never_leak_future_records(
            w in 1usize..10,
            slack in 0usize..6,
            gb in group_by(),
            flows in proptest::collection::vec((proptest::option::weighted(0.9, 0i64..50), 0u8..3, 0u8..3), 1..120),
        ) {
            // 9 keys at most, so no group is evicted (eviction resets a group's history).
            let config = FlowWindowConfig { window: w, group_by: gb, max_groups: 16, reorder_slack: slack };
            let mut win = FlowWindower::new(config).unwrap();
            let mut ts_of: Vec<i64> = Vec::new();
            let mut last_ts = std::collections::HashMap::new();
            for (id, &(ts, s, d)) in flows.iter().enumerate() {
                let id = id as u64;
                let r = rec(id, ts, s, d);
                let key = win.key(&r);
                let eff = ts.unwrap_or(*last_ts.get(&key).unwrap_or(&i64::MIN));
                let e = last_ts.entry(key).or_insert(i64::MIN);
                *e = (*e).max(eff);
                ts_of.push(eff);
                let out = win.push(&r, row(id));
                // window length is W, ends at the scored flow
                prop_assert_eq!(out.len(), w);
                prop_assert!(out.member_ids.len() <= w);
                prop_assert_eq!(*out.member_ids.last().unwrap(), id);
                prop_assert_eq!(out.numeric_row(w - 1), &[id as f32 + 1.0][..]);
                let pad = out.padding as usize;
                for i in 0..pad {
                    prop_assert_eq!(out.numeric_row(i), &[0.0][..]);
                }
                // no future: every member was pushed earlier and started no later
                for (k, &m) in out.member_ids.iter().enumerate() {
                    prop_assert!(m <= id);
                    prop_assert!(ts_of[m as usize] <= eff);
                    prop_assert_eq!(out.numeric_row(pad + k), &[m as f32 + 1.0][..]);
                    let mr = rec(m, None, flows[m as usize].1, flows[m as usize].2);
                    prop_assert_eq!(win.key(&mr), win.key(&r), "same group");
                    if k > 0 {
                        let prev = out.member_ids[k - 1];
                        prop_assert!((ts_of[prev as usize], prev) < (ts_of[m as usize], m), "oldest first");
                    }
                }
            }
        }

        #[test]
        fn in_order_windows_are_the_last_w_predecessors(
            w in 1usize..8,
            gb in group_by(),
            hosts in proptest::collection::vec((0u8..3, 0u8..3), 1..80),
        ) {
            let config = FlowWindowConfig { window: w, group_by: gb, max_groups: 100, reorder_slack: 0 };
            let mut win = FlowWindower::new(config).unwrap();
            let recs: Vec<_> = hosts.iter().enumerate().map(|(i, &(s, d))| rec(i as u64, Some(i as i64), s, d)).collect();
            for r in &recs {
                let out = win.push(r, row(r.tuple.flow_id));
                let mut expect: Vec<u64> = recs[..r.tuple.flow_id as usize]
                    .iter()
                    .filter(|p| win.key(p) == win.key(r))
                    .map(|p| p.tuple.flow_id)
                    .collect();
                let cut = expect.len().saturating_sub(w - 1);
                expect.drain(..cut);
                expect.push(r.tuple.flow_id);
                prop_assert_eq!(&out.member_ids, &expect);
                prop_assert_eq!(out.padding as usize, w - expect.len());
            }
        }
    }
}
