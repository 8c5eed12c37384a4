//! A stage's counters as the runtime reports them ([`StageSnapshot`]): in
//! `<store>/_stats/<sensor>.json`, on `/metrics` (Prometheus text,
//! [`prometheus_text`]), and in `vigil stats` ([`stages_table`]). The live counters
//! are the runtime's; this is the shape anything that shows them (the CLI, the
//! dashboard) shares.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

/// Upper bounds of the latency histogram's buckets, in milliseconds.
pub const LATENCY_BUCKETS_MS: [f64; 10] =
    [1.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 1000.0, 5000.0, 30000.0];

/// Upper bounds of the alert latency buckets, in milliseconds (+Inf follows).
pub const ALERT_LATENCY_BUCKETS_MS: [f64; 22] = [
    1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 75.0, 100.0, 125.0, 150.0, 175.0, 200.0, 250.0, 300.0, 400.0,
    500.0, 750.0, 1000.0, 2000.0, 5000.0, 10000.0, 30000.0,
];

/// A point-in-time copy of one stage's counters.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StageSnapshot {
    /// The stage's name in the topology.
    pub stage: String,
    /// `source`, `transform` or `sink`.
    pub role: String,
    /// Records taken in.
    pub records_in: u64,
    /// Records passed on (sources: produced; sinks: committed).
    pub records_out: u64,
    /// Records a scoring stage could not score and passed on unscored.
    #[serde(default)]
    pub unscored: u64,
    /// Records turned into dead letters.
    pub dead_lettered: u64,
    /// Records lost (a failed write or stage); any loss fails the run.
    #[serde(default)]
    pub lost: u64,
    /// Alert stages: suppression keys evicted because the state hit its cap.
    #[serde(default)]
    pub suppression_evicted: u64,
    /// Scoring stages: flows at the alerting threshold left without occlusion evidence
    /// (past the per-batch cap).
    #[serde(default)]
    pub unexplained: u64,
    /// Scoring stages: models reloaded because their artifact changed.
    #[serde(default)]
    pub model_reloads: u64,
    /// Scoring stages: reloads refused (the loaded model kept serving).
    #[serde(default)]
    pub model_reload_failures: u64,
    /// Rows its inputs passed on that it has not finished with yet: queued in its input
    /// channel, and for a sink also held or being written. The lag behind its inputs.
    #[serde(default)]
    pub pending_rows: u64,
    /// Store sinks: waiting for space on a full disk now (reading nothing meanwhile).
    #[serde(default)]
    pub disk_full: bool,
    /// Store sinks: files removed to make room on a full disk, and their bytes.
    #[serde(default)]
    pub room_made_files: u64,
    /// See `room_made_files`.
    #[serde(default)]
    pub room_made_bytes: u64,
    /// Why the stage failed, if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Batches processed.
    pub batches: u64,
    /// Batch counts per latency bucket ([`LATENCY_BUCKETS_MS`], then +Inf).
    pub latency_buckets: Vec<u64>,
    /// Total batch processing time.
    pub latency_seconds_sum: f64,
    /// Sources: time spent reading and decoding, not counting `blocked_seconds`.
    #[serde(default)]
    pub busy_seconds: f64,
    /// Sources: time spent waiting on full downstream channels.
    #[serde(default)]
    pub blocked_seconds: f64,
    /// Time spent turning records into model inputs (scoring transforms; capture
    /// sources read by netFound, whose packet tokens are made as packets arrive).
    #[serde(default)]
    pub tokenize_seconds: f64,
    /// Scoring transforms: time spent in scoring (model inputs, the model, its outputs).
    #[serde(default)]
    pub score_seconds: f64,
    /// Kafka sources: the partitions this instance owns now.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub partitions: Vec<PartitionSnapshot>,
    /// Packet sources: weird events by name (Zeek's names, and the clock guard's
    /// `timestamp_*`), as counted so far.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub weirds: BTreeMap<String, u64>,
    /// Webhook sinks: deliveries, retries and what is spooled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook: Option<WebhookSnapshot>,
    /// Sinks of alerts: alerts per latency bucket ([`ALERT_LATENCY_BUCKETS_MS`], then
    /// +Inf), the time from their source batch's oldest row arriving to the alert
    /// being written (EVE, Kafka) or spooled (webhook).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alert_latency_buckets: Vec<u64>,
    /// The sum of those latencies.
    #[serde(default)]
    pub alert_latency_seconds_sum: f64,
}

