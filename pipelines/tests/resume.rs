//! The runtime's delivery contracts, end to end through the `vigil` binary: a
//! `kill -9` mid-ingest then a re-run resumes from the sources' checkpoints and
//! stores every flow, point, log line and dead letter exactly once, a sink that fails
//! fails the run and moves no checkpoint, and a truncated capture is stored as far
//! as it goes and exits 3.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{VIGIL, counts, repo, udp_capture};

/// A topology with one source (`source`, TOML body) stored in `store`, written to `dir`.
fn one_source(dir: &Path, sensor: &str, store: &Path, source: &str) -> PathBuf {
    let config = dir.join(format!("{sensor}.toml"));
    let text = format!(
        "sensor = \"{sensor}\"\n[batch]\nmax_rows = 1000\n[store]\ndir = \"{}\"\n[sources.src]\n{source}\n[sinks.store]\ntype = \"store\"\ninputs = [\"src\"]\n",
        store.display()
    );
    std::fs::write(&config, text).unwrap();
    config
}

/// `vigil run --config config` to its end.
fn run(config: &Path) -> Output {
    Command::new(VIGIL).args(["run", "--config", config.to_str().unwrap()]).output().unwrap()
}

/// Start `vigil run --config config`, `kill -9` it once `checkpoint` has moved past
/// 50,000 records (or exists, for a capture), then run it again to its end (which must
/// exit with `code`); returns the re-run's log.
fn kill_then_rerun(config: &Path, checkpoint: &Path, code: i32) -> String {
    let mut child = Command::new(VIGIL)
        .args(["run", "--config", config.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let moved = || {
        std::fs::read(checkpoint)
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .is_some_and(|v| v.get("records").is_none_or(|r| r.as_u64() >= Some(50_000)))
    };
    while !moved() {
        assert!(Instant::now() < deadline, "no checkpoint within 60 s");
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let out = Command::new(VIGIL)
        .args(["run", "--config", config.to_str().unwrap()])
        .env("RUST_LOG", "info")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(code), "{err}");
    err
}

/// `pcap` (classic pcap, records all of the first one's size) cut into `parts` files
/// of consecutive packets, each with the global header.
fn split_capture(pcap: &[u8], parts: usize) -> Vec<Vec<u8>> {
    let (header, body) = pcap.split_at(24);
    let record = 16 + u32::from_le_bytes(body[8..12].try_into().unwrap()) as usize;
    let per = body.len() / record / parts + 1;
    body.chunks(per * record).map(|c| [header, c].concat()).collect()
}

#[test]
fn kill_9_then_rerun_of_a_capture_directory_stores_every_flow_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    // 150,000 one-packet UDP flows over 300 s of capture time, in three files: UDP's
    // 60 s idle timeout ends them steadily (some across a file boundary), so batches
    // of 1,000 flows are committed all along.
    let captures = dir.path().join("captures");
    std::fs::create_dir(&captures).unwrap();
    for (i, part) in split_capture(&udp_capture(150_000, 1, 2_000), 3).iter().enumerate() {
        std::fs::write(captures.join(format!("part-{i}.pcap")), part).unwrap();
    }
    let store = dir.path().join("store");
    let source = format!("type = \"pcap\"\npaths = [\"{}\"]", captures.display());
    let config = one_source(dir.path(), "crash", &store, &source);
    kill_then_rerun(&config, &store.join("_checkpoints/crash/src.json"), 0);
    // Every flow exactly once, with the uid it had (uids derive from the flow).
    let q = ["select count(*) from flows", "select count(distinct uid) from flows"];
    assert_eq!(counts(&store, &q), vec![150_000, 150_000]);
    // A third run finds nothing new.
    assert_eq!(run(&config).status.code(), Some(0));
    assert_eq!(counts(&store, &q[..1]), vec![150_000]);
}

#[test]
fn kill_9_then_rerun_of_a_flow_csv_stores_every_row_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let mapping = dir.path().join("m.json");
    std::fs::write(
        &mapping,
        r#"{"name":"t","src_addr":"src","src_port":"sport","dst_addr":"dst","dst_port":"dport","proto":"proto","numeric":["bytes"],"categorical":[]}"#,
    )
    .unwrap();
    let mut text = String::from("src,sport,dst,dport,proto,bytes\n");
    for i in 0..150_000u32 {
        let (a, b) = (i >> 8 & 255, i & 255);
        text.push_str(&format!("10.1.{a}.{b},{},192.0.2.1,53,17,{i}\n", 1024 + i % 60_000));
    }
    let csv = dir.path().join("flows.csv");
    std::fs::write(&csv, text).unwrap();
    let store = dir.path().join("store");
    let source = format!(
        "type = \"flow_csv\"\npath = \"{}\"\nmapping = \"{}\"",
        csv.display(),
        mapping.display()
    );
    let config = one_source(dir.path(), "csv", &store, &source);
    kill_then_rerun(&config, &store.join("_checkpoints/csv/src.json"), 0);
    let q = ["select count(*) from flows", "select count(distinct uid) from flows"];
    assert_eq!(counts(&store, &q), vec![150_000, 150_000]);
}

