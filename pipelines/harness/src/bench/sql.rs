//! Our SQL (DataFusion over the store) against DuckDB on the same Parquet files.
//!
//! The store is synthetic but shaped like a sensor's: flows with skewed talkers,
//! common service ports and heavy-tailed byte counts, alerts from the four model
//! families, spread over a few hours and written as the runtime writes them (one
//! file per batch and hour through [`StoreWriter`]). Three saved queries run on it,
//! ours in-process through [`open_store`] and [`run_query`], DuckDB in a Python child
//! (`read_parquet(..., hive_partitioning=true)` views under the table names), each
//! timed warm (after one untimed run), best of N, interpreter start-up excluded.

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde::Serialize;
use vigil_ingest::flow::EndReason;
use vigil_ingest::{DirectionStats, FlowRecord};

use vigil_pipelines::alerting::{Alert, ModelRef, Signature, alerts_batch};
use vigil_pipelines::sql::{QueryLimits, open_store, run_query, saved_query};
use vigil_pipelines::store::{StoreWriter, Table, compact_table, list_files};

/// 2026-11-29 00:00:00 UTC in µs: where the synthetic data starts.
const START_US: i64 = 1_795_910_400_000_000;

/// A small deterministic generator, so every run writes the same store.
use vigil_ingest::synth::SplitMix64 as Rng;

/// What to write into the synthetic store.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct SyntheticSpec {
    /// Flow rows.
    pub flows: usize,
    /// Alert rows.
    pub alerts: usize,
    /// Hours the rows are spread over.
    pub hours: u32,
    /// Rows per written batch (the runtime's `batch.max_rows`).
    pub batch_rows: usize,
}

impl Default for SyntheticSpec {
    fn default() -> Self {
        SyntheticSpec { flows: 1_000_000, alerts: 500_000, hours: 6, batch_rows: 4096 }
    }
}

fn synthetic_flow(rng: &mut Rng, id: u64, ts: i64) -> FlowRecord {
    // Talkers are skewed (u³ puts most flows on a few hosts); servers less so.
    let src = (2000.0 * rng.unit().powi(3)) as u32;
    let dst = (50_000.0 * rng.unit().powi(2)) as u32;
    const SERVICES: [(u16, u8); 10] = [
        (443, 6),
        (80, 6),
        (53, 17),
        (443, 6),
        (22, 6),
        (123, 17),
        (8080, 6),
        (445, 6),
        (3389, 6),
        (25, 6),
    ];
    let (port, proto) = SERVICES[rng.below(SERVICES.len() as u64) as usize];
    // Heavy-tailed sizes: 2^(6..26) bytes.
    let orig_bytes = 2f64.powf(6.0 + 14.0 * rng.unit()) as u64;
    let resp_bytes = 2f64.powf(6.0 + 20.0 * rng.unit().powi(2)) as u64;
    let dir = |bytes: u64| DirectionStats {
        pkts: bytes / 700 + 1,
        bytes,
        ip_bytes: bytes + 40 * (bytes / 700 + 1),
        wire_bytes: bytes + 54 * (bytes / 700 + 1),
        tcp_flags: if proto == 6 { 0x1b } else { 0 },
    };
    let states = ["SF", "SF", "SF", "S0", "REJ", "RSTO", "OTH"];
    FlowRecord {
        flow_id: id,
        uid: format!("C{id:017x}"),
        community_id: format!("1:{:022x}", rng.next_u64() >> 24),
        ts_start: ts,
        ts_end: ts + rng.below(30_000_000) as i64,
        orig_h: IpAddr::V4(Ipv4Addr::new(10, 0, (src >> 8) as u8, src as u8)),
        orig_p: 32768 + rng.below(28000) as u16,
        resp_h: IpAddr::V4(Ipv4Addr::new(
            if dst < 5000 { 10 } else { 93 },
            (dst >> 16) as u8,
            (dst >> 8) as u8,
            dst as u8,
        )),
        resp_p: port,
        proto,
        vlan: None,
        inner_vlan: None,
        orig: dir(orig_bytes),
        resp: dir(resp_bytes),
        conn_state: if proto == 6 { states[rng.below(states.len() as u64) as usize] } else { "SF" },
        history: if proto == 6 { "ShADadFf".into() } else { "Dd".into() },
        missed_bytes: 0,
        tunnel_parents: Vec::new(),
        end_reason: EndReason::Closed,
    }
}