impl StageSnapshot {
    /// The `q` quantile (0..=1) of the alert latency in milliseconds, interpolated
    /// linearly within its bucket (as Prometheus' `histogram_quantile`); `None` without
    /// alerts. Past the last bound, the last bound.
    pub fn alert_latency_ms(&self, q: f64) -> Option<f64> {
        histogram_quantile(&ALERT_LATENCY_BUCKETS_MS, &self.alert_latency_buckets, q)
    }
}

/// The `q` quantile of a histogram of counts per bucket with upper `bounds` (then +Inf).
pub fn histogram_quantile(bounds: &[f64], counts: &[u64], q: f64) -> Option<f64> {
    let total: u64 = counts.iter().sum();
    if total == 0 {
        return None;
    }
    let rank = q.clamp(0.0, 1.0) * total as f64;
    let mut seen = 0u64;
    for (i, n) in counts.iter().enumerate() {
        if *n > 0 && (seen + n) as f64 >= rank {
            let Some(hi) = bounds.get(i) else { return bounds.last().copied() };
            let lo = if i == 0 { 0.0 } else { bounds[i - 1] };
            return Some(lo + (hi - lo) * ((rank - seen as f64) / *n as f64).clamp(0.0, 1.0));
        }
        seen += n;
    }
    bounds.last().copied()
}

/// A webhook sink's delivery counters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookSnapshot {
    /// Alerts the receiver answered 2xx to.
    pub delivered: u64,
    /// Failed attempts (each retried).
    pub retries: u64,
    /// Failed attempts answered with a permanent client error (4xx but 408, 425, 429).
    pub rejected: u64,
    /// Alerts spooled and not yet delivered.
    pub pending: u64,
}

/// One Kafka partition a source owns: offsets as librdkafka last reported them (-1:
/// unknown yet).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionSnapshot {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// The next offset to consume.
    pub next_offset: i64,
    /// The offset committed for the group.
    pub committed_offset: i64,
    /// The partition's end (high watermark).
    pub high_watermark: i64,
    /// Messages not yet consumed: high watermark less the next offset.
    pub lag: i64,
}

/// The counters as a table for people, one row per stage, each failure below it.
pub fn stages_table(stages: &[StageSnapshot], indent: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{indent}{:<18} {:<9} {:>10} {:>10} {:>8} {:>8} {:>6} {:>8} {:>8}",
        "stage", "role", "in", "out", "unscored", "dead", "lost", "batches", "avg ms"
    );
    for s in stages {
        let avg = if s.batches > 0 { s.latency_seconds_sum * 1e3 / s.batches as f64 } else { 0.0 };
        let _ = writeln!(
            out,
            "{indent}{:<18} {:<9} {:>10} {:>10} {:>8} {:>8} {:>6} {:>8} {:>8.1}",
            s.stage,
            s.role,
            s.records_in,
            s.records_out,
            s.unscored,
            s.dead_lettered,
            s.lost,
            s.batches,
            avg
        );
    }
    for s in stages {
        if let (Some(p50), Some(p99)) = (s.alert_latency_ms(0.5), s.alert_latency_ms(0.99)) {
            let _ = writeln!(
                out,
                "{indent}sink `{}`: alert latency p50 {p50:.1} ms, p99 {p99:.1} ms",
                s.stage
            );
        }
    }
    for s in stages.iter().filter(|s| s.pending_rows > 0) {
        let _ = writeln!(out, "{indent}{} `{}`: {} rows pending", s.role, s.stage, s.pending_rows);
    }
    for s in stages.iter().filter(|s| s.disk_full) {
        let _ = writeln!(out, "{indent}{} `{}`: DISK FULL, waiting for space", s.role, s.stage);
    }
    for s in stages.iter().filter(|s| !s.weirds.is_empty()) {
        let counts: Vec<String> = s.weirds.iter().map(|(k, v)| format!("{k} {v}")).collect();
        let _ = writeln!(out, "{indent}{} `{}`: weirds: {}", s.role, s.stage, counts.join(", "));
    }
    for s in stages {
        if let Some(e) = &s.error {
            let _ = writeln!(out, "{indent}FAILED {} `{}`: {e}", s.role, s.stage);
        }
    }
    out
}

