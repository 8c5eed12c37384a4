//! `vigil stats`: the per-stage counters of a running instance (`/api/stats`) or of the
//! instances that last wrote to a store.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use vigil_pipelines::store::default_store_dir;

use super::Outcome;

/// Arguments of `vigil stats`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  vigil stats                       (instances that wrote to ./vigil-data)\n  vigil stats --url 127.0.0.1:9187  (a running instance's counters)\n  vigil stats --url 127.0.0.1:9187 --prometheus  (its /metrics as served)"
)]
pub struct StatsArgs {
    /// The store directory [default: $VIGIL_STORE, else ./vigil-data].
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
    /// Read a running instance's counters at HOST:PORT instead (its `[http]` listener
    /// or console; a console with a token needs $VIGIL_TOKEN).
    #[arg(long, value_name = "HOST:PORT")]
    url: Option<String>,
    /// With --url: print the instance's `/metrics` as it serves it (Prometheus text).
    #[arg(long, requires = "url")]
    prometheus: bool,
    /// JSON output.
    #[arg(long)]
    json: bool,
}

/// Run `vigil stats`.
pub fn run(args: StatsArgs) -> anyhow::Result<Outcome> {
    if let Some(url) = &args.url {
        if args.prometheus {
            print!("{}", fetch(url, "/metrics")?);
            return Ok(Outcome::Complete);
        }
        let body: serde_json::Value = serde_json::from_str(&fetch(url, "/api/stats")?)
            .with_context(|| format!("{url}/api/stats is not JSON"))?;
        if args.json {
            println!("{}", serde_json::to_string_pretty(&body["stages"])?);
            return Ok(Outcome::Complete);
        }
        let stages: Vec<vigil_ingest::stage_stats::StageSnapshot> =
            serde_json::from_value(body["stages"].clone())
                .with_context(|| format!("{url}/api/stats: not stage counters"))?;
        println!("instance at {url}");
        print!("{}", vigil_pipelines::runtime::stats::stages_table(&stages, "  "));
        return Ok(Outcome::Complete);
    }
    let store = args.data.unwrap_or_else(default_store_dir);
    let instances = vigil_pipelines::runtime::stats::stored_snapshots(&store)?;
    if instances.is_empty() {
        bail!("no counters in {}", store.join("_stats").display());
    }
    let mut all = serde_json::Map::new();
    for (instance, stages) in instances {
        if args.json {
            all.insert(instance, serde_json::to_value(&stages)?);
            continue;
        }
        println!(
            "instance {instance} ({})",
            store.join("_stats").join(format!("{instance}.json")).display()
        );
        print!("{}", vigil_pipelines::runtime::stats::stages_table(&stages, "  "));
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&all)?);
    }
    Ok(Outcome::Complete)
}

/// GET http://`addr``path` (with $VIGIL_TOKEN as the bearer token when set): the body.
fn fetch(addr: &str, path: &str) -> anyhow::Result<String> {
    let addr = addr
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .trim_end_matches("/metrics")
        .trim_end_matches("/api/stats");
    let mut conn = TcpStream::connect(addr).with_context(|| format!("cannot connect to {addr}"))?;
    conn.set_read_timeout(Some(Duration::from_secs(10)))?;
    let auth = match vigil_dashboards::access::env_token() {
        Some(t) => format!("Authorization: Bearer {t}\r\n"),
        None => String::new(),
    };
    write!(conn, "GET {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Connection: close\r\n\r\n")?;
    let mut response = String::new();
    conn.read_to_string(&mut response)?;
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let status = head.lines().next().unwrap_or("no answer");
    if status.starts_with("HTTP/1.1 401") {
        bail!("{addr}{path}: {status} (set VIGIL_TOKEN to the console's token)");
    }
    if !status.starts_with("HTTP/1.1 200") {
        bail!("{addr}{path}: {status}");
    }
    Ok(body.to_string())
}
