//! SQL rules over sliding event-time windows, evaluated incrementally: rows are kept
//! in memory per table ([`TableWindow`]) as they pass, never read back from the store.
//!
//! A rule with window `W` and step `S` is evaluated over `(e − W, e]` at each end `e`
//! that is a multiple of `S` (since the epoch) and has rows of the rule's tables in its
//! window, once the newest event time seen is `lateness` past `e`. Ends on a fixed grid
//! make the result the same however the rows were batched (a replay alerts as the live
//! run did). Rows arriving after every window they belong to was evaluated are late:
//! counted and dropped. The state is bounded by the tables' row caps.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use arrow_array::RecordBatch;
use datafusion::datasource::MemTable;
use datafusion::execution::context::SQLOptions;
use datafusion::logical_expr::LogicalPlan;
use datafusion::physical_plan::collect;
use datafusion::prelude::{SessionConfig, SessionContext};
use vigil_ingest::tables::Table;

use super::rules::SqlRuleDef;
use super::window::TableWindow;
use super::window_table::WindowTable;

/// Default lateness: how far behind the newest event time a window is evaluated.
pub const DEFAULT_LATENESS_SECS: u64 = 10;

/// One rule's result at one window end.
#[derive(Debug, Clone)]
pub struct SqlMatch {
    /// Index of the rule in the set given to [`SqlRules::set_rules`].
    pub rule: usize,
    /// The window, `(start, end]` in µs.
    pub window: (i64, i64),
    /// The result rows.
    pub batch: RecordBatch,
}

struct RuleState {
    def: SqlRuleDef,
    /// The query, planned and optimized once (over the window tables).
    plan: Option<LogicalPlan>,
    /// Window ends with rows, not evaluated yet.
    pending: BTreeSet<i64>,
    /// The last end evaluated.
    last_end: Option<i64>,
}

/// The SQL rules of an alerts stage and the windows they read.
pub struct SqlRules {
    rules: Vec<RuleState>,
    tables: BTreeMap<String, TableWindow>,
    /// The tables the queries read, by name, registered in `ctx`.
    providers: BTreeMap<String, Arc<WindowTable>>,
    lateness: i64,
    max_rows: usize,
    ctx: SessionContext,
    /// Windows evaluated so far.
    pub evaluations: u64,
}

fn context() -> SessionContext {
    SessionContext::new_with_config(SessionConfig::new().with_target_partitions(1))
}

fn read_only() -> SQLOptions {
    SQLOptions::new().with_allow_ddl(false).with_allow_dml(false).with_allow_statements(false)
}

fn table_of(name: &str) -> anyhow::Result<Table> {
    name.parse::<Table>().map_err(|e| anyhow::anyhow!(e))
}

/// Plan `query` over empty `tables` (their base columns): the start-up check of a
/// rule. Runs on its own thread, so it may be called from anywhere.
pub fn check_query(tables: &[String], query: &str) -> Result<(), String> {
    std::thread::scope(|s| {
        s.spawn(|| {
            let rt =
                tokio::runtime::Builder::new_current_thread().build().map_err(|e| e.to_string())?;
            rt.block_on(async {
                let ctx = context();
                for t in tables {
                    let schema = table_of(t).map_err(|e| e.to_string())?.base_schema();
                    let empty =
                        MemTable::try_new(schema, vec![vec![]]).map_err(|e| e.to_string())?;
                    ctx.register_table(t.as_str(), Arc::new(empty)).map_err(|e| e.to_string())?;
                }
                ctx.sql_with_options(query, read_only())
                    .await
                    .map(|_| ())
                    .map_err(|e| e.strip_backtrace().trim_end().to_string())
            })
        })
        .join()
        .unwrap_or_else(|_| Err("the query check panicked".to_string()))
    })
}

impl SqlRules {
    /// No rules yet; windows keep at most `max_rows` rows per table and are evaluated
    /// `lateness_secs` behind the newest event.
    pub fn new(lateness_secs: u64, max_rows: usize) -> anyhow::Result<SqlRules> {
        Ok(SqlRules {
            rules: Vec::new(),
            tables: BTreeMap::new(),
            lateness: lateness_secs as i64 * 1_000_000,
            max_rows,
            providers: BTreeMap::new(),
            ctx: context(),
            evaluations: 0,
        })
    }

