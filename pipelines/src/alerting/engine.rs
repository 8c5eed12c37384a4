//! The alerts stage: model rules on each scored batch, SQL rules over windows, then
//! allow-lists and thresholding, with the rules reloaded when their files change.
//!
//! A reload builds and checks the whole new set first; only a set without problems
//! replaces the running one (in one step, between two batches). Otherwise the old
//! rules keep running and every problem is logged. Thresholding state and SQL windows
//! of rules whose sid (and, for SQL, definition) is unchanged carry over.

use std::collections::HashMap;
use std::time::Duration;

use vigil_models::LikelihoodParams;

use super::alert::{Alert, Signature, alerts_batch};
use super::allow::AllowKey;
use super::likelihood::MetricsLikelihood;
use super::model_match::{Scored, SeriesHistory, matches};
use super::reload::{CHECK_EVERY, FileWatch};
use super::rules::{RuleLoader, RuleMeta, RuleSet};
use super::sql_alerts::sql_alerts;
use super::sql_rules::SqlRules;
use super::threshold::Thresholds;
use crate::runtime::record::{Envelope, RecordKind};

/// Limits of an alerts stage's state.
#[derive(Debug, Clone, Copy)]
pub struct EngineLimits {
    /// Thresholding buckets kept at most.
    pub max_keys: usize,
    /// Rows each SQL window table keeps at most.
    pub window_rows: usize,
    /// How far behind the newest event time SQL windows are evaluated, seconds.
    pub lateness_secs: u64,
}

impl Default for EngineLimits {
    fn default() -> Self {
        EngineLimits {
            max_keys: super::threshold::DEFAULT_MAX_KEYS,
            window_rows: super::window::DEFAULT_MAX_ROWS,
            lateness_secs: super::sql_rules::DEFAULT_LATENESS_SECS,
        }
    }
}

/// Counters of an alerts stage.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EngineCounts {
    /// Matches dropped by an allow-list.
    pub allowed: u64,
    /// Matches held back by thresholding.
    pub suppressed: u64,
    /// Rules reloads that took effect.
    pub reloads: u64,
    /// Rules reloads refused (the old rules kept running).
    pub failed_reloads: u64,
    /// Rows that came too late for every SQL window they belong to.
    pub late_rows: u64,
    /// Rows evicted from SQL windows at their cap.
    pub evicted_rows: u64,
}

/// The rules of an alerts stage and their state.
pub struct AlertEngine {
    loader: RuleLoader,
    rules: RuleSet,
    thresholds: Thresholds<Alert>,
    sql: SqlRules,
    history: SeriesHistory,
    likelihood: MetricsLikelihood,
    watch: FileWatch,
    sensor: String,
    counts: EngineCounts,
}

impl RuleMeta {
    /// What the rule's alerts are signed with.
    pub fn signature(&self) -> Signature {
        Signature {
            sid: self.sid,
            gid: self.gid,
            rev: self.rev,
            text: self.signature.clone(),
            category: self.category.clone(),
            severity: self.severity,
        }
    }
}

impl AlertEngine {
    /// Load the rules (the error lists every problem) and set up the state.
    pub fn new(loader: RuleLoader, limits: EngineLimits) -> anyhow::Result<AlertEngine> {
        let rules = loader.load().map_err(|p| anyhow::anyhow!("{}", p.join("; ")))?;
        if !rules.dormant.is_empty() {
            tracing::info!(
                "alert rules left dormant (no stage before the alerts stage runs their model): {}",
                rules.dormant.join(", ")
            );
        }
        let mut sql = SqlRules::new(limits.lateness_secs, limits.window_rows)?;
        sql.set_rules(rules.sql_rules.clone())?;
        let watch = FileWatch::new(loader.files(), CHECK_EVERY);
        Ok(AlertEngine {
            loader,
            rules,
            thresholds: Thresholds::new(limits.max_keys),
            sql,
            history: SeriesHistory::default(),
            likelihood: MetricsLikelihood::default(),
            watch,
            sensor: vigil_ingest::flow::DEFAULT_SENSOR.to_string(),
            counts: EngineCounts::default(),
        })
    }

    /// Look at the rules files every `every` instead of every second (tests).
    pub fn check_files_every(mut self, every: Duration) -> Self {
        self.watch = FileWatch::new(self.loader.files(), every);
        self
    }

    /// The rules running now.
    pub fn rules(&self) -> &RuleSet {
        &self.rules
    }

