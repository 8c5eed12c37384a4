//! The `vigil` command end to end on hand-made captures: formats, stdin, bad input, exit codes.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

const VIGIL: &str = env!("CARGO_BIN_EXE_vigil");

/// Classic little-endian pcap bytes: global header with `linktype`, then records.
fn pcap(linktype: u32, records: &[(u32, &[u8], u32)]) -> Vec<u8> {
    let mut v = Vec::new();
    for x in [0xa1b2c3d4u32, 0x0004_0002, 0, 0, 65535, linktype] {
        v.extend_from_slice(&x.to_le_bytes());
    }
    for (sec, data, wire_len) in records {
        for x in [*sec, 0, data.len() as u32, *wire_len] {
            v.extend_from_slice(&x.to_le_bytes());
        }
        v.extend_from_slice(data);
    }
    v
}

/// An Ethernet/IPv4/TCP frame 10.0.0.1:40000 → 10.0.0.2:80 with the given flags.
fn tcp_frame(from_client: bool, flags: u8, seq: u32, ack: u32) -> Vec<u8> {
    let (src, dst, sp, dp) = if from_client {
        ([10, 0, 0, 1], [10, 0, 0, 2], 40000u16, 80u16)
    } else {
        ([10, 0, 0, 2], [10, 0, 0, 1], 80, 40000)
    };
    let mut f = vec![0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0x08, 0x00];
    f.extend_from_slice(&[0x45, 0, 0, 40, 0, 1, 0x40, 0, 64, 6, 0, 0]);
    f.extend_from_slice(&src);
    f.extend_from_slice(&dst);
    f.extend_from_slice(&sp.to_be_bytes());
    f.extend_from_slice(&dp.to_be_bytes());
    f.extend_from_slice(&seq.to_be_bytes());
    f.extend_from_slice(&ack.to_be_bytes());
    f.extend_from_slice(&[0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
    f
}

/// A complete handshake plus FIN exchange: Zeek calls it SF with history ShAFf.
fn handshake() -> Vec<(u32, Vec<u8>)> {
    vec![
        (1, tcp_frame(true, 0x02, 100, 0)),
        (1, tcp_frame(false, 0x12, 500, 101)),
        (1, tcp_frame(true, 0x10, 101, 501)),
        (2, tcp_frame(true, 0x11, 101, 501)),
        (2, tcp_frame(false, 0x11, 501, 102)),
        (2, tcp_frame(true, 0x10, 102, 502)),
    ]
}

fn capture(frames: &[(u32, Vec<u8>)]) -> Vec<u8> {
    let recs: Vec<(u32, &[u8], u32)> =
        frames.iter().map(|(s, f)| (*s, f.as_slice(), f.len() as u32)).collect();
    pcap(1, &recs)
}

fn run(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(VIGIL)
        .args(args)
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("vigil runs");
    if let Some(input) = stdin {
        child.stdin.take().unwrap().write_all(input).unwrap();
    }
    child.wait_with_output().unwrap()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> String {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p.display().to_string()
}

fn conn_rows(out: &Output) -> Vec<Vec<String>> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.split('\t').map(str::to_string).collect())
        .collect()
}

#[test]
fn conn_log_of_a_complete_tcp_session() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), "hs.pcap", &capture(&handshake()));
    let out = run(&["flows", &f], None);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let rows = conn_rows(&out);
    assert_eq!(rows.len(), 1, "{rows:?}");
    let r = &rows[0];
    // id.orig_h, id.orig_p, id.resp_h, id.resp_p, proto
    assert_eq!(&r[2..7], &["10.0.0.1", "40000", "10.0.0.2", "80", "tcp"]);
    // conn_state, history, orig_pkts, orig_ip_bytes, resp_pkts, resp_ip_bytes
    assert_eq!(r[11], "SF");
    assert_eq!(r[15], "ShAFf");
    assert_eq!(&r[16..20], &["4", "160", "2", "80"]);
}

#[test]
fn stdin_gzip_and_formats_agree() {
    let bytes = capture(&handshake());
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&bytes).unwrap();
    let gz = gz.finish().unwrap();
    let plain = run(&["flows", "-", "-f", "json", "-q"], Some(&bytes));
    let zipped = run(&["flows", "-", "-f", "json", "-q"], Some(&gz));
    assert!(plain.status.success() && zipped.status.success());
    let a: serde_json::Value = serde_json::from_slice(&plain.stdout).unwrap();
    let b: serde_json::Value = serde_json::from_slice(&zipped.stdout).unwrap();
    assert_eq!(a, b);
    assert_eq!(a["history"], "ShAFf");
    assert_eq!(a["orig_pkts"], 4);

    let csv = run(&["flows", "-", "-f", "csv", "-q"], Some(&bytes));
    let text = String::from_utf8(csv.stdout).unwrap();
    assert!(text.starts_with("ts,uid,id.orig_h"));
    assert_eq!(text.lines().count(), 2);

    let dir = tempfile::tempdir().unwrap();
    let pq = dir.path().join("f.parquet");
    let out = run(&["flows", "-", "-f", "parquet", "-o", pq.to_str().unwrap(), "-q"], Some(&bytes));
    assert!(out.status.success());
    assert_eq!(&std::fs::read(&pq).unwrap()[..4], b"PAR1");
}

