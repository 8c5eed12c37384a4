//! File sources: flow CSVs, metrics and action logs, read row by row into batches.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::bail;
use serde::{Deserialize, Serialize};
use vigil_ingest::actions::{
    AccessEntity, AccessLogConfig, ActionColumns, ActionLogFormat, ActionReader, AuthEntity,
    AuthLogConfig, TemplateMatcher,
};
use vigil_ingest::flow::{EndReason, record_uid, sensor_seed};
use vigil_ingest::flow_records::{ColumnMapping, FlowCsvReader, FlowFeatures};
use vigil_ingest::metrics::{MetricsReader, MetricsReaderConfig};
use vigil_ingest::{DirectionStats, FlowRecord};

use super::read_ahead::{Polled, ReadAhead};
use super::{Pending, SourceContext};
use crate::runtime::checkpoint::FileIdentity;
use crate::runtime::record::{Envelope, RecordKind};
use crate::runtime::rows::{actions_batch, metrics_batch, now_us};
use crate::store::origin::{BatchOrigin, StoredInput, stored_since};

/// Whether `path` means standard input.
fn is_stdin(path: &std::path::Path) -> bool {
    path.as_os_str() == "-"
}

/// How often a source waiting on its input with nothing pending looks at its stop flag.
const STOP_CHECK: Duration = Duration::from_millis(200);

/// A reader of records one at a time, keeping the rows it could not read.
pub(super) trait RecordReader {
    /// What it reads.
    type Item;
    /// The next record, or `None` at the end.
    fn next_item(&mut self) -> anyhow::Result<Option<Self::Item>>;
    /// The next record if one comes within `wait` (a file's always does: this one
    /// blocks; [`ReadAhead`] waits no longer).
    fn poll_item(&mut self, wait: Duration) -> anyhow::Result<Polled<Self::Item>> {
        let _ = wait;
        Ok(self.next_item()?.map_or(Polled::End, Polled::Item))
    }
    /// The dead letters since the last call.
    fn take_dead_letters(&mut self) -> Vec<vigil_ingest::DeadLetter>;
    /// Input rows (lines or records, good and dead) read so far.
    fn rows_read(&self) -> u64;
}

impl<R: std::io::BufRead> RecordReader for FlowCsvReader<R> {
    type Item = FlowFeatures;
    fn next_item(&mut self) -> anyhow::Result<Option<FlowFeatures>> {
        Ok(self.next_record()?)
    }
    fn take_dead_letters(&mut self) -> Vec<vigil_ingest::DeadLetter> {
        FlowCsvReader::take_dead_letters(self)
    }
    fn rows_read(&self) -> u64 {
        FlowCsvReader::rows_read(self)
    }
}

impl RecordReader for MetricsReader {
    type Item = vigil_ingest::metrics::MetricPoint;
    fn next_item(&mut self) -> anyhow::Result<Option<Self::Item>> {
        Ok(self.next_point()?)
    }
    fn take_dead_letters(&mut self) -> Vec<vigil_ingest::DeadLetter> {
        MetricsReader::take_dead_letters(self)
    }
    fn rows_read(&self) -> u64 {
        self.stats().rows
    }
}

impl RecordReader for ActionReader {
    type Item = vigil_ingest::actions::ActionEvent;
    fn next_item(&mut self) -> anyhow::Result<Option<Self::Item>> {
        Ok(self.next_event()?)
    }
    fn take_dead_letters(&mut self) -> Vec<vigil_ingest::DeadLetter> {
        ActionReader::take_dead_letters(self)
    }
    fn rows_read(&self) -> u64 {
        self.stats().lines
    }
}

/// Where a line-oriented file source resumes: the reader's output is deterministic,
/// so the records and dead letters already delivered are skipped on a re-read.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct LineCheckpoint {
    /// The file read.
    file: FileIdentity,
    /// Records delivered (from the start of the file).
    records: u64,
    /// Dead letters delivered.
    dead_letters: u64,
    /// Input rows read when the last delivered batch was cut (for people; 1-based
    /// rows up to and including this one are done).
    rows: u64,
    /// When that batch was cut (µs since the epoch): every later batch, and so every
    /// store file holding one, is younger.
    #[serde(default)]
    cut_at_us: Option<i64>,
}

