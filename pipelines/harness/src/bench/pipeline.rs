//! End-to-end throughput of the streaming runtime, one source type at a time.
//!
//! Each source type runs through the real runtime ([`Runner`]) in a topology built
//! in code (like `vigil demo`'s): the source, its model's score transform, an alert
//! rule and the store sink, into a temporary store. The figures are the source's
//! records in per wall-clock second (model loading excluded), the rows committed,
//! where the busy time went (see [`TimeShares`]) and the process's peak RSS, which
//! is why `vigil bench pipeline` runs each source type in a child process of its own.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::cpu_seconds;
use vigil_pipelines::runtime::config::{
    AlertRule, BatchConfig, RulesConfig, SinkConfig, SourceConfig, StoreConfig, TransformConfig,
};
use vigil_pipelines::runtime::stats::StageSnapshot;
use vigil_pipelines::runtime::{Runner, Topology, TopologyConfig};

/// The source types the bench runs.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "kebab-case")]
pub enum SourceKind {
    /// A capture → flows and netFound tokens → netFound.
    Capture,
    /// A CICFlowMeter CSV → FlowTransformer (CIC-IDS2017).
    FlowCsv,
    /// A metrics CSV → iTransformer.
    Metrics,
    /// An access log → HSTU.
    Actions,
}

impl SourceKind {
    /// Every source type, in report order.
    pub const ALL: [SourceKind; 4] =
        [SourceKind::Capture, SourceKind::FlowCsv, SourceKind::Metrics, SourceKind::Actions];

    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            SourceKind::Capture => "capture",
            SourceKind::FlowCsv => "flow-csv",
            SourceKind::Metrics => "metrics",
            SourceKind::Actions => "actions",
        }
    }

    /// The model artifact (under `onnx/artifacts/`) that scores this source.
    pub fn model(self) -> &'static str {
        match self {
            SourceKind::Capture => "netfound",
            SourceKind::FlowCsv => "flow-transformer-cicids2017",
            SourceKind::Metrics => "itransformer-etth1",
            SourceKind::Actions => "hstu-user-actions",
        }
    }
}

/// One source type's input and, for metrics, the iTransformer overrides.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PipelineInput {
    /// The source type.
    pub kind: SourceKind,
    /// The file it reads.
    pub path: PathBuf,
    /// iTransformer: the series to forecast instead of the manifest's.
    pub series: Option<Vec<String>>,
    /// iTransformer: the grid step in seconds instead of the manifest's.
    pub step_seconds: Option<f64>,
    /// The model graph's precision (`fp32`, `int8`, `fp16`); `None`: the score stage's
    /// default (fp32).
    #[serde(default)]
    pub precision: Option<String>,
}

impl PipelineInput {
    /// An input with the model's own settings; a long metrics file of one series
    /// (NAB's `timestamp,value`) gets that series on a 300 s grid, as in `vigil demo`.
    pub fn new(kind: SourceKind, path: PathBuf) -> PipelineInput {
        let mut input =
            PipelineInput { kind, path, series: None, step_seconds: None, precision: None };
        if kind == SourceKind::Metrics && is_single_series(&input.path) {
            let stem = input.path.file_stem().map(|s| s.to_string_lossy().into_owned());
            input.series = stem.map(|s| vec![s]);
            input.step_seconds = Some(300.0);
        }
        input
    }
}

fn is_single_series(path: &Path) -> bool {
    let header =
        std::fs::read_to_string(path).ok().and_then(|t| t.lines().next().map(str::to_owned));
    header.is_some_and(|h| h.trim() == "timestamp,value")
}