/// The models, their labels (none for iTransformer) and score ranges of the alerts.
const ALERT_MODELS: [(&str, &[&str], f32, f32); 4] = [
    ("netfound", &["HTTP", "TLS", "DNS", "SSH", "SMB"], 0.8, 1.0),
    (
        "flow-transformer-cicids2017",
        &["DDoS", "DoS Hulk", "PortScan", "Bot", "SSH-Patator"],
        0.9,
        1.0,
    ),
    ("itransformer-etth1", &[], 4.0, 40.0),
    ("hstu-user-actions", &["GET", "POST", "HEAD"], 12.0, 30.0),
];

fn synthetic_alert(rng: &mut Rng, ts: i64, flow: Option<&FlowRecord>) -> Alert {
    let rule = rng.below(ALERT_MODELS.len() as u64) as usize;
    let (model, labels, lo, hi) = ALERT_MODELS[rule];
    let label = (!labels.is_empty()).then(|| labels[rng.below(labels.len() as u64) as usize]);
    // Scores pile up near the threshold.
    let score = lo + (hi - lo) * rng.unit().powi(3) as f32;
    let flow = flow.filter(|_| rule < 2);
    Alert {
        ts,
        sig: Signature {
            sid: 9_100_001 + rule as u32,
            gid: 1,
            rev: 1,
            text: format!("{model}: synthetic"),
            category: "Anomalous Activity".into(),
            severity: 2,
        },
        model: ModelRef { name: model.into(), version: Some("1".into()), sha256: None },
        flow_id: flow.map(|f| f.flow_id),
        community_id: flow.map(|f| f.community_id.clone()),
        src_ip: flow.map(|f| f.orig_h.to_string()),
        src_port: flow.map(|f| f.orig_p),
        dest_ip: flow.map(|f| f.resp_h.to_string()),
        dest_port: flow.map(|f| f.resp_p),
        proto: flow.map(|f| f.proto),
        entity: flow.is_none().then(|| format!("entity-{}", rng.below(500))),
        label: label.map(str::to_owned),
        score,
        evidence: serde_json::json!({ "value": score }),
        sensor: "bench".into(),
        ..Default::default()
    }
}

/// Write the synthetic store at `root` (which should be empty), batch by batch in
/// time order as a sensor would.
pub fn write_synthetic_store(root: &Path, spec: SyntheticSpec) -> anyhow::Result<()> {
    let writer = StoreWriter::new(root, "bench");
    let span = i64::from(spec.hours.max(1)) * 3_600_000_000;
    let mut rng = Rng(42);
    let step = |n: usize| span / n.max(1) as i64;
    let mut batch = Vec::with_capacity(spec.batch_rows);
    let mut recent: Vec<FlowRecord> = Vec::new();
    for i in 0..spec.flows {
        let ts = START_US + i as i64 * step(spec.flows);
        batch.push(synthetic_flow(&mut rng, i as u64, ts));
        if batch.len() == spec.batch_rows || i + 1 == spec.flows {
            writer.write(Table::Flows, &vigil_ingest::flows_to_batch(&batch, "bench")?)?;
            recent = std::mem::take(&mut batch);
        }
    }
    let mut alerts = Vec::with_capacity(spec.batch_rows);
    for i in 0..spec.alerts {
        let ts = START_US + i as i64 * step(spec.alerts);
        let flow = (!recent.is_empty()).then(|| &recent[rng.below(recent.len() as u64) as usize]);
        alerts.push(synthetic_alert(&mut rng, ts, flow));
        if alerts.len() == spec.batch_rows || i + 1 == spec.alerts {
            writer.write(Table::Alerts, &alerts_batch(&alerts)?)?;
            alerts.clear();
        }
    }
    Ok(())
}

/// One query, ours and DuckDB's spelling of it.
#[derive(Debug, Clone, Serialize)]
pub struct BenchQuery {
    /// The saved query's name.
    pub name: &'static str,
    /// Our SQL.
    pub ours: &'static str,
    /// DuckDB's: the same, but `approx_quantile` (DuckDB's t-digest) for
    /// `approx_percentile_cont` (DataFusion's).
    pub duckdb: String,
}

/// The three representative queries: top talkers by bytes (flows), alerts per minute
/// by model and score percentiles per label (alerts).
pub fn bench_queries() -> Vec<BenchQuery> {
    ["top-talkers", "alerts-per-minute", "score-percentiles"]
        .into_iter()
        .map(|name| {
            let q = saved_query(name).expect("a saved query");
            BenchQuery {
                name: q.name,
                ours: q.sql,
                duckdb: q.sql.replace("approx_percentile_cont(", "approx_quantile("),
            }
        })
        .collect()
}

/// One query's timing on one layout.
#[derive(Debug, Clone, Serialize)]
pub struct QueryTiming {
    /// The query.
    pub name: String,
    /// Result rows (ours).
    pub rows: usize,
    /// Our best, ms.
    pub ours_ms: f64,
    /// DuckDB's best, ms, when it ran.
    pub duckdb_ms: Option<f64>,
    /// DuckDB's result rows.
    pub duckdb_rows: Option<usize>,
}

