//! Alert rules over scored records: a model's verdict at or above a threshold raises
//! an EVE-style alert, once per rule and key (source address, entity or series) within
//! the rule's suppression window (in event time, so replays alert as live runs do).
//!
//! The suppression state is bounded: an entry is dropped once the newest event time
//! seen is a whole window past it (it can no longer suppress anything in order), and
//! past a cap on the number of keys ([`DEFAULT_MAX_SUPPRESSION_KEYS`]) the oldest
//! entries are evicted, counted by [`AlertsTransform::evicted`]; an evicted key may
//! alert again within its window.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::Arc;

use arrow_array::builder::{
    Float32Builder, StringBuilder, TimestampMicrosecondBuilder, UInt8Builder, UInt16Builder,
    UInt64Builder,
};
use arrow_array::cast::AsArray;
use arrow_array::types::{
    Float32Type, Float64Type, TimestampMicrosecondType, UInt8Type, UInt16Type, UInt32Type,
    UInt64Type,
};
use arrow_array::{Array, ArrayRef, RecordBatch, StructArray};
use serde_json::json;

use super::verdict::verdict_column_name;
use crate::runtime::config::AlertRule;
use crate::runtime::record::{Envelope, RecordKind};
use crate::store::Table;

/// One alert, before it becomes a row.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    /// Event time, µs.
    pub ts: i64,
    /// The rule.
    pub rule: usize,
    /// Flow id, for flow alerts.
    pub flow_id: Option<u64>,
    /// Community ID, for flow alerts.
    pub community_id: Option<String>,
    /// (src ip, src port, dst ip, dst port, proto), for flow alerts.
    pub tuple: Option<(String, u16, String, u16, u8)>,
    /// Entity (actions) or series (metrics).
    pub entity: Option<String>,
    /// The verdict's label.
    pub label: Option<String>,
    /// The compared value.
    pub score: f32,
    /// Why, as JSON.
    pub evidence: serde_json::Value,
    /// The row's sensor.
    pub sensor: String,
}

/// Suppression keys an alerts transform keeps at most, unless configured otherwise.
pub const DEFAULT_MAX_SUPPRESSION_KEYS: usize = 100_000;

/// Evaluates rules and keeps the suppression state.
pub struct AlertsTransform {
    rules: Vec<AlertRule>,
    /// Event time (µs) of the last alert raised, by rule and key.
    last: HashMap<(usize, String), i64>,
    max_keys: usize,
    /// The newest event time seen, µs.
    watermark: i64,
    /// The watermark when the state was last pruned by time.
    pruned_at: i64,
    evicted: u64,
    /// Alerts suppressed so far.
    pub suppressed: u64,
}

impl AlertsTransform {
    /// A transform with these rules, keeping at most [`DEFAULT_MAX_SUPPRESSION_KEYS`]
    /// suppression keys.
    pub fn new(rules: Vec<AlertRule>) -> anyhow::Result<Self> {
        for r in &rules {
            anyhow::ensure!(
                (1..=3).contains(&r.severity),
                "rule {}: severity must be 1 to 3",
                r.name
            );
            let field = r.field.as_deref().unwrap_or("score");
            anyhow::ensure!(
                ["score", "malicious"].contains(&field),
                "rule {}: field must be `score` or `malicious`, not `{field}`",
                r.name
            );
        }
        Ok(AlertsTransform {
            rules,
            last: HashMap::new(),
            max_keys: DEFAULT_MAX_SUPPRESSION_KEYS,
            watermark: i64::MIN,
            pruned_at: i64::MIN,
            evicted: 0,
            suppressed: 0,
        })
    }

    /// Keep at most `max_keys` (at least 1) suppression keys.
    pub fn with_max_keys(mut self, max_keys: usize) -> Self {
        self.max_keys = max_keys.max(1);
        self
    }

    /// Suppression keys evicted so far because of the cap (not counting those dropped
    /// because their window had passed).
    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    /// Suppression keys held now.
    pub fn tracked_keys(&self) -> usize {
        self.last.len()
    }