/// The topology for one source type: source → score → alerts → store.
pub fn topology(input: &PipelineInput, models: &Path, store: &Path) -> TopologyConfig {
    let source = match input.kind {
        SourceKind::Capture => {
            SourceConfig::Pcap { paths: vec![input.path.clone()], follow: false }
        }
        SourceKind::FlowCsv => {
            SourceConfig::FlowCsv { path: input.path.clone(), mapping: "cicflowmeter".into() }
        }
        SourceKind::Metrics => SourceConfig::Metrics { path: input.path.clone() },
        SourceKind::Actions => {
            SourceConfig::Actions { path: input.path.clone(), format: Some("access".into()) }
        }
    };
    let rule = |field: Option<&str>, not_label: Option<&str>, min_score: f32| AlertRule {
        name: format!("{}: bench rule", input.kind.model()),
        model: input.kind.model().into(),
        label: None,
        not_label: not_label.map(str::to_owned),
        field: field.map(str::to_owned),
        min_score: Some(min_score),
        severity: Some(2),
        suppress_secs: Some(60),
        ..AlertRule::default()
    };
    // The thresholds of `vigil demo`.
    let rule = match input.kind {
        SourceKind::Capture => rule(Some("malicious"), None, 0.8),
        SourceKind::FlowCsv => rule(None, Some("BENIGN"), 0.9),
        SourceKind::Metrics => rule(None, None, 4.0),
        SourceKind::Actions => rule(None, None, 12.0),
    };
    let score = TransformConfig::Score {
        model: models.join(input.kind.model()),
        inputs: vec!["source".into()],
        device: None,
        precision: input.precision.clone(),
        embedding: false,
        // The bench measures the scoring path; occlusion evidence is off (above 1).
        explain_above: Some(2.0),
        explain_max_rows: None,
        series: input.series.clone(),
        step_seconds: input.step_seconds,
        max_batch: None,
        max_delay_ms: None,
    };
    let alerts = TransformConfig::Alerts {
        inputs: vec!["score".into()],
        rules: RulesConfig::Inline(vec![rule]),
        suppress_max_keys: None,
        lateness_secs: None,
        window_max_rows: None,
    };
    TopologyConfig {
        sensor: "bench".into(),
        store: StoreConfig { dir: Some(store.to_path_buf()), ..StoreConfig::default() },
        batch: BatchConfig::default(),
        channel_capacity: 8,
        scoring: Default::default(),
        http: None,
        sources: [("source".to_string(), source)].into(),
        transforms: [("score".to_string(), score), ("alerts".to_string(), alerts)].into(),
        sinks: [(
            "store".to_string(),
            SinkConfig::Store { inputs: vec!["score".into(), "alerts".into()] },
        )]
        .into(),
        until_idle_secs: None,
        user: None,
        models: Vec::new(),
    }
}

/// Where the stages' busy time went, in seconds (summed over stages that run side by
/// side, so the total exceeds the wall time when they overlap).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct TimeShares {
    /// Sources reading and decoding (capture: packets, flow table, Arrow batches),
    /// less their tokenizing.
    pub decode_s: f64,
    /// Records → model inputs (netFound's packet tokens in the capture source;
    /// flow windows, variate windows and action sequences in the transforms).
    pub tokenize_s: f64,
    /// Model inputs → verdicts (tensors, ONNX Runtime, outputs).
    pub score_s: f64,
    /// Sinks: Parquet files written and committed.
    pub write_s: f64,
    /// The rest of the transforms' batch time: verdict columns, alert rules, waits
    /// for a scoring thread.
    pub other_s: f64,
}

impl TimeShares {
    /// The shares from the stages' counters.
    pub fn from_stages(stages: &[StageSnapshot]) -> TimeShares {
        let mut t = TimeShares::default();
        for s in stages {
            match s.role.as_str() {
                "source" => {
                    t.decode_s += (s.busy_seconds - s.tokenize_seconds).max(0.0);
                    t.tokenize_s += s.tokenize_seconds;
                }
                "transform" => {
                    t.tokenize_s += s.tokenize_seconds;
                    t.score_s += s.score_seconds;
                    t.other_s +=
                        (s.latency_seconds_sum - s.tokenize_seconds - s.score_seconds).max(0.0);
                }
                "sink" => t.write_s += s.latency_seconds_sum,
                _ => {}
            }
        }
        t
    }

    /// The summed busy time.
    pub fn total_s(&self) -> f64 {
        self.decode_s + self.tokenize_s + self.score_s + self.write_s + self.other_s
    }