    /// The counters so far.
    pub fn counts(&self) -> EngineCounts {
        let (late_rows, evicted_rows) = self.sql.dropped_rows();
        EngineCounts {
            suppressed: self.thresholds.suppressed,
            late_rows,
            evicted_rows,
            ..self.counts
        }
    }

    /// Thresholding buckets evicted at the cap so far.
    pub fn evicted(&self) -> u64 {
        self.thresholds.evicted()
    }

    /// Thresholding buckets held now.
    pub fn tracked_keys(&self) -> usize {
        self.thresholds.tracked_keys()
    }

    /// Reload the rules if their files changed; a set with problems is refused.
    pub fn reload_if_changed(&mut self) {
        if !self.watch.changed() {
            return;
        }
        match self.loader.load() {
            Ok(rules) => {
                if let Err(e) = self.sql.set_rules(rules.sql_rules.clone()) {
                    self.counts.failed_reloads += 1;
                    tracing::error!("alert rules not reloaded, the old ones keep running: {e:#}");
                    return;
                }
                self.thresholds.retain_rules(&rules.sids());
                tracing::info!(
                    model_rules = rules.model_rules.len(),
                    sql_rules = rules.sql_rules.len(),
                    "alert rules reloaded"
                );
                self.rules = rules;
                self.counts.reloads += 1;
            }
            Err(problems) => {
                self.counts.failed_reloads += 1;
                tracing::error!(
                    "alert rules not reloaded, the old ones keep running: {}",
                    problems.join("; ")
                );
            }
        }
    }

    /// Alerts raised by a scored batch (none for batches no rule reads).
    pub fn apply(&mut self, env: &Envelope) -> anyhow::Result<Option<Envelope>> {
        self.reload_if_changed();
        if let Some(s) = sensor_of(env) {
            self.sensor = s;
        }
        let mut likelihood = Vec::new();
        if env.kind == RecordKind::Metrics {
            likelihood = self.likelihood.push(&env.batch, &self.likelihood_params())?;
        }
        let mut raised = Vec::new();
        for i in 0..self.rules.model_rules.len() {
            let rule = &self.rules.model_rules[i];
            let Some(info) = self.loader.model(&rule.model) else { continue };
            let scored =
                Scored { batch: &env.batch, history: &self.history, likelihood: &likelihood };
            let found = matches(rule, info, env.kind, &scored)?;
            let meta = rule.meta.clone();
            raised.extend(found.into_iter().filter_map(|a| self.admit(&meta, a)));
        }
        if env.kind == RecordKind::Metrics {
            self.history.push(&env.batch)?;
        }
        let table = env.kind.table().name();
        if env.kind != RecordKind::Alerts && self.sql.reads(table) {
            self.sql.push(table, &env.batch)?;
        }
        if !raised.is_empty() && self.sql.reads("alerts") {
            self.sql.push("alerts", &alerts_batch(&raised)?)?;
        }
        raised.extend(self.sql_alerts(false)?);
        if let Some(w) = max_event_time(env) {
            raised.extend(self.thresholds.advance(w).into_iter().map(Alert::summary_of));
        }
        self.envelope(raised)
    }

    /// The likelihood parameters of the models a `likelihood` rule reads.
    fn likelihood_params(&self) -> HashMap<String, LikelihoodParams> {
        let rules = self.rules.model_rules.iter().filter(|r| r.field == "likelihood");
        rules
            .filter_map(|r| {
                let p = self.loader.model(&r.model)?.likelihood?;
                Some((r.model.clone(), p))
            })
            .collect()
    }

    /// End of input: every pending SQL window is evaluated, and every thresholding
    /// period still holding matches back is summarised.
    pub fn finish(&mut self) -> anyhow::Result<Option<Envelope>> {
        let mut raised = self.sql_alerts(true)?;
        raised.extend(self.thresholds.close_all().into_iter().map(Alert::summary_of));
        self.envelope(raised)
    }

    fn envelope(&self, raised: Vec<Alert>) -> anyhow::Result<Option<Envelope>> {
        if raised.is_empty() {
            return Ok(None);
        }
        Ok(Some(Envelope::new(RecordKind::Alerts, alerts_batch(&raised)?)))
    }

    fn sql_alerts(&mut self, finish: bool) -> anyhow::Result<Vec<Alert>> {
        let mut out = Vec::new();
        let found = self.sql.evaluate(finish)?;
        for m in found {
            let meta = self.rules.sql_rules[m.rule].meta.clone();
            for a in sql_alerts(&m, &self.sensor) {
                out.extend(self.admit(&meta, a));
            }
        }
        Ok(out)
    }

