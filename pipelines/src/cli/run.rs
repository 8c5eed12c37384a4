//! `vigil run`: a topology from a TOML file, until its inputs end or a signal stops it.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::atomic::Ordering;

use clap::Args;
use vigil_pipelines::runtime::{RunSummary, Runner, Topology, TopologyConfig};

use super::Outcome;

/// Arguments of `vigil run`.
#[derive(Debug, Args)]
#[command(after_help = "The topology file names sources, transforms and sinks; see \
`examples/vigil.toml` (commented) and the README.\n\nThe first SIGINT or SIGTERM \
stops the sources, flushes everything in flight and exits 0; a second exits at once \
(130).\n\nExample:\n  vigil run --config examples/vigil.toml")]
pub struct RunArgs {
    /// The topology file.
    #[arg(long, short, value_name = "FILE.toml")]
    config: PathBuf,
    /// The store directory, instead of the file's `store.dir`.
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
    /// Serve Prometheus counters on this address (`/metrics`), instead of the file's.
    #[arg(long, value_name = "ADDR")]
    metrics_listen: Option<String>,
    /// Stop cleanly once every source has had no input for SECS seconds (Kafka
    /// sources; files end at their end anyway).
    #[arg(long, value_name = "SECS")]
    pub until_idle: Option<f64>,
    /// Also serve the console (HTTP API and web UI) over the run's store on ADDR, with
    /// the run's live counters (instead of a `dashboard` sink's address).
    #[arg(long, value_name = "ADDR")]
    serve: Option<std::net::SocketAddr>,
    /// The console's bearer token (required off loopback) [default: $VIGIL_TOKEN].
    #[arg(long, value_name = "FILE", requires = "serve")]
    token_file: Option<PathBuf>,
    /// A directory of model artifacts where a score stage's model name is looked up
    /// first (repeatable; before the file's `models`).
    #[arg(long, value_name = "DIR")]
    models: Vec<PathBuf>,
    /// Print the topology as it would run (file and `VIGIL_…` overrides), secrets
    /// redacted, and exit.
    #[arg(long, conflicts_with = "check")]
    print_config: bool,
    /// Check the topology (models, files, wiring) and exit.
    #[arg(long)]
    check: bool,
    /// Print the run's summary as JSON.
    #[arg(long)]
    json: bool,
}

/// Run `vigil run`.
pub fn run(args: RunArgs, quiet: bool) -> anyhow::Result<Outcome> {
    if args.print_config {
        print!("{}", TopologyConfig::effective_text(&args.config)?);
        return Ok(Outcome::Complete);
    }
    let mut config = TopologyConfig::from_path(&args.config)?;
    if let Some(d) = args.data {
        config.store.dir = Some(d);
    }
    config.models.splice(0..0, args.models);
    if let Some(idle) = args.until_idle {
        anyhow::ensure!(idle > 0.0 && idle.is_finite(), "--until-idle must be a positive number");
        config.until_idle_secs = Some(idle);
    }
    if let Some(listen) = args.metrics_listen {
        config.http = Some(vigil_pipelines::runtime::config::HttpConfig { listen });
    }
    if args.check {
        let topology = Topology::build(config)?;
        if !quiet {
            eprintln!(
                "vigil: {} is valid: {} sources, {} transforms, {} sinks; store {}",
                args.config.display(),
                topology.sources.len(),
                topology.transforms.len(),
                topology.sinks.len(),
                topology.store_dir.display()
            );
        }
        return Ok(Outcome::Complete);
    }
    let console = match args.serve {
        Some(listen) => {
            let token = super::serve::read_token(args.token_file.as_deref())?;
            let config = vigil_dashboards::ConsoleConfig { listen, token, ..Default::default() };
            // Refuse an open address without a token before anything runs.
            vigil_dashboards::Access::new(config.listen, config.token.clone())?;
            Some(config)
        }
        None => None,
    };
    let summary = run_topology(config, quiet, console)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else if !quiet {
        print_summary(&summary);
    }
    if summary.failed() {
        anyhow::bail!(failure_message(&summary));
    }
    // As `vigil score` and `vigil flows`: input that could not be read makes the run
    // partial (exit 3), everything else having been stored.
    let dead = summary.dead_lettered();
    if dead > 0 {
        if !quiet {
            eprintln!(
                "vigil: {dead} input records could not be read; see `vigil sql --saved dead-letters`"
            );
        }
        return Ok(Outcome::Partial);
    }
    Ok(Outcome::Complete)
}

