//! `vigil serve`, the console's HTTP API, end to end on 127.0.0.1: read-only SQL in
//! three formats, alerts filtered, grouped and paged, decisions that persist across a
//! restart, the counters and manifests, and the access rules (loopback by default, a
//! bearer token elsewhere, bounded bodies).

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::VIGIL;
use serde_json::{Value, json};
use vigil_pipelines::alerting::{Alert, Signature, alerts_batch};
use vigil_pipelines::store::{StoreWriter, Table};

/// A free port on 127.0.0.1.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A store with `n` alerts: sid 1 (severity 1) for even i, sid 2 (severity 3) for odd.
fn store_with_alerts(dir: &Path, n: usize) {
    let alerts: Vec<Alert> = (0..n)
        .map(|i| Alert {
            ts: 1_700_000_000_000_000 + i as i64 * 1_000_000,
            sig: Signature {
                sid: 1 + (i % 2) as u32,
                gid: 1,
                rev: 1,
                text: format!("rule {}", 1 + i % 2),
                category: "Test".into(),
                severity: if i % 2 == 0 { 1 } else { 3 },
            },
            src_ip: Some(format!("10.0.0.{}", i % 4)),
            dest_ip: Some("10.0.1.1".into()),
            score: 0.5,
            evidence: json!({ "i": i }),
            sensor: "t".into(),
            ..Default::default()
        })
        .collect();
    StoreWriter::new(dir, "t").write(Table::Alerts, &alerts_batch(&alerts).unwrap()).unwrap();
}

/// `vigil serve` on `port`, once it answers.
fn serve(store: &Path, listen: &str, token: Option<&str>) -> Child {
    let mut c = Command::new(VIGIL);
    c.args(["serve", "--listen", listen, "--data"])
        .arg(store)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .env_remove("VIGIL_TOKEN");
    if let Some(t) = token {
        c.env("VIGIL_TOKEN", t);
    }
    let child = c.spawn().unwrap();
    let addr: SocketAddr = listen.replace("0.0.0.0", "127.0.0.1").parse().unwrap();
    let until = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(addr).is_err() {
        assert!(Instant::now() < until, "vigil serve did not come up on {listen}");
        std::thread::sleep(Duration::from_millis(50));
    }
    child
}

/// One HTTP/1.1 request: (status, body).
fn http(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, Vec<u8>) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let split = out.windows(4).position(|w| w == b"\r\n\r\n").expect("a response head");
    let head = String::from_utf8_lossy(&out[..split]).to_string();
    let status: u16 = head.split(' ').nth(1).unwrap().parse().unwrap();
    let mut body = out[split + 4..].to_vec();
    if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        body = unchunk(&body);
    }
    (status, body)
}

fn unchunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line = b.windows(2).position(|w| w == b"\r\n").unwrap();
        let n = usize::from_str_radix(std::str::from_utf8(&b[..line]).unwrap().trim(), 16).unwrap();
        if n == 0 {
            return out;
        }
        out.extend_from_slice(&b[line + 2..line + 2 + n]);
        b = &b[line + 2 + n + 2..];
    }
}

fn json_of(port: u16, method: &str, path: &str, body: Value) -> (u16, Value) {
    let text = body.to_string();
    let (status, out) =
        http(port, method, path, &[("content-type", "application/json")], text.as_bytes());
    (status, serde_json::from_slice(&out).unwrap_or(Value::Null))
}