#[test]
fn truncated_capture_keeps_earlier_flows_and_exits_3() {
    let mut bytes = capture(&handshake());
    bytes.extend_from_slice(&capture(&handshake())[24..40]); // a record header, no data
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), "cut.pcap", &bytes);
    let out = run(&["flows", &f], None);
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cut.pcap: packet 6:"), "{err}");
    assert_eq!(conn_rows(&out).len(), 1, "the complete session before the cut is kept");
}

/// The netFound model directory, when the ONNX Runtime library is there to load it.
fn netfound_model() -> Option<String> {
    if !vigil_models::runtime::available_for_tests() {
        return None;
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../onnx/artifacts/netfound");
    Some(dir.display().to_string())
}

/// The capture commands writing their output under `out`, reading `inputs`.
fn capture_commands(inputs: &[&str], out: &Path) -> Vec<Vec<String>> {
    let o = |name: &str| out.join(name).display().to_string();
    let with = |head: &[&str], tail: &[String]| -> Vec<String> {
        let head = head.iter().map(|s| s.to_string());
        head.chain(inputs.iter().map(|s| s.to_string())).chain(tail.iter().cloned()).collect()
    };
    let mut cmds = vec![
        with(&["flows"], &["-o".into(), o("conn.log")]),
        with(&["flows", "-f", "json"], &[]),
        with(&["tokenize", "netfound"], &["--out".into(), o("tokens.parquet")]),
    ];
    if let Some(model) = netfound_model() {
        cmds.push(with(
            &["score", "netfound"],
            &["--model".into(), model, "--out".into(), o("scores.parquet")],
        ));
    }
    cmds
}

#[test]
fn a_missing_empty_or_non_capture_input_is_an_error_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let good = write(dir.path(), "good.pcap", &capture(&handshake()));
    let empty = write(dir.path(), "empty.pcap", b"");
    let text = write(dir.path(), "notes.txt", b"these are notes, not packets\n");
    let junk = write(dir.path(), "junk.pcap", b"this is not a capture file at all");
    let missing = dir.path().join("nothere.pcap").display().to_string();
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    for (bad, why) in [
        (&missing, "No such file"),
        (&empty, "not a pcap or pcapng capture: empty file"),
        (&text, "not a pcap or pcapng capture"),
        (&junk, "not a pcap or pcapng capture"),
    ] {
        // Before or after a good capture: the inputs are checked before anything is read.
        for inputs in [[bad.as_str(), good.as_str()], [good.as_str(), bad.as_str()]] {
            for args in capture_commands(&inputs, &out) {
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                let res = run(&args, None);
                let err = String::from_utf8_lossy(&res.stderr);
                assert_eq!(res.status.code(), Some(1), "{args:?}: {err}");
                assert!(err.contains(bad.as_str()) && err.contains(why), "{args:?}: {err}");
                assert!(res.stdout.is_empty(), "{args:?} wrote to stdout");
                let left: Vec<_> =
                    std::fs::read_dir(&out).unwrap().map(|e| e.unwrap().path()).collect();
                assert!(left.is_empty(), "{args:?} left {left:?}");
            }
        }
    }
}

/// The first `keep` packets of a classic pcap, then half of the next one.
fn cut_mid_packet(pcap: &[u8], keep: usize) -> Vec<u8> {
    let mut at = 24;
    for _ in 0..keep {
        let len = u32::from_le_bytes(pcap[at + 8..at + 12].try_into().unwrap()) as usize;
        at += 16 + len;
    }
    let next = u32::from_le_bytes(pcap[at + 8..at + 12].try_into().unwrap()) as usize;
    assert!(next >= 2, "the packet to cut has bytes");
    pcap[..at + 16 + next / 2].to_vec()
}

