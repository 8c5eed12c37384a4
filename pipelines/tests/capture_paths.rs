//! The three paths from packets to flows — `vigil flows` (extract), the netFound
//! tokenizing path (`vigil tokenize netfound`, `vigil score netfound`) and the runtime's
//! capture source (`vigil run`) — read captures through the one `CaptureLoop`, and give
//! identical flows (5-tuples, counters, `conn_state`, history, uid, everything stored) on
//! shared captures of many kinds: tunnels, IPv6, SCTP, fragments, ICMP, pcapng.gz.
//!
//! Data: `$VIGIL_DATA/pcap`, else `shared/data` beside the checkout; skipped with a
//! printed reason when absent, a failure when `VIGIL_REQUIRE_DATA=1`.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::read;
use vigil_ingest::data_dir::{data_required, shared_data};
use vigil_ingest::flow::DEFAULT_SENSOR;
use vigil_ingest::synth::{GenConfig, TrafficKind, generate, write_pcap};
use vigil_ingest::{FlowRecord, PcapReader, flows_from_batch};
use vigil_pipelines::extract::flows_from_capture;
use vigil_pipelines::runtime::{Runner, Topology, TopologyConfig};
use vigil_pipelines::store::{Table, list_files};
use vigil_pipelines::tokenize::netfound_from_capture;
use vigil_tokenizers::NetfoundConfig;

/// Captures under `$VIGIL_DATA/pcap`.
const CAPTURES: [&str; 9] = [
    "zeek/traces/tunnels/Teredo.pcap",
    "suricata-verify/tests/bug-5633-gre-02/gre-sample.pcap",
    "ndpi/pcap/vxlan.pcap",
    "ndpi/pcap/http_ipv6.pcap",
    "zeek/traces/communityid/sctp.pcap",
    "ndpi/pcap/ip_fragmented_garbage.pcap",
    "ndpi/pcap/icmp-tunnel.pcap",
    "attacks/cic-ddos2019/CIC-DDoS-2019-WebDDoS.pcap",
    "zeek/traces/contentline/rlogin-long-client-user-no-nul.pcapng.gz",
];

fn by_flow_id(mut flows: Vec<FlowRecord>) -> Vec<FlowRecord> {
    flows.sort_by_key(|f| f.flow_id);
    flows
}

/// `vigil flows`: the extract path.
fn extracted(path: &Path) -> Vec<FlowRecord> {
    let (flows, error) = flows_from_capture(path, Default::default(), Default::default());
    assert!(error.is_none(), "{}: {error:?}", path.display());
    by_flow_id(flows)
}

/// `vigil tokenize netfound`: the flows the tokenizing path followed, and how many got
/// tokens (none for SCTP, which netFound has no fields for).
fn tokenized(path: &Path) -> (Vec<FlowRecord>, u64) {
    let mut flows = Vec::new();
    let run = netfound_from_capture(
        PcapReader::open(path).unwrap(),
        Default::default(),
        Default::default(),
        NetfoundConfig::default(),
        &mut |_| {},
        &mut flows,
    )
    .unwrap();
    assert!(run.error.is_none(), "{}: {:?}", path.display(), run.error);
    assert_eq!(run.flows, flows.len() as u64);
    (by_flow_id(flows), run.token_rows)
}

/// What a `vigil run` of one capture stored.
struct Stored {
    /// Its flows, by flow id.
    flows: Vec<FlowRecord>,
    /// The partition of each file written.
    partitions: Vec<String>,
    /// The capture source's weird counts.
    weirds: BTreeMap<String, u64>,
}