fn stop(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn the_api_answers_sql_and_alerts_and_keeps_decisions_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    store_with_alerts(dir.path(), 6);
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let server = serve(dir.path(), &listen, None);

    // SQL: JSON, CSV and Arrow IPC by Accept; refused writes; bounded bodies.
    let q =
        json!({ "sql": "select signature_id, count(*) as n from alerts group by 1 order by 1" });
    let (status, v) = json_of(port, "POST", "/api/sql", q.clone());
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["columns"][1]["name"], "n");
    assert_eq!(v["rows"], json!([[1, 3], [2, 3]]));
    let body = q.to_string();
    let ct = ("content-type", "application/json");
    let (status, csv) =
        http(port, "POST", "/api/sql", &[ct, ("accept", "text/csv")], body.as_bytes());
    assert_eq!(
        (status, String::from_utf8_lossy(&csv).as_ref()),
        (200, "signature_id,n\n1,3\n2,3\n")
    );
    let arrow = ("accept", "application/vnd.apache.arrow.stream");
    let (status, ipc) = http(port, "POST", "/api/sql", &[ct, arrow], body.as_bytes());
    assert_eq!(status, 200);
    let reader =
        datafusion::arrow::ipc::reader::StreamReader::try_new(std::io::Cursor::new(ipc), None)
            .unwrap();
    let rows: usize = reader.map(|b| b.unwrap().num_rows()).sum();
    assert_eq!(rows, 2);
    let (status, v) = json_of(port, "POST", "/api/sql", json!({ "sql": "delete from alerts" }));
    assert_eq!(status, 400);
    assert!(v["error"].as_str().unwrap().contains("read-only"), "{v}");
    let big = json!({ "sql": format!("select '{}'", "x".repeat(100_000)) });
    assert_eq!(json_of(port, "POST", "/api/sql", big).0, 413, "bodies are bounded");

    // Alerts: filtered, grouped, paged.
    let (status, v) = json_of(port, "GET", "/api/alerts?severity=1", Value::Null);
    assert_eq!(status, 200, "{v}");
    let alerts = v["alerts"].as_array().unwrap();
    assert_eq!(alerts.len(), 3);
    assert!(alerts.iter().all(|a| a["signature_id"] == 1 && a["state"] == "new"));
    assert!(alerts[0]["evidence"]["i"].is_number(), "evidence as JSON: {}", alerts[0]);
    let id = alerts[0]["alert_id"].as_str().unwrap().to_string();
    let (_, v) = json_of(port, "GET", "/api/alerts?group=signature", Value::Null);
    assert_eq!(v["alerts"].as_array().unwrap().len(), 2);
    assert_eq!(v["alerts"][0]["alerts"], 3);
    let (_, page) = json_of(port, "GET", "/api/alerts?limit=4", Value::Null);
    assert_eq!((page["alerts"].as_array().unwrap().len(), page["next"].as_u64()), (4, Some(4)));
    let (_, last) = json_of(port, "GET", "/api/alerts?limit=4&offset=4", Value::Null);
    assert_eq!((last["alerts"].as_array().unwrap().len(), last["next"].clone()), (2, Value::Null));
    assert_eq!(json_of(port, "GET", "/api/alerts?src_ip=nope", Value::Null).0, 400);
    // Include, exclude and group by any alert field (sources: 10.0.0.{i % 4}).
    let count = |path: &str| {
        let (status, v) = json_of(port, "GET", path, Value::Null);
        assert_eq!(status, 200, "{path}: {v}");
        v["alerts"].as_array().unwrap().len()
    };
    assert_eq!(count("/api/alerts?exclude.src_ip=10.0.0.0"), 4);
    assert_eq!(count("/api/alerts?include.src_ip=10.0.0.1&include.src_ip=10.0.0.2"), 3);
    assert_eq!(count("/api/alerts?include.signature_id=2&exclude.src_ip=10.0.0.1"), 1);
    let (_, v) = json_of(port, "GET", "/api/alerts?group=src_ip", Value::Null);
    let groups = v["alerts"].as_array().unwrap();
    assert_eq!(groups.len(), 4, "{v}");
    assert_eq!(
        (groups[0]["field"].as_str(), groups[0]["alerts"].as_u64()),
        (Some("src_ip"), Some(2))
    );
    assert_eq!(json_of(port, "GET", "/api/alerts?group=evidence", Value::Null).0, 400);
    assert_eq!(json_of(port, "GET", "/api/alerts?include.x;drop=1", Value::Null).0, 400);

    // Decisions: one alert (of sid 1), unknown and malformed ids, and in bulk by filter.
    let who = json!({ "actor": "ana", "comment": "look" });
    let (status, v) = json_of(port, "POST", &format!("/api/alerts/{id}/escalate"), who);
    assert_eq!((status, v["state"].as_str()), (200, Some("escalated")), "{v}");
    let unknown = "/api/alerts/0000-0000/ack";
    assert_eq!(json_of(port, "POST", unknown, Value::Null).0, 404);
    assert_eq!(json_of(port, "POST", "/api/alerts/x'y/ack", Value::Null).0, 400);
    let (status, v) = json_of(port, "POST", "/api/alerts/ack?sid=2", Value::Null);
    assert_eq!((status, v["alerts"].as_u64()), (200, Some(3)), "{v}");
    let (_, v) = json_of(port, "GET", "/api/alerts?group=state", Value::Null);
    let states: Vec<(&str, u64)> = v["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| (g["value"].as_str().unwrap(), g["alerts"].as_u64().unwrap()))
        .collect();
    assert_eq!(states, [("acknowledged", 3), ("new", 2), ("escalated", 1)]);

    // Counters, manifests, Prometheus text.
    assert_eq!(json_of(port, "GET", "/api/stats", Value::Null).0, 200);
    assert!(json_of(port, "GET", "/api/models", Value::Null).1.is_array());
    let (status, text) = http(port, "GET", "/metrics", &[], b"");
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&text));
    stop(server);

    // The decisions are in the store: a new server sees them.
    let server = serve(dir.path(), &listen, None);
    let (_, v) = json_of(port, "GET", "/api/alerts?state=escalated", Value::Null);
    let escalated: Vec<&str> =
        v["alerts"].as_array().unwrap().iter().map(|a| a["alert_id"].as_str().unwrap()).collect();
    assert_eq!(escalated, [id.as_str()]);
    assert_eq!(v["alerts"][0]["actor"], "ana");
    let (_, v) = json_of(port, "GET", "/api/alerts?state=acknowledged", Value::Null);
    assert_eq!(v["alerts"].as_array().unwrap().len(), 3);
    stop(server);
}