    /// Alerts raised by a scored batch (none for batches no rule reads).
    pub fn apply(&mut self, env: &Envelope) -> anyhow::Result<Option<Envelope>> {
        let mut alerts = Vec::new();
        for (i, rule) in self.rules.iter().enumerate() {
            match env.kind {
                RecordKind::Flows => flow_alerts(i, rule, &env.batch, &mut alerts)?,
                RecordKind::Actions => {
                    row_alerts(i, rule, &env.batch, "entity", "surprise", &mut alerts)?
                }
                RecordKind::Metrics => {
                    row_alerts(i, rule, &env.batch, "series", "anomaly_score", &mut alerts)?
                }
                RecordKind::Alerts | RecordKind::DeadLetters => {}
            }
        }
        alerts.retain(|a| {
            let key = a
                .tuple
                .as_ref()
                .map(|t| t.0.clone())
                .or_else(|| a.entity.clone())
                .unwrap_or_default();
            self.admit(a.rule, key, a.ts)
        });
        self.prune_by_time(false);
        if alerts.is_empty() {
            return Ok(None);
        }
        Ok(Some(Envelope::new(RecordKind::Alerts, alerts_batch(&alerts, &self.rules)?)))
    }

    /// A rule's suppression window, µs.
    fn window(&self, rule: usize) -> i64 {
        (self.rules[rule].suppress_secs as i64).saturating_mul(1_000_000)
    }

    /// Whether an alert of `rule` for `key` at `ts` is raised (else it is suppressed),
    /// updating the state.
    fn admit(&mut self, rule: usize, key: String, ts: i64) -> bool {
        self.watermark = self.watermark.max(ts);
        let window = self.window(rule);
        if window <= 0 {
            return true;
        }
        match self.last.entry((rule, key)) {
            Entry::Occupied(o) if ts >= *o.get() && ts - *o.get() < window => {
                self.suppressed += 1;
                return false;
            }
            Entry::Occupied(mut o) => {
                o.insert(ts);
                return true;
            }
            Entry::Vacant(v) => {
                v.insert(ts);
            }
        }
        if self.last.len() > self.max_keys {
            self.prune_by_time(true);
            if self.last.len() > self.max_keys {
                self.evict_oldest();
            }
        }
        true
    }

    /// Drop the entries whose window ended at or before the watermark. Unless `now`,
    /// only when the watermark moved on by the shortest window since the last time (so
    /// that the sweep costs O(1) per alert, amortized).
    fn prune_by_time(&mut self, now: bool) {
        let shortest = (0..self.rules.len()).map(|r| self.window(r)).filter(|w| *w > 0).min();
        let Some(shortest) = shortest else { return };
        if !now && self.watermark.saturating_sub(self.pruned_at) < shortest {
            return;
        }
        self.pruned_at = self.watermark;
        let watermark = self.watermark;
        let windows: Vec<i64> = (0..self.rules.len()).map(|r| self.window(r)).collect();
        self.last.retain(|(rule, _), t| watermark.saturating_sub(*t) < windows[*rule]);
    }

    /// Evict the oldest entries, down to nine tenths of the cap (so that evictions are
    /// rare and their O(n) sweep amortized).
    fn evict_oldest(&mut self) {
        let target = self.max_keys - self.max_keys / 10;
        let excess = self.last.len().saturating_sub(target);
        if excess == 0 {
            return;
        }
        let mut times: Vec<i64> = self.last.values().copied().collect();
        let (_, &mut cutoff, _) = times.select_nth_unstable(excess - 1);
        let mut ties = excess - self.last.values().filter(|t| **t < cutoff).count();
        self.last.retain(|_, t| {
            if *t < cutoff {
                false
            } else if *t == cutoff && ties > 0 {
                ties -= 1;
                false
            } else {
                true
            }
        });
        self.evicted += excess as u64;
    }
}

fn label_matches(rule: &AlertRule, label: Option<&str>) -> bool {
    rule.label.as_deref().is_none_or(|l| Some(l) == label)
        && rule.not_label.as_deref().is_none_or(|l| Some(l) != label)
}

