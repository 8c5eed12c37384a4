//! `vigil demo`: the whole path on the shipped samples — a capture, a flow CSV, a
//! metrics file and an access log, scored by all four model families, stored, then
//! queried for a short summary.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use arrow_array::RecordBatch;
use clap::Args;
use vigil_pipelines::runtime::TopologyConfig;
use vigil_pipelines::sql::{OutputFormat, QueryLimits, open_store, run_query, write_batches};
use vigil_pipelines::store::default_store_dir;

use super::Outcome;
use super::run::{print_summary, run_topology};

/// The demo topology, with `{root}` (the samples' parent), `{models}` and `{store}`
/// to fill in.
const DEMO_TOPOLOGY: &str = include_str!("demo.toml");

/// Arguments of `vigil demo`.
#[derive(Debug, Args)]
#[command(
    after_help = "Then try:\n  vigil sql \"select count(*) from flows\"\n  vigil sql --saved alerts-by-model\n  vigil stats"
)]
pub struct DemoArgs {
    /// The store to write [default: $VIGIL_STORE, else ./vigil-data].
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
    /// The Vigil checkout holding `samples/` and `onnx/artifacts/`, or an installed
    /// package's share directory (`samples/`, `models/`) [default: the working directory
    /// or one above it, else the checkout the binary was built in, else
    /// /usr/share/vigil].
    #[arg(long, value_name = "DIR")]
    root: Option<PathBuf>,
    /// Print the demo topology (TOML, usable with `vigil run --config`) and exit.
    #[arg(long)]
    print_config: bool,
    /// Then keep the console (HTTP API) open over the store, on ADDR [default:
    /// 127.0.0.1:8787], until interrupted.
    #[arg(long, value_name = "ADDR", num_args = 0..=1, default_missing_value = "127.0.0.1:8787")]
    serve: Option<std::net::SocketAddr>,
}

/// Where the samples and the models come from: a checkout (`samples/`,
/// `onnx/artifacts/`) or the installed package (`/usr/share/vigil`: `samples/`,
/// `models/`).
#[derive(Debug, Clone)]
pub(super) struct DemoRoot {
    /// The directory holding `samples/`.
    pub root: PathBuf,
    /// The model artifacts.
    pub models: PathBuf,
}

/// Where the package installs the samples and the models.
const PACKAGE_ROOT: &str = "/usr/share/vigil";

impl DemoRoot {
    /// `dir` when it holds the samples and the models.
    fn at(dir: &Path) -> Option<DemoRoot> {
        if !dir.join("samples/ssh.pcap").is_file() {
            return None;
        }
        ["onnx/artifacts", "models"]
            .iter()
            .map(|m| dir.join(m))
            .find(|m| m.is_dir())
            .map(|models| DemoRoot { root: dir.to_path_buf(), models })
    }

    /// `explicit`, else the working directory or one above it, else the checkout the
    /// binary was built in, else the installed package.
    fn find(explicit: Option<&Path>) -> anyhow::Result<DemoRoot> {
        if let Some(r) = explicit {
            return DemoRoot::at(r).with_context(|| {
                format!("{}: no samples/ssh.pcap with onnx/artifacts/ or models/", r.display())
            });
        }
        let cwd = std::env::current_dir()?;
        let built_in = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
        cwd.ancestors()
            .chain(built_in.ancestors().take(1))
            .chain([Path::new(PACKAGE_ROOT)])
            .find_map(DemoRoot::at)
            .context(
                "cannot find the samples and models: run from a Vigil checkout, install the \
                 package (/usr/share/vigil) or pass --root",
            )
    }
}

fn toml_path(p: &Path) -> String {
    p.display().to_string().replace('\\', "\\\\").replace('"', "\\\"")
}

/// Run `vigil demo`.
pub fn run(args: DemoArgs, quiet: bool) -> anyhow::Result<Outcome> {
    let DemoRoot { root, models } = DemoRoot::find(args.root.as_deref())?;
    let store = args.data.clone().unwrap_or_else(default_store_dir);
    let text = DEMO_TOPOLOGY
        .replace("{root}", &toml_path(&std::path::absolute(&root)?))
        .replace("{models}", &toml_path(&std::path::absolute(&models)?))
        .replace("{store}", &toml_path(&store));
    if args.print_config {
        print!("{text}");
        return Ok(Outcome::Complete);
    }
    let config = TopologyConfig::from_toml(&text, Path::new("vigil demo"))?;
    if !quiet {
        eprintln!("vigil demo: scoring the samples in {} into {}", root.display(), store.display());
    }
    let summary = run_topology(config, quiet, None)?;
    if !quiet {
        print_summary(&summary);
    }
    if summary.failed() {
        bail!("the demo did not run cleanly: {}", super::run::failure_message(&summary));
    }
    report(&store)?;
    if let Some(listen) = args.serve {
        super::serve::serve_store(&store, listen, None, vec![models], Default::default())?;
    }
    Ok(Outcome::Complete)
}

/// What the demo stored, from the store itself.
fn report(store: &Path) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        let ctx = open_store(store, QueryLimits::default()).await?;
        let q = |sql: &'static str| {
            let ctx = ctx.clone();
            async move {
                run_query(&ctx, sql, &QueryLimits::default()).await.map_err(anyhow::Error::from)
            }
        };
        let counts = q("select (select count(*) from flows) as flows, \
                        (select count(*) from flows where netfound is not null) as netfound_scored, \
                        (select count(*) from flows where flow_transformer_cicids2017 is not null) as flowtransformer_scored, \
                        (select count(*) from metrics where anomaly_score is not null) as metric_steps_scored, \
                        (select count(*) from actions where surprise is not null) as actions_scored, \
                        (select count(*) from alerts where event_type = 'alert') as alerts, \
                        (select count(*) from dead_letters) as dead_letters")
            .await?;
        let top = q("select severity, signature, count(*) as alerts, max(score) as max_score \
                     from alerts where event_type = 'alert' \
                     group by severity, signature order by severity, alerts desc limit 10")
            .await?;
        let stdout = std::io::stdout();
        let mut out = stdout.lock();
        use std::io::Write;
        writeln!(out, "\nWhat the store at {} holds now:", store.display())?;
        print_table(&mut out, &counts.schema, &counts.batches)?;
        writeln!(out, "\nAlerts by signature:")?;
        print_table(&mut out, &top.schema, &top.batches)?;
        writeln!(
            out,
            "\nThe data is in {} (Parquet, one directory per table; alerts also in {}).\n\
             Try:\n  vigil sql \"select netfound.label, count(*) from flows group by 1\"\n  \
             vigil sql --saved alerts-by-model\n  vigil stats",
            store.display(),
            store.join("eve.json").display()
        )?;
        Ok(())
    })
}

fn print_table(
    out: &mut dyn std::io::Write,
    schema: &arrow_schema::SchemaRef,
    batches: &[RecordBatch],
) -> anyhow::Result<()> {
    write_batches(out, OutputFormat::Table, schema, batches)
}