    /// Each part as a percentage of the total: decode, tokenize, score, write, other.
    pub fn percentages(&self) -> [f64; 5] {
        let total = self.total_s();
        let pct = |v: f64| if total > 0.0 { 100.0 * v / total } else { 0.0 };
        [
            pct(self.decode_s),
            pct(self.tokenize_s),
            pct(self.score_s),
            pct(self.write_s),
            pct(self.other_s),
        ]
    }
}

/// One source type's figures (the fastest of the runs).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PipelineRun {
    /// The source type and its input.
    pub input: PipelineInput,
    /// Records the source read (capture: packets; files: rows, lines, points).
    pub records_in: u64,
    /// Records the source emitted (capture: flows).
    pub source_out: u64,
    /// Rows committed to the store (all tables, alerts included).
    pub rows_committed: u64,
    /// Alerts raised.
    pub alerts: u64,
    /// Wall-clock seconds of the run (model loading excluded).
    pub wall_s: f64,
    /// CPU seconds (user + system) of the run.
    pub cpu_s: f64,
    /// Where the busy time went.
    pub shares: TimeShares,
    /// The process's peak resident set (`VmHWM`), KiB: model loading and every run.
    pub peak_rss_kib: Option<u64>,
    /// Stage errors of the run.
    pub errors: Vec<String>,
    /// Which build ran it: `after` (this one) or `before` (a `--baseline`); `None`
    /// when there is no baseline.
    #[serde(default)]
    pub build: Option<String>,
}

impl PipelineRun {
    /// Source records in per wall-clock second.
    pub fn records_per_s(&self) -> f64 {
        self.records_in as f64 / self.wall_s.max(1e-9)
    }
}

/// `VmHWM` (peak resident set) from the text of `/proc/<pid>/status`, in KiB.
pub fn parse_vm_hwm(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let mut words = line["VmHWM:".len()..].split_whitespace();
    let value: u64 = words.next()?.parse().ok()?;
    match words.next() {
        Some("kB") | None => Some(value),
        Some(_) => None,
    }
}

/// This process's peak resident set so far, in KiB (Linux only).
pub fn peak_rss_kib() -> Option<u64> {
    parse_vm_hwm(&std::fs::read_to_string("/proc/self/status").ok()?)
}

/// Run `input` through the runtime `repeat` times in this process, each into a fresh
/// temporary store under `scratch`, and keep the fastest run.
pub fn bench_source(
    input: &PipelineInput,
    models: &Path,
    scratch: &Path,
    repeat: usize,
) -> anyhow::Result<PipelineRun> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let mut best: Option<PipelineRun> = None;
    for i in 0..repeat.max(1) {
        let store =
            scratch.join(format!("vigil-bench-{}-{}-{i}", std::process::id(), input.kind.name()));
        let _ = std::fs::remove_dir_all(&store);
        let topology = Topology::build(topology(input, models, &store))?;
        let cpu0 = cpu_seconds(libc::RUSAGE_SELF);
        let t0 = Instant::now();
        let summary = runtime.block_on(Runner::new(topology).run())?;
        let wall_s = t0.elapsed().as_secs_f64();
        let cpu_s = cpu_seconds(libc::RUSAGE_SELF) - cpu0;
        let _ = std::fs::remove_dir_all(&store);
        let role = |r: &'static str| summary.stages.iter().filter(move |s| s.role == r);
        let run = PipelineRun {
            input: input.clone(),
            records_in: role("source").map(|s| s.records_in).sum(),
            source_out: role("source").map(|s| s.records_out).sum(),
            rows_committed: role("sink").map(|s| s.records_out).sum(),
            alerts: summary
                .stages
                .iter()
                .find(|s| s.stage == "alerts")
                .map_or(0, |s| s.records_out),
            wall_s,
            cpu_s,
            shares: TimeShares::from_stages(&summary.stages),
            peak_rss_kib: None,
            errors: summary.errors,
            build: None,
        };
        if best.as_ref().is_none_or(|b| run.wall_s < b.wall_s) {
            best = Some(run);
        }
    }
    let mut best = best.expect("at least one run");
    best.peak_rss_kib = peak_rss_kib();
    Ok(best)
}

