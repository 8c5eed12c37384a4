//! `vigil gen`: each kind of synthetic traffic is a valid capture whose flows are what
//! it says (checked with our flow table), the same for the same seed, and readable by
//! etherparse as built.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use common::VIGIL;
use vigil_ingest::FlowRecord;

/// `vigil gen KIND --count N` into `dir`, then its flows.
fn gen_flows(dir: &Path, kind: &str, count: usize) -> (PathBuf, Vec<FlowRecord>) {
    let out = dir.join(format!("{kind}.pcap"));
    let status = std::process::Command::new(VIGIL)
        .args(["-q", "gen", kind, "--count", &count.to_string(), "--out"])
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success(), "vigil gen {kind}");
    let (flows, error) =
        vigil_pipelines::extract::flows_from_capture(&out, Default::default(), Default::default());
    assert!(error.is_none(), "{kind}: {error:?}");
    (out, flows)
}

fn states(flows: &[FlowRecord]) -> Vec<&'static str> {
    let mut s: Vec<&str> = flows.iter().map(|f| f.conn_state).collect();
    s.sort();
    s
}

#[test]
fn each_kind_makes_the_flows_it_says() {
    let dir = tempfile::tempdir().unwrap();

    let (_, scan) = gen_flows(dir.path(), "port-scan", 64);
    let ports: BTreeSet<u16> = scan.iter().map(|f| f.resp_p).collect();
    assert_eq!((scan.len(), ports.len()), (64, 64));
    assert_eq!(scan.iter().filter(|f| f.conn_state == "REJ").count(), 60, "{:?}", states(&scan));

    let (_, sweep) = gen_flows(dir.path(), "host-sweep", 40);
    assert_eq!(sweep.len(), 40);
    assert!(sweep.iter().all(|f| f.proto == 1));
    assert_eq!(sweep.iter().filter(|f| f.resp.pkts > 0).count(), 10);

    let (_, ssh) = gen_flows(dir.path(), "ssh-brute-force", 12);
    assert_eq!(ssh.len(), 12);
    assert!(ssh.iter().all(|f| f.resp_p == 22 && f.conn_state == "SF"), "{:?}", states(&ssh));

    let (_, flood) = gen_flows(dir.path(), "syn-flood", 500);
    let sources: BTreeSet<_> = flood.iter().map(|f| f.orig_h).collect();
    assert!(
        flood.len() >= 495 && sources.len() >= 495,
        "{} flows, {} sources",
        flood.len(),
        sources.len()
    );
    assert!(flood.iter().all(|f| f.conn_state == "S0" && f.resp_p == 80));

    let (_, mix) = gen_flows(dir.path(), "benign-mix", 8);
    let mut services: Vec<(u8, u16)> = mix.iter().map(|f| (f.proto, f.resp_p)).collect();
    services.sort();
    assert_eq!(
        services,
        [(6, 80), (6, 80), (6, 443), (6, 443), (17, 53), (17, 53), (17, 123), (17, 123)]
    );
    assert!(
        mix.iter().filter(|f| f.proto == 6).all(|f| f.conn_state == "SF"),
        "{:?}",
        states(&mix)
    );
}

#[test]
fn fragments_overlap_and_the_same_seed_gives_the_same_capture() {
    let dir = tempfile::tempdir().unwrap();
    let (path, flows) = gen_flows(dir.path(), "fragments", 10);
    // Reassembled, the ten datagrams are one UDP conversation of ten packets.
    let packets: u64 = flows.iter().map(|f| f.orig.pkts + f.resp.pkts).sum();
    assert_eq!((flows.len(), flows[0].proto, packets), (1, 17, 10), "{flows:?}");
    // The decoder says what is odd: tiny fragments, and the overlaps (two per
    // overlapping datagram); nothing else (no DF bit on a fragment, say).
    let weirds = dir.path().join("weird.jsonl");
    let out = std::process::Command::new(VIGIL)
        .args(["-q", "flows", "--format", "json", "--weirds"])
        .arg(&weirds)
        .arg(&path)
        .output()
        .unwrap();
    assert!(out.status.success());
    let mut names = std::collections::BTreeMap::<String, usize>::new();
    for line in std::fs::read_to_string(&weirds).unwrap().lines() {
        let w: serde_json::Value = serde_json::from_str(line).unwrap();
        *names.entry(w["name"].as_str().unwrap().to_string()).or_default() += 1;
    }
    let expected = [
        ("excessively_small_fragment".to_string(), 75),
        ("fragment_inconsistency".to_string(), 10),
    ];
    assert_eq!(names, expected.into_iter().collect(), "{names:?}");
    // etherparse reads every fragment back as it was built: IPv4, 8-byte payloads (the
    // overlapping ones 16), the same identification within a datagram.
    let bytes = std::fs::read(&path).unwrap();
    let mut offset = 24;
    let (mut frames, mut overlapping) = (0, 0);
    while offset < bytes.len() {
        let len = u32::from_le_bytes(bytes[offset + 8..offset + 12].try_into().unwrap()) as usize;
        let frame = &bytes[offset + 16..offset + 16 + len];
        let sliced = etherparse::SlicedPacket::from_ethernet(frame).unwrap();
        let Some(etherparse::NetSlice::Ipv4(ip)) = sliced.net else { panic!("not IPv4") };
        let payload = ip.payload().payload.len();
        assert!(payload == 8 || payload == 16 || payload < 8, "{payload}");
        overlapping += usize::from(payload == 16);
        frames += 1;
        offset += 16 + len;
    }
    assert_eq!(overlapping, 5, "every other datagram has an overlapping fragment");
    assert_eq!(frames, 10 * 8 + 5, "64-byte datagrams (UDP header included) in 8 fragments each");
    // Determinism.
    let again = dir.path().join("again.pcap");
    let status = std::process::Command::new(VIGIL)
        .args(["-q", "gen", "fragments", "--count", "10", "--out"])
        .arg(&again)
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(std::fs::read(&again).unwrap(), bytes);
}