fn flow_alerts(
    i: usize,
    rule: &AlertRule,
    b: &RecordBatch,
    out: &mut Vec<Alert>,
) -> anyhow::Result<()> {
    let Some(verdict) = b.column_by_name(&verdict_column_name(&rule.model)) else { return Ok(()) };
    let verdict: &StructArray = verdict.as_struct();
    let field = rule.field.as_deref().unwrap_or("score");
    let Some(value) = verdict.column_by_name(field) else { return Ok(()) };
    let value = value.as_primitive::<Float32Type>();
    let label = verdict.column_by_name("label").map(|l| l.as_string::<i32>().clone());
    let col = |n: &str| b.column_by_name(n).ok_or_else(|| anyhow::anyhow!("flows without `{n}`"));
    let ts = col("ts_start")?.as_primitive::<TimestampMicrosecondType>();
    let flow_id = col("flow_id")?.as_primitive::<UInt64Type>();
    let cid = col("community_id")?.as_string::<i32>();
    let (src, dst) = (col("src_ip")?.as_string::<i32>(), col("dst_ip")?.as_string::<i32>());
    let (sp, dp) = (
        col("src_port")?.as_primitive::<UInt16Type>(),
        col("dst_port")?.as_primitive::<UInt16Type>(),
    );
    let proto = col("proto")?.as_primitive::<UInt8Type>();
    let state = col("conn_state")?.as_string::<i32>();
    let sensor = col("sensor")?.as_string::<i32>();
    for r in 0..b.num_rows() {
        if verdict.is_null(r) || value.is_null(r) || value.value(r) < rule.min_score {
            continue;
        }
        let l = label.as_ref().filter(|l| l.is_valid(r)).map(|l| l.value(r));
        if !label_matches(rule, l) {
            continue;
        }
        out.push(Alert {
            ts: ts.value(r),
            rule: i,
            flow_id: Some(flow_id.value(r)),
            community_id: Some(cid.value(r).to_string()),
            tuple: Some((src.value(r).into(), sp.value(r), dst.value(r).into(), dp.value(r), proto.value(r))),
            entity: None,
            label: l.map(str::to_string),
            score: value.value(r),
            evidence: json!({ "field": field, "value": value.value(r), "label": l, "conn_state": state.value(r) }),
            sensor: sensor.value(r).to_string(),
        });
    }
    Ok(())
}

/// Alerts on actions (surprise) or metrics (anomaly score): the row's `model` must be
/// the rule's.
fn row_alerts(
    i: usize,
    rule: &AlertRule,
    b: &RecordBatch,
    key: &str,
    score_col: &str,
    out: &mut Vec<Alert>,
) -> anyhow::Result<()> {
    let (Some(model), Some(score)) = (b.column_by_name("model"), b.column_by_name(score_col))
    else {
        return Ok(());
    };
    let model = model.as_string::<i32>();
    let score = score.as_primitive::<Float32Type>();
    let col = |n: &str| b.column_by_name(n).ok_or_else(|| anyhow::anyhow!("rows without `{n}`"));
    let ts = col("ts")?.as_primitive::<TimestampMicrosecondType>();
    let keys = col(key)?.as_string::<i32>();
    let sensor = col("sensor")?.as_string::<i32>();
    let is_actions = key == "entity";
    for r in 0..b.num_rows() {
        if model.is_null(r)
            || model.value(r) != rule.model
            || score.is_null(r)
            || score.value(r) < rule.min_score
        {
            continue;
        }
        let (label, evidence) = if is_actions {
            let action = col("action")?.as_string::<i32>().value(r).to_string();
            let object = col("object")?.as_string::<i32>().value(r).to_string();
            let rank = col("rank")?.as_primitive::<UInt32Type>();
            let predicted = col("predicted")?.as_string::<i32>();
            let ev = json!({ "action": action, "object": object, "surprise": score.value(r),
                "rank": rank.is_valid(r).then(|| rank.value(r)),
                "predicted": predicted.is_valid(r).then(|| predicted.value(r)) });
            (Some(action), ev)
        } else {
            let value = col("value")?.as_primitive::<Float64Type>();
            let forecast = col("forecast")?.as_primitive::<Float64Type>();
            let ev = json!({ "series": keys.value(r), "anomaly_score": score.value(r),
                "value": value.is_valid(r).then(|| value.value(r)),
                "forecast": forecast.is_valid(r).then(|| forecast.value(r)) });
            (None, ev)
        };
        if !label_matches(rule, label.as_deref()) {
            continue;
        }
        out.push(Alert {
            ts: ts.value(r),
            rule: i,
            flow_id: None,
            community_id: None,
            tuple: None,
            entity: Some(keys.value(r).to_string()),
            label,
            score: score.value(r),
            evidence,
            sensor: sensor.value(r).to_string(),
        });
    }
    Ok(())
}