#[test]
fn kill_9_then_rerun_of_a_followed_directory_stores_every_flow_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let captures = dir.path().join("captures");
    std::fs::create_dir(&captures).unwrap();
    let parts = split_capture(&udp_capture(150_000, 1, 2_000), 3);
    for (i, part) in parts[..2].iter().enumerate() {
        std::fs::write(captures.join(format!("part-{i}.pcap")), part).unwrap();
    }
    let store = dir.path().join("store");
    let source = format!("type = \"pcap\"\npaths = [\"{}\"]\nfollow = true", captures.display());
    let config = one_source(dir.path(), "watch", &store, &source);
    let checkpoint = store.join("_checkpoints/watch/src.json");
    let start = || {
        Command::new(VIGIL)
            .args(["run", "--config", config.to_str().unwrap()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    let mut child = start();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !checkpoint.is_file() {
        assert!(Instant::now() < deadline, "no checkpoint within 60 s");
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    // A new file arrives while the sensor is down; the re-run keeps following.
    std::fs::write(captures.join("part-2.pcap"), &parts[2]).unwrap();
    let mut child = start();
    // Once the source has read everything (its count stops moving), the first signal
    // ends the open flows and the run.
    let stats = store.join("_stats/watch.json");
    let records_in = || -> Option<u64> {
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&stats).ok()?).ok()?;
        v.as_array()?.iter().find(|s| s["stage"] == "src")?["records_in"].as_u64()
    };
    let (mut last, mut steady) = (None, 0);
    while steady < 10 {
        assert!(Instant::now() < deadline + Duration::from_secs(60), "the re-run never settled");
        std::thread::sleep(Duration::from_millis(200));
        let now = records_in();
        steady = if now.is_some_and(|n| n > 0) && now == last { steady + 1 } else { 0 };
        last = now;
    }
    assert!(child.try_wait().unwrap().is_none(), "follow mode keeps running");
    // SAFETY: signalling our own child process.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    let q = ["select count(*) from flows", "select count(distinct uid) from flows"];
    assert_eq!(counts(&store, &q), vec![150_000, 150_000]);
}

/// A metrics CSV (NAB's layout) of `n` points one second apart.
fn metrics_csv(n: usize) -> String {
    let mut s = String::from("timestamp,value\n");
    for i in 0..n as i64 {
        let c = vigil_ingest::time::civil_from_us((1_700_000_000 + i) * 1_000_000);
        s.push_str(&format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02},{i}.5\n",
            c.year, c.month, c.day, c.hour, c.minute, c.second
        ));
    }
    s
}