/// Flows of the sample capture, actions of one entity and points of one series.
fn store_with_records(dir: &Path) -> Vec<vigil_ingest::FlowRecord> {
    let w = StoreWriter::new(dir, "t");
    let (flows, _) = vigil_pipelines::extract::flows_from_capture(
        &common::repo("samples/ssh.pcap"),
        Default::default(),
        Default::default(),
    );
    w.write(Table::Flows, &vigil_ingest::flows_to_batch(&flows, "t").unwrap()).unwrap();
    let actions: Vec<vigil_ingest::actions::ActionEvent> = (0..3)
        .map(|i| vigil_ingest::actions::ActionEvent {
            entity: "alice".into(),
            ts: 1_700_000_000_000_000 + i,
            action: "GET".into(),
            object: format!("/p{i}"),
        })
        .collect();
    let rows = vigil_pipelines::runtime::rows::actions_batch(&actions, "log", "t");
    w.write(Table::Actions, &rows).unwrap();
    let points: Vec<vigil_ingest::metrics::MetricPoint> = (0..4)
        .map(|i| vigil_ingest::metrics::MetricPoint {
            series: "cpu".into(),
            ts: 1_700_000_000_000_000 + i * 60_000_000,
            value: i as f64,
        })
        .collect();
    let rows = vigil_pipelines::runtime::rows::metrics_batch(&points, "m", "t");
    w.write(Table::Metrics, &rows).unwrap();
    flows
}

