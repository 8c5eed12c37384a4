//! The console in a real browser: `vigil serve` on a demo store, driven in headless
//! Chromium by `dashboards/web/browser-test.mjs` (playwright-core): the overview's chart
//! and tables, an alert appearing live, keyboard triage, excluding and grouping by a
//! value, a flow drill-down with its burst timeline, the SQL console, and the entity and
//! series pages, on a 1366×768 screen; then a console with a token, which the page asks
//! for. Screenshots go to `dashboards/screenshots/`.
//!
//! Needs ONNX Runtime (the demo), `/usr/bin/chromium` and `npm ci` in
//! `dashboards/web`; `.ci/run` provides them. Without them it says why and passes,
//! unless `VIGIL_REQUIRE_DATA=1`.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{VIGIL, no_runtime, repo};
use vigil_ingest::data_dir::data_required;
use vigil_pipelines::alerting::{Alert, Signature, alerts_batch};
use vigil_pipelines::store::{StoreWriter, Table};

fn missing() -> Option<String> {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    if !std::path::Path::new(&chromium).exists() {
        return Some(format!("{chromium} is absent (apt-get install chromium)"));
    }
    if !repo("dashboards/web/node_modules/playwright-core").is_dir() {
        return Some("dashboards/web/node_modules is absent (npm ci there)".into());
    }
    None
}

#[test]
fn the_console_works_in_a_browser() {
    if no_runtime() {
        return;
    }
    if let Some(why) = missing() {
        assert!(!data_required(), "VIGIL_REQUIRE_DATA=1 but {why}");
        println!("skipped: {why}");
        return;
    }
    let store = tempfile::tempdir().unwrap();
    let demo =
        Command::new(VIGIL).args(["-q", "demo", "--data"]).arg(store.path()).output().unwrap();
    assert!(demo.status.success(), "{}", String::from_utf8_lossy(&demo.stderr));

    let serve = |token: Option<&str>| {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut c = Command::new(VIGIL);
        c.args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--data"])
            .arg(store.path())
            .stderr(Stdio::null())
            .env_remove("VIGIL_TOKEN");
        if let Some(t) = token {
            c.env("VIGIL_TOKEN", t);
        }
        let server = c.spawn().unwrap();
        let until = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < until, "vigil serve did not come up");
            std::thread::sleep(Duration::from_millis(50));
        }
        (port, server)
    };
    let (port, mut server) = serve(None);
    let (locked_port, mut locked) = serve(Some("browser-t0ken"));

    let mut node = Command::new("node")
        .arg("browser-test.mjs")
        .current_dir(repo("dashboards/web"))
        .env("VIGIL_URL", format!("http://127.0.0.1:{port}"))
        .env("SCREENSHOTS", repo("dashboards/screenshots"))
        .env("VIGIL_TOKEN_URL", format!("http://127.0.0.1:{locked_port}"))
        .env("VIGIL_TOKEN", "browser-t0ken")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node runs");
    let mut stdin = node.stdin.take().unwrap();
    let mut said = String::new();
    for line in BufReader::new(node.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        said.push_str(&line);
        said.push('\n');
        if line == "INJECT" {
            // A new alert lands in the store, as a running instance would write it.
            let alert = Alert {
                ts: vigil_pipelines::runtime::rows::now_us(),
                sig: Signature {
                    sid: 9_300_001,
                    gid: 1,
                    rev: 1,
                    text: "VIGIL browser test: a live alert".into(),
                    category: "Test".into(),
                    severity: 1,
                },
                src_ip: Some("192.0.2.77".into()),
                dest_ip: Some("198.51.100.1".into()),
                score: 1.0,
                sensor: "browser-test".into(),
                ..Default::default()
            };
            let id = alert.alert_id();
            let batch = alerts_batch(&[alert]).unwrap();
            StoreWriter::new(store.path(), "browser-test").write(Table::Alerts, &batch).unwrap();
            writeln!(stdin, "ALERT {id}").unwrap();
        }
    }
    let out = node.wait_with_output().unwrap();
    for s in [&mut server, &mut locked] {
        let _ = s.kill();
        let _ = s.wait();
    }
    assert!(
        out.status.success(),
        "the browser test failed:\n{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let shots =
        ["overview.png", "overview-live.png", "alerts.png", "alerts-grouped.png", "flow.png"];
    for shot in shots.into_iter().chain(["flow-bursts.png", "sql.png", "entity.png", "series.png"])
    {
        assert!(repo("dashboards/screenshots").join(shot).is_file(), "{shot}");
    }
}
