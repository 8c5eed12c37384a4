//! `GET /api/alerts/stream`: new alerts as server-sent events.
//!
//! The console reads the store, so it polls: every second it reads the newest alerts
//! (by event time) and sends those it has not sent, as one `alerts` event holding a JSON
//! array. Alerts already in the store when the stream opens are not sent. A replay of
//! old traffic whose alerts are older than the newest [`WINDOW`] is not streamed; the
//! alert list shows it.

use std::collections::{HashSet, VecDeque};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::stream::{self, Stream};
use serde_json::Value;

use super::sql::objects;
use crate::serve::Shared;

/// The newest alerts looked at per poll.
pub const WINDOW: usize = 500;
/// Ids remembered as sent.
const SEEN: usize = 20_000;
const POLL: Duration = Duration::from_secs(1);

struct Cursor {
    shared: Arc<Shared>,
    seen: HashSet<String>,
    order: VecDeque<String>,
    primed: bool,
}

impl Cursor {
    /// The newest alerts not sent yet (none on the first poll: those are history).
    async fn poll(&mut self) -> Vec<Value> {
        let sql = format!(
            "SELECT timestamp, alert_id, severity, signature, signature_id, category, src_ip, \
             src_port, dest_ip, dest_port, entity, community_id, flow_id, model, label, score \
             FROM alerts WHERE event_type = 'alert' AND alert_id IS NOT NULL \
             ORDER BY timestamp DESC LIMIT {WINDOW}"
        );
        let rows = match self.shared.backend.sql(&sql).await {
            Ok(out) => objects(&out.batches).unwrap_or_default(),
            Err(e) => {
                tracing::debug!("alert stream: {}", e.message);
                return Vec::new();
            }
        };
        let mut new = Vec::new();
        for r in rows.into_iter().rev() {
            let Some(id) = r.get("alert_id").and_then(Value::as_str).map(str::to_string) else {
                continue;
            };
            if self.seen.insert(id.clone()) {
                self.order.push_back(id);
                if self.primed {
                    new.push(Value::Object(r));
                }
            }
        }
        while self.order.len() > SEEN {
            if let Some(old) = self.order.pop_front() {
                self.seen.remove(&old);
            }
        }
        self.primed = true;
        new
    }
}

/// The stream: an `alerts` event (a JSON array, oldest first) whenever new ones land.
pub async fn stream(
    State(shared): State<Arc<Shared>>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let mut cursor = Cursor { shared, seen: HashSet::new(), order: VecDeque::new(), primed: false };
    cursor.poll().await;
    let events = stream::unfold(cursor, |mut c| async move {
        loop {
            tokio::time::sleep(POLL).await;
            let new = c.poll().await;
            if !new.is_empty() {
                let event = Event::default().event("alerts").data(Value::Array(new).to_string());
                return Some((Ok(event), c));
            }
        }
    });
    Sse::new(events).keep_alive(KeepAlive::default())
}
