//! `vigil alerts`: an analyst's decisions on alerts (acknowledge, escalate, reopen),
//! appended to the store's `alert_state` table. `vigil sql --saved alert-queue` shows
//! the alerts still to look at.

use std::collections::BTreeSet;
use std::io::BufRead;
use std::path::PathBuf;

use anyhow::{Context, bail};
use arrow_array::Array;
use arrow_array::cast::AsArray;
use arrow_schema::DataType;
use clap::{Args, ValueEnum};
use datafusion::arrow::compute::cast;
use serde_json::json;
use vigil_pipelines::sql::{QueryLimits, open_store, query_store};
use vigil_pipelines::store::alert_state::{AlertState, StateChange, is_alert_id, record_changes};
use vigil_pipelines::store::default_store_dir;

use super::Outcome;

/// `vigil alerts`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  vigil alerts ack 0f3a…-… --comment \"known scanner\"\n  \
vigil sql --format csv \"select alert_id from alerts where signature_id = 9200001\" \\\n    \
| tail -n +2 | vigil alerts escalate -\n  vigil sql --saved alert-queue")]
pub struct AlertsArgs {
    /// What to do.
    #[arg(value_enum)]
    action: Action,
    /// Alert ids (`alerts.alert_id`); `-` reads them from standard input, one per line.
    #[arg(required = true)]
    ids: Vec<String>,
    /// The store directory [default: $VIGIL_STORE, else ./vigil-data].
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
    /// Who decides [default: $USER].
    #[arg(long, value_name = "NAME")]
    by: Option<String>,
    /// Why.
    #[arg(long, value_name = "TEXT")]
    comment: Option<String>,
    /// Print what was recorded as JSON.
    #[arg(long)]
    json: bool,
}

/// The decision.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum Action {
    /// Seen and dealt with: out of the queue.
    Ack,
    /// Needs attention: first in the queue.
    Escalate,
    /// Back to new.
    Reopen,
}

impl Action {
    fn state(self) -> AlertState {
        match self {
            Action::Ack => AlertState::Acknowledged,
            Action::Escalate => AlertState::Escalated,
            Action::Reopen => AlertState::New,
        }
    }
}

/// The ids named on the command line or read from standard input, each checked to be
/// an alert id (hex digits and dashes), in order, without repeats.
fn read_ids(args: &[String]) -> anyhow::Result<Vec<String>> {
    let mut ids = Vec::new();
    for a in args {
        if a == "-" {
            for line in std::io::stdin().lock().lines() {
                let line = line.context("reading alert ids from standard input")?;
                let id = line.trim().trim_matches('"');
                if !id.is_empty() {
                    ids.push(id.to_string());
                }
            }
        } else {
            ids.push(a.clone());
        }
    }
    let mut seen = BTreeSet::new();
    ids.retain(|id| seen.insert(id.clone()));
    if let Some(bad) = ids.iter().find(|id| !is_alert_id(id)) {
        bail!("`{bad}` is not an alert id (the `alert_id` column: hex digits and dashes)");
    }
    if ids.is_empty() {
        bail!("no alert ids given");
    }
    Ok(ids)
}

/// Run `vigil alerts`: every id must be an alert of the store, else nothing is recorded.
pub fn run(args: AlertsArgs, quiet: bool) -> anyhow::Result<Outcome> {
    let root = args.data.clone().unwrap_or_else(default_store_dir);
    if !root.is_dir() {
        bail!("no store at {} (pass --data DIR)", root.display());
    }
    let ids = read_ids(&args.ids)?;
    let limits = QueryLimits::default();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let found: BTreeSet<String> = runtime.block_on(async {
        let ctx = open_store(&root, limits).await?;
        let list: Vec<String> = ids.iter().map(|id| format!("'{id}'")).collect();
        let sql =
            format!("SELECT DISTINCT alert_id FROM alerts WHERE alert_id IN ({})", list.join(", "));
        let r = query_store(&ctx, &root, &sql, &limits).await?;
        let mut found = BTreeSet::new();
        for b in &r.batches {
            let c = cast(b.column(0), &DataType::Utf8)?;
            let c = c.as_string::<i32>();
            found.extend((0..c.len()).filter(|i| c.is_valid(*i)).map(|i| c.value(i).to_string()));
        }
        anyhow::Ok(found)
    })?;
    let missing: Vec<&String> = ids.iter().filter(|id| !found.contains(*id)).collect();
    if !missing.is_empty() {
        let shown: Vec<&str> = missing.iter().take(5).map(|s| s.as_str()).collect();
        bail!(
            "{} of {} ids are not alerts of the store at {} (nothing recorded): {}{}",
            missing.len(),
            ids.len(),
            root.display(),
            shown.join(", "),
            if missing.len() > 5 { ", …" } else { "" }
        );
    }
    let actor = args.by.clone().or_else(|| std::env::var("USER").ok());
    let ts = vigil_ingest::time::now_us();
    let state = args.action.state();
    let changes: Vec<StateChange> = ids
        .iter()
        .map(|id| StateChange {
            alert_id: id.clone(),
            state,
            actor: actor.clone(),
            comment: args.comment.clone(),
            ts,
        })
        .collect();
    record_changes(&root, "alert-state", &changes)?;
    if args.json {
        let out = json!({ "state": state.as_str(), "alerts": ids, "actor": actor, "comment": args.comment });
        println!("{out}");
    } else if !quiet {
        eprintln!("{} alert(s) now {}", ids.len(), state.as_str());
    }
    Ok(Outcome::Complete)
}
