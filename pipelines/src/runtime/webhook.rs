//! The webhook sink: alerts made durable in an on-disk spool ([`webhook_spool`]),
//! which acknowledges their batch, then POSTed in order by a delivery task, one alert
//! per request, retried with exponential backoff until the receiver answers 2xx.
//! The contract is in the [`config`](super::config) module docs.
//!
//! [`webhook_spool`]: super::webhook_spool

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use arrow_array::RecordBatch;
use sha2::{Digest, Sha256};
use tokio::sync::{mpsc, watch};

use super::ack::BatchStatus;
use super::config::{WebhookSinkConfig, secret_value};
use super::http_client::{Url, post, valid_header_name, valid_header_value};
use super::record::{Envelope, RecordKind};
use super::sinks::eve_alert;
use super::stats::StageStats;
use super::webhook_spool::{self, SpoolReader, SpoolWriter};

/// Headers the client sets itself.
const RESERVED: [&str; 4] =
    ["content-length", "connection", "transfer-encoding", "idempotency-key"];

/// Alerts to an HTTP receiver, through a spool.
pub struct WebhookSink {
    name: String,
    url: Url,
    spool: PathBuf,
    max_spool_bytes: u64,
    timeout: Duration,
    retry_initial: Duration,
    retry_max: Duration,
    /// Every header sent but `Idempotency-Key` (values are secrets: never logged).
    headers: Vec<(String, String)>,
    drain: Duration,
}

impl std::fmt::Debug for WebhookSink {
    /// Header values are secrets: only their names are shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let headers: Vec<&str> = self.headers.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("WebhookSink")
            .field("name", &self.name)
            .field("url", &self.url.to_string())
            .field("spool", &self.spool)
            .field("headers", &headers)
            .finish_non_exhaustive()
    }
}

impl WebhookSink {
    /// Check `config` of sink `name` (a relative spool is relative to `store_dir`)
    /// and resolve its header values; creates nothing.
    pub fn new(name: &str, config: &WebhookSinkConfig, store_dir: &Path) -> anyhow::Result<Self> {
        let url = Url::parse(&config.url).with_context(|| format!("`url` {}", config.url))?;
        let spool = config.spool.clone().unwrap_or_else(|| Path::new("webhook-spool").join(name));
        let spool = store_dir.join(spool);
        if spool.exists() && !spool.is_dir() {
            bail!("the spool {} is not a directory", spool.display());
        }
        if config.max_spool_bytes == 0 || config.timeout_ms == 0 || config.retry_initial_ms == 0 {
            bail!("`max_spool_bytes`, `timeout_ms` and `retry_initial_ms` must be at least 1");
        }
        if config.retry_max_ms < config.retry_initial_ms {
            bail!("`retry_max_ms` must be at least `retry_initial_ms`");
        }
        let mut headers = vec![("Content-Type".to_string(), "application/json".to_string())];
        for (k, v) in &config.headers {
            if !valid_header_name(k) {
                bail!("header `{k}` is not a valid header name");
            }
            if RESERVED.contains(&k.to_ascii_lowercase().as_str()) {
                bail!("header `{k}` is set by the sink itself");
            }
            let value = secret_value(&format!("header `{k}`"), v)?;
            if !valid_header_value(&value) {
                bail!("header `{k}`: the value has control or non-ASCII characters");
            }
            headers.retain(|(h, _)| !h.eq_ignore_ascii_case(k));
            headers.push((k.clone(), value));
        }
        Ok(WebhookSink {
            name: name.to_string(),
            url,
            spool,
            max_spool_bytes: config.max_spool_bytes,
            timeout: Duration::from_millis(config.timeout_ms),
            retry_initial: Duration::from_millis(config.retry_initial_ms),
            retry_max: Duration::from_millis(config.retry_max_ms),
            headers,
            drain: Duration::from_secs(config.drain_secs),
        })
    }

    /// The spool directory.
    pub fn spool(&self) -> &Path {
        &self.spool
    }

    /// Where errors say it is.
    fn describe(&self) -> String {
        format!("webhook `{}` ({}, spool {})", self.name, self.url, self.spool.display())
    }

