//! Stage counters (with rates, lag and latency quantiles) and model manifests.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use serde_json::{Value, json};
use vigil_ingest::stage_stats::StageSnapshot;

use crate::serve::Shared;

/// Each stage's output rate, measured between requests at least [`RATE_WINDOW`] apart.
#[derive(Debug, Default)]
pub(crate) struct Rates {
    last: Option<(Instant, HashMap<String, u64>)>,
    per_second: HashMap<String, f64>,
}

/// The shortest interval a rate is measured over.
const RATE_WINDOW: Duration = Duration::from_secs(1);

impl Rates {
    /// Update with the counters `now` and return the latest rates.
    fn update(&mut self, stages: &[StageSnapshot], now: Instant) -> HashMap<String, f64> {
        let out: HashMap<String, u64> =
            stages.iter().map(|s| (s.stage.clone(), s.records_out)).collect();
        match &self.last {
            Some((at, _)) if now.duration_since(*at) < RATE_WINDOW => {}
            Some((at, before)) => {
                let dt = now.duration_since(*at).as_secs_f64();
                self.per_second = out
                    .iter()
                    .filter_map(|(k, v)| {
                        before.get(k).map(|b| (k.clone(), v.saturating_sub(*b) as f64 / dt))
                    })
                    .collect();
                self.last = Some((now, out));
            }
            None => self.last = Some((now, out)),
        }
        self.per_second.clone()
    }
}

/// `GET /api/stats`: `{"stages": […]}`, each stage's counters with, where known, its
/// output rate (`out_per_second`, over the time since an earlier request at least a
/// second before), its Kafka lag (`lag`, summed over its partitions) and its alert
/// latency quantiles (`alert_latency_p50_ms`, `alert_latency_p99_ms`).
pub async fn stats(State(shared): State<Arc<Shared>>) -> Json<Value> {
    let stages = shared.backend.stats();
    let rates = shared.rates.lock().expect("rates lock").update(&stages, Instant::now());
    let stages: Vec<Value> = stages
        .iter()
        .map(|s| {
            let mut v = serde_json::to_value(s).unwrap_or(Value::Null);
            if let Value::Object(m) = &mut v {
                if let Some(r) = rates.get(&s.stage) {
                    m.insert("out_per_second".into(), json!(r));
                }
                if !s.partitions.is_empty() {
                    let lag: i64 = s.partitions.iter().map(|p| p.lag.max(0)).sum();
                    m.insert("lag".into(), json!(lag));
                }
                if let (Some(p50), Some(p99)) = (s.alert_latency_ms(0.5), s.alert_latency_ms(0.99))
                {
                    m.insert("alert_latency_p50_ms".into(), json!(p50));
                    m.insert("alert_latency_p99_ms".into(), json!(p99));
                }
            }
            v
        })
        .collect();
    Json(json!({ "stages": stages }))
}

/// `GET /metrics`: the counters in Prometheus' text format.
pub async fn metrics(State(shared): State<Arc<Shared>>) -> impl IntoResponse {
    let text = vigil_ingest::stage_stats::prometheus_text(&shared.backend.stats());
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text)
}

/// `GET /api/models`: every model manifest (metrics, thresholds, operating points).
pub async fn models(State(shared): State<Arc<Shared>>) -> Json<Value> {
    Json(Value::Array(shared.backend.models()))
}