    /// Run these rules from now on. A rule that was running with the same definition
    /// keeps its progress; tables no rule reads are dropped.
    pub fn set_rules(&mut self, defs: Vec<SqlRuleDef>) -> anyhow::Result<()> {
        let mut old: BTreeMap<u32, RuleState> =
            self.rules.drain(..).map(|r| (r.def.meta.sid, r)).collect();
        for def in defs {
            let state = match old.remove(&def.meta.sid) {
                Some(s)
                    if s.def.query == def.query
                        && s.def.window_us == def.window_us
                        && s.def.every_us == def.every_us
                        && s.def.tables == def.tables =>
                {
                    RuleState { def, ..s }
                }
                _ => RuleState { def, plan: None, pending: BTreeSet::new(), last_end: None },
            };
            self.rules.push(state);
        }
        let wanted: BTreeSet<&String> = self.rules.iter().flat_map(|r| &r.def.tables).collect();
        self.tables.retain(|t, _| wanted.contains(t));
        for t in wanted {
            if !self.tables.contains_key(t) {
                let w = TableWindow::new(table_of(t)?, self.max_rows);
                if !self.providers.contains_key(t) {
                    let p = WindowTable::new(w.schema());
                    self.ctx.register_table(t.as_str(), p.clone())?;
                    self.providers.insert(t.clone(), p);
                }
                self.tables.insert(t.clone(), w);
            }
        }
        Ok(())
    }

    /// Whether some rule reads `table`.
    pub fn reads(&self, table: &str) -> bool {
        self.tables.contains_key(table)
    }

    /// Rows late or evicted so far, over all tables.
    pub fn dropped_rows(&self) -> (u64, u64) {
        let late = self.tables.values().map(|t| t.late_rows).sum();
        (late, self.tables.values().map(|t| t.evicted_rows).sum())
    }

    /// Rows held now, over all tables.
    pub fn held_rows(&self) -> usize {
        self.tables.values().map(TableWindow::rows).sum()
    }