#[test]
fn a_port_scan_reads_back_as_suricata_eve_flow_events() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = gen_flows(dir.path(), "port-scan", 16);
    let out = std::process::Command::new(VIGIL)
        .args(["-q", "flows", "--semantics", "suricata", "--format", "eve"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let events: Vec<serde_json::Value> =
        text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(events.len(), 16);
    // Suricata's key order: timestamp first, then flow_id and event_type.
    assert!(text.lines().all(|l| l.starts_with("{\"timestamp\":")), "{text}");
    for e in &events {
        assert_eq!((e["event_type"].as_str(), e["proto"].as_str()), (Some("flow"), Some("TCP")));
        assert_eq!(e["src_ip"], "203.0.113.66");
        assert_eq!(e["flow"]["state"], "closed");
        assert_eq!(e["flow"]["bytes_toclient"], 54, "one 54-byte frame back");
    }
    // Port 1 is open: SYN, SYN-ACK, then the scanner's RST; the rest answer RST-ACK.
    let open: Vec<&serde_json::Value> = events.iter().filter(|e| e["dest_port"] == 1).collect();
    assert_eq!(open[0]["tcp"]["tcp_flags_ts"], "06");
    assert_eq!(open[0]["tcp"]["tcp_flags_tc"], "12");
    assert_eq!(open[0]["flow"]["pkts_toserver"], 2);
    let closed = events.iter().filter(|e| e["dest_port"] != 1);
    assert!(closed.into_iter().all(|e| e["tcp"]["tcp_flags_tc"] == "14"));
}

#[test]
fn the_shipped_rules_catch_a_generated_scan_and_sweep_and_not_the_background() {
    if common::no_runtime() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let captures = dir.path().join("captures");
    std::fs::create_dir_all(&captures).unwrap();
    for (kind, count) in [("port-scan", "200"), ("host-sweep", "100"), ("benign-mix", "400")] {
        let status = std::process::Command::new(VIGIL)
            .args(["-q", "gen", kind, "--count", count, "--out"])
            .arg(captures.join(format!("{kind}.pcap")))
            .status()
            .unwrap();
        assert!(status.success());
    }
    let store = dir.path().join("store");
    let topology = dir.path().join("t.toml");
    std::fs::write(
        &topology,
        format!(
            "[store]\ndir = \"{}\"\n[sources.c]\ntype = \"pcap\"\npath = \"{}\"\n\
             [transforms.nf]\ntype = \"score\"\nmodel = \"netfound\"\ninputs = [\"c\"]\n\
             [transforms.alerts]\ntype = \"alerts\"\ninputs = [\"nf\"]\nrules = \"builtin\"\n\
             [sinks.s]\ntype = \"store\"\ninputs = [\"nf\", \"alerts\"]\n",
            store.display(),
            captures.display()
        ),
    )
    .unwrap();
    let run = std::process::Command::new(VIGIL)
        .args(["-q", "run", "--config"])
        .arg(&topology)
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let out = std::process::Command::new(VIGIL)
        .args(["sql", "--format", "csv", "--data"])
        .arg(&store)
        .arg(
            "select signature_id, src_ip, count(*) as n from alerts where event_type = 'alert' \
             and signature_id between 9200000 and 9299999 group by 1, 2 order by 1",
        )
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        text.trim(),
        "signature_id,src_ip,n\n9200001,203.0.113.66,1\n9200002,203.0.113.66,1",
        "the SQL rules: one port-scan and one host-sweep alert for the attacker, none for \
         the benign mix"
    );
}