    /// Sign a match, then drop it if allowed or held back by thresholding.
    fn admit(&mut self, meta: &RuleMeta, mut a: Alert) -> Option<Alert> {
        a.sig = meta.signature();
        let key = AllowKey {
            sid: meta.sid,
            ips: [a.source_address(), a.dest_ip.as_deref()],
            ports: [a.src_port, a.dest_port],
            entity: a.entity.as_deref(),
        };
        if self.rules.allow.allows(&key) || meta.allow.as_ref().is_some_and(|l| l.allows(&key)) {
            self.counts.allowed += 1;
            return None;
        }
        let track =
            meta.threshold.key(a.source_address(), a.dest_ip.as_deref(), a.entity.as_deref());
        let ts = a.ts;
        let (mut a, held) = self.thresholds.admit(meta.sid, &meta.threshold, track, ts, a)?;
        a.suppressed = held;
        Some(a)
    }
}

/// The newest event time of a batch's rows, µs.
fn max_event_time(env: &Envelope) -> Option<i64> {
    use arrow_array::cast::AsArray;
    use arrow_array::types::TimestampMicrosecondType;
    let c = env.batch.column_by_name(env.kind.table().time_column())?;
    datafusion::arrow::compute::max(c.as_primitive_opt::<TimestampMicrosecondType>()?)
}