/// `vigil run`: the flows a capture source sent to the store. Its sensor is the default
/// one, whose uid seed the default flow-table settings of the other paths use.
async fn stored(path: &Path) -> Stored {
    let store = tempfile::tempdir().unwrap();
    let text = format!(
        "sensor = {DEFAULT_SENSOR:?}\n[store]\ndir = {:?}\n[sources.capture]\ntype = \"pcap\"\npaths = [{:?}]\n\
         [sinks.store]\ntype = \"store\"\ninputs = [\"capture\"]\n",
        store.path().display().to_string(),
        path.display().to_string(),
    );
    let config = TopologyConfig::from_toml(&text, Path::new("paths.toml")).unwrap();
    let topology = tokio::task::block_in_place(|| Topology::build(config)).unwrap();
    let summary = Runner::new(topology).run().await.unwrap();
    assert!(summary.errors.is_empty(), "{:?}", summary.errors);
    let (mut flows, mut partitions) = (Vec::new(), Vec::new());
    for file in list_files(store.path(), Table::Flows).unwrap() {
        for batch in read(&file.path) {
            flows.extend(flows_from_batch(&batch).unwrap());
        }
        partitions.push(file.partition);
    }
    let source = summary.stages.into_iter().find(|s| s.stage == "capture").unwrap();
    Stored { flows: by_flow_id(flows), partitions, weirds: source.weirds }
}

/// The first flow that differs, for a readable failure.
fn first_difference(a: &[FlowRecord], b: &[FlowRecord]) -> String {
    match a.iter().zip(b).find(|(x, y)| x != y) {
        Some((x, y)) => format!("{x:#?}\nvs\n{y:#?}"),
        None => format!("{} flows vs {}", a.len(), b.len()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_three_capture_paths_give_identical_flows() {
    let Some(pcap) = shared_data(Path::new(env!("CARGO_MANIFEST_DIR")), "pcap") else { return };
    let (mut compared, mut token_rows) = (0, 0);
    for rel in CAPTURES {
        let path = pcap.join(rel);
        if !path.exists() {
            assert!(!data_required(), "VIGIL_REQUIRE_DATA=1 but {} is absent", path.display());
            println!("skipped: {} is absent", path.display());
            continue;
        }
        let want = extracted(&path);
        assert!(!want.is_empty(), "{rel}: no flows");
        let (got, tokens) = tokenized(&path);
        token_rows += tokens;
        assert!(got == want, "{rel}: netFound path differs:\n{}", first_difference(&want, &got));
        let got = stored(&path).await.flows;
        assert!(got == want, "{rel}: runtime path differs:\n{}", first_difference(&want, &got));
        compared += 1;
    }
    assert!(compared == 0 || token_rows > 0, "the tokenizer followed the flows");
    println!("{compared} captures: the same flows on all three paths");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_clock_is_counted_and_opens_no_partition_in_its_years() {
    let dir = tempfile::tempdir().unwrap();
    let config = GenConfig { count: 200, ..Default::default() };
    let packets = generate(TrafficKind::ClockTrouble, &config);
    let year = |ts: i64| vigil_ingest::time::civil_from_us(ts).year;
    let count = |y: i64| packets.iter().filter(|p| year(p.ts_us) == y).count() as u64;
    let (old, future) = (count(1970), count(2037));
    let back = packets.iter().filter(|p| p.ts_us < config.start_us && year(p.ts_us) == 2023);
    let back = back.count() as u64;
    assert!(old > 10 && future > 10 && back > 10, "{old} {future} {back}");
    let write = |name: &str, keep: &dyn Fn(i64) -> bool| {
        let path = dir.path().join(name);
        let kept: Vec<_> = packets.iter().filter(|p| keep(p.ts_us)).cloned().collect();
        write_pcap(std::fs::File::create(&path).unwrap(), &kept).unwrap();
        path
    };
    let broken = write("broken.pcap", &|_| true);
    let without = write("without.pcap", &|ts| year(ts) == 2023);

    // The refused packets change nothing: the flows are those of the capture without them.
    let want = extracted(&without);
    assert_eq!(extracted(&broken), want);
    let run = stored(&broken).await;
    assert!(run.flows == want, "runtime path differs:\n{}", first_difference(&want, &run.flows));
    for p in &run.partitions {
        assert!(p.starts_with("date=2023-11-"), "a partition out of the capture's days: {p}");
    }
    let expected = BTreeMap::from([
        ("timestamp_implausibly_old".to_string(), old),
        ("timestamp_in_future".to_string(), future),
        ("timestamp_went_backwards".to_string(), back),
    ]);
    assert_eq!(run.weirds, expected, "the run counts each odd packet once");
}
