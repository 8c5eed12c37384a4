//! The `alert_state` table: an analyst's decisions on alerts, appended, never edited
//! (the rows and the current-state query: [`vigil_ingest::alert_state`]). Appending
//! keeps the store's contract (files are written once, atomically) and keeps the
//! history: who acknowledged or escalated what, when, and why.

use std::path::{Path, PathBuf};

pub use vigil_ingest::alert_state::{
    AlertState, CURRENT_STATE_SQL, StateChange, current_state_sql, is_alert_id, state_batch,
};

use super::{StoreWriter, Table};

/// Append `changes` to the store at `root` (one file per month they fall in, written
/// atomically), as instance `instance`; returns the files written.
pub fn record_changes(
    root: &Path,
    instance: &str,
    changes: &[StateChange],
) -> anyhow::Result<Vec<PathBuf>> {
    if changes.is_empty() {
        return Ok(Vec::new());
    }
    let batch = state_batch(changes, instance)?;
    let writer = StoreWriter::new(root, instance);
    writer
        .write(Table::AlertState, &batch)
        .map_err(|e| anyhow::anyhow!("{}: writing alert state: {e}", root.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::{QueryLimits, open_store, run_query};

    fn change(id: &str, state: AlertState, ts: i64) -> StateChange {
        StateChange {
            alert_id: id.into(),
            state,
            actor: Some("ana".into()),
            comment: None,
            ts: 1_700_000_000_000_000 + ts,
        }
    }

    #[tokio::test]
    async fn the_latest_decision_is_the_state() {
        let dir = tempfile::tempdir().unwrap();
        record_changes(dir.path(), "console", &[change("a", AlertState::Escalated, 1)]).unwrap();
        record_changes(
            dir.path(),
            "console",
            &[change("a", AlertState::Acknowledged, 2), change("b", AlertState::Escalated, 3)],
        )
        .unwrap();
        let ctx = open_store(dir.path(), QueryLimits::default()).await.unwrap();
        let sql = format!("SELECT alert_id, state FROM ({CURRENT_STATE_SQL}) ORDER BY alert_id");
        let r = run_query(&ctx, &sql, &QueryLimits::default()).await.unwrap();
        let text =
            datafusion::arrow::util::pretty::pretty_format_batches(&r.batches).unwrap().to_string();
        assert!(text.contains("| a        | acknowledged |"), "{text}");
        assert!(text.contains("| b        | escalated    |"), "{text}");
        assert_eq!("ack".parse::<AlertState>(), Ok(AlertState::Acknowledged));
        assert!("closed".parse::<AlertState>().unwrap_err().contains("escalated"));
    }
}