    /// Spool every `alerts` batch `rx` brings (acknowledging each once fsynced) while
    /// the delivery task sends them; at the end wait up to `drain_secs` for the spool
    /// to drain. Fails when the spool cannot be written or read.
    pub async fn run(
        self,
        mut rx: mpsc::Receiver<Envelope>,
        stats: Arc<StageStats>,
    ) -> anyhow::Result<()> {
        let me = Arc::new(self);
        let (dir, max) = (me.spool.clone(), me.max_spool_bytes);
        let (mut writer, reader) =
            tokio::task::spawn_blocking(move || webhook_spool::open(&dir, max))
                .await?
                .with_context(|| me.describe())?;
        let backlog = writer.backlog();
        let pending = backlog.borrow().alerts;
        stats.delivery().pending.store(pending, Ordering::Relaxed);
        if pending > 0 {
            tracing::info!(sink = %me.name, pending, "delivering the alerts spooled before");
        }
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut delivery =
            AbortOnDrop(tokio::spawn(deliver(reader, me.clone(), stats.clone(), stop_rx)));
        loop {
            let env = tokio::select! {
                env = rx.recv() => env,
                r = &mut delivery.0 => return Err(ended(r).context(me.describe())),
            };
            let Some(mut env) = env else { break };
            let acks = env.take_acks();
            let rows = env.rows();
            stats.add_in(rows);
            if env.kind != RecordKind::Alerts {
                acks.resolve(BatchStatus::Delivered);
                continue;
            }
            let started = Instant::now();
            let lines = match eve_lines(&env.batch) {
                Ok(lines) => lines,
                Err(e) => return fail(&stats, acks, rows, e.context(me.describe())),
            };
            // The delivery task ending would leave a writer waiting for room forever.
            let spooled = tokio::select! {
                r = spool_lines(writer, lines) => r,
                r = &mut delivery.0 => Err(ended(r)),
            };
            writer = match spooled {
                Ok(w) => w,
                Err(e) => return fail(&stats, acks, rows, e.context(me.describe())),
            };
            stats.observe_batch(started.elapsed());
            stats.add_out(rows);
            stats.observe_alert_latency(env.arrived.elapsed(), rows);
            acks.resolve(BatchStatus::Delivered);
            stats.delivery().pending.store(backlog.borrow().alerts, Ordering::Relaxed);
        }
        drop(writer);
        let mut drained = backlog.clone();
        let finished = tokio::select! {
            _ = tokio::time::timeout(me.drain, drained.wait_for(|b| b.alerts == 0)) => None,
            r = &mut delivery.0 => Some(r),
        };
        let result = match finished {
            Some(r) => Err(ended(r)),
            None => {
                let _ = stop_tx.send(true);
                (&mut delivery.0).await.map_err(anyhow::Error::from).and_then(|r| r)
            }
        };
        let left = backlog.borrow().alerts;
        stats.delivery().pending.store(left, Ordering::Relaxed);
        result.with_context(|| me.describe())?;
        if left > 0 {
            tracing::warn!(
                sink = %me.name,
                url = %me.url,
                spool = %me.spool.display(),
                left,
                "alerts still spooled after {} s; the next run delivers them",
                me.drain.as_secs()
            );
        }
        Ok(())
    }
}

/// Why the delivery task ended before it was told to stop.
fn ended(r: Result<anyhow::Result<()>, tokio::task::JoinError>) -> anyhow::Error {
    match r {
        Ok(Err(e)) => e.context("delivery failed"),
        Ok(Ok(())) => anyhow::anyhow!("delivery stopped"),
        Err(e) => anyhow::anyhow!("delivery panicked: {e}"),
    }
}

/// Fail the sink: the batch's rows counted lost, its acknowledgements errored.
fn fail(
    stats: &StageStats,
    acks: super::ack::Acks,
    rows: usize,
    e: anyhow::Error,
) -> anyhow::Result<()> {
    stats.add_lost(rows);
    acks.resolve(BatchStatus::Errored);
    Err(e.context(format!("{rows} rows not written")))
}