#[test]
fn a_capture_cut_mid_packet_keeps_what_was_read_and_exits_3() {
    let sample = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("../samples/ssh.pcap"));
    let dir = tempfile::tempdir().unwrap();
    let cut = write(dir.path(), "cut.pcap", &cut_mid_packet(&sample.unwrap(), 1000));
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    for args in capture_commands(&[&cut], &out) {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let res = run(&args, None);
        let err = String::from_utf8_lossy(&res.stderr);
        assert_eq!(res.status.code(), Some(3), "{args:?}: {err}");
        assert!(err.contains("cut.pcap: packet 1000:"), "{args:?}: {err}");
    }
    let flows = run(&["flows", &cut, "-f", "json", "-q"], None);
    let n = String::from_utf8_lossy(&flows.stdout).lines().count();
    assert!(n > 0);
    assert_eq!(conn_rows(&run(&["flows", &cut, "-q"], None)).len(), n);
    assert_eq!(parquet_rows(&out.join("tokens.parquet")), n, "every flow read was tokenized");
    if out.join("scores.parquet").exists() {
        assert_eq!(parquet_rows(&out.join("scores.parquet")), n, "and scored");
    }

    // `vigil run` stores what it read, says which input was cut, and exits 3 too.
    let store = dir.path().join("store");
    let config = write(
        dir.path(),
        "cut.toml",
        format!(
            "sensor = \"cut\"\n[store]\ndir = \"{}\"\n[sources.capture]\ntype = \"pcap\"\npaths = [\"{cut}\"]\n[sinks.store]\ntype = \"store\"\ninputs = [\"capture\"]\n",
            store.display()
        )
        .as_bytes(),
    );
    let res = run(&["run", "--config", &config], None);
    let err = String::from_utf8_lossy(&res.stderr);
    assert_eq!(res.status.code(), Some(3), "{err}");
    assert!(err.contains("cut.pcap: packet 1000:"), "{err}");
    let stored: usize =
        vigil_pipelines::store::list_files(&store, vigil_pipelines::store::Table::Flows)
            .unwrap()
            .iter()
            .map(|f| parquet_rows(&f.path))
            .sum();
    assert_eq!(stored, n, "every flow read was stored");
}

#[test]
fn odd_packets_are_counted_not_fatal() {
    let hs = handshake();
    let empty: &[u8] = &[];
    let runt: &[u8] = &[0xff; 9];
    let mut recs: Vec<(u32, &[u8], u32)> = vec![
        (1, empty, 0),           // zero-length record
        (1, runt, 60),           // a runt frame cut by the snap length
        (1, &hs[0].1[..20], 54), // an IPv4 header cut short
    ];
    recs.extend(hs.iter().map(|(s, f)| (*s, f.as_slice(), f.len() as u32)));
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), "odd.pcap", &pcap(1, &recs));
    let weirds = dir.path().join("weird.json");
    let out = run(&["flows", &f, "--weirds", weirds.to_str().unwrap(), "--summary-json"], None);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(conn_rows(&out).len(), 1);
    let summary: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&out.stderr).lines().last().unwrap()).unwrap();
    assert_eq!(summary["packets"], 9);
    let logged = std::fs::read_to_string(&weirds).unwrap();
    assert_eq!(logged.lines().count(), 3, "one weird per odd packet: {logged}");
    let first: serde_json::Value = serde_json::from_str(logged.lines().next().unwrap()).unwrap();
    assert!(first["source"].as_str().unwrap().ends_with("odd.pcap"));
    assert_eq!(first["packet"], 0);
}

#[test]
fn unknown_link_type_is_a_weird() {
    let frame = tcp_frame(true, 0x02, 1, 0);
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), "lt.pcap", &pcap(147, &[(1, &frame, frame.len() as u32)]));
    let out = run(&["flows", &f, "--summary-json"], None);
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    let summary: serde_json::Value = serde_json::from_str(err.lines().last().unwrap()).unwrap();
    assert_eq!(summary["flows"], 0);
    assert!(summary["weirds"].as_object().unwrap().keys().any(|k| k.contains("link")), "{err}");
}

#[test]
fn usage_errors_exit_2_and_help_documents_options() {
    assert_eq!(run(&["flows"], None).status.code(), Some(2));
    assert_eq!(run(&["flows", "x.pcap", "--max-flows", "lots"], None).status.code(), Some(2));
    let help = run(&["flows", "--help"], None);
    let text = String::from_utf8_lossy(&help.stdout);
    for opt in ["--format", "--output", "--tcp-timeout", "--max-flows", "--interface", "--weirds"] {
        assert!(text.contains(opt), "--help lacks {opt}");
    }
}

/// The real and effective uid of process `pid`.
fn uids(pid: u32) -> (u32, u32) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find_map(|l| l.strip_prefix("Uid:")).unwrap();
    let ids: Vec<u32> = line.split_whitespace().map(|v| v.parse().unwrap()).collect();
    (ids[0], ids[1])
}

/// A capture started by root runs as `nobody` once its interface is open.
fn assert_root_was_dropped(pid: u32) {
    if !vigil_pipelines::privileges::is_root() {
        println!("not root: nothing to drop");
        return;
    }
    let nobody = Command::new("id").args(["-u", "nobody"]).output().unwrap();
    let nobody: u32 = String::from_utf8_lossy(&nobody.stdout).trim().parse().unwrap();
    assert_eq!(uids(pid), (nobody, nobody), "the capture still runs as root");
}

