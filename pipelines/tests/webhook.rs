//! The webhook sink against a real local HTTP receiver (127.0.0.1, a port the OS
//! picks): alerts spooled while the receiver is down for 30 s are acknowledged at
//! once and delivered in order, each exactly once, when it comes back; a sink that
//! ends with alerts undelivered leaves them to the next one on the same spool; a
//! permanent 4xx is retried, never dropped.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use vigil_pipelines::alerting::{Alert, ModelRef, Signature, alerts_batch};
use vigil_pipelines::runtime::ack::{AckTracker, Acks};
use vigil_pipelines::runtime::config::WebhookSinkConfig;
use vigil_pipelines::runtime::record::{Envelope, RecordKind};
use vigil_pipelines::runtime::sinks::WebhookSink;
use vigil_pipelines::runtime::stats::{StageStats, StatsRegistry, WebhookSnapshot};

/// What the receiver got, in order: (Idempotency-Key, body).
type Log = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

/// A local HTTP receiver: records each POST and answers 200, or 422 while `refuse`
/// is above zero (then not recording it).
struct Receiver {
    addr: SocketAddr,
    log: Log,
    refuse: Arc<AtomicU32>,
    accept: Option<JoinHandle<()>>,
}

impl Receiver {
    async fn start() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut r = Receiver {
            addr: listener.local_addr().unwrap(),
            log: Log::default(),
            refuse: Arc::default(),
            accept: None,
        };
        r.serve(listener);
        r
    }

    fn serve(&mut self, listener: TcpListener) {
        let (log, refuse) = (self.log.clone(), self.refuse.clone());
        self.accept = Some(tokio::spawn(async move {
            loop {
                let Ok((conn, _)) = listener.accept().await else { continue };
                tokio::spawn(answer(conn, log.clone(), refuse.clone()));
            }
        }));
    }

    /// Go down: the listener is closed, connections are refused.
    async fn stop(&mut self) {
        if let Some(t) = self.accept.take() {
            t.abort();
            let _ = t.await;
        }
    }

    /// Come back on the same port.
    async fn restart(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        let listener = loop {
            match TcpListener::bind(self.addr).await {
                Ok(l) => break l,
                Err(e) if Instant::now() < deadline => {
                    eprintln!("re-binding {}: {e}", self.addr);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("cannot re-bind {}: {e}", self.addr),
            }
        };
        self.serve(listener);
    }

    fn received(&self) -> Vec<(String, Vec<u8>)> {
        self.log.lock().unwrap().clone()
    }

    /// Wait (at most `limit`) until `n` alerts were received.
    async fn wait_for(&self, n: usize, limit: Duration) {
        let deadline = Instant::now() + limit;
        while self.log.lock().unwrap().len() < n {
            assert!(
                Instant::now() < deadline,
                "{} of {n} alerts received after {limit:?}",
                self.log.lock().unwrap().len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Read one request, record it, answer.
async fn answer(mut conn: tokio::net::TcpStream, log: Log, refuse: Arc<AtomicU32>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let read = async {
        loop {
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buf[..end]).to_string();
                let header = |name: &str| {
                    head.lines().find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
                    })
                };
                let len: usize = header("content-length").unwrap().parse().unwrap();
                if buf.len() >= end + 4 + len {
                    assert!(head.starts_with("POST /alerts HTTP/1.1"), "{head}");
                    assert_eq!(header("content-type").as_deref(), Some("application/json"));
                    assert_eq!(header("x-tenant").as_deref(), Some("lab"));
                    let body = buf[end + 4..end + 4 + len].to_vec();
                    return (header("idempotency-key").unwrap(), body);
                }
            }
            let n = conn.read(&mut chunk).await.unwrap();
            assert!(n > 0, "the request ended early");
            buf.extend_from_slice(&chunk[..n]);
        }
    };
    let (key, body) = tokio::time::timeout(Duration::from_secs(10), read).await.unwrap();
    let refused = refuse.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
    let status = if refused.is_ok() {
        "422 Unprocessable Entity"
    } else {
        log.lock().unwrap().push((key, body));
        "200 OK"
    };
    let reply = format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    let _ = conn.write_all(reply.as_bytes()).await;
    let _ = conn.shutdown().await;
}