#[test]
fn kill_9_then_rerun_of_a_metrics_file_stores_every_point_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("points.csv");
    // Every 997th line is garbage: dead letters are stored exactly once too.
    let text: String = metrics_csv(200_000)
        .lines()
        .enumerate()
        .map(|(i, l)| {
            if i > 0 && i % 997 == 0 {
                format!("{l}\nnot,a,point,at all\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    std::fs::write(&csv, text).unwrap();
    let store = dir.path().join("store");
    let source = format!("type = \"metrics\"\npath = \"{}\"", csv.display());
    let config = one_source(dir.path(), "lines", &store, &source);
    let checkpoint = store.join("_checkpoints/lines/src.json");
    let log = kill_then_rerun(&config, &checkpoint, 3);
    println!("{log}");
    let q = [
        "select count(*) from metrics",
        "select count(distinct ts) from metrics",
        "select count(*) from dead_letters",
        "select count(distinct position) from dead_letters",
    ];
    let dead = 200_000 / 997;
    assert_eq!(counts(&store, &q), vec![200_000, 200_000, dead, dead]);
    let saved: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&checkpoint).unwrap()).unwrap();
    assert_eq!(saved["records"], 200_000);
    // A third run has nothing left to do.
    assert_eq!(run(&config).status.code(), Some(0));
    assert_eq!(counts(&store, &q[..1]), vec![200_000]);
}

#[test]
fn kill_9_then_rerun_of_an_access_log_stores_every_line_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    let mut text = String::new();
    for i in 0..150_000u32 {
        let (m, s) = (i / 60 % 60, i % 60);
        text.push_str(&format!(
            "10.0.{}.{} - - [04/Dec/2026:10:{m:02}:{s:02} +0000] \"GET /item/{i} HTTP/1.1\" 200 512\n",
            i >> 8 & 255,
            i & 255
        ));
    }
    std::fs::write(&log, text).unwrap();
    let store = dir.path().join("store");
    let source = format!("type = \"actions\"\npath = \"{}\"", log.display());
    let config = one_source(dir.path(), "log", &store, &source);
    let log = kill_then_rerun(&config, &store.join("_checkpoints/log/src.json"), 0);
    println!("{log}");
    let q = ["select count(*) from actions", "select count(distinct object) from actions"];
    assert_eq!(counts(&store, &q), vec![150_000, 150_000]);
}

#[test]
fn a_sink_that_fails_makes_the_run_fail_and_moves_no_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    std::fs::create_dir_all(&store).unwrap();
    // The `metrics` table's directory is a file: every write to it fails.
    std::fs::write(store.join("metrics"), b"in the way").unwrap();
    let metrics = repo("samples/metrics/ec2_cpu_utilization_825cc2.csv");
    let source = format!("type = \"metrics\"\npath = \"{}\"", metrics.display());
    let config = one_source(dir.path(), "failing", &store, &source);
    let out = run(&config);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("sink `store` failed"), "{err}");
    // The checkpoint still marks the start of the input: nothing was delivered.
    let saved: serde_json::Value = serde_json::from_slice(
        &std::fs::read(store.join("_checkpoints/failing/src.json")).unwrap(),
    )
    .unwrap();
    assert_eq!((saved["records"].as_u64(), saved["rows"].as_u64()), (Some(0), Some(0)));
    let stats = common::run(&["stats", "--data", store.to_str().unwrap(), "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&stats.stdout).unwrap();
    let sink = v["failing"].as_array().unwrap().iter().find(|s| s["stage"] == "store").unwrap();
    assert!(sink["error"].as_str().is_some_and(|e| e.contains("cannot write metrics")), "{sink}");
    assert!(sink["lost"].as_u64().unwrap() > 0, "{sink}");
}

#[test]
fn a_truncated_capture_is_stored_as_far_as_it_goes_and_exits_3() {
    let dir = tempfile::tempdir().unwrap();
    let whole = std::fs::read(repo("samples/ssh.pcap")).unwrap();
    let cut = dir.path().join("cut.pcap");
    std::fs::write(&cut, &whole[..whole.len() - 10]).unwrap();
    let store = dir.path().join("store");
    let source = format!("type = \"pcap\"\npaths = [\"{}\"]", cut.display());
    let out = run(&one_source(dir.path(), "cut", &store, &source));
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
    let q = [
        "select count(*) from flows",
        "select count(*) from dead_letters where position = 'packet 1797'",
    ];
    let (all, _) = vigil_pipelines::extract::flows_from_capture(
        &repo("samples/ssh.pcap"),
        Default::default(),
        Default::default(),
    );
    // Every flow (the last one packet short), and the cut as a dead letter where it cut.
    assert_eq!(counts(&store, &q), vec![all.len() as i64, 1]);
}
