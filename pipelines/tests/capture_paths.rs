//! The three paths from packets to flows — `vigil flows` (extract), the netFound
//! tokenizing path (`vigil tokenize netfound`, `vigil score netfound`) and the runtime's
//! capture source (`vigil run`) — read captures through the one `CaptureLoop`, and give
//! identical flows (5-tuples, counters, `conn_state`, history, uid, everything stored) on
//! shared captures of many kinds: tunnels, IPv6, SCTP, fragments, ICMP, pcapng.gz.
//!
//! Data: `$VIGIL_DATA/pcap`, else `shared/data` beside the checkout; skipped with a
//! printed reason when absent, a failure when `VIGIL_REQUIRE_DATA=1`.

mod common;

use std::path::Path;

use common::read;
use vigil_ingest::data_dir::{data_required, shared_data};
use vigil_ingest::flow::DEFAULT_SENSOR;
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

/// `vigil run`: the flows a capture source sent to the store. Its sensor is the default
/// one, whose uid seed the default flow-table settings of the other paths use.
async fn stored(path: &Path) -> Vec<FlowRecord> {
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
    let mut flows = Vec::new();
    for file in list_files(store.path(), Table::Flows).unwrap() {
        for batch in read(&file.path) {
            flows.extend(flows_from_batch(&batch).unwrap());
        }
    }
    by_flow_id(flows)
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
        let got = stored(&path).await;
        assert!(got == want, "{rel}: runtime path differs:\n{}", first_difference(&want, &got));
        compared += 1;
    }
    assert!(compared == 0 || token_rows > 0, "the tokenizer followed the flows");
    println!("{compared} captures: the same flows on all three paths");
}