/// The one-line reason a run failed.
pub(crate) fn failure_message(s: &RunSummary) -> String {
    match (s.errors.first(), s.lost) {
        (Some(e), 0) => format!("the run failed: {e}"),
        (Some(e), lost) => format!("the run failed ({lost} records lost): {e}"),
        (None, lost) => format!("the run lost {lost} records"),
    }
}

/// Build and run a topology on a Tokio runtime, with signal handling, the optional
/// `/metrics` listener and the optional console over its store.
pub(crate) fn run_topology(
    config: TopologyConfig,
    quiet: bool,
    console: Option<vigil_dashboards::ConsoleConfig>,
) -> anyhow::Result<RunSummary> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        let http = config.http.clone();
        let user = config.user.clone();
        let mut topology = tokio::task::block_in_place(|| Topology::build(config))?;
        // Live interfaces open as root; the rest of the run does without it.
        let mut live = 0;
        for (name, source) in &mut topology.sources {
            live += usize::from(anyhow::Context::with_context(source.open_live(), || {
                format!("source `{name}`")
            })?);
        }
        // The artifact directories of the loaded models, for the console's /api/models.
        let models: Vec<PathBuf> = topology
            .models
            .values()
            .filter_map(|m| m.path().parent().map(std::path::Path::to_path_buf))
            .collect();
        // `--serve` overrides a dashboard sink's address and token, not its live feed.
        let console = match (console, topology.console.clone()) {
            (Some(c), own) => {
                Some(vigil_dashboards::ConsoleConfig { live: own.and_then(|o| o.live), ..c })
            }
            (None, own) => own,
        };
        let store_dir = topology.store_dir.clone();
        let runner = Runner::new(topology);
        let console = console.map(|c| {
            let backend = vigil_pipelines::console::StoreConsole::live(
                &store_dir,
                super::serve::Tuning::default().limits,
                models,
                runner.stats(),
            );
            if !quiet {
                eprintln!("vigil: console on http://{}", c.listen);
            }
            tokio::spawn(async move {
                if let Err(e) = vigil_dashboards::serve(backend, c, std::future::pending()).await {
                    eprintln!("vigil: the console stopped: {e:#}");
                }
            })
        });
        let stop = runner.stop_flag();
        tokio::spawn(async move {
            wait_for_signal().await;
            stop.store(true, Ordering::Relaxed);
            eprintln!(
                "vigil: stopping (flushing what is in flight; a second signal exits at once)"
            );
            wait_for_signal().await;
            eprintln!("vigil: second signal, exiting now");
            std::process::exit(130);
        });
        let server = match http {
            Some(h) => {
                let listener = vigil_pipelines::runtime::http::bind(&h.listen).await?;
                if !quiet && let Some(addr) = vigil_pipelines::runtime::http::local_addr(&listener)
                {
                    eprintln!("vigil: counters at http://{addr}/metrics");
                }
                Some(tokio::spawn(vigil_pipelines::runtime::http::serve(listener, runner.stats())))
            }
            None => None,
        };
        if live > 0 {
            let user = user.as_deref().unwrap_or(vigil_pipelines::privileges::DEFAULT_USER);
            if let Some(d) = vigil_pipelines::privileges::drop_root(user, Some(&store_dir))?
                && !quiet
            {
                eprintln!("vigil: interfaces open; running as {} (uid {})", d.user, d.uid);
            }
        }
        let progress = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let stats = runner.stats();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
                loop {
                    tick.tick().await;
                    let line: Vec<String> = stats
                        .snapshot()
                        .iter()
                        .filter(|s| s.role != "transform")
                        .map(|s| format!("{} {}", s.stage, s.records_out))
                        .collect();
                    eprint!("\r\x1b[2K{}", line.join(" · "));
                }
            })
        });
        let summary = runner.run().await;
        if let Some(p) = progress {
            p.abort();
            eprint!("\r\x1b[2K");
        }
        if let Some(s) = server {
            s.abort();
        }
        if let Some(c) = console {
            c.abort();
        }
        summary
    })
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).expect("a SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Per-stage counters as a table on stderr.
pub(crate) fn print_summary(s: &RunSummary) {
    eprint!("{}", vigil_pipelines::runtime::stats::stages_table(&s.stages, ""));
    for e in &s.errors {
        eprintln!("error: {e}");
    }
    if s.lost > 0 {
        eprintln!("error: {} records lost", s.lost);
    }
    eprintln!("vigil: finished in {:.1} s; store {}", s.seconds, s.store.display());
}