/// Read `reader` to its end (or until stopped), batching its records into envelopes
/// made by `envelope` and sending its dead letters with each batch; a batch due by age
/// is sent while the reader waits (when it can wait: [`ReadAhead`]). A file input
/// resumes after the checkpoint of its last run when it is the same file.
fn pump<R: RecordReader>(
    ctx: &SourceContext,
    path: &Path,
    mut reader: R,
    envelope: impl Fn(Vec<R::Item>) -> anyhow::Result<Envelope>,
) -> anyhow::Result<()> {
    let file = if is_stdin(path) { None } else { Some(FileIdentity::of(path)?) };
    let resume = match &file {
        Some(now) => ctx
            .resume_state::<LineCheckpoint>()?
            .filter(|c| c.file.same_file(now) && c.file.path == now.path),
        None => {
            ctx.no_checkpoint();
            None
        }
    };
    let (mut skip_records, mut skip_dead) =
        resume.as_ref().map_or((0, 0), |c| (c.records, c.dead_letters));
    // Batches are numbered by the input's records: the store records which it holds.
    let key = file.as_ref().map(|f| format!("{}:{}:{}", ctx.name, f.dev, f.ino));
    let replay = match (&resume, &key) {
        (Some(c), Some(key)) => {
            tracing::info!(source = %ctx.name, rows = c.rows, records = c.records, "resuming after the checkpoint");
            Replay::find(ctx, key, c.cut_at_us)?
        }
        (None, Some(_)) => {
            let f = file.clone().expect("a file has a key");
            let start = LineCheckpoint {
                file: f,
                records: 0,
                dead_letters: 0,
                rows: 0,
                cut_at_us: Some(now_us()),
            };
            ctx.start_checkpoint(serde_json::to_value(start).expect("a checkpoint serialises"))?;
            Replay::default()
        }
        _ => Replay::default(),
    };
    let (mut records, mut dead_letters) = (skip_records, skip_dead);
    // Records taken so far, from the start of the input.
    let mut taken = skip_records;
    let mut pending = Pending::new();
    let mut flush = |pending: &mut Pending<R::Item>, reader: &mut R| -> anyhow::Result<()> {
        let (items, waited) = pending.take();
        let mut dead = reader.take_dead_letters();
        let skipped = dead.len().min(skip_dead as usize);
        dead.drain(..skipped);
        skip_dead -= skipped as u64;
        let before = (records, dead_letters);
        records += items.len() as u64;
        dead_letters += dead.len() as u64;
        let state = file.as_ref().map(|f| {
            serde_json::to_value(LineCheckpoint {
                file: f.clone(),
                records,
                dead_letters,
                rows: reader.rows_read(),
                cut_at_us: Some(now_us()),
            })
            .expect("a checkpoint serialises")
        });
        let origin =
            key.as_ref().map(|key| replay.origin(key, before.0..records, before.1..dead_letters));
        let rows = if items.is_empty() { None } else { Some(envelope(items)?) };
        ctx.emit_from(rows, &dead, state, waited, origin)?;
        Ok(())
    };
    while !ctx.stopped() {
        let wait = pending.time_left(&ctx.batch).unwrap_or(STOP_CHECK).min(STOP_CHECK);
        let item = match reader.poll_item(wait)? {
            Polled::Item(item) => item,
            Polled::End => break,
            Polled::Idle => {
                if pending.due(&ctx.batch) {
                    flush(&mut pending, &mut reader)?;
                }
                continue;
            }
        };
        if skip_records > 0 {
            skip_records -= 1;
            continue;
        }
        ctx.stats.add_in(1);
        pending.push(item);
        taken += 1;
        if pending.due(&ctx.batch) || replay.cuts_at(taken) {
            flush(&mut pending, &mut reader)?;
        }
    }
    flush(&mut pending, &mut reader)
}