/// A batch of alerts with flow ids `ids`.
fn alerts(ids: std::ops::Range<u64>) -> Envelope {
    let sig = Signature {
        sid: 9100001,
        gid: 1,
        rev: 1,
        text: "netfound-malicious".into(),
        category: "Potentially Bad Traffic".into(),
        severity: 1,
    };
    let alerts: Vec<Alert> = ids
        .map(|i| Alert {
            ts: 1_700_000_000_000_000 + i as i64,
            sig: sig.clone(),
            model: ModelRef { name: "netfound".into(), version: None, sha256: None },
            flow_id: Some(i),
            community_id: Some(format!("1:{i}")),
            src_ip: Some("10.0.0.1".into()),
            src_port: Some(40000),
            dest_ip: Some("10.0.0.2".into()),
            dest_port: Some(443),
            proto: Some(6),
            label: Some("TLS".into()),
            score: 0.95,
            evidence: serde_json::json!({ "n": i }),
            sensor: "lab".into(),
            ..Default::default()
        })
        .collect();
    Envelope::new(RecordKind::Alerts, alerts_batch(&alerts).unwrap())
}

/// A running sink, its channel, and the tracker of the batches sent to it.
struct Running {
    tx: mpsc::Sender<Envelope>,
    task: JoinHandle<anyhow::Result<()>>,
    stats: Arc<StageStats>,
    tracker: AckTracker,
}

impl Running {
    fn start(store: &Path, addr: SocketAddr, extra: &str) -> Running {
        let text = format!(
            "inputs = [\"alerts\"]\nurl = \"http://{addr}/alerts\"\ntimeout_ms = 1000\n\
             retry_initial_ms = 100\nheaders = {{ X-Tenant = \"lab\" }}\n{extra}"
        );
        let config: WebhookSinkConfig = toml::from_str(&text).unwrap();
        let sink = WebhookSink::new("siem", &config, store).unwrap();
        let stats = StatsRegistry::default().stage("siem", "sink");
        let (tx, rx) = mpsc::channel(4);
        let task = tokio::spawn(sink.run(rx, stats.clone()));
        let tracker = AckTracker::new(Arc::new(AtomicBool::new(false)));
        Running { tx, task, stats, tracker }
    }

    /// Send a batch of alerts carrying an acknowledgement.
    async fn send(&mut self, ids: std::ops::Range<u64>) {
        let mut env = alerts(ids);
        env.acks = Acks::one(self.tracker.issue().1);
        self.tx.send(env).await.unwrap();
    }