/// Aborts the delivery task when the sink's task ends or is dropped.
struct AbortOnDrop(tokio::task::JoinHandle<anyhow::Result<()>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Each alert of an `alerts` batch as one line of EVE JSON.
fn eve_lines(batch: &RecordBatch) -> anyhow::Result<Vec<Vec<u8>>> {
    (0..batch.num_rows()).map(|r| Ok(serde_json::to_vec(&eve_alert(batch, r)?)?)).collect()
}

/// Append `lines` to the spool, waiting for room as needed.
async fn spool_lines(mut writer: SpoolWriter, lines: Vec<Vec<u8>>) -> anyhow::Result<SpoolWriter> {
    let mut lines = lines.into_iter().peekable();
    while let Some(first) = lines.peek() {
        writer.room(first.len() as u64 + 1).await?;
        let free = writer.free();
        let (mut chunk, mut size) = (Vec::new(), 0u64);
        while let Some(l) = lines.peek() {
            let n = l.len() as u64 + 1;
            if !chunk.is_empty() && size + n > free {
                break;
            }
            size += n;
            chunk.extend(lines.next());
        }
        let (w, r) = tokio::task::spawn_blocking(move || {
            let r = writer.append(&chunk);
            (writer, r)
        })
        .await?;
        r?;
        writer = w;
    }
    Ok(writer)
}

/// The `Idempotency-Key` of a spooled alert: its `vigil.alert_id`, else the
/// lowercase hex SHA-256 of its JSON line.
pub fn idempotency_key(line: &[u8]) -> String {
    let id = serde_json::from_slice::<serde_json::Value>(line)
        .ok()
        .and_then(|v| v["vigil"]["alert_id"].as_str().map(str::to_string));
    match id {
        Some(id) if !id.is_empty() && valid_header_value(&id) => id,
        _ => Sha256::digest(line).iter().map(|b| format!("{b:02x}")).collect(),
    }
}

/// Whether a status is a client error that retrying will not fix.
fn permanent(status: u16) -> bool {
    (400..500).contains(&status) && !matches!(status, 408 | 425 | 429)
}

/// The delivery task: POST the spooled alerts in order until told to stop; an error
/// only when the spool cannot be read or committed.
async fn deliver(
    mut reader: SpoolReader,
    sink: Arc<WebhookSink>,
    stats: Arc<StageStats>,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let mut backlog = reader.backlog();
    let mut jitter = Jitter::new();
    let counters = stats.delivery();
    loop {
        tokio::select! {
            biased;
            _ = stop.wait_for(|s| *s) => return Ok(()),
            r = backlog.wait_for(|b| b.alerts > 0) => { r?; }
        }
        let (r, line) = tokio::task::spawn_blocking(move || {
            let line = reader.peek().map(|l| l.map(<[u8]>::to_vec));
            (reader, line)
        })
        .await?;
        reader = r;
        let line = match line? {
            Some(line) => line,
            None => continue,
        };
        let mut headers = sink.headers.clone();
        headers.push(("Idempotency-Key".to_string(), idempotency_key(&line)));
        let mut delay = sink.retry_initial;
        let mut attempt = 1u32;
        loop {
            let outcome = tokio::select! {
                biased;
                _ = stop.wait_for(|s| *s) => return Ok(()),
                r = post(&sink.url, &headers, &line, sink.timeout) => r,
            };
            let wait = match outcome {
                Ok(resp) if resp.success() => break,
                Ok(resp) if permanent(resp.status) => {
                    counters.rejected.fetch_add(1, Ordering::Relaxed);
                    tracing::error!(
                        sink = %sink.name,
                        url = %sink.url,
                        status = resp.status,
                        body = %String::from_utf8_lossy(&resp.body),
                        attempt,
                        "the receiver refuses the alert; retrying every {} ms, it is never dropped",
                        sink.retry_max.as_millis()
                    );
                    sink.retry_max
                }
                Ok(resp) => {
                    tracing::warn!(sink = %sink.name, url = %sink.url, status = resp.status, attempt, "delivery failed; retrying");
                    delay
                }
                Err(e) => {
                    tracing::warn!(sink = %sink.name, url = %sink.url, attempt, "delivery failed; retrying: {e:#}");
                    delay
                }
            };
            counters.retries.fetch_add(1, Ordering::Relaxed);
            tokio::select! {
                biased;
                _ = stop.wait_for(|s| *s) => return Ok(()),
                () = tokio::time::sleep(jitter.apply(wait)) => {}
            }
            delay = (delay * 2).min(sink.retry_max);
            attempt += 1;
        }
        let (r, committed) = tokio::task::spawn_blocking(move || {
            let c = reader.commit();
            (reader, c)
        })
        .await?;
        reader = r;
        committed?;
        counters.delivered.fetch_add(1, Ordering::Relaxed);
        counters.pending.store(backlog.borrow().alerts, Ordering::Relaxed);
    }
}

/// ±10 % of jitter on retry delays, from a small xorshift generator.
struct Jitter(u64);

impl Jitter {
    fn new() -> Jitter {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64);
        Jitter(seed | 1)
    }

    fn apply(&mut self, d: Duration) -> Duration {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        let f = 0.9 + 0.2 * (self.0 % 10_000) as f64 / 10_000.0;
        d.mul_f64(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::config::{SinkConfig, TopologyConfig};
    use crate::runtime::topology::Topology;

    fn config(url: &str) -> WebhookSinkConfig {
        let text = format!("inputs = [\"alerts\"]\nurl = \"{url}\"\n");
        toml::from_str(&text).unwrap()
    }

    #[test]
    fn the_config_is_checked() {
        let store = Path::new("/var/lib/vigil");
        let s = WebhookSink::new("siem", &config("http://127.0.0.1:8088/a"), store).unwrap();
        assert_eq!(s.spool(), Path::new("/var/lib/vigil/webhook-spool/siem"));
        assert_eq!(
            (s.timeout, s.retry_max, s.drain.as_secs()),
            (Duration::from_secs(5), Duration::from_secs(30), 30)
        );
        let e = WebhookSink::new("siem", &config("https://siem/a"), store).unwrap_err();
        assert!(format!("{e:#}").contains("TLS-terminating proxy"), "{e:#}");
        let mut c = config("http://h/");
        c.headers.insert("Idempotency-Key".into(), "x".into());
        assert!(WebhookSink::new("s", &c, store).is_err());
        let mut c = config("http://h/");
        c.headers.insert("X-Token".into(), "env:VIGIL_TEST_SURELY_UNSET_VAR".into());
        let e = WebhookSink::new("s", &c, store).unwrap_err().to_string();
        assert!(e.contains("VIGIL_TEST_SURELY_UNSET_VAR is not set"), "{e}");
        let mut c = config("http://h/");
        c.headers.insert("Content-Type".into(), "application/x-ndjson".into());
        c.spool = Some("/tmp/elsewhere".into());
        let s = WebhookSink::new("s", &c, store).unwrap();
        assert_eq!(s.headers, [("Content-Type".to_string(), "application/x-ndjson".to_string())]);
        assert_eq!(s.spool(), Path::new("/tmp/elsewhere"));
        let mut c = config("http://h/");
        c.headers.insert("Authorization".into(), "Bearer s3cret".into());
        let shown = format!("{:?}", WebhookSink::new("s", &c, store).unwrap());
        assert!(shown.contains("Authorization") && !shown.contains("s3cret"), "{shown}");
    }

    #[test]
    fn a_topology_reports_webhook_problems_at_start_up() {
        let dir = tempfile::tempdir().unwrap();
        let points = dir.path().join("points.csv");
        std::fs::write(&points, "timestamp,series,value\n").unwrap();
        let text = format!(
            "[store]\ndir = \"{}\"\n[sources.m]\ntype = \"metrics\"\npath = \"{}\"\n\
             [sinks.a]\ntype = \"webhook\"\ninputs = [\"m\"]\nurl = \"https://siem/x\"\n\
             [sinks.b]\ntype = \"webhook\"\ninputs = [\"m\"]\nurl = \"http://127.0.0.1:9/x\"\n\
             headers = {{ Authorization = \"env:VIGIL_TEST_SURELY_UNSET_VAR\" }}\n",
            dir.path().display(),
            points.display()
        );
        let config = TopologyConfig::from_toml(&text, Path::new("t.toml")).unwrap();
        assert!(matches!(config.sinks["a"], SinkConfig::Webhook(_)));
        let e = Topology::build(config).err().expect("refused").to_string();
        for want in [
            "sink `a` (webhook https://siem/x)",
            "TLS-terminating proxy",
            "sink `b` posts alerts, but none of its inputs raises any",
            "VIGIL_TEST_SURELY_UNSET_VAR is not set",
        ] {
            assert!(e.contains(want), "{want}: {e}");
        }
        assert!(!dir.path().join("webhook-spool").exists(), "building creates nothing");
    }

    #[test]
    fn the_key_is_the_alert_id_else_a_hash() {
        let with_id = br#"{"vigil":{"alert_id":"a-1"}}"#;
        assert_eq!(idempotency_key(with_id), "a-1");
        let key = idempotency_key(br#"{"vigil":{}}"#);
        assert_eq!(key.len(), 64);
        assert!(key.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        assert_ne!(key, idempotency_key(br#"{"vigil":{"x":1}}"#));
        assert_eq!(key, idempotency_key(br#"{"vigil":{}}"#));
    }

    #[test]
    fn permanent_errors_and_jitter() {
        assert!(permanent(400) && permanent(404) && permanent(422));
        assert!(!permanent(429) && !permanent(408) && !permanent(503) && !permanent(200));
        let mut j = Jitter::new();
        for _ in 0..100 {
            let d = j.apply(Duration::from_millis(1000));
            assert!(d >= Duration::from_millis(900) && d <= Duration::from_millis(1100), "{d:?}");
        }
    }
}
