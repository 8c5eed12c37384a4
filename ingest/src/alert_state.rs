//! The `alert_state` table's rows: an analyst's decisions on alerts, appended, never
//! edited. An alert's state is that of its latest row ([`CURRENT_STATE_SQL`]), `new`
//! when it has none. Shared by the store (which writes them) and the console.

use std::sync::Arc;

use arrow_array::builder::{StringBuilder, TimestampMicrosecondBuilder};
use arrow_array::{ArrayRef, RecordBatch};

use crate::tables::Table;

/// What an analyst decided about an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AlertState {
    /// Not looked at yet (or reopened).
    New,
    /// Seen and dealt with: out of the queue (EveBox's "archive").
    Acknowledged,
    /// Needs attention: kept at the top of the queue.
    Escalated,
}

impl AlertState {
    /// The `state` column's value.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::New => "new",
            AlertState::Acknowledged => "acknowledged",
            AlertState::Escalated => "escalated",
        }
    }
}

impl std::str::FromStr for AlertState {
    type Err = String;

    /// The state's name, or the verb that sets it (`ack`, `escalate`, `reopen`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "new" | "reopen" | "open" => Ok(AlertState::New),
            "acknowledged" | "ack" | "archive" => Ok(AlertState::Acknowledged),
            "escalated" | "escalate" => Ok(AlertState::Escalated),
            _ => Err(format!("unknown alert state `{s}` (new, acknowledged, escalated)")),
        }
    }
}

/// Whether `id` looks like an `alert_id` (hex digits and dashes, at most 64): the
/// check that lets an id be put in a query as a literal.
pub fn is_alert_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.chars().all(|c| c.is_ascii_hexdigit() || c == '-')
}

/// One decision on one alert.
#[derive(Debug, Clone, PartialEq)]
pub struct StateChange {
    /// The alert (`alerts.alert_id`).
    pub alert_id: String,
    /// Its new state.
    pub state: AlertState,
    /// Who decided.
    pub actor: Option<String>,
    /// Why.
    pub comment: Option<String>,
    /// When, µs since the epoch.
    pub ts: i64,
}

/// [`CURRENT_STATE_SQL`] as a literal, for `concat!`.
#[macro_export]
macro_rules! current_state_sql {
    () => {
        "SELECT alert_id, last_value(state ORDER BY ts) AS state, max(ts) AS state_ts, \
         last_value(actor ORDER BY ts) AS actor, last_value(comment ORDER BY ts) AS comment \
         FROM alert_state GROUP BY alert_id"
    };
}
pub use current_state_sql;

/// Each alert's current state and who set it, for joining with `alerts` on `alert_id`.
pub const CURRENT_STATE_SQL: &str = current_state_sql!();

/// The changes as rows of `alert_state`, written by `sensor`.
pub fn state_batch(
    changes: &[StateChange],
    sensor: &str,
) -> Result<RecordBatch, arrow_schema::ArrowError> {
    let n = changes.len();
    let mut ts = TimestampMicrosecondBuilder::with_capacity(n).with_timezone("UTC");
    let (mut id, mut state) = (StringBuilder::new(), StringBuilder::new());
    let (mut actor, mut comment, mut by) =
        (StringBuilder::new(), StringBuilder::new(), StringBuilder::new());
    for c in changes {
        ts.append_value(c.ts);
        id.append_value(&c.alert_id);
        state.append_value(c.state.as_str());
        actor.append_option(c.actor.as_deref());
        comment.append_option(c.comment.as_deref());
        by.append_value(sensor);
    }
    let cols: Vec<ArrayRef> = vec![
        Arc::new(ts.finish()),
        Arc::new(id.finish()),
        Arc::new(state.finish()),
        Arc::new(actor.finish()),
        Arc::new(comment.finish()),
        Arc::new(by.finish()),
    ];
    RecordBatch::try_new(Table::AlertState.base_schema(), cols)
}