/// The snapshot in Prometheus' text exposition format.
pub fn prometheus_text(stages: &[StageSnapshot]) -> String {
    let mut out = String::new();
    let counters = [
        ("vigil_stage_records_in_total", "Records taken in by the stage.", 0),
        ("vigil_stage_records_out_total", "Records passed on by the stage.", 1),
        ("vigil_stage_unscored_total", "Records passed on unscored.", 2),
        ("vigil_stage_dead_lettered_total", "Records the stage turned into dead letters.", 3),
        ("vigil_stage_lost_total", "Records lost by the stage (a failed write or stage).", 4),
        ("vigil_stage_suppression_evicted_total", "Alert suppression keys evicted at the cap.", 5),
        ("vigil_stage_unexplained_total", "Flows at the alerting threshold left unexplained.", 6),
        ("vigil_stage_model_reloads_total", "Models reloaded after their artifact changed.", 7),
        ("vigil_stage_model_reload_failures_total", "Model reloads refused.", 8),
        ("vigil_stage_room_made_files_total", "Files removed to make room on a full disk.", 9),
        ("vigil_stage_room_made_bytes_total", "Bytes removed to make room on a full disk.", 10),
    ];
    for (name, help, which) in counters {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
        for s in stages {
            let v = [
                s.records_in,
                s.records_out,
                s.unscored,
                s.dead_lettered,
                s.lost,
                s.suppression_evicted,
                s.unexplained,
                s.model_reloads,
                s.model_reload_failures,
                s.room_made_files,
                s.room_made_bytes,
            ][which];
            let _ = writeln!(out, "{name}{{stage=\"{}\",role=\"{}\"}} {v}", s.stage, s.role);
        }
    }
    let seconds = [
        ("vigil_stage_busy_seconds_total", "Time a source spent reading and decoding."),
        ("vigil_stage_blocked_seconds_total", "Time a source waited on full channels."),
        ("vigil_stage_tokenize_seconds_total", "Time spent making model inputs."),
        ("vigil_stage_score_seconds_total", "Time spent scoring."),
    ];
    for (which, (name, help)) in seconds.into_iter().enumerate() {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
        for s in stages {
            let v = [s.busy_seconds, s.blocked_seconds, s.tokenize_seconds, s.score_seconds][which];
            let _ = writeln!(out, "{name}{{stage=\"{}\",role=\"{}\"}} {v}", s.stage, s.role);
        }
    }
    let name = "vigil_stage_pending_rows";
    let help = "Rows passed to the stage that it has not finished with (its lag).";
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
    for s in stages {
        let v = s.pending_rows;
        let _ = writeln!(out, "{name}{{stage=\"{}\",role=\"{}\"}} {v}", s.stage, s.role);
    }
    let name = "vigil_stage_disk_full";
    let _ = writeln!(
        out,
        "# HELP {name} 1 while a store sink waits for disk space.\n# TYPE {name} gauge"
    );
    for s in stages {
        let v = u8::from(s.disk_full);
        let _ = writeln!(out, "{name}{{stage=\"{}\",role=\"{}\"}} {v}", s.stage, s.role);
    }
    let name = "vigil_stage_failed";
    let _ = writeln!(out, "# HELP {name} 1 when the stage failed.\n# TYPE {name} gauge");
    for s in stages {
        let v = u8::from(s.error.is_some());
        let _ = writeln!(out, "{name}{{stage=\"{}\",role=\"{}\"}} {v}", s.stage, s.role);
    }
    if stages.iter().any(|s| !s.weirds.is_empty()) {
        let name = "vigil_stage_weirds_total";
        let _ = writeln!(out, "# HELP {name} Weird packets by name.\n# TYPE {name} counter");
        for s in stages {
            for (weird, v) in &s.weirds {
                let _ = writeln!(out, "{name}{{stage=\"{}\",name=\"{weird}\"}} {v}", s.stage);
            }
        }
    }
    let gauges = [
        ("vigil_kafka_partition_lag", "Messages of an owned partition not yet consumed."),
        ("vigil_kafka_partition_committed_offset", "The group's committed offset."),
        ("vigil_kafka_partition_high_watermark", "The partition's end offset."),
    ];
    for (which, (name, help)) in gauges.into_iter().enumerate() {
        if stages.iter().all(|s| s.partitions.is_empty()) {
            break;
        }
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
        for s in stages {
            for p in &s.partitions {
                let v = [p.lag, p.committed_offset, p.high_watermark][which];
                let _ = writeln!(
                    out,
                    "{name}{{stage=\"{}\",topic=\"{}\",partition=\"{}\"}} {v}",
                    s.stage, p.topic, p.partition
                );
            }
        }
    }
    let webhook = [
        ("vigil_webhook_delivered_total", "Alerts the webhook receiver accepted (2xx).", "counter"),
        ("vigil_webhook_retries_total", "Webhook attempts that failed and are retried.", "counter"),
        (
            "vigil_webhook_rejected_total",
            "Webhook attempts refused with a permanent 4xx.",
            "counter",
        ),
        ("vigil_webhook_pending", "Alerts spooled and not yet delivered.", "gauge"),
    ];
    for (which, (name, help, kind)) in webhook.into_iter().enumerate() {
        if stages.iter().all(|s| s.webhook.is_none()) {
            break;
        }
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for s in stages {
            if let Some(w) = &s.webhook {
                let v = [w.delivered, w.retries, w.rejected, w.pending][which];
                let _ = writeln!(out, "{name}{{stage=\"{}\"}} {v}", s.stage);
            }
        }
    }
    let name = "vigil_stage_batch_seconds";
    let _ = writeln!(out, "# HELP {name} Time to process one batch.\n# TYPE {name} histogram");
    for s in stages {
        let labels = format!("stage=\"{}\",role=\"{}\"", s.stage, s.role);
        let mut cumulative = 0;
        for (i, n) in s.latency_buckets.iter().enumerate() {
            cumulative += n;
            let le = LATENCY_BUCKETS_MS
                .get(i)
                .map(|ms| format!("{}", ms / 1000.0))
                .unwrap_or_else(|| "+Inf".to_string());
            let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{le}\"}} {cumulative}");
        }
        let _ = writeln!(out, "{name}_sum{{{labels}}} {}", s.latency_seconds_sum);
        let _ = writeln!(out, "{name}_count{{{labels}}} {}", s.batches);
    }
    let name = "vigil_alert_latency_seconds";
    if stages.iter().any(|s| !s.alert_latency_buckets.is_empty()) {
        let _ = writeln!(
            out,
            "# HELP {name} From an alert's source rows arriving to the alert written.\n\
             # TYPE {name} histogram"
        );
    }
    for s in stages.iter().filter(|s| !s.alert_latency_buckets.is_empty()) {
        let labels = format!("stage=\"{}\"", s.stage);
        let mut cumulative = 0;
        for (i, n) in s.alert_latency_buckets.iter().enumerate() {
            cumulative += n;
            let le = ALERT_LATENCY_BUCKETS_MS
                .get(i)
                .map(|ms| format!("{}", ms / 1000.0))
                .unwrap_or_else(|| "+Inf".to_string());
            let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{le}\"}} {cumulative}");
        }
        let _ = writeln!(out, "{name}_sum{{{labels}}} {}", s.alert_latency_seconds_sum);
        let _ = writeln!(out, "{name}_count{{{labels}}} {cumulative}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_interpolate_within_their_bucket() {
        let bounds = [10.0, 20.0, 50.0];
        // 10 in (0, 10], 10 in (10, 20], none above.
        let counts = [10, 10, 0, 0];
        assert_eq!(histogram_quantile(&bounds, &counts, 0.5), Some(10.0));
        assert_eq!(histogram_quantile(&bounds, &counts, 0.75), Some(15.0));
        assert_eq!(histogram_quantile(&bounds, &[0, 0, 0, 3], 0.99), Some(50.0));
        assert_eq!(histogram_quantile(&bounds, &[0; 4], 0.5), None);
    }
}