#[test]
fn live_capture_on_loopback_flushes_on_interrupt() {
    let out_dir = tempfile::tempdir().unwrap();
    let out_path = out_dir.path().join("live.json");
    let mut child = Command::new(VIGIL)
        .args(["flows", "--interface", "lo", "-f", "json", "-o", out_path.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Give libpcap time to open the interface; a refusal (no privileges) ends the child.
    std::thread::sleep(std::time::Duration::from_millis(700));
    if let Some(status) = child.try_wait().unwrap() {
        let err = child.wait_with_output().unwrap().stderr;
        println!("skipped: cannot capture on lo ({status}): {}", String::from_utf8_lossy(&err));
        return;
    }
    assert_root_was_dropped(child.id());
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = 40_000 + (std::process::id() % 20_000) as u16;
    for _ in 0..3 {
        sock.send_to(b"vigil live test", ("127.0.0.1", port)).unwrap();
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    // SAFETY: signalling our own child process.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while child.try_wait().unwrap().is_none() {
        assert!(std::time::Instant::now() < deadline, "vigil did not stop on SIGINT");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let text = std::fs::read_to_string(&out_path).unwrap();
    let ours = text
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|f| f["id.resp_p"] == port && f["proto"] == "udp")
        .unwrap_or_else(|| panic!("no flow to port {port} in {text}"));
    assert_eq!(ours["orig_pkts"], 3);
    assert_eq!(ours["id.orig_h"], "127.0.0.1");
}

#[test]
fn tokenize_netfound_writes_one_parquet_row_per_flow() {
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), "hs.pcap", &capture(&handshake()));
    let out = dir.path().join("tokens.parquet");
    let res = run(&["tokenize", "netfound", &f, "--out", out.to_str().unwrap()], None);
    assert!(res.status.success(), "{}", String::from_utf8_lossy(&res.stderr));
    let reader = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&out).unwrap())
        .unwrap()
        .build()
        .unwrap();
    let batches: Vec<_> = reader.map(Result::unwrap).collect();
    assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 1);
    let schema = batches[0].schema();
    for col in ["burst_tokens", "directions", "bytes", "iats", "counts", "protocol", "flow_id"] {
        assert!(schema.field_with_name(col).is_ok(), "missing column {col}");
    }
}

#[test]
fn tokenize_variate_windows_a_wide_csv_and_keeps_dead_letters() {
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let dir = tempfile::tempdir().unwrap();
    let mut csv = String::from("date,a,b\n");
    for h in 0..10 {
        csv.push_str(&format!("2024-01-01 {h:02}:00:00,{h},{}\n", 10 - h));
    }
    csv.push_str("not a date,1,2\n");
    let input = write(dir.path(), "m.csv", csv.as_bytes());
    let out = dir.path().join("w.parquet");
    let dead = dir.path().join("dead.jsonl");
    let res = run(
        &[
            "tokenize",
            "variate",
            &input,
            "--out",
            out.to_str().unwrap(),
            "--lookback",
            "4",
            "--dead-letters",
            dead.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(res.status.code(), Some(3), "{}", String::from_utf8_lossy(&res.stderr));
    let rows: usize = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&out).unwrap())
        .unwrap()
        .build()
        .unwrap()
        .map(|b| b.unwrap().num_rows())
        .sum();
    assert_eq!(rows, 7, "10 hourly steps, lookback 4, stride 1");
    let dl: serde_json::Value =
        serde_json::from_str(std::fs::read_to_string(&dead).unwrap().lines().next().unwrap())
            .unwrap();
    assert_eq!(dl["line"], 12);
}

fn parquet_rows(path: &Path) -> usize {
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(path).unwrap())
        .unwrap()
        .build()
        .unwrap()
        .map(|b| b.unwrap().num_rows())
        .sum()
}

#[test]
fn tokenize_flow_fits_saves_and_reuses_a_preprocessor() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), "hs.pcap", &capture(&handshake()));
    let (out, prep) = (dir.path().join("w.parquet"), dir.path().join("prep.json"));
    let res = run(
        &[
            "tokenize",
            "flow",
            &f,
            "--out",
            out.to_str().unwrap(),
            "--save-preprocessor",
            prep.to_str().unwrap(),
        ],
        None,
    );
    assert!(res.status.success(), "{}", String::from_utf8_lossy(&res.stderr));
    assert_eq!(parquet_rows(&out), 1);
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&prep).unwrap()).unwrap();
    assert!(saved.is_object());
    let again = dir.path().join("w2.parquet");
    let res = run(
        &[
            "tokenize",
            "flow",
            &f,
            "--out",
            again.to_str().unwrap(),
            "--preprocessor",
            prep.to_str().unwrap(),
        ],
        None,
    );
    assert!(res.status.success(), "{}", String::from_utf8_lossy(&res.stderr));
    assert_eq!(std::fs::read(&out).unwrap().len(), std::fs::read(&again).unwrap().len());
}

