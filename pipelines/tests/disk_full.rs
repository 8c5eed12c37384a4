//! The store's disk fills up (a size-limited tmpfs; mounting it needs root, so the
//! tests say so and pass where they cannot mount, unless `VIGIL_REQUIRE_ROOT=1`).
//! The store sink holds its rows and reads no more, so the sources block
//! (backpressure); the condition shows in the log and in `vigil stats --url` /
//! `/metrics`; writing resumes when space returns, nothing is lost or doubled, and
//! every Parquet file reads. With `make_room`, the oldest files of a table go instead.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{VIGIL, counts, live_stage};
use vigil_ingest::synth::{GenConfig, TrafficKind, generate, write_pcap};

/// A tmpfs of `mb` MiB mounted on a new directory, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: &Path, mb: u32) -> Option<Tmpfs> {
        std::fs::create_dir_all(at).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mb}m"), "tmpfs"])
            .arg(at)
            .status()
            .is_ok_and(|s| s.success());
        let required = ["VIGIL_REQUIRE_ROOT", "VIGIL_REQUIRE_DATA"]
            .iter()
            .any(|v| std::env::var(v).is_ok_and(|v| v == "1"));
        assert!(ok || !required, "a tmpfs cannot be mounted (needs root), and CI requires it");
        if !ok {
            println!("skipped: cannot mount a tmpfs here (needs root)");
        }
        ok.then(|| Tmpfs(at.to_path_buf()))
    }

    /// Fill it up with one file, which is returned.
    fn fill(&self) -> PathBuf {
        let path = self.0.join("filler");
        let mut f = std::fs::File::create(&path).unwrap();
        let chunk = vec![0u8; 64 << 10];
        while f.write_all(&chunk).is_ok() {}
        // The last partial chunk may have left a few bytes: take them too.
        while f.write_all(&[0]).is_ok() {}
        path
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A capture source → the store on the tmpfs, counters served on `port`.
fn start(dir: &Path, store: &Path, capture: &Path, port: u16, extra: &str) -> Child {
    let config = dir.join("t.toml");
    let text = format!(
        "sensor = \"full\"\nchannel_capacity = 2\n[batch]\nmax_rows = 500\nmax_ms = 50\n\
         [http]\nlisten = \"127.0.0.1:{port}\"\n[store]\ndir = {:?}\nflush_rows = 2000\n{extra}\n\
         [sources.cap]\ntype = \"pcap\"\npaths = [{:?}]\n\
         [sinks.store]\ntype = \"store\"\ninputs = [\"cap\"]\n",
        store.display().to_string(),
        capture.display().to_string(),
    );
    std::fs::write(&config, text).unwrap();
    Command::new(VIGIL)
        .args(["run", "--config"])
        .arg(&config)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn metrics(port: u16) -> String {
    let out = Command::new(VIGIL)
        .args(["stats", "--prometheus", "--url", &format!("127.0.0.1:{port}")])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Wait (at most a minute) for the child to exit; its exit code and log.
fn finish(child: Child) -> (Option<i32>, String) {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut child = child;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("the run did not end within a minute");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = child.wait_with_output().unwrap();
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// Temporary files left in the store.
fn leftovers(store: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut dirs = vec![store.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(d).unwrap().flatten() {
            let p = e.path();
            let name = e.file_name().to_string_lossy().into_owned();
            if p.is_dir() {
                dirs.push(p);
            } else if name.ends_with(".tmp") || name.starts_with('.') {
                found.push(p);
            }
        }
    }
    found
}

/// A SYN flood of `count` packets from `start` (s), 50 a second: one flow each, ended
/// (S0 timeout) while the capture is read, so the source sends flows all along.
fn syn_flood(dir: &Path, name: &str, count: usize, start: i64) -> PathBuf {
    let config = GenConfig { count, rate: 50.0, start_us: start * 1_000_000, ..Default::default() };
    let path = dir.join(name);
    write_pcap(std::fs::File::create(&path).unwrap(), &generate(TrafficKind::SynFlood, &config))
        .unwrap();
    path
}

/// Once the run has stored something, fill the disk; the filler.
fn fill_while_storing(fs: &Tmpfs, port: u16) -> PathBuf {
    let deadline = Instant::now() + Duration::from_secs(60);
    while live_stage(port, "store").and_then(|s| s["records_out"].as_u64()).unwrap_or(0) == 0 {
        assert!(Instant::now() < deadline, "nothing was stored within a minute");
        std::thread::sleep(Duration::from_millis(20));
    }
    fs.fill()
}

#[test]
fn a_full_disk_holds_the_rows_stops_the_sources_and_resumes_losing_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let Some(fs) = Tmpfs::mount(&dir.path().join("disk"), 32) else { return };
    let flows = 200_000;
    let capture = syn_flood(dir.path(), "flood.pcap", flows, 1_700_000_000);
    let store = fs.0.join("store");
    let port = free_port();
    let child = start(dir.path(), &store, &capture, port, "");
    let filler = fill_while_storing(&fs, port);

    let deadline = Instant::now() + Duration::from_secs(60);
    while !live_stage(port, "store").is_some_and(|s| s["disk_full"] == true) {
        assert!(Instant::now() < deadline, "the store never reported a full disk");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(metrics(port).contains("vigil_stage_disk_full{stage=\"store\",role=\"sink\"} 1"));
    // Backpressure: the source stops reading while the disk is full.
    std::thread::sleep(Duration::from_millis(1500));
    let before = live_stage(port, "cap").unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let after = live_stage(port, "cap").unwrap();
    assert_eq!(before["records_in"], after["records_in"], "the source kept reading");
    let blocked = after["blocked_seconds"].as_f64().unwrap();
    assert!(blocked > before["blocked_seconds"].as_f64().unwrap() + 1.0, "{after}");
    assert!(after["records_in"].as_u64().unwrap() < flows as u64, "all read already");

    std::fs::remove_file(filler).unwrap();
    let (code, log) = finish(child);
    assert_eq!(code, Some(0), "{log}");
    assert!(log.contains("disk full") && log.contains("space returned"), "{log}");
    let q = ["select count(*) from flows", "select count(distinct uid) from flows"];
    let n = flows as i64;
    assert_eq!(counts(&store, &q), vec![n, n], "every flow stored once");
    assert_eq!(leftovers(&store), Vec::<PathBuf>::new(), "no partial file is left");
}

#[test]
fn a_table_allowed_to_make_room_loses_its_oldest_files_instead_of_waiting() {
    let dir = tempfile::tempdir().unwrap();
    let Some(fs) = Tmpfs::mount(&dir.path().join("disk"), 40) else { return };
    let store = fs.0.join("store");
    // Older flows (2020), stored first while there is space.
    let old = syn_flood(dir.path(), "old.pcap", 300_000, 1_600_000_000);
    let (code, log) = finish(start(dir.path(), &store, &old, free_port(), ""));
    assert_eq!(code, Some(0), "{log}");
    let old_flows = counts(&store, &["select count(*) from flows"])[0];

    let flows = 200_000;
    let capture = syn_flood(dir.path(), "new.pcap", flows, 1_700_000_000);
    let retention = "[store.retention.flows]\nmake_room = true\n";
    let port = free_port();
    let child = start(dir.path(), &store, &capture, port, retention);
    let _filler = fill_while_storing(&fs, port);
    let (code, log) = finish(child);
    assert_eq!(code, Some(0), "{log}");
    assert!(log.contains("removed the table's oldest file to make room"), "{log}");
    let recent = "from flows where ts_start >= timestamp '2023-01-01T00:00:00Z'";
    let q = [
        format!("select count(*) {recent}"),
        format!("select count(distinct uid) {recent}"),
        "select count(*) from flows".to_string(),
    ];
    let got = counts(&store, &q.iter().map(String::as_str).collect::<Vec<_>>());
    let n = flows as i64;
    assert_eq!(got[..2], [n, n], "every new flow stored once");
    assert!(got[2] - n < old_flows, "old flows made room: {got:?}, {old_flows} before");
    assert_eq!(leftovers(&store), Vec::<PathBuf>::new(), "no partial file is left");
}