impl QueryTiming {
    /// Ours / DuckDB's.
    pub fn ratio(&self) -> Option<f64> {
        self.duckdb_ms.map(|d| self.ours_ms / d)
    }
}

/// Time `queries` on the store at `root` in-process, best of `repeat` after one
/// untimed run. `options` are DataFusion settings (`SET key = value`) tried on top of
/// the store's.
pub fn time_ours(
    root: &Path,
    queries: &[BenchQuery],
    repeat: usize,
    options: &[(String, String)],
) -> anyhow::Result<Vec<(usize, f64)>> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        let ctx = open_store(root, QueryLimits::default()).await?;
        for (k, v) in options {
            ctx.sql(&format!("SET {k} = {v}")).await?.collect().await?;
        }
        let limits = QueryLimits { timeout: Duration::from_secs(600), ..QueryLimits::default() };
        let mut out = Vec::new();
        for q in queries {
            let rows: usize =
                run_query(&ctx, q.ours, &limits).await?.batches.iter().map(|b| b.num_rows()).sum();
            let mut best = f64::INFINITY;
            for _ in 0..repeat.max(1) {
                let t0 = Instant::now();
                run_query(&ctx, q.ours, &limits).await?;
                best = best.min(t0.elapsed().as_secs_f64() * 1000.0);
            }
            out.push((rows, best));
        }
        Ok(out)
    })
}

/// DuckDB's side: views over the Parquet files, then each query warm, best of N.
const DUCKDB: &str = r#"
import json, sys, time
import duckdb
store, repeat, queries = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3])
con = duckdb.connect()
for t in ("flows", "alerts"):
    path = f"{store}/{t}/**/*.parquet".replace("'", "''")
    con.execute(f"CREATE VIEW {t} AS SELECT * FROM read_parquet('{path}', hive_partitioning=true)")
out = []
for q in queries:
    rows = len(con.execute(q).fetchall())
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        con.execute(q).fetchall()
        best = min(best, (time.perf_counter() - t0) * 1000)
    out.append([rows, best])
print(json.dumps({"version": duckdb.__version__, "timings": out}))
"#;

/// A Python with `duckdb`: `explicit` if given, else `python3` if it imports it.
pub fn find_duckdb_python(explicit: Option<&Path>) -> Result<PathBuf, String> {
    let candidate = explicit.map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("python3"));
    let ok = Command::new(&candidate)
        .args(["-c", "import duckdb"])
        .output()
        .map_err(|e| format!("{}: {e}", candidate.display()))?;
    if ok.status.success() {
        Ok(candidate)
    } else {
        Err(format!(
            "{} cannot import duckdb (pip install duckdb, then pass --duckdb-python)",
            candidate.display()
        ))
    }
}