#[test]
fn tokenize_actions_reads_an_access_log_and_keeps_dead_letters() {
    let dir = tempfile::tempdir().unwrap();
    let log = "10.0.0.1 - - [10/Oct/2000:13:55:36 -0700] \"GET /a.html HTTP/1.0\" 200 2326\n\
               10.0.0.1 - - [10/Oct/2000:13:56:36 -0700] \"POST /login?x=1 HTTP/1.0\" 302 0\n\
               garbage that is no access log\n\
               10.0.0.2 - - [10/Oct/2000:13:57:36 -0700] \"GET /a.html HTTP/1.0\" 404 12\n";
    let input = write(dir.path(), "access.log", log.as_bytes());
    let (out, dead) = (dir.path().join("s.parquet"), dir.path().join("dead.jsonl"));
    let res = run(
        &[
            "tokenize",
            "actions",
            &input,
            "--log",
            "access",
            "--out",
            out.to_str().unwrap(),
            "--dead-letters",
            dead.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(res.status.code(), Some(3), "{}", String::from_utf8_lossy(&res.stderr));
    assert_eq!(parquet_rows(&out), 3);
    let dl: serde_json::Value =
        serde_json::from_str(std::fs::read_to_string(&dead).unwrap().lines().next().unwrap())
            .unwrap();
    assert_eq!(dl["line"], 3);
}

#[test]
fn tokenize_flow_from_stored_flows_equals_from_the_capture() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), "hs.pcap", &capture(&handshake()));
    let stored = dir.path().join("flows.parquet");
    assert!(
        run(&["flows", &f, "-f", "parquet", "-o", stored.to_str().unwrap(), "-q"], None)
            .status
            .success()
    );
    let (a, b) = (dir.path().join("a.parquet"), dir.path().join("b.parquet"));
    for (input, out) in [(f.as_str(), &a), (stored.to_str().unwrap(), &b)] {
        let res = run(&["tokenize", "flow", input, "--out", out.to_str().unwrap(), "-q"], None);
        assert!(res.status.success(), "{}", String::from_utf8_lossy(&res.stderr));
    }
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
}

#[test]
fn score_flow_classifies_cicids2017_rows_with_the_shipped_model() {
    if !vigil_models::runtime::available_for_tests() {
        return;
    }
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let Some(csv) = vigil_ingest::data_dir::shared_data(
        crate_dir,
        "flows/cicids2017-improved-sampled/Heartbleed_11.csv",
    ) else {
        return;
    };
    let model = crate_dir.join("../onnx/artifacts/flow-transformer-cicids2017");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("scored.parquet");
    let res = run(
        &[
            "score",
            "flow",
            csv.to_str().unwrap(),
            "--model",
            model.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--device",
            "auto", // no GPU here: falls back to CPU with a warning
        ],
        None,
    );
    assert!(res.status.success(), "{}", String::from_utf8_lossy(&res.stderr));
    use arrow_array::cast::AsArray;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let batch = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&out).unwrap())
        .unwrap()
        .build()
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
    let truth = batch.column_by_name("label").unwrap().as_string::<i32>().clone();
    let verdict = batch.column_by_name("flow-transformer-cicids2017").unwrap().as_struct().clone();
    let predicted = verdict.column_by_name("label").unwrap().as_string::<i32>().clone();
    let right = (0..batch.num_rows()).filter(|&i| truth.value(i) == predicted.value(i)).count();
    assert_eq!(batch.num_rows(), 7, "the sampled file holds 7 Heartbleed flows");
    assert!(right >= 6, "{right}/7 Heartbleed flows recognised");
    let score =
        verdict.column_by_name("score").unwrap().as_primitive::<arrow_array::types::Float32Type>();
    assert!((0..score.len()).all(|i| (0.0..=1.0).contains(&score.value(i))));
}

/// `--device auto` without a GPU scores on the CPU (the same bytes, one warning);
/// `--device cuda` without one exits 1 naming the model, the reason and what to do.
#[test]
fn score_device_auto_falls_back_to_the_cpu_and_cuda_fails_clearly() {
    if !vigil_models::runtime::available_for_tests() {
        return;
    }
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let model = crate_dir.join("../onnx/artifacts/flow-transformer-iot23");
    let pcap = crate_dir.join("../samples/ssh.pcap");
    let dir = tempfile::tempdir().unwrap();
    let score = |device: &str| {
        let out = dir.path().join(format!("{device}.parquet"));
        let res = run(
            &[
                "score",
                "flow",
                pcap.to_str().unwrap(),
                "--model",
                model.to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
                "--device",
                device,
            ],
            None,
        );
        (res, out)
    };
    let (cpu, cpu_out) = score("cpu");
    assert!(cpu.status.success(), "{}", String::from_utf8_lossy(&cpu.stderr));
    let (auto, auto_out) = score("auto");
    let err = String::from_utf8_lossy(&auto.stderr);
    assert!(auto.status.success(), "{err}");
    if err.contains("on cuda") {
        return; // a GPU build on a machine with CUDA
    }
    assert_eq!(err.matches("device auto: CUDA cannot be used").count(), 1, "{err}");
    assert!(err.contains("on cpu"), "{err}");
    assert_eq!(std::fs::read(&cpu_out).unwrap(), std::fs::read(&auto_out).unwrap());

    let (cuda, cuda_out) = score("cuda");
    let err = String::from_utf8_lossy(&cuda.stderr);
    assert_eq!(cuda.status.code(), Some(1), "{err}");
    assert!(err.contains("model flow-transformer-iot23: device cuda was asked for"), "{err}");
    assert!(err.contains("To use the GPU:") && err.contains("use device auto"), "{err}");
    assert!(!cuda_out.exists());
}

