//! Named queries for analysts: `vigil sql --saved NAME`.

/// One named query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SavedQuery {
    /// Its name.
    pub name: &'static str,
    /// What it answers.
    pub about: &'static str,
    /// The SQL.
    pub sql: &'static str,
}

/// Every saved query.
pub const SAVED_QUERIES: &[SavedQuery] = &[
    SavedQuery {
        name: "top-talkers",
        about: "Originators by bytes sent and received (IP bytes), with flow and peer counts",
        // Per (source, peer) first, then per source: the same figures as one GROUP BY
        // with count(DISTINCT dst_ip), without a distinct set per group.
        sql: "SELECT src_ip, sum(flows) AS flows, count(*) AS peers, \
              sum(bytes_out) AS bytes_out, sum(bytes_in) AS bytes_in, \
              sum(bytes_out + bytes_in) AS bytes \
              FROM (SELECT src_ip, dst_ip, count(*) AS flows, sum(orig_ip_bytes) AS bytes_out, \
              sum(resp_ip_bytes) AS bytes_in FROM flows GROUP BY src_ip, dst_ip) \
              GROUP BY src_ip ORDER BY bytes DESC, src_ip LIMIT 20",
    },
    SavedQuery {
        name: "scan-suspects",
        about: "Originators reaching many hosts or ports with mostly unanswered or refused \
                connections (Zeek states S0, REJ, RSTOS0, RSTR, SH, OTH)",
        sql: "SELECT src_ip, count(*) AS flows, count(DISTINCT dst_ip) AS hosts, \
              count(DISTINCT dst_port) AS ports, \
              round(avg(CASE WHEN conn_state IN ('S0','REJ','RSTOS0','RSTR','SH','OTH') \
              THEN 1.0 ELSE 0.0 END), 3) AS failed_share \
              FROM flows WHERE proto = 6 GROUP BY src_ip \
              HAVING count(DISTINCT dst_ip) >= 10 OR count(DISTINCT dst_port) >= 10 \
              ORDER BY failed_share DESC, ports DESC, src_ip LIMIT 20",
    },
    SavedQuery {
        name: "alerts-by-model",
        about: "Alerts per model, signature and severity, with their score range",
        sql: "SELECT model, signature, severity, count(*) AS alerts, \
              min(score) AS min_score, max(score) AS max_score, \
              min(timestamp) AS first_seen, max(timestamp) AS last_seen \
              FROM alerts WHERE event_type = 'alert' GROUP BY model, signature, severity \
              ORDER BY alerts DESC, model, signature",
    },
    SavedQuery {
        name: "alerts-per-minute",
        about: "Alerts per minute and model",
        sql: "SELECT date_trunc('minute', timestamp) AS minute, model, count(*) AS alerts \
              FROM alerts WHERE event_type = 'alert' GROUP BY 1, 2 ORDER BY 1, 2",
    },
    SavedQuery {
        name: "score-percentiles",
        about: "Alert score percentiles (p50, p90, p99) per model and label",
        sql: "SELECT model, label, count(*) AS alerts, \
              approx_percentile_cont(score, 0.5) AS p50, \
              approx_percentile_cont(score, 0.9) AS p90, \
              approx_percentile_cont(score, 0.99) AS p99 \
              FROM alerts WHERE event_type = 'alert' GROUP BY model, label \
              ORDER BY model, label",
    },
    SavedQuery {
        name: "alert-queue",
        about: "Alerts not acknowledged, escalated first, then by severity and time, with \
                their state (alert_state) and the repeats held back",
        sql: concat!(
            "SELECT * FROM (SELECT a.timestamp, a.alert_id, COALESCE(s.state, 'new') AS state, \
             s.actor, a.severity, a.signature, a.signature_id, a.src_ip, a.dest_ip, a.dest_port, \
             a.entity, a.model, a.score, a.suppressed \
             FROM alerts a LEFT JOIN (",
            vigil_ingest::current_state_sql!(),
            ") s ON a.alert_id = s.alert_id WHERE a.event_type = 'alert') q \
             WHERE q.state <> 'acknowledged' \
             ORDER BY CASE WHEN q.state = 'escalated' THEN 0 ELSE 1 END, q.severity, \
             q.timestamp DESC, q.alert_id LIMIT 100"
        ),
    },
    SavedQuery {
        name: "surprising-actions",
        about: "The actions HSTU found least expected (highest −log p), per entity",
        sql: "SELECT ts, entity, action, object, surprise, rank, predicted FROM actions \
              WHERE surprise IS NOT NULL ORDER BY surprise DESC, ts LIMIT 20",
    },
    SavedQuery {
        name: "metric-anomalies",
        about: "Metric steps with the highest iTransformer anomaly score",
        sql: "SELECT ts, series, value, forecast, anomaly_score FROM metrics \
              WHERE anomaly_score IS NOT NULL ORDER BY anomaly_score DESC, ts LIMIT 20",
    },
    SavedQuery {
        name: "dead-letters",
        about: "Input that could not be read, per source and error",
        sql: "SELECT source, error, count(*) AS rows, min(position) AS first_position \
              FROM dead_letters GROUP BY source, error ORDER BY rows DESC, source",
    },
];

/// The saved query called `name`.
pub fn saved_query(name: &str) -> Option<&'static SavedQuery> {
    SAVED_QUERIES.iter().find(|q| q.name == name)
}