/// DuckDB's version and its (rows, best ms) per query.
pub fn time_duckdb(
    python: &Path,
    root: &Path,
    queries: &[BenchQuery],
    repeat: usize,
) -> anyhow::Result<(String, Vec<(usize, f64)>)> {
    let sql: Vec<&str> = queries.iter().map(|q| q.duckdb.as_str()).collect();
    let root = std::path::absolute(root)?;
    let out = Command::new(python)
        .args(["-c", DUCKDB])
        .arg(&root)
        .arg(repeat.max(1).to_string())
        .arg(serde_json::to_string(&sql)?)
        .output()?;
    anyhow::ensure!(out.status.success(), "duckdb: {}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    let version = v["version"].as_str().unwrap_or_default().to_string();
    let timings = serde_json::from_value(v["timings"].clone())?;
    Ok((version, timings))
}

/// The queries on one layout of the store.
#[derive(Debug, Clone, Serialize)]
pub struct LayoutTimings {
    /// `as written` or `compacted`.
    pub layout: String,
    /// Parquet files of `flows` and `alerts`.
    pub files: (usize, usize),
    /// Per query.
    pub queries: Vec<QueryTiming>,
}

/// Everything `vigil bench sql` found.
#[derive(Debug, Clone, Serialize)]
pub struct SqlBench {
    /// What the store holds.
    pub spec: SyntheticSpec,
    /// DataFusion settings tried on top of the store's.
    pub options: Vec<(String, String)>,
    /// DuckDB's version, or why it did not run.
    pub duckdb: Result<String, String>,
    /// As the runtime writes (one file per batch and hour), then compacted.
    pub layouts: Vec<LayoutTimings>,
}

fn file_counts(root: &Path) -> anyhow::Result<(usize, usize)> {
    Ok((list_files(root, Table::Flows)?.len(), list_files(root, Table::Alerts)?.len()))
}

/// Write the synthetic store under `root`, time the queries ours and DuckDB's, then
/// compact every hour into one file and time them again.
pub fn bench_sql(
    root: &Path,
    spec: SyntheticSpec,
    repeat: usize,
    options: &[(String, String)],
    duckdb_python: Result<PathBuf, String>,
) -> anyhow::Result<SqlBench> {
    write_synthetic_store(root, spec)?;
    let queries = bench_queries();
    let mut version: Result<String, String> =
        duckdb_python.as_ref().map(|_| String::new()).map_err(Clone::clone);
    let mut layouts = Vec::new();
    for layout in ["as written", "compacted"] {
        if layout == "compacted" {
            for table in [Table::Flows, Table::Alerts] {
                compact_table(root, table, "bench", 2, u64::MAX)?;
            }
        }
        let ours = time_ours(root, &queries, repeat, options)?;
        let theirs = match &duckdb_python {
            Ok(py) => match time_duckdb(py, root, &queries, repeat) {
                Ok((v, t)) => {
                    version = Ok(v);
                    Some(t)
                }
                Err(e) => {
                    version = Err(e.to_string());
                    None
                }
            },
            Err(_) => None,
        };
        let queries = queries
            .iter()
            .zip(&ours)
            .enumerate()
            .map(|(i, (q, (rows, ms)))| QueryTiming {
                name: q.name.to_string(),
                rows: *rows,
                ours_ms: *ms,
                duckdb_ms: theirs.as_ref().map(|t| t[i].1),
                duckdb_rows: theirs.as_ref().map(|t| t[i].0),
            })
            .collect();
        layouts.push(LayoutTimings { layout: layout.into(), files: file_counts(root)?, queries });
    }
    Ok(SqlBench { spec, options: options.to_vec(), duckdb: version, layouts })
}

/// The ratio target: ours at most 1.2× DuckDB's time.
pub const TARGET_RATIO: f64 = 1.2;

impl std::fmt::Display for SqlBench {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "store: {} flows, {} alerts over {} h, written {} rows a batch",
            self.spec.flows, self.spec.alerts, self.spec.hours, self.spec.batch_rows
        )?;
        if !self.options.is_empty() {
            let o: Vec<String> = self.options.iter().map(|(k, v)| format!("{k}={v}")).collect();
            writeln!(f, "DataFusion options: {}", o.join(", "))?;
        }
        match &self.duckdb {
            Ok(v) => writeln!(f, "DuckDB {v} (Python, warm, interpreter start-up excluded)")?,
            Err(why) => writeln!(f, "DuckDB skipped: {why}")?,
        }
        for l in &self.layouts {
            writeln!(f, "\n{} ({} flows files, {} alerts files):", l.layout, l.files.0, l.files.1)?;
            writeln!(
                f,
                "{:<18} {:>6} {:>10} {:>10} {:>8}  target <= {TARGET_RATIO}x",
                "query", "rows", "vigil ms", "duckdb ms", "ratio"
            )?;
            for q in &l.queries {
                let (d, r, ok) = match (q.duckdb_ms, q.ratio()) {
                    (Some(d), Some(r)) => (
                        format!("{d:.1}"),
                        format!("{r:.2}x"),
                        if r <= TARGET_RATIO { "met" } else { "missed" },
                    ),
                    _ => ("-".into(), "-".into(), ""),
                };
                let mismatch = match q.duckdb_rows {
                    Some(n) if n != q.rows => format!(" (DuckDB returned {n} rows)"),
                    _ => String::new(),
                };
                writeln!(
                    f,
                    "{:<18} {:>6} {:>10.1} {:>10} {:>8}  {ok}{mismatch}",
                    q.name, q.rows, q.ours_ms, d, r
                )?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_synthetic_store_answers_the_bench_queries() {
        let dir = tempfile::tempdir().unwrap();
        let spec = SyntheticSpec { flows: 3000, alerts: 500, hours: 2, batch_rows: 1000 };
        write_synthetic_store(dir.path(), spec).unwrap();
        assert!(list_files(dir.path(), Table::Flows).unwrap().len() >= 3);
        let queries = bench_queries();
        assert!(queries[2].duckdb.contains("approx_quantile(score, 0.5)"));
        let timed = time_ours(dir.path(), &queries, 1, &[]).unwrap();
        let rows: Vec<usize> = timed.iter().map(|t| t.0).collect();
        assert_eq!(rows[0], 20, "top talkers: the top 20");
        assert!(rows[1] > 120, "alerts per minute and model over two hours: {rows:?}");
        // netFound 5, FlowTransformer 5, HSTU 3 labels, iTransformer none.
        assert_eq!(rows[2], 14);
    }
}