#[test]
fn score_flow_scores_a_capture_with_the_iot23_model() {
    // Our flows -> zeek_conn features (the manifest's mapping) -> the IoT-23 FlowTransformer.
    if !vigil_models::runtime::available_for_tests() {
        return;
    }
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let model = crate_dir.join("../onnx/artifacts/flow-transformer-iot23");
    let pcap = crate_dir.join("../samples/ssh.pcap");
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.parquet"), dir.path().join("b.parquet"));
    for (out, extra) in [(&a, None), (&b, Some("none"))] {
        let mut args = vec![
            "score",
            "flow",
            pcap.to_str().unwrap(),
            "--model",
            model.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ];
        if let Some(m) = extra {
            args.extend(["--mapping", m]);
        }
        let res = run(&args, None);
        assert!(res.status.success(), "{}", String::from_utf8_lossy(&res.stderr));
    }
    // `--mapping none` reads the capture as our flows with the model's features: same output.
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    use arrow_array::Array;
    use arrow_array::cast::AsArray;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let batch = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&a).unwrap())
        .unwrap()
        .build()
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
    assert_eq!(batch.num_rows(), 25, "Zeek's conn.log of ssh.pcap has 25 connections");
    let verdict = batch.column_by_name("flow-transformer-iot23").unwrap().as_struct().clone();
    let predicted = verdict.column_by_name("label").unwrap().as_string::<i32>().clone();
    assert!((0..predicted.len()).all(|i| ["Benign", "Malicious"].contains(&predicted.value(i))));
    let score =
        verdict.column_by_name("score").unwrap().as_primitive::<arrow_array::types::Float32Type>();
    assert!((0..score.len()).all(|i| (0.5..=1.0).contains(&score.value(i))));
}

#[test]
fn tokenize_flow_reads_an_unlabelled_conn_log_unless_labels_are_required() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), "hs.pcap", &capture(&handshake()));
    let conn = dir.path().join("conn.log");
    assert!(run(&["flows", &f, "-o", conn.to_str().unwrap()], None).status.success());
    let out = dir.path().join("w.parquet");
    let args = ["tokenize", "flow", conn.to_str().unwrap(), "--mapping", "zeek_conn", "--out"];
    let res = run(&[&args[..], &[out.to_str().unwrap()]].concat(), None);
    assert!(res.status.success(), "{}", String::from_utf8_lossy(&res.stderr));
    assert_eq!(parquet_rows(&out), 1);
    std::fs::remove_file(&out).unwrap();
    let res = run(&[&args[..], &[out.to_str().unwrap(), "--require-label"]].concat(), None);
    let err = String::from_utf8_lossy(&res.stderr);
    assert_eq!(res.status.code(), Some(1), "{err}");
    assert!(err.contains("conn.log: no label column `label`"), "{err}");
    assert!(!out.exists());
}

/// Score `input` with the shipped model `model` into `out`; the verdicts, batch by batch.
fn score_flow(input: &Path, model: &str, out: &Path) -> Vec<arrow_array::StructArray> {
    use arrow_array::cast::AsArray;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../onnx/artifacts").join(model);
    let (input, dir, out_s) =
        (input.to_str().unwrap(), dir.to_str().unwrap(), out.to_str().unwrap());
    let res = run(&["score", "flow", input, "--model", dir, "--out", out_s, "-q"], None);
    assert!(res.status.success(), "{}", String::from_utf8_lossy(&res.stderr));
    ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(out).unwrap())
        .unwrap()
        .build()
        .unwrap()
        .map(|b| b.unwrap().column_by_name(model).unwrap().as_struct().clone())
        .collect()
}