/// Alerts as rows of the `alerts` table.
pub fn alerts_batch(alerts: &[Alert], rules: &[AlertRule]) -> anyhow::Result<RecordBatch> {
    let n = alerts.len();
    let mut ts = TimestampMicrosecondBuilder::with_capacity(n).with_timezone("UTC");
    let mut event_type = StringBuilder::new();
    let mut flow_id = UInt64Builder::with_capacity(n);
    let mut cid = StringBuilder::new();
    let (mut src, mut dst) = (StringBuilder::new(), StringBuilder::new());
    let (mut sp, mut dp) = (UInt16Builder::with_capacity(n), UInt16Builder::with_capacity(n));
    let mut proto = UInt8Builder::with_capacity(n);
    let mut entity = StringBuilder::new();
    let (mut sig, mut cat) = (StringBuilder::new(), StringBuilder::new());
    let mut sev = UInt8Builder::with_capacity(n);
    let (mut model, mut label) = (StringBuilder::new(), StringBuilder::new());
    let mut score = Float32Builder::with_capacity(n);
    let (mut evidence, mut sensor) = (StringBuilder::new(), StringBuilder::new());
    for a in alerts {
        let rule = &rules[a.rule];
        ts.append_value(a.ts);
        event_type.append_value("alert");
        flow_id.append_option(a.flow_id);
        cid.append_option(a.community_id.as_deref());
        src.append_option(a.tuple.as_ref().map(|t| t.0.as_str()));
        sp.append_option(a.tuple.as_ref().map(|t| t.1));
        dst.append_option(a.tuple.as_ref().map(|t| t.2.as_str()));
        dp.append_option(a.tuple.as_ref().map(|t| t.3));
        proto.append_option(a.tuple.as_ref().map(|t| t.4));
        entity.append_option(a.entity.as_deref());
        sig.append_value(&rule.name);
        cat.append_value(rule.category.as_deref().unwrap_or("Anomalous Activity"));
        sev.append_value(rule.severity);
        model.append_value(&rule.model);
        label.append_option(a.label.as_deref());
        score.append_value(a.score);
        evidence.append_value(a.evidence.to_string());
        sensor.append_value(&a.sensor);
    }
    let cols: Vec<ArrayRef> = vec![
        Arc::new(ts.finish()),
        Arc::new(event_type.finish()),
        Arc::new(flow_id.finish()),
        Arc::new(cid.finish()),
        Arc::new(src.finish()),
        Arc::new(sp.finish()),
        Arc::new(dst.finish()),
        Arc::new(dp.finish()),
        Arc::new(proto.finish()),
        Arc::new(entity.finish()),
        Arc::new(sig.finish()),
        Arc::new(cat.finish()),
        Arc::new(sev.finish()),
        Arc::new(model.finish()),
        Arc::new(label.finish()),
        Arc::new(score.finish()),
        Arc::new(evidence.finish()),
        Arc::new(sensor.finish()),
    ];
    Ok(RecordBatch::try_new(Table::Alerts.base_schema(), cols)?)
}

#[cfg(test)]
mod tests {
    use arrow_array::builder::{Float32Builder, StringBuilder};
    use vigil_ingest::actions::ActionEvent;

    use super::*;
    use crate::runtime::rows::actions_batch;