#[test]
fn drill_downs_and_the_live_stream() {
    let dir = tempfile::tempdir().unwrap();
    store_with_alerts(dir.path(), 2);
    let flows = store_with_records(dir.path());
    let port = free_port();
    let server = serve(dir.path(), &format!("127.0.0.1:{port}"), None);

    let f = &flows[0];
    let (status, v) = json_of(port, "GET", &format!("/api/flows/{}", f.flow_id), Value::Null);
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["flow"]["src_ip"], f.orig_h.to_string());
    assert_eq!(v["flow"]["community_id"], f.community_id);
    assert!(v["same_host"].is_array() && v["alerts"].is_array());
    assert_eq!(json_of(port, "GET", "/api/flows/123456789", Value::Null).0, 404);
    let (status, v) = json_of(port, "GET", "/api/entities/alice", Value::Null);
    assert_eq!((status, v["actions"].as_array().map(Vec::len)), (200, Some(3)), "{v}");
    assert_eq!(json_of(port, "GET", "/api/entities/bob", Value::Null).0, 404);
    let (status, v) = json_of(port, "GET", "/api/series/cpu", Value::Null);
    assert_eq!((status, v["points"].as_array().map(Vec::len)), (200, Some(4)), "{v}");
    assert_eq!(v["points"][3]["value"], 3.0);

    // Live: an alert written after the stream opened arrives as an `alerts` event.
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(b"GET /api/alerts/stream HTTP/1.1\r\nhost: x\r\naccept: text/event-stream\r\n\r\n")
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let late = Alert {
        ts: 1_800_000_000_000_000,
        sig: Signature {
            sid: 7,
            gid: 1,
            rev: 1,
            text: "late".into(),
            category: "T".into(),
            severity: 2,
        },
        entity: Some("alice".into()),
        sensor: "t".into(),
        ..Default::default()
    };
    let id = late.alert_id();
    StoreWriter::new(dir.path(), "t")
        .write(Table::Alerts, &alerts_batch(&[late]).unwrap())
        .unwrap();
    let mut got = Vec::new();
    let until = Instant::now() + Duration::from_secs(20);
    let mut buf = [0u8; 4096];
    while Instant::now() < until {
        let n = s.read(&mut buf).unwrap_or(0);
        got.extend_from_slice(&buf[..n]);
        if String::from_utf8_lossy(&got).contains(&id) {
            break;
        }
    }
    let text = String::from_utf8_lossy(&got);
    assert!(text.contains("text/event-stream"), "{text}");
    assert!(text.contains("event: alerts") && text.contains(&id), "{text}");
    assert!(!text.contains("rule 1"), "alerts already stored are not streamed: {text}");
    stop(server);
}

#[test]
fn an_open_address_needs_a_token_and_requests_without_it_get_401() {
    let dir = tempfile::tempdir().unwrap();
    store_with_alerts(dir.path(), 2);
    let port = free_port();
    let open = format!("0.0.0.0:{port}");
    let refused = Command::new(VIGIL)
        .args(["serve", "--listen", &open, "--data"])
        .arg(dir.path())
        .env_remove("VIGIL_TOKEN")
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--token-file"));
    // So does `vigil run --serve`, before anything runs.
    let topology = dir.path().join("t.toml");
    std::fs::write(
        &topology,
        format!(
            "[store]\ndir = \"{}\"\n[sources.a]\ntype = \"pcap\"\npaths = [\"{}\"]\n\
             [sinks.s]\ntype = \"store\"\ninputs = [\"a\"]\n",
            dir.path().join("run").display(),
            common::repo("samples/ssh.pcap").display()
        ),
    )
    .unwrap();
    let run = Command::new(VIGIL)
        .args(["run", "--serve", &open, "--config"])
        .arg(&topology)
        .env_remove("VIGIL_TOKEN")
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&run.stderr).contains("without a bearer token"));
    assert!(!dir.path().join("run").exists(), "nothing ran");
    // And a dashboard sink on an open address: without a token it is refused, with one
    // (`env:NAME`) it is accepted; two dashboard sinks are refused.
    let sink = |name: &str, token: &str| {
        format!(
            "[sinks.{name}]\ntype = \"dashboard\"\ninputs = [\"a\"]\nlisten = \"{open}\"\n{token}"
        )
    };
    let base = std::fs::read_to_string(&topology).unwrap();
    let check = |extra: &str| {
        std::fs::write(&topology, format!("{base}{extra}")).unwrap();
        Command::new(VIGIL)
            .args(["run", "--check", "--config"])
            .arg(&topology)
            .env_remove("VIGIL_TOKEN")
            .env("CONSOLE_TOKEN", "s3cret")
            .output()
            .unwrap()
    };
    let out = check(&sink("c", ""));
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("without a bearer token"));
    let with_token = sink("c", "token = \"env:CONSOLE_TOKEN\"\n");
    let out = check(&with_token);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let out = check(&format!("{with_token}{}", sink("d", "token = \"env:CONSOLE_TOKEN\"\n")));
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("both serve a console"));

    let server = serve(dir.path(), &open, Some("s3cret"));
    let q = json!({ "sql": "select 1 as one" }).to_string();
    let ct = ("content-type", "application/json");
    assert_eq!(http(port, "POST", "/api/sql", &[ct], q.as_bytes()).0, 401);
    let wrong = ("authorization", "Bearer s3cre");
    assert_eq!(http(port, "POST", "/api/sql", &[ct, wrong], q.as_bytes()).0, 401);
    let right = ("authorization", "Bearer s3cret");
    assert_eq!(http(port, "POST", "/api/sql", &[ct, right], q.as_bytes()).0, 200);
    assert_eq!(http(port, "GET", "/metrics", &[], b"").0, 401, "every data route needs the token");
    assert_eq!(http(port, "GET", "/api/alerts/stream", &[], b"").0, 401);
    let (status, page) = http(port, "GET", "/", &[], b"");
    assert_eq!(status, 200, "the page itself holds no data: it asks for the token");
    assert!(String::from_utf8_lossy(&page).contains("/assets/app.js"));
    stop(server);
}