#[test]
fn score_flow_scores_unlabelled_zeek_and_cicflowmeter_files() {
    if !vigil_models::runtime::available_for_tests() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // A Zeek conn.log has no `label` column (IoT-23's exports add one): ours of the sample.
    let pcap = Path::new(env!("CARGO_MANIFEST_DIR")).join("../samples/ssh.pcap");
    let conn = dir.path().join("conn.log");
    let res = run(&["flows", pcap.to_str().unwrap(), "-o", conn.to_str().unwrap(), "-q"], None);
    assert!(res.status.success(), "{}", String::from_utf8_lossy(&res.stderr));
    let verdicts = score_flow(&conn, "flow-transformer-iot23", &dir.path().join("z.parquet"));
    use arrow_array::Array;
    assert_eq!(verdicts.iter().map(|v| v.len()).sum::<usize>(), 25, "one per connection");
    assert!(verdicts.iter().all(|v| v.column_by_name("score").unwrap().null_count() == 0));

    // The CICFlowMeter sample without its `Label` column scores as the labelled file does.
    let labelled =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../samples/flows/cicids2017-sample.csv");
    let mut reader = csv::Reader::from_path(&labelled).unwrap();
    let header = reader.headers().unwrap().clone();
    let label = header.iter().position(|h| h == "Label").expect("the sample is labelled");
    let unlabelled = dir.path().join("unlabelled.csv");
    let mut writer = csv::Writer::from_path(&unlabelled).unwrap();
    let drop_label = |r: &csv::StringRecord| -> csv::StringRecord {
        r.iter().enumerate().filter(|(i, _)| *i != label).map(|(_, c)| c).collect()
    };
    writer.write_record(&drop_label(&header)).unwrap();
    for r in reader.records() {
        writer.write_record(&drop_label(&r.unwrap())).unwrap();
    }
    writer.flush().unwrap();
    let model = "flow-transformer-cicids2017";
    let with = score_flow(&labelled, model, &dir.path().join("a.parquet"));
    let without = score_flow(&unlabelled, model, &dir.path().join("b.parquet"));
    assert!(without.iter().map(|v| v.len()).sum::<usize>() > 0);
    assert_eq!(with, without, "the label plays no part in the verdicts");
}

#[test]
fn score_flow_refuses_a_capture_for_a_model_our_flows_cannot_feed() {
    // The CIC-IDS2017 model's CICFlowMeter features cannot be derived from our flows.
    if !vigil_models::runtime::available_for_tests() {
        return;
    }
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let model = crate_dir.join("../onnx/artifacts/flow-transformer-cicids2017");
    let pcap = crate_dir.join("../samples/ssh.pcap");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.parquet");
    let res = run(
        &[
            "score",
            "flow",
            pcap.to_str().unwrap(),
            "--model",
            model.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
        None,
    );
    assert!(!res.status.success());
    let err = String::from_utf8_lossy(&res.stderr);
    assert!(err.contains("cannot provide the features of mapping `cicflowmeter`"), "{err}");
}

#[test]
fn score_variate_forecasts_etth1_with_the_shipped_model() {
    if !vigil_models::runtime::available_for_tests() {
        return;
    }
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let Some(csv) = vigil_ingest::data_dir::shared_data(crate_dir, "timeseries/ett/ETTh1.csv")
    else {
        return;
    };
    let model = crate_dir.join("../onnx/artifacts/itransformer-etth1");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("fc.parquet");
    let res = run(
        &[
            "score",
            "variate",
            csv.to_str().unwrap(),
            "--model",
            model.to_str().unwrap(),
            "--stride",
            "2000",
            "--out",
            out.to_str().unwrap(),
        ],
        None,
    );
    assert!(res.status.success(), "{}", String::from_utf8_lossy(&res.stderr));
    use arrow_array::cast::AsArray;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let batch = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&out).unwrap())
        .unwrap()
        .build()
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
    // 17,420 hourly steps, lookback 96, stride 2000: windows end at steps 95, 2095, ... 16095.
    assert_eq!(batch.num_rows(), 9);
    let verdict = batch.column_by_name("itransformer-etth1").unwrap().as_struct().clone();
    let forecast = verdict.column_by_name("forecast").unwrap().as_list::<i32>();
    assert_eq!(forecast.value(0).len(), 7, "one forecast per variate");
    assert_eq!(forecast.value(0).as_list::<i32>().value(0).len(), 96, "horizon 96");
    let score =
        verdict.column_by_name("score").unwrap().as_primitive::<arrow_array::types::Float32Type>();
    assert!((0..9).all(|i| score.value(i).is_finite() && score.value(i) >= 0.0));
}

/// A Parquet file's first record batch.
fn first_batch(path: &Path) -> arrow_array::RecordBatch {
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(path).unwrap())
        .unwrap()
        .build()
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
}