/// What a re-run after a crash finds of its input in the store: the batches
/// committed after the checkpoint's last write. The re-run cuts its batches where
/// those began and ended, and marks them, so the store skips what it holds.
#[derive(Default)]
struct Replay {
    stored: Option<Arc<StoredInput>>,
    bounds: BTreeSet<u64>,
    /// Records and dead letters below these may be stored.
    ends: (u64, u64),
}

impl Replay {
    /// What `sensor`'s files written since the checkpointed batch was cut (at
    /// `cut_at_us`; else since the checkpoint was written) hold of input `key`.
    fn find(ctx: &SourceContext, key: &str, cut_at_us: Option<i64>) -> anyhow::Result<Replay> {
        let cut = cut_at_us
            .map(|us| std::time::UNIX_EPOCH + Duration::from_micros(us.max(0) as u64))
            .or_else(|| ctx.checkpoint_written());
        let Some(cut) = cut else { return Ok(Replay::default()) };
        // Allow for coarse file times.
        let since = cut.checked_sub(Duration::from_secs(2)).unwrap_or(cut);
        let stored = stored_since(&ctx.store, &ctx.sensor, key, since)?;
        if stored.is_empty() {
            return Ok(Replay::default());
        }
        let ends = stored.ends();
        tracing::info!(
            source = %ctx.name,
            records = ends.0,
            "rows committed after the checkpoint are in the store; they are not stored again"
        );
        Ok(Replay { bounds: stored.record_bounds(), ends, stored: Some(Arc::new(stored)) })
    }

    /// Whether a batch must end after `records` records.
    fn cuts_at(&self, records: u64) -> bool {
        self.bounds.contains(&records)
    }

    /// The origin of a batch of `records` and `dead` letters of input `key`.
    fn origin(&self, key: &str, records: Range<u64>, dead: Range<u64>) -> BatchOrigin {
        let maybe_stored = records.start < self.ends.0 || dead.start < self.ends.1;
        BatchOrigin {
            key: key.to_string(),
            records,
            dead,
            stored: self.stored.clone().filter(|_| maybe_stored),
            stored_rows: None,
        }
    }
}

/// Flow records from a CSV, kept with their model features.
pub struct FlowCsvSource {
    path: PathBuf,
    mapping: ColumnMapping,
}

impl FlowCsvSource {
    /// A CSV read with a built-in mapping name or a mapping file.
    pub fn new(path: PathBuf, mapping: &str) -> anyhow::Result<Self> {
        Ok(FlowCsvSource { path, mapping: flow_mapping(mapping)? })
    }

    /// Whether the file's header has the mapping's columns (stdin is not checked).
    pub fn check_header(&self) -> anyhow::Result<()> {
        if !is_stdin(&self.path) {
            FlowCsvReader::open(&self.path, &self.mapping)?;
        }
        Ok(())
    }

    /// Read the file to its end (or until stopped).
    pub fn run(self, ctx: &SourceContext) -> anyhow::Result<()> {
        let envelope = |recs| flows_envelope(recs, &ctx.sensor);
        if is_stdin(&self.path) {
            let mapping = self.mapping.clone();
            let reader = ReadAhead::spawn(move || {
                let stdin: Box<dyn std::io::BufRead + Send> =
                    Box::new(std::io::BufReader::new(std::io::stdin()));
                Ok(FlowCsvReader::new(stdin, "stdin", &mapping)?)
            })?;
            return pump(ctx, &self.path, reader, envelope);
        }
        pump(ctx, &self.path, FlowCsvReader::open(&self.path, &self.mapping)?, envelope)
    }
}