    /// Wait (at most 10 s) until every batch sent is acknowledged as delivered.
    async fn acknowledged(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            self.tracker.poll();
            assert!(!self.tracker.failed(), "a batch was not acknowledged as delivered");
            if self.tracker.outstanding() == 0 {
                return;
            }
            let left = self.tracker.outstanding();
            assert!(Instant::now() < deadline, "{left} batches unacknowledged after 10 s");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn counters(&self) -> WebhookSnapshot {
        counters(&self.stats)
    }

    /// Close the channel and wait (at most `limit`) for the sink to end.
    async fn finish(self, limit: Duration) -> WebhookSnapshot {
        drop(self.tx);
        tokio::time::timeout(limit, self.task).await.expect("the sink ends").unwrap().unwrap();
        counters(&self.stats)
    }
}

fn counters(stats: &StageStats) -> WebhookSnapshot {
    let c = stats.delivery();
    WebhookSnapshot {
        delivered: c.delivered.load(Ordering::Relaxed),
        retries: c.retries.load(Ordering::Relaxed),
        rejected: c.rejected.load(Ordering::Relaxed),
        pending: c.pending.load(Ordering::Relaxed),
    }
}

/// Every alert of flow ids `0..n` received once, in order, each keyed by the
/// SHA-256 of its body (the alerts carry no `alert_id` yet).
fn assert_exactly_once_in_order(got: &[(String, Vec<u8>)], n: u64) {
    let bodies: Vec<serde_json::Value> =
        got.iter().map(|(_, b)| serde_json::from_slice(b).unwrap()).collect();
    let ids: Vec<u64> = bodies.iter().map(|b| b["flow_id"].as_u64().unwrap()).collect();
    assert_eq!(ids, (0..n).collect::<Vec<_>>(), "every alert once, in order");
    for ((key, raw), body) in got.iter().zip(&bodies) {
        let hex: String = Sha256::digest(raw).iter().map(|b| format!("{b:02x}")).collect();
        match body["vigil"]["alert_id"].as_str() {
            Some(id) => assert_eq!(key, id),
            None => assert_eq!(key, &hex, "the key of flow {}", body["flow_id"]),
        }
        assert_eq!(body["event_type"], "alert");
    }
    let mut keys: Vec<&String> = got.iter().map(|(k, _)| k).collect();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), got.len(), "distinct alerts have distinct keys");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_survive_a_receiver_down_for_30_seconds() {
    let store = tempfile::tempdir().unwrap();
    let mut receiver = Receiver::start().await;
    let mut sink =
        Running::start(store.path(), receiver.addr, "retry_max_ms = 1000\ndrain_secs = 20");
    sink.send(0..5).await;
    receiver.wait_for(5, Duration::from_secs(10)).await;
    sink.acknowledged().await;

    receiver.stop().await;
    let down = Instant::now();
    for start in [5, 10, 15] {
        sink.send(start..start + 5).await;
    }
    // Spooled, so acknowledged, with the receiver down.
    sink.acknowledged().await;
    assert!(down.elapsed() < Duration::from_secs(10));
    let spool = store.path().join("webhook-spool/siem");
    assert!(spool.join("lock").exists(), "the default spool is under the store");
    tokio::time::sleep(Duration::from_secs(30).saturating_sub(down.elapsed())).await;
    assert_eq!(receiver.received().len(), 5, "nothing arrives while the receiver is down");
    let c = sink.counters();
    assert_eq!(c.pending, 15);
    assert!(c.retries >= 5, "retried while down: {c:?}");
    assert!(c.retries <= 60, "backoff spaces the retries out: {c:?}");

    receiver.restart().await;
    receiver.wait_for(20, Duration::from_secs(10)).await;
    let c = sink.finish(Duration::from_secs(10)).await;
    assert_eq!((c.delivered, c.pending, c.rejected), (20, 0, 0));
    // Nothing more comes (no duplicate sent after the last acknowledgement).
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_exactly_once_in_order(&receiver.received(), 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_sink_delivers_what_the_last_one_left_spooled() {
    let store = tempfile::tempdir().unwrap();
    let mut receiver = Receiver::start().await;
    let extra = "retry_max_ms = 1000\ndrain_secs = 1";
    let mut first = Running::start(store.path(), receiver.addr, extra);
    first.send(0..4).await;
    receiver.wait_for(4, Duration::from_secs(10)).await;
    receiver.stop().await;
    first.send(4..8).await;
    first.acknowledged().await;
    let started = Instant::now();
    let c = first.finish(Duration::from_secs(10)).await;
    assert!(started.elapsed() >= Duration::from_secs(1), "it waited drain_secs");
    assert_eq!((c.delivered, c.pending), (4, 4));

    // The next run (same spool) resumes after the last alert delivered.
    receiver.restart().await;
    let extra = "retry_max_ms = 1000\ndrain_secs = 10";
    let mut second = Running::start(store.path(), receiver.addr, extra);
    second.send(8..10).await;
    second.acknowledged().await;
    receiver.wait_for(10, Duration::from_secs(10)).await;
    let c = second.finish(Duration::from_secs(10)).await;
    assert_eq!((c.delivered, c.pending), (6, 0));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_exactly_once_in_order(&receiver.received(), 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_alert_is_retried_not_dropped() {
    let store = tempfile::tempdir().unwrap();
    let receiver = Receiver::start().await;
    receiver.refuse.store(3, Ordering::SeqCst);
    let mut sink = Running::start(
        store.path(),
        receiver.addr,
        "retry_max_ms = 200\nmax_spool_bytes = 2048\ndrain_secs = 10",
    );
    // 2 KiB hold about 3 alerts: the sink waits for room while the first is refused.
    for start in (0..12).step_by(2) {
        sink.send(start..start + 2).await;
    }
    receiver.wait_for(12, Duration::from_secs(10)).await;
    let c = sink.finish(Duration::from_secs(10)).await;
    assert_eq!((c.delivered, c.rejected, c.pending), (12, 3, 0));
    assert!(c.retries >= 3);
    assert_exactly_once_in_order(&receiver.received(), 12);
}
