//! `vigil bench pipeline`: the streaming runtime per source type (each in a child
//! process, for its peak RSS), then our SQL against DuckDB on a synthetic store.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::bench::pipeline::{
    PIPELINE_HEADER, PipelineInput, PipelineRun, SourceKind, bench_source,
};
use crate::bench::pipeline_inputs::{DATA_ENV, default_input};
use crate::bench::sql::{SqlBench, SyntheticSpec, bench_sql, find_duckdb_python};
use anyhow::Context;
use clap::{Args, ValueEnum};
use serde::Serialize;

use super::checkout_root;
use crate::cli::Outcome;

/// What `vigil bench pipeline` runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Part {
    /// Capture → netFound.
    Capture,
    /// Flow CSV → FlowTransformer.
    FlowCsv,
    /// Metrics → iTransformer.
    Metrics,
    /// Access log → HSTU.
    Actions,
    /// Our SQL against DuckDB.
    Sql,
}

impl Part {
    fn source(self) -> Option<SourceKind> {
        match self {
            Part::Capture => Some(SourceKind::Capture),
            Part::FlowCsv => Some(SourceKind::FlowCsv),
            Part::Metrics => Some(SourceKind::Metrics),
            Part::Actions => Some(SourceKind::Actions),
            Part::Sql => None,
        }
    }
}

/// Arguments of `vigil bench pipeline`.
#[derive(Debug, Args)]
pub struct PipelineArgs {
    /// Run only these parts (repeatable) [default: all].
    #[arg(long, value_enum)]
    only: Vec<Part>,
    /// The capture [default: samples/ssh.pcap; netFound scores every flow, so a large
    /// capture takes long].
    #[arg(long, value_name = "FILE")]
    capture: Option<PathBuf>,
    /// A CICFlowMeter CSV [default: $VIGIL_DATA's CIC-IDS2017 CSVs concatenated, else
    /// the sample].
    #[arg(long, value_name = "FILE")]
    flow_csv: Option<PathBuf>,
    /// A metrics file [default: $VIGIL_DATA's ETTh1, else the NAB sample].
    #[arg(long, value_name = "FILE")]
    metrics: Option<PathBuf>,
    /// An access log [default: $VIGIL_DATA's 10k-line Apache log, else the sample].
    #[arg(long, value_name = "FILE")]
    actions: Option<PathBuf>,
    /// The checkout holding onnx/artifacts/ and samples/ [default: as `vigil demo`].
    #[arg(long, value_name = "DIR")]
    root: Option<PathBuf>,
    /// Where the temporary stores go [default: the system's temporary directory].
    #[arg(long, value_name = "DIR")]
    scratch: Option<PathBuf>,
    /// Runs per source type; the fastest is kept.
    #[arg(long, default_value_t = 1)]
    repeat: usize,
    /// Score with the models' graphs of this precision: fp32, int8 or fp16 (repeatable:
    /// each source type once per precision) [default: fp32].
    #[arg(long, value_name = "fp32|int8|fp16")]
    precision: Vec<String>,
    /// A `vigil-harness` binary of another build (e.g. an earlier release) to run each
    /// source type with too, alternating with this one: its rows say `before`, ours
    /// `after`. It scores with fp32 and reads models from `--baseline-root`.
    #[arg(long, value_name = "EXE")]
    baseline: Option<PathBuf>,
    /// The checkout whose onnx/artifacts/ the baseline reads [default: `--root`].
    #[arg(long, value_name = "DIR", requires = "baseline")]
    baseline_root: Option<PathBuf>,
    /// Flow rows in the SQL store.
    #[arg(long, default_value_t = 1_000_000)]
    sql_flows: usize,
    /// Alert rows in the SQL store.
    #[arg(long, default_value_t = 500_000)]
    sql_alerts: usize,
    /// Timed runs per query (after one untimed run); the fastest is kept.
    #[arg(long, default_value_t = 5)]
    sql_repeat: usize,
    /// A Python with the `duckdb` package [default: python3, if it has it].
    #[arg(long, value_name = "PATH")]
    duckdb_python: Option<PathBuf>,
    /// A DataFusion setting for our queries, e.g.
    /// `datafusion.execution.target_partitions=4` (repeatable).
    #[arg(long = "df-option", value_name = "KEY=VALUE", value_parser = key_value)]
    df_options: Vec<(String, String)>,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
    /// Run one source type in this process (how the parent runs each child).
    #[arg(long, value_enum, hide = true)]
    child: Option<SourceKind>,
}

fn key_value(s: &str) -> Result<(String, String), String> {
    let (k, v) = s.split_once('=').ok_or_else(|| format!("`{s}` is not KEY=VALUE"))?;
    Ok((k.trim().to_string(), v.trim().to_string()))
}

/// Everything one `vigil bench pipeline` found.
#[derive(Debug, Serialize)]
struct Report {
    pipeline: Vec<PipelineRun>,
    sql: Option<SqlBench>,
}

impl PipelineArgs {
    fn explicit(&self, kind: SourceKind) -> Option<&PathBuf> {
        match kind {
            SourceKind::Capture => self.capture.as_ref(),
            SourceKind::FlowCsv => self.flow_csv.as_ref(),
            SourceKind::Metrics => self.metrics.as_ref(),
            SourceKind::Actions => self.actions.as_ref(),
        }
    }
}

