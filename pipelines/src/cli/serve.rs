//! `vigil serve`: the analyst's console (HTTP API) over a store.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use vigil_dashboards::ConsoleConfig;
use vigil_pipelines::console::StoreConsole;
use vigil_pipelines::sql::QueryLimits;
use vigil_pipelines::store::default_store_dir;

use super::Outcome;

/// `vigil serve`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  vigil serve --data vigil-data\n  \
VIGIL_TOKEN=$(cat token) vigil serve --listen 0.0.0.0:8787\n  \
curl -s -XPOST 127.0.0.1:8787/api/sql -d '{\"sql\": \"select count(*) from flows\"}'")]
pub struct ServeArgs {
    /// The store directory [default: $VIGIL_STORE, else ./vigil-data].
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
    /// Where to listen; an address that is not loopback needs a token.
    #[arg(long, default_value = "127.0.0.1:8787", value_name = "ADDR")]
    listen: SocketAddr,
    /// A file holding the bearer token requests must carry [default: $VIGIL_TOKEN].
    #[arg(long, value_name = "FILE")]
    token_file: Option<PathBuf>,
    /// Model artifacts whose manifests /api/models lists [default: $VIGIL_MODELS,
    /// /usr/share/vigil/models, onnx/artifacts beside or above the executable and the
    /// working directory].
    #[arg(long, value_name = "DIR")]
    models: Vec<PathBuf>,
    /// Rows a query answers at most.
    #[arg(long, default_value_t = 10_000, value_name = "N")]
    max_rows: usize,
    /// Stop a query after this many seconds.
    #[arg(long, default_value_t = 30, value_name = "SECS")]
    timeout: u64,
}

/// The bearer token: the file's content, else `$VIGIL_TOKEN`, else none.
pub(super) fn read_token(file: Option<&std::path::Path>) -> anyhow::Result<Option<String>> {
    Ok(match file {
        Some(f) => Some(
            std::fs::read_to_string(f)
                .with_context(|| format!("cannot read the token file {}", f.display()))?,
        ),
        None => vigil_dashboards::access::env_token(),
    })
}

/// Query bounds of a console.
#[derive(Debug, Clone, Copy)]
pub struct Tuning {
    /// Rows a query answers at most.
    pub max_rows: usize,
    /// Memory and time of a query.
    pub limits: QueryLimits,
}

impl Default for Tuning {
    fn default() -> Self {
        let limits =
            QueryLimits { timeout: std::time::Duration::from_secs(30), ..Default::default() };
        Tuning { max_rows: ConsoleConfig::default().max_rows, limits }
    }
}

/// Serve the console over the store at `root` on `listen` until interrupted (a
/// non-loopback address without `token` is refused before anything starts).
pub fn serve_store(
    root: &std::path::Path,
    listen: SocketAddr,
    token: Option<String>,
    models: Vec<PathBuf>,
    tuning: Tuning,
) -> anyhow::Result<()> {
    let config = ConsoleConfig { listen, token, max_rows: tuning.max_rows, ..Default::default() };
    vigil_dashboards::Access::new(config.listen, config.token.clone())?;
    let backend = StoreConsole::new(root, tuning.limits, models);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let root = root.display().to_string();
    runtime.block_on(async move {
        eprintln!("vigil: console on http://{listen} over {root} (Ctrl-C stops it)");
        let shutdown = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        vigil_dashboards::serve(backend, config, shutdown).await
    })
}

/// Run `vigil serve` until interrupted.
pub fn run(args: ServeArgs) -> anyhow::Result<Outcome> {
    let root = args.data.clone().unwrap_or_else(default_store_dir);
    anyhow::ensure!(root.is_dir(), "no store at {} (pass --data DIR)", root.display());
    let token = read_token(args.token_file.as_deref())?;
    let models = match args.models.is_empty() {
        true => vigil_models::locate::search_dirs(&[]),
        false => args.models.clone(),
    };
    let limits = QueryLimits {
        timeout: std::time::Duration::from_secs(args.timeout.max(1)),
        ..Default::default()
    };
    let tuning = Tuning { max_rows: args.max_rows, limits };
    serve_store(&root, args.listen, token, models, tuning)?;
    Ok(Outcome::Complete)
}
