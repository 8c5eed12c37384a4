//! End-to-end conformance on the shared data set, with the acceptance thresholds.
//!
//! Data: `$VIGIL_DATA`, else `shared/data` beside the checkout. Skipped (with a printed
//! reason) when absent.

use vigil_harness::conformance::{ConformanceOptions, run};

#[test]
fn conformance_meets_acceptance_thresholds() {
    let crate_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let Some(pcap) = vigil_ingest::data_dir::shared_data(crate_dir, "pcap") else { return };
    let dir = pcap.parent().expect("pcap has a parent").to_path_buf();
    let opts = ConformanceOptions { max_mismatches: 40, ..Default::default() };
    let report = run(&dir, &opts).unwrap_or_else(|e| panic!("conformance run: {e}"));
    println!("{report}");
    // The JSON form must serialise.
    serde_json::to_string(&report).expect("report serialises");

    let zeek = report.zeek.as_ref().expect("zeek report");
    let suricata = report.suricata.as_ref().expect("suricata report");
    let ndpi = report.ndpi.as_ref().expect("ndpi report");
    assert!(zeek.tuple_pkts_ip_bytes.evaluated > 0, "no Zeek row evaluated");
    assert!(suricata.checks.evaluated > 0, "no Suricata flow check evaluated");
    assert!(ndpi.packets.evaluated > 0, "no nDPI flow evaluated");

    let mut failures = Vec::new();
    let mut check = |what: &str, rate: f64, min: f64| {
        if rate < min {
            failures.push(format!("{what}: {:.2}% < {:.0}%", rate * 100.0, min * 100.0));
        }
    };
    check("zeek 5-tuple+proto+pkts+ip_bytes", zeek.tuple_pkts_ip_bytes.rate_or_zero(), 0.97);
    check("zeek +conn_state+history", zeek.with_state_history.rate_or_zero(), 0.95);
    check("suricata flow checks", suricata.checks.rate_or_zero(), 0.97);
    check("ndpi packets per direction", ndpi.packets.rate_or_zero(), 0.97);
    // The thresholds hold without the documented differences too.
    let raw = |t: &vigil_harness::conformance::Tally| t.raw_rate.unwrap_or(0.0);
    check("zeek (raw) 5-tuple+proto+pkts+ip_bytes", raw(&zeek.tuple_pkts_ip_bytes), 0.97);
    check("zeek (raw) +conn_state+history", raw(&zeek.with_state_history), 0.95);
    check("suricata (raw) flow checks", raw(&suricata.checks), 0.97);
    check("ndpi (raw) packets per direction", raw(&ndpi.packets), 0.97);
    assert!(failures.is_empty(), "acceptance thresholds not met:\n  {}", failures.join("\n  "));
    // The report's own verdict uses the same thresholds.
    assert!(report.acceptance_failures().is_empty());
}