/// A `flows` envelope of CSV records of `sensor`, the records kept as model features.
pub(crate) fn flows_envelope(recs: Vec<FlowFeatures>, sensor: &str) -> anyhow::Result<Envelope> {
    let seed = sensor_seed(sensor);
    let (flows, recs): (Vec<FlowRecord>, Vec<FlowFeatures>) =
        recs.into_iter().map(|r| (record_of_features(&r, seed), r)).unzip();
    let mut env = Envelope::new(RecordKind::Flows, vigil_ingest::flows_to_batch(&flows, sensor)?);
    env.features = Some(Arc::new(recs));
    Ok(env)
}

/// A built-in flow-CSV mapping by name, or a mapping file.
pub fn flow_mapping(mapping: &str) -> anyhow::Result<ColumnMapping> {
    match ColumnMapping::builtin(mapping) {
        Some(m) => Ok(m),
        None => ColumnMapping::from_path(mapping).map_err(|e| {
            let known: Vec<&str> = ColumnMapping::builtin_names().collect();
            anyhow::anyhow!(
                "`{mapping}` is neither a built-in mapping ({}) nor a mapping file: {e}",
                known.join(", ")
            )
        }),
    }
}

/// The first of `names` the record has.
fn first_value(r: &FlowFeatures, names: &[&str]) -> Option<f64> {
    names.iter().find_map(|n| r.numeric_value(n)).filter(|v| v.is_finite() && *v >= 0.0)
}

/// A flow row for a CSV record: its 5-tuple and time, and the packet and byte
/// counters where the mapping has them (NF-v2, CICFlowMeter and Zeek names). TCP
/// state and history are unknown (empty). Its uid and `flow_id` derive from the
/// sensor, the tuple, the start time and the row, so a replay gives the same ones.
fn record_of_features(r: &FlowFeatures, seed: u64) -> FlowRecord {
    let t = &r.tuple;
    let (uid, flow_id) = record_uid(
        seed,
        (t.src_addr, t.src_port, t.dst_addr, t.dst_port, t.proto, t.ts_us, t.flow_id),
    );
    let unspecified = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
    let count = |names: &[&str]| first_value(r, names).map(|v| v as u64).unwrap_or(0);
    let duration_us = first_value(r, &["FLOW_DURATION_MILLISECONDS"])
        .map(|ms| ms * 1e3)
        .or_else(|| first_value(r, &["Flow Duration"]))
        .or_else(|| first_value(r, &["duration"]).map(|s| s * 1e6))
        .unwrap_or(0.0) as i64;
    let ts = t.ts_us.unwrap_or(0);
    let dir = |pkts: u64, bytes: u64| DirectionStats {
        pkts,
        bytes,
        ip_bytes: bytes,
        wire_bytes: bytes,
        tcp_flags: 0,
    };
    // Community ID from the 5-tuple, as Zeek and Suricata compute it (none without addresses).
    let community_id = match (t.src_addr, t.dst_addr) {
        (Some(s), Some(d)) => vigil_ingest::flow::community_id_v1(
            0,
            &s,
            t.src_port.unwrap_or(0),
            &d,
            t.dst_port.unwrap_or(0),
            t.proto.unwrap_or(0),
            false,
        ),
        _ => String::new(),
    };
    FlowRecord {
        flow_id,
        uid,
        community_id,
        ts_start: ts,
        ts_end: ts + duration_us,
        orig_h: t.src_addr.unwrap_or(unspecified),
        orig_p: t.src_port.unwrap_or(0),
        resp_h: t.dst_addr.unwrap_or(unspecified),
        resp_p: t.dst_port.unwrap_or(0),
        proto: t.proto.unwrap_or(0),
        vlan: None,
        inner_vlan: None,
        orig: dir(
            count(&["IN_PKTS", "Total Fwd Packet", "orig_pkts"]),
            count(&["IN_BYTES", "Total Length of Fwd Packet", "orig_bytes"]),
        ),
        resp: dir(
            count(&["OUT_PKTS", "Total Bwd packets", "resp_pkts"]),
            count(&["OUT_BYTES", "Total Length of Bwd Packet", "resp_bytes"]),
        ),
        conn_state: "",
        history: String::new(),
        missed_bytes: 0,
        tunnel_parents: Vec::new(),
        end_reason: EndReason::Flush,
    }
}

