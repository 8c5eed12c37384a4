//! Kafka in, against a real Kafka-protocol broker on 127.0.0.1 (`VIGIL_KAFKA_BROKERS`;
//! `.ci/run` starts one): every record produced is stored once and the group's
//! committed offsets reach the end offsets; malformed messages become dead letters at
//! their offsets and never stall the partition; packets give the flows `vigil flows`
//! gives; scored rows produced as JSON or Arrow read back as the same flows.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::{VIGIL, live_stage, repo, rss};

/// The brokers to test against; `None` (skip) when unset, a failure under
/// `VIGIL_REQUIRE_DATA=1`.
fn brokers() -> Option<String> {
    match std::env::var("VIGIL_KAFKA_BROKERS") {
        Ok(b) if !b.trim().is_empty() => Some(b),
        _ if std::env::var("VIGIL_REQUIRE_DATA").is_ok_and(|v| v == "1") => {
            panic!("VIGIL_KAFKA_BROKERS is not set (VIGIL_REQUIRE_DATA=1): start a broker")
        }
        _ => {
            eprintln!("VIGIL_KAFKA_BROKERS is not set: skipped");
            None
        }
    }
}

/// A name no other test or run uses.
fn unique(what: &str) -> String {
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    format!("vigil-{what}-{}-{nanos}", std::process::id())
}