fn sensor_of(env: &Envelope) -> Option<String> {
    use arrow_array::Array;
    use arrow_array::cast::AsArray;
    let c = env.batch.column_by_name("sensor")?;
    let c = c.as_string_opt::<i32>()?;
    (!c.is_empty() && c.is_valid(0)).then(|| c.value(0).to_string())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use arrow_array::cast::AsArray;
    use vigil_ingest::actions::ActionEvent;

    use super::*;
    use crate::alerting::alert::ALERT_SUMMARY;
    use crate::alerting::rules::{ModelInfo, RuleSource};
    use crate::alerting::sql_rules::check_query;
    use crate::runtime::rows::actions_batch;
    use crate::runtime::sources::test_flow;

    const S: i64 = 1_000_000;
    const T0: i64 = 1_700_000_000 * S;

    fn engine() -> AlertEngine {
        let loader = RuleLoader::new(
            vec![RuleSource::Builtin],
            BTreeMap::<String, ModelInfo>::new(),
            Box::new(check_query),
        );
        AlertEngine::new(loader, EngineLimits::default()).unwrap()
    }

    /// A flow `src` → `dst`:`port` at `t` seconds after T0.
    fn flow(i: u64, src: &str, dst: &str, port: u16, t: i64) -> vigil_ingest::FlowRecord {
        let mut f = test_flow(i, &format!("C{i}"), 40_000 + (i % 20_000) as u16);
        f.orig_h = src.parse().unwrap();
        f.resp_h = dst.parse().unwrap();
        f.resp_p = port;
        f.ts_start = T0 + t * S;
        f.ts_end = f.ts_start + S;
        f
    }

    /// Benign background: 20 clients each talking to 3 servers on 2 ports, a flow
    /// every second over 10 minutes.
    fn background() -> Vec<vigil_ingest::FlowRecord> {
        (0..600)
            .map(|t| {
                let c = t % 20;
                let server = format!("10.1.0.{}", 1 + t % 3);
                flow(t as u64, &format!("10.0.0.{}", 10 + c), &server, [443, 53][t as usize % 2], t)
            })
            .collect()
    }

    /// What the engine raised: (signature id, suppressed count, summary) per row.
    fn raised(
        e: &mut AlertEngine,
        flows: Vec<vigil_ingest::FlowRecord>,
        actions: Vec<ActionEvent>,
    ) -> Vec<(u32, u64, bool)> {
        let mut flows = flows;
        flows.sort_by_key(|f| f.ts_start);
        let mut out = Vec::new();
        let mut take = |env: Option<Envelope>| {
            let Some(env) = env else { return };
            let b = &env.batch;
            let col = |n: &str| b.column_by_name(n).unwrap();
            let sid = col("signature_id").as_primitive::<arrow_array::types::UInt32Type>();
            let held = col("suppressed").as_primitive::<arrow_array::types::UInt64Type>();
            let kind = col("event_type").as_string::<i32>();
            for r in 0..b.num_rows() {
                out.push((sid.value(r), held.value(r), kind.value(r) == ALERT_SUMMARY));
            }
        };
        // Micro-batches of 50 rows, as a source would cut them.
        for chunk in flows.chunks(50) {
            let b = vigil_ingest::flows_to_batch(chunk, "s1").unwrap();
            take(e.apply(&Envelope::new(RecordKind::Flows, b)).unwrap());
        }
        for chunk in actions.chunks(50) {
            take(
                e.apply(&Envelope::new(RecordKind::Actions, actions_batch(chunk, "auth", "s1")))
                    .unwrap(),
            );
        }
        take(e.finish().unwrap());
        out
    }

    /// The signature ids of the alerts raised (summaries left out).
    fn sids_raised(
        e: &mut AlertEngine,
        flows: Vec<vigil_ingest::FlowRecord>,
        actions: Vec<ActionEvent>,
    ) -> Vec<u32> {
        raised(e, flows, actions).into_iter().filter(|r| !r.2).map(|r| r.0).collect()
    }

    #[test]
    fn background_alone_raises_nothing() {
        assert_eq!(sids_raised(&mut engine(), background(), Vec::new()), Vec::<u32>::new());
    }

    #[test]
    fn a_port_scan_a_host_sweep_and_a_brute_force_each_alert_once() {
        let mut flows = background();
        // A scan of 200 ports of one host in 20 s, from 10 minutes' background on.
        flows.extend((0..200).map(|p| {
            flow(10_000 + p, "203.0.113.5", "10.1.0.1", 1 + p as u16, 100 + p as i64 / 10)
        }));
        // A sweep of 100 hosts on port 22 in 50 s.
        flows.extend((0..100).map(|h| {
            flow(20_000 + h, "198.51.100.7", &format!("10.2.0.{h}"), 22, 300 + h as i64 / 2)
        }));
        // 40 failed SSH logins in 2 minutes, among successful ones of others.
        let mut actions: Vec<ActionEvent> = (0..40)
            .map(|i| ActionEvent {
                entity: "192.0.2.66".into(),
                ts: T0 + (200 + 3 * i) * S,
                action: "ssh_failed_password".into(),
                object: "root".into(),
            })
            .collect();
        actions.extend((0..100).map(|i| ActionEvent {
            entity: format!("10.0.0.{}", i % 20),
            ts: T0 + (150 + 2 * i) * S,
            action: "ssh_accepted_publickey".into(),
            object: "ops".into(),
        }));
        actions.sort_by_key(|a| a.ts);
        let mut e = engine();
        let all = raised(&mut e, flows, actions);
        let mut got: Vec<u32> = all.iter().filter(|r| !r.2).map(|r| r.0).collect();
        got.sort();
        assert_eq!(got, [9200001, 9200002, 9200003], "one alert each after suppression");
        // The repeats (the same scan seen by overlapping windows) were held back, and
        // each is accounted for by an alert or a summary when its period closed.
        let held = e.counts().suppressed;
        assert!(held > 0, "the repeats were held back");
        assert_eq!(all.iter().map(|r| r.1).sum::<u64>(), held, "{all:?}");
        assert!(all.iter().filter(|r| r.2).all(|r| got.contains(&r.0) && r.1 > 0), "{all:?}");
    }

    #[test]
    fn a_changed_rules_file_is_swapped_in_and_a_bad_one_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("local.toml");
        let rules = |having: &str| {
            format!(
                "[[sql]]\nsid = 1000001\nname = \"failures\"\ntables = [\"actions\"]\nwindow_secs = 60\n\
                 query = \"SELECT entity, COUNT(*) AS score FROM actions GROUP BY entity HAVING {having}\"\n"
            )
        };
        std::fs::write(&path, rules("COUNT(*) >= 3")).unwrap();
        let loader = RuleLoader::new(
            vec![RuleSource::File(path.clone())],
            BTreeMap::new(),
            Box::new(check_query),
        );
        let mut e = AlertEngine::new(loader, EngineLimits::default())
            .unwrap()
            .check_files_every(std::time::Duration::ZERO);
        // A file that does not check: the old rules keep running.
        std::fs::write(&path, rules("nope >= 3")).unwrap();
        e.reload_if_changed();
        assert_eq!((e.counts().reloads, e.counts().failed_reloads), (0, 1));
        assert!(e.rules().sql_rules[0].query.contains("COUNT(*) >= 3"));
        // A good one replaces them.
        std::fs::write(&path, rules("COUNT(*) >= 100")).unwrap();
        e.reload_if_changed();
        assert_eq!((e.counts().reloads, e.counts().failed_reloads), (1, 1));
        assert!(e.rules().sql_rules[0].query.contains(">= 100"));
    }
}