/// Reads server-sent events from `s` until `done(text so far)` or `secs` pass.
fn read_events(s: &mut TcpStream, secs: u64, done: impl Fn(&str) -> bool) -> String {
    let mut got = Vec::new();
    let until = Instant::now() + Duration::from_secs(secs);
    let mut buf = [0u8; 8192];
    while Instant::now() < until {
        let n = s.read(&mut buf).unwrap_or(0);
        got.extend_from_slice(&buf[..n]);
        if done(&String::from_utf8_lossy(&got)) {
            break;
        }
    }
    String::from_utf8_lossy(&got).to_string()
}

#[test]
fn a_dashboard_sink_serves_the_run_and_pushes_its_alerts_live() {
    if common::no_runtime() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    // 600 alerts newer than anything the run raises: the store's newest 500 (what a
    // stream polls) never include the run's 2015 alerts, so only the push shows them.
    let newer: Vec<Alert> = (0..600)
        .map(|i| Alert {
            ts: 1_900_000_000_000_000 + i * 1_000_000,
            sig: Signature {
                sid: 5,
                gid: 1,
                rev: 1,
                text: "newer".into(),
                category: "T".into(),
                severity: 3,
            },
            src_ip: Some("10.9.9.9".into()),
            sensor: "t".into(),
            ..Default::default()
        })
        .collect();
    StoreWriter::new(&store, "t").write(Table::Alerts, &alerts_batch(&newer).unwrap()).unwrap();
    let rules = dir.path().join("rules.toml");
    std::fs::write(
        &rules,
        "[[model]]\nsid = 1000001\nname = \"test: any scored action\"\nmodel = \"hstu-user-actions\"\n\
         min_score = 0.0\nseverity = 3\ncategory = \"Test\"\n",
    )
    .unwrap();
    let port = free_port();
    let topology = dir.path().join("t.toml");
    std::fs::write(
        &topology,
        format!(
            "sensor = \"live\"\n[batch]\nmax_ms = 200\n[store]\ndir = \"{}\"\nflush_ms = 200\n\
             [sources.actions]\ntype = \"actions\"\npath = \"-\"\nformat = \"access\"\n\
             [sources.capture]\ntype = \"pcap\"\npaths = [\"{}\"]\n\
             [transforms.hstu]\ntype = \"score\"\nmodel = \"{}\"\ninputs = [\"actions\"]\n\
             [transforms.netfound]\ntype = \"score\"\nmodel = \"{}\"\ninputs = [\"capture\"]\n\
             [transforms.alerts]\ntype = \"alerts\"\ninputs = [\"hstu\"]\nrules = [\"{}\"]\n\
             [sinks.store]\ntype = \"store\"\ninputs = [\"hstu\", \"netfound\", \"alerts\"]\n\
             [sinks.console]\ntype = \"dashboard\"\ninputs = [\"alerts\"]\nlisten = \"127.0.0.1:{port}\"\n",
            store.display(),
            common::repo("samples/ssh.pcap").display(),
            common::repo("onnx/artifacts/hstu-user-actions").display(),
            common::repo("onnx/artifacts/netfound").display(),
            rules.display(),
        ),
    )
    .unwrap();
    let mut run = Command::new(VIGIL)
        .args(["run", "--config"])
        .arg(&topology)
        .env_remove("VIGIL_TOKEN")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let until = Instant::now() + Duration::from_secs(60);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(run.try_wait().unwrap().is_none(), "vigil run exited");
        assert!(Instant::now() < until, "the dashboard sink's console did not come up");
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    s.write_all(b"GET /api/alerts/stream HTTP/1.1\r\nhost: x\r\n\r\n").unwrap();
    read_events(&mut s, 2, |t| t.contains("text/event-stream"));

    // Actions arrive on stdin; their alerts are pushed as the sink writes them.
    let log = std::fs::read_to_string(common::repo("samples/actions/apache_access.log")).unwrap();
    let mut stdin = run.stdin.take().unwrap();
    for line in log.lines().take(300) {
        writeln!(stdin, "{line}").unwrap();
    }
    stdin.flush().unwrap();
    let text = read_events(&mut s, 60, |t| t.contains("test: any scored action"));
    assert!(text.contains("event: alerts"), "{text}");
    assert!(text.contains("test: any scored action"), "pushed, not polled: {text}");
    assert!(!text.contains("\"newer\""), "history is not streamed");
    // The sink counts a batch once it is handed over, just after the stream got it.
    let shown = |v: &Value| {
        let stages = v["stages"].as_array().cloned().unwrap_or_default();
        let sink = stages.into_iter().find(|s| s["stage"] == "console");
        sink.is_some_and(|s| s["records_out"].as_u64() > Some(0))
    };
    let mut v = Value::Null;
    let until = Instant::now() + Duration::from_secs(10);
    while !shown(&v) && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(50));
        v = json_of(port, "GET", "/api/stats", Value::Null).1;
    }
    assert!(shown(&v), "the dashboard sink counts what it showed: {v}");

    // The capture's flows carry netFound's bursts, which the flow drill-down returns.
    let q = json!({ "sql": "select flow_id, cardinality(bursts) as n, orig_pkts + resp_pkts as pkts \
                            from flows where bursts is not null order by n desc limit 1" });
    let mut row = Value::Null;
    let until = Instant::now() + Duration::from_secs(30);
    while row.is_null() && Instant::now() < until {
        row = json_of(port, "POST", "/api/sql", q.clone()).1["rows"][0].clone();
        std::thread::sleep(Duration::from_millis(200));
    }
    let flow_id = row[0].as_str().expect("a netFound-scored flow is stored").to_string();
    let (status, v) = json_of(port, "GET", &format!("/api/flows/{flow_id}"), Value::Null);
    assert_eq!(status, 200, "{v}");
    let bursts = v["bursts"].as_array().unwrap();
    assert_eq!(bursts.len() as u64, row[1].as_u64().unwrap());
    let packets: u64 = bursts.iter().map(|b| b["packets"].as_u64().unwrap()).sum();
    assert!(packets > 0 && packets <= row[2].as_u64().unwrap(), "{v}");
    assert!(bursts.iter().all(|b| b["bytes"].as_u64() > Some(0) && b["ts"].is_string()), "{v}");
    let (_, scores) = json_of(port, "GET", "/api/scores", Value::Null);
    let columns: Vec<&str> =
        scores["models"].as_array().unwrap().iter().map(|m| m["model"].as_str().unwrap()).collect();
    assert_eq!(columns, ["netfound", "hstu-user-actions"], "{scores}");

    // The end of input ends the run, and the console with it.
    drop(stdin);
    let until = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = run.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < until, "vigil run did not end with its input");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status}");
}