/// Run `vigil bench pipeline`.
pub fn run(args: PipelineArgs) -> anyhow::Result<Outcome> {
    let root = checkout_root(args.root.as_deref())?;
    let models = root.join("onnx/artifacts");
    let scratch = args.scratch.clone().unwrap_or_else(std::env::temp_dir);
    if let Some(kind) = args.child {
        let path = args.explicit(kind).context("a child needs its input")?;
        let mut input = PipelineInput::new(kind, path.clone());
        input.precision = args.precision.first().cloned();
        let run = bench_source(&input, &models, &scratch, args.repeat)?;
        println!("{}", serde_json::to_string(&run)?);
        return Ok(Outcome::Complete);
    }
    let data = std::env::var_os(DATA_ENV).map(PathBuf::from);
    let parts = if args.only.is_empty() {
        vec![Part::Capture, Part::FlowCsv, Part::Metrics, Part::Actions, Part::Sql]
    } else {
        args.only.clone()
    };
    let mut report = Report { pipeline: Vec::new(), sql: None };
    for kind in parts.iter().filter_map(|p| p.source()) {
        let path = match args.explicit(kind) {
            Some(p) => p.clone(),
            None => default_input(kind, &root, data.as_deref(), &scratch)?,
        };
        eprintln!("bench pipeline: {} ← {}", kind.name(), path.display());
        let ours = Child { exe: std::env::current_exe()?, root: root.clone(), precision: None };
        if let Some(exe) = &args.baseline {
            let root = args.baseline_root.clone().unwrap_or_else(|| root.clone());
            let before = Child { exe: exe.clone(), root, precision: None };
            report.pipeline.push(before.run(kind, &path, &scratch, args.repeat, "before")?);
        }
        let precisions = if args.precision.is_empty() {
            vec![None]
        } else {
            args.precision.iter().cloned().map(Some).collect()
        };
        for precision in precisions {
            let child = Child { precision, ..ours.clone() };
            let label = if args.baseline.is_some() { "after" } else { "" };
            report.pipeline.push(child.run(kind, &path, &scratch, args.repeat, label)?);
        }
    }
    if parts.contains(&Part::Sql) {
        let store = scratch.join(format!("vigil-bench-sql-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&store);
        std::fs::create_dir_all(&store)?;
        let spec = SyntheticSpec {
            flows: args.sql_flows,
            alerts: args.sql_alerts,
            ..SyntheticSpec::default()
        };
        eprintln!("bench pipeline: sql on {} flows, {} alerts", spec.flows, spec.alerts);
        let python = find_duckdb_python(args.duckdb_python.as_deref());
        let sql = bench_sql(&store, spec, args.sql_repeat, &args.df_options, python);
        let _ = std::fs::remove_dir_all(&store);
        report.sql = Some(sql?);
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(Outcome::Complete);
    }
    if !report.pipeline.is_empty() {
        println!("{PIPELINE_HEADER}");
        for r in &report.pipeline {
            println!("{r}");
        }
        println!(
            "(records: packets for capture, rows/lines/points for files; src out: flows, rows; \
             shares: % of the stages' summed busy time; rss: the child's VmHWM)"
        );
        for r in report.pipeline.iter().filter(|r| !r.errors.is_empty()) {
            println!("{}: {}", r.input.kind.name(), r.errors.join("; "));
        }
    }
    if let Some(sql) = &report.sql {
        println!("\n{sql}");
    }
    Ok(Outcome::Complete)
}

/// A `vigil-harness` to run one source type in (a child process, for its own peak RSS).
#[derive(Debug, Clone)]
struct Child {
    exe: PathBuf,
    root: PathBuf,
    precision: Option<String>,
}

impl Child {
    /// Run `kind` on `path` and read its figures; `build` labels them when not empty.
    fn run(
        &self,
        kind: SourceKind,
        path: &Path,
        scratch: &Path,
        repeat: usize,
        build: &str,
    ) -> anyhow::Result<PipelineRun> {
        let mut cmd = Command::new(&self.exe);
        cmd.args(["-q", "bench", "pipeline", "--json", "--child", kind.name()])
            .arg(format!("--{}", kind.name()))
            .arg(path)
            .arg("--root")
            .arg(&self.root)
            .arg("--scratch")
            .arg(scratch)
            .args(["--repeat", &repeat.to_string()]);
        if let Some(p) = &self.precision {
            cmd.args(["--precision", p]);
        }
        let out = cmd
            .stdin(Stdio::null())
            .stderr(Stdio::inherit())
            .output()
            .with_context(|| format!("cannot run {}", self.exe.display()))?;
        let what = format!("the {} run of {}", kind.name(), self.exe.display());
        anyhow::ensure!(out.status.success(), "{what} failed ({})", out.status);
        let mut run: PipelineRun =
            serde_json::from_slice(&out.stdout).with_context(|| format!("{what}: its report"))?;
        run.build = (!build.is_empty()).then(|| build.to_string());
        Ok(run)
    }
}