#[test]
fn score_flow_classifies_header_less_nsl_kdd_rows_with_the_shipped_binary_model() {
    if !vigil_models::runtime::available_for_tests() {
        return;
    }
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let Some(txt) =
        vigil_ingest::data_dir::shared_data(crate_dir, "flows/nsl-kdd/KDDTrain+_20Percent.txt")
    else {
        return;
    };
    // The first 500 records (training and validation rows alike), no header line.
    let head: String = std::fs::read_to_string(&txt)
        .unwrap()
        .lines()
        .take(500)
        .map(|l| format!("{l}\n"))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let input = write(dir.path(), "kdd.txt", head.as_bytes());
    let out = dir.path().join("scored.parquet");
    let model = crate_dir.join("../onnx/artifacts/flow-transformer-nslkdd");
    let res = run(
        &[
            "score",
            "flow",
            &input,
            "--model",
            model.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
        None,
    );
    assert!(res.status.success(), "{}", String::from_utf8_lossy(&res.stderr));
    use arrow_array::cast::AsArray;
    let batch = first_batch(&out);
    assert_eq!(
        batch.num_rows(),
        500,
        "one window (W = 1) per record, the mapping names the columns"
    );
    let truth = batch.column_by_name("label").unwrap().as_string::<i32>().clone();
    let verdict = batch.column_by_name("flow-transformer-nslkdd").unwrap().as_struct().clone();
    let predicted = verdict.column_by_name("label").unwrap().as_string::<i32>().clone();
    let binary = |l: &str| if l == "normal" { "normal" } else { "attack" };
    let right = (0..500).filter(|&i| binary(truth.value(i)) == predicted.value(i)).count();
    assert!(right >= 475, "{right}/500 records classified normal/attack correctly");
}

#[test]
fn score_variate_forecasts_one_nab_series_with_series_and_step_given() {
    if !vigil_models::runtime::available_for_tests() {
        return;
    }
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let Some(csv) = vigil_ingest::data_dir::shared_data(
        crate_dir,
        "timeseries/nab/data/artificialWithAnomaly/art_daily_jumpsup.csv",
    ) else {
        return;
    };
    let model = crate_dir.join("../onnx/artifacts/itransformer-etth1");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("fc.parquet");
    let (csv, model, out_s) =
        (csv.to_str().unwrap(), model.to_str().unwrap(), out.to_str().unwrap());
    let score = |extra: &[&str]| {
        let mut a =
            vec!["score", "variate", csv, "--model", model, "--stride", "1000", "--out", out_s];
        a.extend_from_slice(extra);
        run(&a, None)
    };
    // Without --series the manifest's seven ETTh1 series are looked for and absent.
    assert!(!score(&[]).status.success());
    // A `timestamp,value` CSV holds one series named after the file.
    let res = score(&["--series", "value", "--step", "300"]);
    assert!(
        String::from_utf8_lossy(&res.stderr).contains("art_daily_jumpsup"),
        "names what it has"
    );
    let zero = score(&["--series", "art_daily_jumpsup", "--step", "0"]);
    assert!(!zero.status.success(), "a zero step is refused");
    let res = score(&["--series", "art_daily_jumpsup", "--step", "300"]);
    assert!(res.status.success(), "{}", String::from_utf8_lossy(&res.stderr));
    use arrow_array::cast::AsArray;
    let batch = first_batch(&out);
    // 4,032 five-minute steps, lookback 96, stride 1000: windows end at steps 95, 1095, 2095, 3095.
    assert_eq!(batch.num_rows(), 4);
    let verdict = batch.column_by_name("itransformer-etth1").unwrap().as_struct().clone();
    let forecast = verdict.column_by_name("forecast").unwrap().as_list::<i32>();
    assert_eq!(forecast.value(0).len(), 1, "one series");
    assert_eq!(forecast.value(0).as_list::<i32>().value(0).len(), 96, "horizon 96");
    let residual =
        verdict.column_by_name("score").unwrap().as_primitive::<arrow_array::types::Float32Type>();
    assert!((0..4).all(|i| residual.value(i).is_finite() && residual.value(i) >= 0.0));
}

#[test]
fn uids_follow_the_flow_and_the_sensor_not_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), "hs.pcap", &capture(&handshake()));
    let uids = |sensor: &str| {
        let out = run(&["flows", &f, "-f", "json", "--sensor", sensor, "-q"], None);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let rows: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        rows.iter().map(|r| (r["uid"].to_string(), r["flow_id"].to_string())).collect::<Vec<_>>()
    };
    let (a, again, b) = (uids("lab-a"), uids("lab-a"), uids("lab-b"));
    assert!(!a.is_empty());
    assert_eq!(a, again, "a replay gives the same uids and flow ids");
    for (x, y) in a.iter().zip(&b) {
        assert_ne!(x.0, y.0, "two sensors never share a uid");
        assert_ne!(x.1, y.1, "nor a flow id");
    }
}

#[test]
fn a_run_started_as_root_opens_its_interface_then_runs_as_nobody() {
    if !vigil_pipelines::privileges::is_root() {
        println!("skipped: not root");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // The store's parent must be reachable by the user the run becomes.
    std::fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .unwrap();
    let store = dir.path().join("store");
    let config = dir.path().join("t.toml");
    let text = format!(
        "[store]\ndir = {:?}\n[sources.wire]\ntype = \"interface\"\nname = \"lo\"\n\
         [sinks.store]\ntype = \"store\"\ninputs = [\"wire\"]\n",
        store.display().to_string()
    );
    std::fs::write(&config, text).unwrap();
    let child = Command::new(VIGIL)
        .args(["run", "--config", config.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert!(std::fs::metadata(format!("/proc/{}", child.id())).is_ok(), "the run ended early");
    assert_root_was_dropped(child.id());
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.send_to(b"vigil", ("127.0.0.1", 9)).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    // SAFETY: signalling our own child process.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    let out = child.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{log}");
    assert!(log.contains("running as nobody"), "{log}");
    let files = vigil_pipelines::store::list_files(&store, vigil_pipelines::store::Table::Flows);
    assert!(!files.unwrap().is_empty(), "the flows were stored by the unprivileged run");
}