impl std::fmt::Display for PipelineRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let [d, t, s, w, o] = self.shares.percentages();
        let rss =
            self.peak_rss_kib.map_or("-".to_string(), |k| format!("{:.0}", k as f64 / 1024.0));
        write!(
            f,
            "{:<9} {:>10} {:>9} {:>9} {:>8.2} {:>8.2} {:>11.0} {:>6.1} {:>6.1} {:>6.1} {:>6.1} {:>6.1} {:>8} {:>9} {:>6}",
            self.input.kind.name(),
            self.records_in,
            self.source_out,
            self.rows_committed,
            self.wall_s,
            self.cpu_s,
            self.records_per_s(),
            d,
            t,
            s,
            w,
            o,
            rss,
            self.input.precision.as_deref().unwrap_or("fp32"),
            self.build.as_deref().unwrap_or("-"),
        )
    }
}

/// The header of the table [`PipelineRun`]'s `Display` writes rows of.
pub const PIPELINE_HEADER: &str = "source    records in  src out committed   wall s    cpu s   records/s decode% token%  score% write% other%  rss MiB precision  build";

#[cfg(test)]
mod tests {
    use super::*;

    fn stage(role: &str, latency: f64, busy: f64, tokenize: f64, score: f64) -> StageSnapshot {
        StageSnapshot {
            stage: role.into(),
            role: role.into(),
            latency_seconds_sum: latency,
            busy_seconds: busy,
            tokenize_seconds: tokenize,
            score_seconds: score,
            ..StageSnapshot::default()
        }
    }

    #[test]
    fn shares_split_the_busy_time() {
        let stages = [
            stage("source", 0.5, 3.0, 1.0, 0.0),
            stage("transform", 5.0, 0.0, 1.0, 3.5),
            stage("transform", 0.5, 0.0, 0.0, 0.0),
            stage("sink", 1.0, 0.0, 0.0, 0.0),
        ];
        let t = TimeShares::from_stages(&stages);
        assert_eq!(t.decode_s, 2.0);
        assert_eq!(t.tokenize_s, 2.0);
        assert_eq!(t.score_s, 3.5);
        assert_eq!(t.write_s, 1.0);
        assert_eq!(t.other_s, 1.0);
        assert_eq!(t.total_s(), 9.5);
        let p = t.percentages();
        assert!((p.iter().sum::<f64>() - 100.0).abs() < 1e-9);
        assert!((p[2] - 100.0 * 3.5 / 9.5).abs() < 1e-9);
        assert_eq!(TimeShares::default().percentages(), [0.0; 5]);
    }

    #[test]
    fn peak_rss_is_read_from_proc_status() {
        let status = "Name:\tvigil\nVmPeak:\t  912345 kB\nVmHWM:\t  204800 kB\nVmRSS:\t 1000 kB\n";
        assert_eq!(parse_vm_hwm(status), Some(204_800));
        assert_eq!(parse_vm_hwm("Name:\tvigil\n"), None);
        assert_eq!(parse_vm_hwm("VmHWM:\t12 MB\n"), None);
        if cfg!(target_os = "linux") {
            assert!(peak_rss_kib().is_some_and(|k| k > 0));
        }
    }

    #[test]
    fn a_nab_file_gets_its_series_on_a_300_s_grid() {
        let dir = tempfile::tempdir().unwrap();
        let nab = dir.path().join("cpu_a.csv");
        std::fs::write(&nab, "timestamp,value\n2014-04-10 00:04:00,1.5\n").unwrap();
        let i = PipelineInput::new(SourceKind::Metrics, nab);
        assert_eq!(i.series, Some(vec!["cpu_a".to_string()]));
        assert_eq!(i.step_seconds, Some(300.0));
        let wide = dir.path().join("ETTh1.csv");
        std::fs::write(&wide, "date,HUFL,OT\n2016-07-01 00:00:00,1,2\n").unwrap();
        let i = PipelineInput::new(SourceKind::Metrics, wide);
        assert_eq!((i.series, i.step_seconds), (None, None));
    }
}