fn vigil(args: &[&str], brokers: &str) -> Output {
    let out = Command::new(VIGIL).args(args).env("VIGIL_KAFKA_BROKERS", brokers).output().unwrap();
    assert!(
        out.status.success() || out.status.code() == Some(3),
        "vigil {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A mapping for `src,sport,dst,dport,proto,bytes` rows.
const MAPPING: &str = r#"{"name":"t","src_addr":"src","src_port":"sport","dst_addr":"dst","dst_port":"dport","proto":"proto","numeric":["bytes"],"categorical":[]}"#;

/// A topology reading `topic` in `group` with `format` into `store`.
fn topology(dir: &Path, brokers: &str, topic: &str, group: &str, format: &str) -> String {
    topology_of("k", dir, brokers, topic, group, format)
}

/// [`topology`] for sensor `sensor`.
fn topology_of(
    sensor: &str,
    dir: &Path,
    brokers: &str,
    topic: &str,
    group: &str,
    format: &str,
) -> String {
    let config = dir.join(format!("{group}-{sensor}.toml"));
    let store = dir.join("store");
    std::fs::write(
        &config,
        format!(
            "sensor = \"{sensor}\"\n[store]\ndir = \"{}\"\n[sources.kafka]\ntype = \"kafka\"\nbrokers = \"{brokers}\"\ntopics = [\"{topic}\"]\ngroup = \"{group}\"\nformat = \"{format}\"\n[sources.kafka.librdkafka]\n\"session.timeout.ms\" = \"6000\"\n[sinks.store]\ntype = \"store\"\ninputs = [\"kafka\"]\n",
            store.display()
        ),
    )
    .unwrap();
    config.display().to_string()
}

/// One number from `vigil sql`.
fn count(store: &Path, query: &str) -> i64 {
    let out = Command::new(VIGIL)
        .args(["sql", "--data", store.to_str().unwrap(), "--format", "json", query])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    let v: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    v.as_object().unwrap().values().next().unwrap().as_i64().unwrap()
}

/// Every partition of `topic`: (committed, end).
fn lag(brokers: &str, group: &str, topic: &str) -> Vec<(Option<i64>, i64)> {
    let out =
        vigil(["kafka", "lag", "--group", group, "--topic", topic, "--json"].as_ref(), brokers);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .map(|p| (p["committed"].as_i64(), p["end"].as_i64().unwrap()))
        .collect()
}

/// Every partition committed up to its end offset. A partition the producer left empty
/// (end 0: librdkafka's sticky partitioner sends unkeyed messages to one partition at a
/// time) has nothing to commit, so no committed offset counts as 0 there.
fn assert_committed_to_end(parts: &[(Option<i64>, i64)], what: &str) {
    for &(committed, end) in parts {
        assert_eq!(committed.unwrap_or(0), end, "{what}");
    }
}

#[test]
fn every_record_of_a_partitioned_topic_is_stored_once_and_committed() {
    let Some(brokers) = brokers() else { return };
    let dir = tempfile::tempdir().unwrap();
    let mapping = dir.path().join("m.json");
    std::fs::write(&mapping, MAPPING).unwrap();
    let file = flow_csv(dir.path(), 100_000);
    let (topic, group) = (unique("flows"), unique("group"));
    let m = mapping.to_str().unwrap();
    let produce = ["kafka", "produce", &file, "--topic", &topic, "--partitions", "4"];
    vigil(&[&produce[..], &["--format", "flow-csv", "--mapping", m]].concat(), &brokers);
    let config = topology(dir.path(), &brokers, &topic, &group, m);
    vigil(&["run", "--config", &config, "--until-idle", "3"], &brokers);
    let store = dir.path().join("store");
    assert_eq!(count(&store, "select count(*) from flows"), 100_000);
    assert_eq!(count(&store, "select count(distinct uid) from flows"), 100_000);
    let parts = lag(&brokers, &group, &topic);
    assert_eq!(parts.len(), 4);
    assert_eq!(parts.iter().map(|p| p.1).sum::<i64>(), 100_000);
    assert_committed_to_end(&parts, "the committed offset is the end offset");
    // The source's counters show the partitions it owned, consumed to their end.
    let stats = vigil(&["stats", "--data", store.to_str().unwrap(), "--json"], &brokers);
    let v: serde_json::Value = serde_json::from_slice(&stats.stdout).unwrap();
    println!("{v}");
    let kafka = v["k"].as_array().unwrap().iter().find(|s| s["stage"] == "kafka").unwrap();
    let owned = kafka["partitions"].as_array().unwrap();
    assert_eq!(owned.len(), 4, "{kafka}");
    assert!(owned.iter().all(|p| p["lag"] == 0 && p["topic"] == topic.as_str()), "{kafka}");
    // Run again: nothing is read twice.
    vigil(&["run", "--config", &config, "--until-idle", "3"], &brokers);
    assert_eq!(count(&store, "select count(*) from flows"), 100_000);
}

/// `n` flow rows (`src,sport,dst,dport,proto,bytes`), each 5-tuple distinct, in `dir`.
fn flow_csv(dir: &Path, n: u32) -> String {
    let mut csv = String::from("src,sport,dst,dport,proto,bytes\n");
    for i in 0..n {
        let (a, b) = (i >> 8 & 255, i & 255);
        csv.push_str(&format!("10.2.{a}.{b},{},192.0.2.9,53,17,{i}\n", 1024 + i % 60_000));
    }
    let file = dir.join("flows.csv");
    std::fs::write(&file, csv).unwrap();
    file.display().to_string()
}

/// A flow topic of `rows` rows in 4 partitions, and a mapping file for it: (topic, mapping).
fn flow_topic(dir: &Path, brokers: &str, rows: u32, what: &str) -> (String, String) {
    let mapping = dir.join("m.json");
    std::fs::write(&mapping, MAPPING).unwrap();
    let m = mapping.display().to_string();
    let file = flow_csv(dir, rows);
    let topic = unique(what);
    let produce = ["kafka", "produce", &file, "--topic", &topic, "--partitions", "4"];
    vigil(&[&produce[..], &["--format", "flow-csv", "--mapping", &m]].concat(), brokers);
    (topic, m)
}

/// `vigil run --config config --until-idle idle` in the background, output discarded.
fn spawn_run(config: &str, idle: &str) -> std::process::Child {
    Command::new(VIGIL)
        .args(["run", "--config", config, "--until-idle", idle])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

/// Messages the Kafka source of `sensor` has taken in, from its counters in `store`.
fn consumed(store: &Path, sensor: &str) -> u64 {
    let stats = store.join(format!("_stats/{sensor}.json"));
    let v: Option<serde_json::Value> =
        std::fs::read(&stats).ok().and_then(|b| serde_json::from_slice(&b).ok());
    v.and_then(|v| v.as_array()?.iter().find(|s| s["stage"] == "kafka")?["records_in"].as_u64())
        .unwrap_or(0)
}

#[test]
fn two_instances_share_a_group_and_one_takes_over_when_the_other_is_killed() {
    let Some(brokers) = brokers() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (topic, m) = flow_topic(dir.path(), &brokers, 100_000, "shared");
    let group = unique("group");
    let start = |sensor: &str| {
        spawn_run(&topology_of(sensor, dir.path(), &brokers, &topic, &group, &m), "15")
    };
    let store = dir.path().join("store");
    let read = |sensor: &str| consumed(&store, sensor);
    let mut a = start("a");
    let mut b = start("b");
    // Both get partitions; then `a` dies mid-stream.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90);
    while read("a") == 0 || read("b") == 0 {
        assert!(std::time::Instant::now() < deadline, "both instances never consumed");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    a.kill().unwrap(); // SIGKILL
    a.wait().unwrap();
    let status = b.wait().unwrap();
    assert!(status.success(), "the survivor ends cleanly: {status}");
    // Every row is stored; duplicates come only from what `a` had not committed.
    let distinct =
        "select count(distinct concat(src_ip, ':', cast(src_port as varchar))) from flows";
    assert_eq!(count(&store, distinct), 100_000);
    let total = count(&store, "select count(*) from flows");
    println!("rows stored twice after the kill (a's uncommitted tail): {}", total - 100_000);
    assert!(total - 100_000 <= 50_000, "{total}");
    assert_committed_to_end(
        &lag(&brokers, &group, &topic),
        "the survivor committed every partition",
    );
}

#[test]
fn a_member_joining_mid_stream_takes_partitions_without_duplicates() {
    let Some(brokers) = brokers() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (topic, m) = flow_topic(dir.path(), &brokers, 100_000, "join");
    let group = unique("group");
    let start = |sensor: &str| {
        spawn_run(&topology_of(sensor, dir.path(), &brokers, &topic, &group, &m), "10")
    };
    let store = dir.path().join("store");
    let consumed = |sensor: &str| consumed(&store, sensor);
    let mut a = start("a");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while consumed("a") == 0 {
        assert!(std::time::Instant::now() < deadline, "the first member never consumed");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // A second member joins: the first sends and commits what it holds before it
    // gives partitions up, so the newcomer starts after them.
    let mut b = start("b");
    assert!(a.wait().unwrap().success());
    assert!(b.wait().unwrap().success());
    assert_eq!(count(&store, "select count(*) from flows"), 100_000, "no duplicates");
    let distinct =
        "select count(distinct concat(src_ip, ':', cast(src_port as varchar))) from flows";
    assert_eq!(count(&store, distinct), 100_000);
    println!("consumed by a: {}, by b: {}", consumed("a"), consumed("b"));
}

#[test]
fn malformed_messages_become_dead_letters_at_their_offsets() {
    let Some(brokers) = brokers() else { return };
    let dir = tempfile::tempdir().unwrap();
    let mapping = dir.path().join("m.json");
    std::fs::write(&mapping, MAPPING).unwrap();
    let (mut lines, mut bad) = (String::new(), 0);
    for i in 0..5_000u32 {
        if i % 50 == 7 {
            lines.push_str("this is not a flow\n");
            bad += 1;
        } else {
            lines.push_str(&format!(
                "{{\"src\":\"10.3.{}.{}\",\"sport\":{},\"dst\":\"192.0.2.7\",\"dport\":443,\"proto\":6,\"bytes\":{i}}}\n",
                i >> 8 & 255,
                i & 255,
                2000 + i
            ));
        }
    }
    let file = dir.path().join("rows.jsonl");
    std::fs::write(&file, lines).unwrap();
    let (topic, group) = (unique("mixed"), unique("group"));
    let f = file.to_str().unwrap();
    vigil(&["kafka", "produce", f, "--topic", &topic, "--partitions", "2"], &brokers);
    let config = topology(dir.path(), &brokers, &topic, &group, mapping.to_str().unwrap());
    // They also go to a dead-letter topic.
    let dlq = unique("dlq");
    let text = std::fs::read_to_string(&config).unwrap().replace(
        "[sources.kafka.librdkafka]",
        &format!("dlq_topic = \"{dlq}\"\n[sources.kafka.librdkafka]"),
    );
    std::fs::write(&config, text).unwrap();
    let out = vigil(&["run", "--config", &config, "--until-idle", "3"], &brokers);
    assert_eq!(out.status.code(), Some(3), "dead letters: exit 3");
    assert_eq!(messages_in(&brokers, &dlq) as i64, bad);
    let store = dir.path().join("store");
    assert_eq!(count(&store, "select count(*) from flows"), 5_000 - bad);
    assert_eq!(count(&store, "select count(*) from dead_letters"), bad);
    let q = "select count(distinct position) from dead_letters where position like 'partition % offset %'";
    assert_eq!(count(&store, q), bad);
    assert_committed_to_end(
        &lag(&brokers, &group, &topic),
        "dead letters never stall the partition",
    );
}

/// Messages in `topic` from the start, read by a consumer of our own until none comes
/// for 3 s.
fn messages_in(brokers: &str, topic: &str) -> usize {
    message_keys(brokers, topic).len()
}

/// The key of every message in `topic` (an empty key for none), read until 3 s pass
/// without one.
fn message_keys(brokers: &str, topic: &str) -> Vec<Vec<u8>> {
    use rdkafka::Message;
    use rdkafka::config::ClientConfig;
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", unique("reader"))
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "6000")
        .create()
        .unwrap();
    consumer.subscribe(&[topic]).unwrap();
    let (mut keys, mut last) = (Vec::new(), std::time::Instant::now());
    let deadline = last + std::time::Duration::from_secs(120);
    while last.elapsed() < std::time::Duration::from_secs(3) || keys.is_empty() {
        assert!(std::time::Instant::now() < deadline, "no messages in {topic}");
        if let Some(m) = consumer.poll(std::time::Duration::from_millis(100)) {
            keys.push(m.unwrap().key().unwrap_or_default().to_vec());
            last = std::time::Instant::now();
        }
    }
    keys
}

#[test]
fn scored_events_and_alerts_are_produced_and_match_the_store() {
    let Some(brokers) = brokers() else { return };
    if !vigil_models::runtime::available_for_tests() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (scores, alerts, arrow) = (unique("scores"), unique("alerts"), unique("arrow"));
    let store = dir.path().join("store");
    let config = dir.path().join("out.toml");
    std::fs::write(
        &config,
        format!(
            r#"sensor = "out"
[store]
dir = "{store}"
[sources.csv]
type = "flow_csv"
path = "{csv}"
mapping = "cicflowmeter"
[transforms.score]
type = "score"
model = "{model}"
inputs = ["csv"]
[transforms.alerts]
type = "alerts"
inputs = ["score"]
rules = [{{ name = "any flow", model = "flow-transformer-cicids2017", min_score = 0.0, severity = 3, suppress_secs = 0 }}]
[sinks.store]
type = "store"
inputs = ["score", "alerts"]
[sinks.scores]
type = "kafka"
brokers = "{brokers}"
topic = "{scores}"
inputs = ["score"]
[sinks.alerts_out]
type = "kafka"
brokers = "{brokers}"
topic = "{alerts}"
inputs = ["alerts"]
[sinks.scores_arrow]
type = "kafka"
brokers = "{brokers}"
topic = "{arrow}"
format = "arrow"
inputs = ["score"]
"#,
            store = store.display(),
            csv = repo("samples/flows/cicids2017-sample.csv").display(),
            model = repo("onnx/artifacts/flow-transformer-cicids2017").display(),
        ),
    )
    .unwrap();
    vigil(&["run", "--config", config.to_str().unwrap()], &brokers);
    let stored_flows = count(&store, "select count(*) from flows");
    let stored_alerts = count(&store, "select count(*) from alerts");
    assert!(stored_flows > 0 && stored_alerts > 0, "{stored_flows} flows, {stored_alerts} alerts");
    assert_eq!(messages_in(&brokers, &scores) as i64, stored_flows);
    assert_eq!(messages_in(&brokers, &alerts) as i64, stored_alerts);
    // Another instance reads the scored flows back, as JSON and as Arrow: the same flows.
    let flows = "select uid, community_id, cast(ts_start as bigint) as ts, orig_pkts, resp_bytes from flows order by uid";
    let original = rows(&store, flows);
    for (topic, format) in [(&scores, "flows_json"), (&arrow, "arrow")] {
        let sub = dir.path().join(format);
        std::fs::create_dir(&sub).unwrap();
        let config = topology(&sub, &brokers, topic, &unique("group"), format);
        vigil(&["run", "--config", &config, "--until-idle", "3"], &brokers);
        assert_eq!(rows(&sub.join("store"), flows), original, "{format}");
        assert_eq!(count(&sub.join("store"), "select count(*) from dead_letters"), 0);
    }
}

/// The rows of a query, as `vigil sql --format json` prints them.
fn rows(store: &Path, query: &str) -> Vec<serde_json::Value> {
    let out = Command::new(VIGIL)
        .args(["sql", "--data", store.to_str().unwrap(), "--format", "json", query])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// A topic of packets (`vigil kafka produce capture.pcap`) gives the flows `vigil flows`
/// finds in the capture: on one partition, and on four (keyed by host pair).
#[test]
fn packets_from_a_topic_give_the_flows_of_the_capture() {
    let Some(brokers) = brokers() else { return };
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let Some(captures) = vigil_ingest::data_dir::shared_data(manifest, "pcap/attacks/cic-ddos2019")
    else {
        return;
    };
    for (capture, partitions) in
        [("CIC-DDoS-2019-WebDDoS.pcap", "1"), ("CIC-DDoS-2019-SynFlood.pcap", "4")]
    {
        let capture = captures.join(capture);
        let c = capture.to_str().unwrap();
        let topic = unique("packets");
        vigil(&["kafka", "produce", c, "--topic", &topic, "--partitions", partitions], &brokers);
        let dir = tempfile::tempdir().unwrap();
        let config = topology(dir.path(), &brokers, &topic, &unique("group"), "pcap");
        vigil(&["run", "--config", &config, "--until-idle", "3"], &brokers);
        // Flows by community id, first packet (ms: `vigil flows` prints seconds) and counters.
        let key = |v: &serde_json::Value, ts_ms: i64| {
            // Zeek leaves out byte counts it has none of.
            let n = |k: &str| v[k].as_u64().unwrap_or(0);
            let s = |k: &str| v[k].as_str().unwrap().to_string();
            (
                s("community_id"),
                ts_ms,
                n("orig_pkts"),
                n("resp_pkts"),
                n("orig_bytes"),
                n("resp_bytes"),
                s("conn_state"),
                s("history"),
            )
        };
        let query = "select community_id, cast(ts_start as bigint) as ts, orig_pkts, resp_pkts, orig_bytes, resp_bytes, conn_state, history from flows";
        let mut from_topic: Vec<_> = rows(&dir.path().join("store"), query)
            .iter()
            .map(|v| key(v, v["ts"].as_i64().unwrap() / 1000))
            .collect();
        let out = vigil(&["flows", "-q", "-f", "json", c], &brokers);
        let mut from_file: Vec<_> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .map(|v| key(&v, (v["ts"].as_f64().unwrap() * 1e6).round() as i64 / 1000))
            .collect();
        from_topic.sort();
        from_file.sort();
        assert!(from_file.len() > 100, "{} flows in {c}", from_file.len());
        assert_eq!(from_topic, from_file, "{c} on {partitions} partitions");
        assert_eq!(count(&dir.path().join("store"), "select count(*) from dead_letters"), 0);
        if partitions == "1" && vigil_models::runtime::available_for_tests() {
            netfound_scores_match(&brokers, &topic, &capture);
        }
    }
}

/// netFound scores the flows of a packet topic as it scores those of the capture.
fn netfound_scores_match(brokers: &str, topic: &str, capture: &Path) {
    let dir = tempfile::tempdir().unwrap();
    let model = repo("onnx/artifacts/netfound");
    let scored = |name: &str, source: String| {
        let store = dir.path().join(name);
        let config = dir.path().join(format!("{name}.toml"));
        let topology = format!(
            "sensor = \"k\"\n[store]\ndir = \"{}\"\n[sources.packets]\n{source}\n[transforms.score]\ntype = \"score\"\nmodel = \"{}\"\ninputs = [\"packets\"]\n[sinks.store]\ntype = \"store\"\ninputs = [\"score\"]\n",
            store.display(),
            model.display()
        );
        std::fs::write(&config, topology).unwrap();
        vigil(&["run", "--config", config.to_str().unwrap(), "--until-idle", "3"], brokers);
        rows(
            &store,
            "select community_id, netfound.label as label, round(netfound.score, 5) as score from flows order by community_id, score",
        )
    };
    let group = unique("netfound");
    let from_topic = scored(
        "topic",
        format!(
            "type = \"kafka\"\nbrokers = \"{brokers}\"\ntopics = [\"{topic}\"]\ngroup = \"{group}\"\nformat = \"pcap\""
        ),
    );
    let from_file = scored("file", format!("type = \"pcap\"\npaths = [\"{}\"]", capture.display()));
    assert!(!from_file.is_empty());
    assert_eq!(from_topic, from_file);
}

/// A broker of this test's own (nisshi, as `.ci/kafka-broker.sh` builds it), so that it
/// can be stopped and started again without disturbing the other tests.
struct OwnBroker {
    dir: std::path::PathBuf,
    port: u16,
    child: Option<std::process::Child>,
}

impl OwnBroker {
    fn binary() -> Option<std::path::PathBuf> {
        let bin = std::env::var_os("NISSHI_ROOT")
            .map(std::path::PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache/nisshi")))?
            .join("bin/nisshi");
        bin.is_file().then_some(bin)
    }

    fn start(&mut self) {
        let url = format!("tcp://127.0.0.1:{}", self.port);
        let child = Command::new(Self::binary().unwrap())
            .args(["broker", "--silent"])
            .current_dir(&self.dir)
            .env("LISTENER_URL", &url)
            .env("ADVERTISED_LISTENER_URL", &url)
            .env("STORAGE_ENGINE", "sqlite://nisshi.db")
            .env("CLUSTER_ID", "vigil-restart")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(std::time::Instant::now() < deadline, "the broker did not start");
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            // SAFETY: signalling our own child process.
            assert_eq!(unsafe { libc::kill(c.id() as i32, libc::SIGTERM) }, 0);
            let _ = c.wait();
        }
    }
}

impl Drop for OwnBroker {
    fn drop(&mut self) {
        self.stop();
    }
}

impl OwnBroker {
    /// A broker of its own in `dir`, started, on a port of `offset`; `None` (the test is
    /// skipped) where the CI broker does not run.
    fn started(dir: &Path, offset: u16) -> Option<OwnBroker> {
        // Runs where the CI broker runs (it needs nisshi's binary to start its own).
        brokers()?;
        if OwnBroker::binary().is_none() {
            let required = std::env::var("VIGIL_REQUIRE_DATA").is_ok_and(|v| v == "1");
            assert!(
                !required,
                "no nisshi binary (NISSHI_ROOT or ~/.cache/nisshi): run .ci/kafka-broker.sh"
            );
            eprintln!("no nisshi binary: skipped");
            return None;
        }
        let data = dir.join("broker");
        std::fs::create_dir(&data).unwrap();
        let port = 30_000 + offset + (std::process::id() % 10_000) as u16;
        let mut broker = OwnBroker { dir: data, port, child: None };
        broker.start();
        Some(broker)
    }

    fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

#[test]
fn a_broker_down_for_30_s_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let Some(mut broker) = OwnBroker::started(dir.path(), 0) else { return };
    let brokers = broker.address();
    let mapping = dir.path().join("m.json");
    std::fs::write(&mapping, MAPPING).unwrap();
    let m = mapping.to_str().unwrap();
    let file = flow_csv(dir.path(), 50_000);
    let (topic, group) = (unique("restart"), unique("group"));
    let produce = ["kafka", "produce", &file, "--topic", &topic, "--partitions", "2"];
    vigil(&[&produce[..], &["--format", "flow-csv", "--mapping", m]].concat(), &brokers);
    let config = topology_of("r", dir.path(), &brokers, &topic, &group, m);
    let run = Command::new(VIGIL)
        .args(["run", "--config", &config, "--until-idle", "60"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let store = dir.path().join("store");
    let stats = store.join("_stats/r.json");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    // The broker goes down once the source has consumed something (not just started).
    let consumed = || -> Option<u64> {
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&stats).ok()?).ok()?;
        v.as_array()?.iter().find(|s| s["stage"] == "kafka")?["records_in"].as_u64()
    };
    while consumed().unwrap_or(0) == 0 {
        assert!(std::time::Instant::now() < deadline, "nothing consumed");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    broker.stop();
    std::thread::sleep(std::time::Duration::from_secs(30));
    broker.start();
    let out = run.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let distinct =
        "select count(distinct concat(src_ip, ':', cast(src_port as varchar))) from flows";
    assert_eq!(count(&store, distinct), 50_000, "no record lost");
    assert_committed_to_end(&lag(&brokers, &group, &topic), "no partition left behind");
}

#[test]
fn metrics_and_action_logs_replayed_through_topics_are_stored_whole() {
    let Some(brokers) = brokers() else { return };
    let dir = tempfile::tempdir().unwrap();
    let metrics = repo("samples/metrics/ec2_cpu_utilization_825cc2.csv");
    let log = repo("samples/actions/apache_access.log");
    // What the file readers find in them.
    let mut points =
        vigil_ingest::metrics::MetricsReader::open(&metrics, Default::default()).unwrap();
    let mut n_points = 0;
    while points.next_point().unwrap().is_some() {
        n_points += 1;
    }
    let format =
        vigil_pipelines::runtime::sources::action_log_format(Some("access"), &log).unwrap();
    let mut events = vigil_ingest::actions::ActionReader::open(&log, format).unwrap();
    let mut n_events = 0;
    while events.next_event().unwrap().is_some() {
        n_events += 1;
    }
    let (t_metrics, t_actions) = (unique("metrics"), unique("actions"));
    let m = metrics.to_str().unwrap();
    vigil(&["kafka", "produce", m, "--topic", &t_metrics, "--format", "metrics"], &brokers);
    let l = log.to_str().unwrap();
    let produce = ["kafka", "produce", l, "--topic", &t_actions, "--format", "actions"];
    vigil(&[&produce[..], &["--log-format", "access"]].concat(), &brokers);
    let store = dir.path().join("store");
    for (topic, format) in [(&t_metrics, "metrics_json"), (&t_actions, "actions_json")] {
        let config = topology_of(format, dir.path(), &brokers, topic, &unique("group"), format);
        vigil(&["run", "--config", &config, "--until-idle", "3"], &brokers);
    }
    assert_eq!(count(&store, "select count(*) from metrics"), n_points);
    assert_eq!(count(&store, "select count(distinct ts) from metrics"), n_points);
    assert_eq!(count(&store, "select count(*) from actions"), n_events);
    assert_eq!(count(&store, "select count(*) from dead_letters"), 0);
}

#[test]
fn a_stalled_kafka_sink_keeps_memory_bounded_and_shows_its_lag() {
    let dir = tempfile::tempdir().unwrap();
    let Some(mut broker) = OwnBroker::started(dir.path(), 10_000) else { return };
    // 300,000 one-packet flows, ended while the capture is read.
    let flows = 300_000;
    let config = vigil_ingest::synth::GenConfig { count: flows, rate: 50.0, ..Default::default() };
    let capture = dir.path().join("flood.pcap");
    let packets =
        vigil_ingest::synth::generate(vigil_ingest::synth::TrafficKind::SynFlood, &config);
    vigil_ingest::synth::write_pcap(std::fs::File::create(&capture).unwrap(), &packets).unwrap();
    let topic = unique("stall");
    let http = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let (capacity, max_rows) = (8, 4096);
    let text = format!(
        "sensor = \"stall\"\nchannel_capacity = {capacity}\n[batch]\nmax_rows = {max_rows}\nmax_ms = 200\n\
         [http]\nlisten = \"127.0.0.1:{http}\"\n[store]\ndir = {:?}\n\
         [sources.cap]\ntype = \"pcap\"\npaths = [{:?}]\n\
         [sinks.bus]\ntype = \"kafka\"\ninputs = [\"cap\"]\nbrokers = \"{}\"\ntopic = \"{topic}\"\n",
        dir.path().join("store").display().to_string(),
        capture.display().to_string(),
        broker.address(),
    );
    let config = dir.path().join("t.toml");
    std::fs::write(&config, text).unwrap();
    let run = Command::new(VIGIL)
        .args(["run", "--config"])
        .arg(&config)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while live_stage(http, "bus").and_then(|s| s["records_out"].as_u64()).unwrap_or(0) == 0 {
        assert!(std::time::Instant::now() < deadline, "nothing produced within a minute");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    broker.stop();
    // The sink waits for its delivery reports; everything behind it fills and stops.
    let (mut rss_seen, mut lag_seen) = (Vec::new(), Vec::new());
    for _ in 0..50 {
        std::thread::sleep(std::time::Duration::from_millis(300));
        rss_seen.push(rss(run.id()));
        let bus = live_stage(http, "bus").unwrap();
        lag_seen.push(bus["pending_rows"].as_u64().unwrap());
    }
    broker.start();
    let out = run.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let keys = message_keys(&broker.address(), &topic);
    let distinct: std::collections::HashSet<&Vec<u8>> = keys.iter().collect();
    assert_eq!((keys.len(), distinct.len()), (flows, flows), "every flow produced once");

    // Settled: the last 10 s of the stall.
    let (settled_rss, settled_lag) = (&rss_seen[16..], &lag_seen[16..]);
    let (lo, hi) = (settled_rss.iter().min().unwrap(), settled_rss.iter().max().unwrap());
    let bound = ((capacity + 2) * max_rows) as u64;
    println!(
        "stalled sink: pending rows {:?}..{:?} (bound {bound}); RSS {} .. {} MiB",
        settled_lag.iter().min(),
        settled_lag.iter().max(),
        lo >> 20,
        hi >> 20
    );
    assert!(settled_lag.iter().all(|&l| l > 0 && l <= bound), "lag {settled_lag:?}");
    assert!(hi - lo < 16 << 20, "RSS kept growing while stalled: {} .. {} MiB", lo >> 20, hi >> 20);
}