    /// Take in rows of `table` (ignored when no rule reads it).
    pub fn push(&mut self, table: &str, batch: &RecordBatch) -> anyhow::Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let readers: Vec<usize> = (0..self.rules.len())
            .filter(|i| self.rules[*i].def.tables.iter().any(|t| t == table))
            .collect();
        let Some(window) = self.tables.get_mut(table) else { return Ok(()) };
        // Rows at or before this were in every window they could be in, for every reader.
        let horizon = readers
            .iter()
            .map(|i| {
                let r = &self.rules[*i];
                r.last_end.map_or(i64::MIN, |e| e - r.def.window_us + r.def.every_us)
            })
            .min()
            .filter(|h| *h != i64::MIN);
        let times = window.push(batch, horizon)?;
        for i in readers {
            let r = &mut self.rules[i];
            let (w, s) = (r.def.window_us, r.def.every_us);
            let mut last = None;
            for t in &times {
                let first = t.div_euclid(s) * s + if t.rem_euclid(s) == 0 { 0 } else { s };
                if last == Some(first) {
                    continue;
                }
                last = Some(first);
                let mut e = first;
                while e < t.saturating_add(w) {
                    if r.last_end.is_none_or(|l| e > l) {
                        r.pending.insert(e);
                    }
                    e += s;
                }
            }
        }
        Ok(())
    }

    /// Evaluate the windows that are due (all pending ones when `finish`). Called
    /// from within an async runtime, the queries run on a thread of their own.
    pub fn evaluate(&mut self, finish: bool) -> anyhow::Result<Vec<SqlMatch>> {
        if self.rules.iter().all(|r| r.pending.is_empty()) {
            return Ok(Vec::new());
        }
        if tokio::runtime::Handle::try_current().is_ok() {
            return std::thread::scope(|s| {
                s.spawn(|| self.evaluate_here(finish))
                    .join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("a SQL rule's evaluation panicked")))
            });
        }
        self.evaluate_here(finish)
    }

    fn evaluate_here(&mut self, finish: bool) -> anyhow::Result<Vec<SqlMatch>> {
        let runtime = tokio::runtime::Builder::new_current_thread().build()?;
        let started = std::time::Instant::now();
        let before = self.evaluations;
        let mut out = Vec::new();
        for i in 0..self.rules.len() {
            let watermark = self.rules[i]
                .def
                .tables
                .iter()
                .filter_map(|t| self.tables.get(t).and_then(|w| w.watermark))
                .max();
            let Some(watermark) = watermark else { continue };
            let due: Vec<i64> = {
                let r = &self.rules[i];
                let limit = if finish { i64::MAX } else { watermark - self.lateness };
                r.pending.range(..=limit).copied().collect()
            };
            for end in due {
                let start = end - self.rules[i].def.window_us;
                if let Some(batch) = self.run(&runtime, i, start, end)? {
                    out.push(SqlMatch { rule: i, window: (start, end), batch });
                }
                let r = &mut self.rules[i];
                r.pending.remove(&end);
                r.last_end = Some(end);
            }
        }
        self.forget();
        tracing::debug!(
            windows = self.evaluations - before,
            ms = started.elapsed().as_secs_f64() * 1e3,
            "SQL rules evaluated"
        );
        Ok(out)
    }

    /// The rule's query over `(start, end]`; `None` when it returns no rows.
    fn run(
        &mut self,
        runtime: &tokio::runtime::Runtime,
        i: usize,
        start: i64,
        end: i64,
    ) -> anyhow::Result<Option<RecordBatch>> {
        for t in &self.rules[i].def.tables {
            self.providers[t].set(self.tables[t].slice(start, end)?);
        }
        self.evaluations += 1;
        let ctx = &self.ctx;
        let rule = &mut self.rules[i];
        let batches = runtime.block_on(async {
            if rule.plan.is_none() {
                let df = ctx.sql_with_options(&rule.def.query, read_only()).await?;
                rule.plan = Some(df.into_optimized_plan()?);
            }
            let state = ctx.state();
            let plan = rule.plan.as_ref().expect("planned above");
            let exec = state.query_planner().create_physical_plan(plan, &state).await?;
            collect(exec, state.task_ctx()).await
        });
        for t in &rule.def.tables {
            self.providers[t].set(Vec::new());
        }
        let batches = batches.map_err(|e| {
            anyhow::anyhow!("rule {}: {}", rule.def.meta.sid, e.strip_backtrace().trim_end())
        })?;
        let batches: Vec<RecordBatch> = batches.into_iter().filter(|b| b.num_rows() > 0).collect();
        if batches.is_empty() {
            return Ok(None);
        }
        let schema = batches[0].schema();
        Ok(Some(datafusion::arrow::compute::concat_batches(&schema, &batches)?))
    }

    /// Drop rows no rule's next window can reach.
    fn forget(&mut self) {
        for (name, w) in self.tables.iter_mut() {
            let horizon = self
                .rules
                .iter()
                .filter(|r| r.def.tables.contains(name))
                .map(|r| match (r.pending.first(), r.last_end) {
                    (Some(next), _) => next - r.def.window_us,
                    (None, Some(last)) => last - r.def.window_us + r.def.every_us,
                    (None, None) => i64::MIN,
                })
                .min();
            if let Some(h) = horizon.filter(|h| *h != i64::MIN) {
                w.forget_until(h);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use arrow_array::cast::AsArray;
    use arrow_array::types::Int64Type;
    use vigil_ingest::actions::ActionEvent;

    use super::*;
    use crate::alerting::rules::RuleMeta;
    use crate::alerting::threshold::{Threshold, Track};
    use crate::runtime::rows::actions_batch;

    const S: i64 = 1_000_000;

    fn rule(window: i64, every: i64, query: &str) -> SqlRuleDef {
        SqlRuleDef {
            meta: RuleMeta {
                sid: 1,
                gid: 1,
                rev: 1,
                signature: "t".into(),
                category: "c".into(),
                severity: 2,
                threshold: Threshold::limit_one(Track::ByEntity, 60),
                allow: None,
            },
            tables: vec!["actions".into()],
            window_us: window * S,
            every_us: every * S,
            query: query.into(),
        }
    }

    fn actions(rows: &[(&str, i64)]) -> RecordBatch {
        let events: Vec<ActionEvent> = rows
            .iter()
            .map(|(e, t)| ActionEvent {
                entity: e.to_string(),
                ts: t * S,
                action: "fail".into(),
                object: "o".into(),
            })
            .collect();
        actions_batch(&events, "test", "s1")
    }

    const COUNT: &str =
        "SELECT entity, COUNT(*) AS n FROM actions GROUP BY entity HAVING COUNT(*) >= 3";

    fn counts(m: &[SqlMatch]) -> Vec<(i64, i64)> {
        m.iter()
            .map(|m| (m.window.1 / S, m.batch.column(1).as_primitive::<Int64Type>().value(0)))
            .collect()
    }

    #[test]
    fn windows_are_evaluated_on_a_fixed_grid_however_rows_are_batched() {
        let rows: Vec<(&str, i64)> =
            vec![("a", 1), ("a", 2), ("a", 3), ("a", 14), ("b", 30), ("a", 100)];
        let mut whole = SqlRules::new(0, 1000).unwrap();
        whole.set_rules(vec![rule(10, 5, COUNT)]).unwrap();
        whole.push("actions", &actions(&rows)).unwrap();
        let mut got = whole.evaluate(false).unwrap();
        got.extend(whole.evaluate(true).unwrap());
        // Windows (−5, 5] and (0, 10] hold a's three rows; later ones do not.
        assert_eq!(counts(&got), [(5, 3), (10, 3)]);

        let mut one_by_one = SqlRules::new(0, 1000).unwrap();
        one_by_one.set_rules(vec![rule(10, 5, COUNT)]).unwrap();
        let mut got2 = Vec::new();
        for r in &rows {
            one_by_one.push("actions", &actions(&[*r])).unwrap();
            got2.extend(one_by_one.evaluate(false).unwrap());
        }
        got2.extend(one_by_one.evaluate(true).unwrap());
        assert_eq!(counts(&got2), counts(&got));
        // Only windows with rows were evaluated, and old rows were let go.
        assert!(one_by_one.evaluations <= 10, "{}", one_by_one.evaluations);
        assert!(one_by_one.held_rows() <= 1);
    }

    #[test]
    fn late_rows_within_the_lateness_count_and_later_ones_are_dropped() {
        let mut r = SqlRules::new(20, 1000).unwrap();
        r.set_rules(vec![rule(10, 5, COUNT)]).unwrap();
        r.push("actions", &actions(&[("a", 1), ("a", 2), ("a", 25)])).unwrap();
        // (−5, 5] is due at 25, with two rows.
        assert!(r.evaluate(false).unwrap().is_empty());
        // 3 s arrives out of order but within the lateness: (0, 10] still counts it.
        r.push("actions", &actions(&[("a", 3)])).unwrap();
        r.push("actions", &actions(&[("b", 40)])).unwrap();
        assert_eq!(counts(&r.evaluate(false).unwrap()), [(10, 3)]);
        // Now 4 s is too late: every window it belongs to was evaluated.
        r.push("actions", &actions(&[("a", 4)])).unwrap();
        assert_eq!(r.dropped_rows().0, 1);
    }

    #[test]
    fn queries_are_checked_against_the_tables() {
        assert!(check_query(&["flows".into()], "SELECT src_ip FROM flows").is_ok());
        let e = check_query(&["flows".into()], "SELECT nope FROM flows").unwrap_err();
        assert!(e.contains("nope"), "{e}");
        assert!(check_query(&["flows".into()], "SELECT * FROM actions").is_err());
        assert!(check_query(&["flows".into()], "DROP TABLE flows").is_err());
    }
}