    const S: i64 = 1_000_000;

    fn rule(suppress_secs: u64) -> AlertRule {
        AlertRule {
            name: "surprising".into(),
            model: "hstu".into(),
            label: None,
            not_label: None,
            field: None,
            min_score: 1.0,
            severity: 2,
            category: None,
            suppress_secs,
        }
    }

    /// Scored actions: one per (entity, ts), surprise 5 from model `hstu`.
    fn actions(rows: &[(&str, i64)]) -> Envelope {
        let events: Vec<ActionEvent> = rows
            .iter()
            .map(|(e, ts)| ActionEvent {
                entity: e.to_string(),
                ts: *ts,
                action: "GET 2xx".into(),
                object: "/".into(),
            })
            .collect();
        let batch = actions_batch(&events, "test", "s1");
        let mut cols = batch.columns().to_vec();
        let (mut surprise, mut model) = (Float32Builder::new(), StringBuilder::new());
        for _ in rows {
            surprise.append_value(5.0);
            model.append_value("hstu");
        }
        cols[4] = Arc::new(surprise.finish());
        cols[7] = Arc::new(model.finish());
        Envelope::new(RecordKind::Actions, RecordBatch::try_new(batch.schema(), cols).unwrap())
    }

    fn raised(t: &mut AlertsTransform, rows: &[(&str, i64)]) -> usize {
        t.apply(&actions(rows)).unwrap().map_or(0, |e| e.rows())
    }

    #[test]
    fn alerts_are_suppressed_within_the_window_in_event_time() {
        let mut t = AlertsTransform::new(vec![rule(60)]).unwrap();
        assert_eq!(raised(&mut t, &[("alice", 0), ("alice", 10 * S), ("bob", 20 * S)]), 2);
        assert_eq!(raised(&mut t, &[("alice", 59 * S)]), 0);
        assert_eq!(raised(&mut t, &[("alice", 60 * S)]), 1);
        assert_eq!(t.suppressed, 2);
        // No window, no state.
        let mut t = AlertsTransform::new(vec![rule(0)]).unwrap();
        assert_eq!(raised(&mut t, &[("alice", 0), ("alice", 0)]), 2);
        assert_eq!(t.tracked_keys(), 0);
    }

    #[test]
    fn entries_past_their_window_are_dropped() {
        let mut t = AlertsTransform::new(vec![rule(60)]).unwrap();
        let names: Vec<String> = (0..1000).map(|i| format!("host{i}")).collect();
        let rows: Vec<(&str, i64)> = names.iter().map(|n| (n.as_str(), 0)).collect();
        assert_eq!(raised(&mut t, &rows), 1000);
        assert_eq!(t.tracked_keys(), 1000);
        // Half a window on: all still suppress.
        assert_eq!(raised(&mut t, &[("host1", 30 * S)]), 0);
        assert_eq!(t.tracked_keys(), 1000);
        // A window on: only the new key is left.
        assert_eq!(raised(&mut t, &[("new", 60 * S)]), 1);
        assert_eq!(t.tracked_keys(), 1);
        assert_eq!(t.evicted(), 0, "pruning by time is not eviction");
    }

    #[test]
    fn the_state_is_capped_and_evictions_are_counted() {
        let mut t = AlertsTransform::new(vec![rule(3600)]).unwrap().with_max_keys(10);
        let names: Vec<String> = (0..25).map(|i| format!("host{i}")).collect();
        for (i, n) in names.iter().enumerate() {
            assert_eq!(raised(&mut t, &[(n.as_str(), i as i64 * S)]), 1);
            assert!(t.tracked_keys() <= 10, "{}", t.tracked_keys());
        }
        assert_eq!(t.evicted(), 25 - t.tracked_keys() as u64);
        assert!(t.evicted() > 0);
        // The newest key still suppresses; the oldest was evicted and alerts again.
        assert_eq!(raised(&mut t, &[("host24", 30 * S)]), 0);
        assert_eq!(raised(&mut t, &[("host0", 30 * S)]), 1);
    }
}