/// Metric points from a CSV or JSON-lines file.
pub struct MetricsSource {
    path: PathBuf,
}

impl MetricsSource {
    /// A metrics file.
    pub fn new(path: PathBuf) -> Self {
        MetricsSource { path }
    }

    /// Read the file to its end (or until stopped).
    pub fn run(self, ctx: &SourceContext) -> anyhow::Result<()> {
        let source = self.path.display().to_string();
        let envelope = |points: Vec<_>| {
            Ok(Envelope::new(RecordKind::Metrics, metrics_batch(&points, &source, &ctx.sensor)))
        };
        let config = MetricsReaderConfig::default();
        if is_stdin(&self.path) {
            let reader = ReadAhead::spawn(move || {
                Ok(MetricsReader::from_reader("stdin", std::io::stdin(), config)?)
            })?;
            return pump(ctx, &self.path, reader, envelope);
        }
        pump(ctx, &self.path, MetricsReader::open(&self.path, config)?, envelope)
    }
}

/// Actions from an access log, an auth log, CSV or JSON lines.
pub struct ActionsSource {
    path: PathBuf,
    format: ActionLogFormat,
}

/// The action log format's name for a file name (`auto`): `jsonl` for `.jsonl`/`.json`,
/// `csv` for `.csv`, `auth` for names with `auth`, `ssh` or `secure`, else `access`.
pub fn guess_action_log(path: &std::path::Path) -> &'static str {
    let file = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_ascii_lowercase();
    let file = file.trim_end_matches(".gz");
    if file.ends_with(".jsonl") || file.ends_with(".json") {
        "jsonl"
    } else if file.ends_with(".csv") {
        "csv"
    } else if file.contains("auth") || file.contains("ssh") || file.contains("secure") {
        "auth"
    } else {
        "access"
    }
}

/// The log format by name, or guessed from the file name (`auto`, [`guess_action_log`]).
pub fn action_log_format(
    name: Option<&str>,
    path: &std::path::Path,
) -> anyhow::Result<ActionLogFormat> {
    let name = match name.unwrap_or("auto") {
        "auto" => guess_action_log(path),
        other => other,
    };
    Ok(match name {
        "csv" => ActionLogFormat::Csv(ActionColumns::default()),
        "jsonl" => ActionLogFormat::Jsonl(ActionColumns::default()),
        "access" => ActionLogFormat::AccessLog(AccessLogConfig {
            entity: AccessEntity::ClientIp,
            ..AccessLogConfig::default()
        }),
        "auth" => ActionLogFormat::AuthLog(AuthLogConfig {
            entity: AuthEntity::SourceIp,
            templates: TemplateMatcher::sshd(),
            ..AuthLogConfig::default()
        }),
        other => bail!("unknown action log format `{other}` (access, auth, csv, jsonl, auto)"),
    })
}

impl ActionsSource {
    /// An action log of `format` (`None` = guessed from the name).
    pub fn new(path: PathBuf, format: Option<&str>) -> anyhow::Result<Self> {
        let format = action_log_format(format, &path)?;
        Ok(ActionsSource { path, format })
    }

    /// Read the log to its end (or until stopped).
    pub fn run(self, ctx: &SourceContext) -> anyhow::Result<()> {
        let source = self.path.display().to_string();
        let envelope = |events: Vec<_>| {
            Ok(Envelope::new(RecordKind::Actions, actions_batch(&events, &source, &ctx.sensor)))
        };
        if is_stdin(&self.path) {
            let format = self.format;
            let reader = ReadAhead::spawn(move || {
                Ok(ActionReader::from_reader("stdin", std::io::stdin(), format)?)
            })?;
            return pump(ctx, &self.path, reader, envelope);
        }
        pump(ctx, &self.path, ActionReader::open(&self.path, self.format)?, envelope)
    }
}
