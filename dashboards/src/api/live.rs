//! `GET /api/alerts/stream`: new alerts as server-sent events.
//!
//! Alerts reach the stream two ways, and each is sent once (by id):
//! - pushed: a runtime serving its own console publishes every alert it writes to a
//!   [`LiveAlerts`] feed (the topology's `dashboard` sink), whatever its event time;
//! - polled: every second the newest alerts of the store (by event time) are read, so
//!   that alerts written by other instances into the same store show too. A replay of
//!   old traffic whose alerts are older than the newest [`WINDOW`] is seen only when
//!   pushed; the alert list shows it either way.
//!
//! Alerts already in the store when the stream opens are not sent.

use std::collections::{HashSet, VecDeque};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use arrow_array::cast::AsArray;
use arrow_array::{Array, RecordBatch};
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::stream::{self, Stream};
use serde_json::{Map, Value};
use tokio::sync::broadcast;

use super::sql::objects;
use crate::serve::Shared;

/// The newest alerts looked at per poll.
pub const WINDOW: usize = 500;
/// Ids remembered as sent.
const SEEN: usize = 20_000;
const POLL: Duration = Duration::from_secs(1);
/// Pushed batches a slow stream may fall behind by before it skips to polling.
const FEED_DEPTH: usize = 256;

/// The fields a live alert carries.
const LIVE_COLUMNS: [&str; 17] = [
    "timestamp",
    "alert_id",
    "severity",
    "signature",
    "signature_id",
    "category",
    "src_ip",
    "src_port",
    "dest_ip",
    "dest_port",
    "entity",
    "community_id",
    "flow_id",
    "model",
    "label",
    "score",
    "sensor",
];

/// A batch of alerts as JSON objects, shared by every stream.
type Pushed = Arc<Vec<Map<String, Value>>>;

/// Alerts pushed to the console's live streams as a runtime writes them. Cloning
/// shares the feed; publishing with no stream open costs a projection only.
#[derive(Debug, Clone)]
pub struct LiveAlerts {
    tx: broadcast::Sender<Pushed>,
}

impl Default for LiveAlerts {
    fn default() -> Self {
        LiveAlerts { tx: broadcast::channel(FEED_DEPTH).0 }
    }
}

impl LiveAlerts {
    /// A feed with no stream open.
    pub fn new() -> LiveAlerts {
        LiveAlerts::default()
    }

    /// Publish the alerts of an `alerts` batch (rows of another event type, such as
    /// `alert_summary`, are left out); returns how many were published.
    pub fn publish(&self, batch: &RecordBatch) -> anyhow::Result<usize> {
        if self.tx.receiver_count() == 0 {
            return Ok(0);
        }
        let keep: Vec<usize> =
            LIVE_COLUMNS.iter().filter_map(|c| batch.schema().index_of(c).ok()).collect();
        let is_alert: Vec<bool> = match batch.column_by_name("event_type") {
            Some(c) => {
                let c = c
                    .as_string_opt::<i32>()
                    .ok_or_else(|| anyhow::anyhow!("`event_type` is not text"))?;
                (0..batch.num_rows()).map(|r| c.is_valid(r) && c.value(r) == "alert").collect()
            }
            None => vec![true; batch.num_rows()],
        };
        let rows: Vec<Map<String, Value>> = objects(&[batch.project(&keep)?])?
            .into_iter()
            .zip(is_alert)
            .filter_map(|(r, alert)| (alert && r.contains_key("alert_id")).then_some(r))
            .collect();
        let n = rows.len();
        if n > 0 {
            // No stream open between the check and now is not an error.
            let _ = self.tx.send(Arc::new(rows));
        }
        Ok(n)
    }

    fn subscribe(&self) -> broadcast::Receiver<Pushed> {
        self.tx.subscribe()
    }
}

struct Cursor {
    shared: Arc<Shared>,
    feed: Option<broadcast::Receiver<Pushed>>,
    seen: HashSet<String>,
    order: VecDeque<String>,
}

impl Cursor {
    /// Those of `rows` not sent yet, remembered as sent.
    fn fresh(&mut self, rows: impl IntoIterator<Item = Map<String, Value>>) -> Vec<Value> {
        let mut new = Vec::new();
        for r in rows {
            let Some(id) = r.get("alert_id").and_then(Value::as_str).map(str::to_string) else {
                continue;
            };
            if self.seen.insert(id.clone()) {
                self.order.push_back(id);
                new.push(Value::Object(r));
            }
        }
        while self.order.len() > SEEN {
            if let Some(old) = self.order.pop_front() {
                self.seen.remove(&old);
            }
        }
        new
    }

    /// The store's newest alerts, oldest first.
    async fn newest(&self) -> Vec<Map<String, Value>> {
        let sql = format!(
            "SELECT {} FROM alerts WHERE event_type = 'alert' AND alert_id IS NOT NULL \
             ORDER BY timestamp DESC LIMIT {WINDOW}",
            LIVE_COLUMNS.join(", ")
        );
        match self.shared.backend.sql(&sql).await {
            Ok(out) => objects(&out.batches).unwrap_or_default().into_iter().rev().collect(),
            Err(e) => {
                tracing::debug!("alert stream: {}", e.message);
                Vec::new()
            }
        }
    }

    /// The next pushed batch (never, without a feed or once it closed; a stream that
    /// fell behind skips to the newest and leaves the rest to polling).
    async fn pushed(&mut self) -> Vec<Map<String, Value>> {
        let Some(rx) = self.feed.as_mut() else { return std::future::pending().await };
        loop {
            match rx.recv().await {
                Ok(rows) => return rows.as_ref().clone(),
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::debug!("alert stream: {n} pushed batches skipped (polling has them)");
                }
                Err(broadcast::error::RecvError::Closed) => {
                    self.feed = None;
                    return std::future::pending().await;
                }
            }
        }
    }
}

/// The stream: an `alerts` event (a JSON array, oldest first) whenever new ones land.
pub async fn stream(
    State(shared): State<Arc<Shared>>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let feed = shared.live.as_ref().map(LiveAlerts::subscribe);
    let mut cursor = Cursor { shared, feed, seen: HashSet::new(), order: VecDeque::new() };
    // What the store holds now is history.
    let history = cursor.newest().await;
    cursor.fresh(history);
    let mut tick = tokio::time::interval(POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let events = stream::unfold((cursor, tick), |(mut c, mut tick)| async move {
        loop {
            let rows = tokio::select! {
                rows = c.pushed() => rows,
                _ = tick.tick() => c.newest().await,
            };
            let new = c.fresh(rows);
            if !new.is_empty() {
                let event = Event::default().event("alerts").data(Value::Array(new).to_string());
                return Some((Ok(event), (c, tick)));
            }
        }
    });
    Sse::new(events).keep_alive(KeepAlive::default())
}
