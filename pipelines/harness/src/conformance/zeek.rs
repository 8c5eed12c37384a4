//! Zeek `conn.log` baselines (`derived/zeek_conn_expected.csv`, `zeek/manifest.json`).
//!
//! - Rows are grouped by baseline; each baseline's rows are matched one-to-one with our flows
//!   of its trace (`zeek/<trace>`) on the oriented 5-tuple + proto. A flow whose tuple is the
//!   reverse of the row's is a candidate too (so it shows as the closest flow) but fails.
//! - (a) = 5-tuple + proto + `orig_pkts`/`resp_pkts` + `orig_ip_bytes`/`resp_ip_bytes`;
//!   (b) = (a) + `conn_state` + `history`. Payload bytes are a separate tally.
//! - Only baselines with `suggested_for_flow_acceptance` count for (a)/(b); the others are
//!   evaluated on (b) as "informational". Rows whose tuple columns were dropped by the test
//!   (`zeek-cut`) are skipped. Identical rows of one trace coming from several baselines are
//!   counted once.
//! - Our flow table never validates checksums, i.e. it behaves as `zeek -C`; baselines run
//!   without `-C` on traces with bad checksums may differ (add them to the known differences).

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::path::Path;

use serde::Deserialize;
use vigil_ingest::FlowTableConfig;

use super::matching::{Assignment, assign};
use super::report::{Mismatch, ZeekReport, truncate};
use super::{
    ConformanceError, ConformanceOptions, FlowCache, KnownDifferences, OurFlow, Source, io_err,
    malformed,
};
use crate::conformance::flows::endpoint;

/// One expected `conn.log` row.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ZeekRow {
    pub baseline: String,
    pub trace: String,
    pub line: u64,
    pub uid: String,
    pub orig_h: IpAddr,
    pub orig_p: u16,
    pub resp_h: IpAddr,
    pub resp_p: u16,
    pub proto: String,
    pub ip_proto: Option<u8>,
    pub orig_bytes: Option<u64>,
    pub resp_bytes: Option<u64>,
    pub conn_state: String,
    pub history: String,
    pub orig_pkts: u64,
    pub orig_ip_bytes: u64,
    pub resp_pkts: u64,
    pub resp_ip_bytes: u64,
    pub tunnel_parents: String,
}

impl ZeekRow {
    fn tuple_string(&self) -> String {
        format!(
            "{} {} > {}",
            self.proto,
            endpoint(self.orig_h, self.orig_p),
            endpoint(self.resp_h, self.resp_p)
        )
    }

    fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "baseline": self.baseline, "trace": self.trace, "line": self.line, "uid": self.uid,
            "id.orig_h": self.orig_h, "id.orig_p": self.orig_p,
            "id.resp_h": self.resp_h, "id.resp_p": self.resp_p, "proto": self.proto,
            "orig_bytes": self.orig_bytes, "resp_bytes": self.resp_bytes,
            "conn_state": self.conn_state, "history": self.history,
            "orig_pkts": self.orig_pkts, "orig_ip_bytes": self.orig_ip_bytes,
            "resp_pkts": self.resp_pkts, "resp_ip_bytes": self.resp_ip_bytes,
            "tunnel_parents": self.tunnel_parents,
        })
    }

    fn proto_matches(&self, f: &OurFlow) -> bool {
        match self.ip_proto {
            Some(p) => p == f.proto,
            None => {
                let ours = match f.proto {
                    6 => "tcp",
                    17 => "udp",
                    1 | 58 => "icmp",
                    _ => "unknown_transport",
                };
                ours == self.proto
            }
        }
    }

    /// Whether `f` has this tuple (`Some(false)`), the reverse (`Some(true)`), or neither.
    fn orientation(&self, f: &OurFlow) -> Option<bool> {
        if !self.proto_matches(f) {
            return None;
        }
        let same = (f.orig_h, f.orig_p, f.resp_h, f.resp_p)
            == (self.orig_h, self.orig_p, self.resp_h, self.resp_p);
        let rev = (f.orig_h, f.orig_p, f.resp_h, f.resp_p)
            == (self.resp_h, self.resp_p, self.orig_h, self.orig_p);
        if same {
            Some(false)
        } else if rev {
            Some(true)
        } else {
            None
        }
    }

    /// Differences on criterion (a) (without the tuple).
    fn diffs_a(&self, f: &OurFlow) -> Vec<String> {
        let mut d = Vec::new();
        let mut cmp = |name: &str, z: u64, o: u64| {
            if z != o {
                d.push(format!("{name}: zeek {z} != ours {o}"));
            }
        };
        cmp("orig_pkts", self.orig_pkts, f.orig.pkts);
        cmp("resp_pkts", self.resp_pkts, f.resp.pkts);
        cmp("orig_ip_bytes", self.orig_ip_bytes, f.orig.ip_bytes);
        cmp("resp_ip_bytes", self.resp_ip_bytes, f.resp.ip_bytes);
        d
    }

    /// Differences on the extra fields of criterion (b).
    fn diffs_b(&self, f: &OurFlow) -> Vec<String> {
        let mut d = Vec::new();
        if self.conn_state != f.conn_state {
            d.push(format!("conn_state: zeek {} != ours {}", self.conn_state, f.conn_state));
        }
        let ours = if f.history.is_empty() { "-" } else { f.history.as_str() };
        if self.history != ours {
            d.push(format!("history: zeek {} != ours {}", self.history, ours));
        }
        d
    }

    /// Differences on payload bytes (None when the row has none to compare).
    fn diffs_payload(&self, f: &OurFlow) -> Option<Vec<String>> {
        let (ob, rb) = (self.orig_bytes?, self.resp_bytes?);
        let mut d = Vec::new();
        if ob != f.orig.bytes {
            d.push(format!("orig_bytes: zeek {ob} != ours {}", f.orig.bytes));
        }
        if rb != f.resp.bytes {
            d.push(format!("resp_bytes: zeek {rb} != ours {}", f.resp.bytes));
        }
        Some(d)
    }

    fn cost(&self, f: &OurFlow) -> Option<u32> {
        let reversed = self.orientation(f)?;
        Some(
            u32::from(reversed) * 1000
                + 10 * self.diffs_a(f).len() as u32
                + self.diffs_b(f).len() as u32,
        )
    }
}

#[derive(Deserialize)]
struct ManifestEntry {
    baseline: String,
    #[serde(default)]
    suggested_for_flow_acceptance: bool,
    #[serde(default)]
    test_exec: Vec<String>,
    #[serde(default)]
    script_loads_redefs: Vec<String>,
}

/// What `zeek/manifest.json` says about the baselines.
#[derive(Debug, Default)]
pub(crate) struct Manifest {
    /// Baselines marked `suggested_for_flow_acceptance`.
    pub suggested: HashSet<String>,
    /// Baselines run in bare mode (`zeek -b`), with the `base/protocols/*` they load.
    pub bare: HashMap<String, Vec<String>>,
    /// Baselines whose Zeek runs all verify checksums (no `-C`).
    pub verify_checksums: HashSet<String>,
}

/// Parse `zeek/manifest.json`.
pub(crate) fn load_manifest(path: &Path) -> Result<Manifest, ConformanceError> {
    let text = std::fs::read_to_string(path).map_err(io_err(path))?;
    let entries: Vec<ManifestEntry> =
        serde_json::from_str(&text).map_err(|e| malformed(path, e.line() as u64, e.to_string()))?;
    let mut m = Manifest::default();
    for e in entries {
        let zeek_runs: Vec<&String> = e.test_exec.iter().filter(|l| l.contains("zeek ")).collect();
        let bare = zeek_runs.iter().any(|l| l.contains("zeek -b") || l.contains(" -b -"));
        // `-C` alone or bundled with other short flags (`-Cr`, `-bC`).
        let ignores_checksums = |w: &str| {
            w.strip_prefix('-').is_some_and(|f| {
                !f.starts_with('-') && f.chars().all(|c| c.is_ascii_alphabetic()) && f.contains('C')
            })
        };
        if !zeek_runs.is_empty()
            && !zeek_runs.iter().any(|l| l.split_whitespace().any(ignores_checksums))
        {
            m.verify_checksums.insert(e.baseline.clone());
        }
        if bare {
            let loads = e
                .script_loads_redefs
                .iter()
                .filter_map(|l| l.trim().strip_prefix("@load base/protocols/"))
                .map(|p| p.split('/').next().unwrap_or(p).to_string())
                .collect();
            m.bare.insert(e.baseline.clone(), loads);
        }
        if e.suggested_for_flow_acceptance {
            m.suggested.insert(e.baseline);
        }
    }
    Ok(m)
}

/// Registered ports of Zeek's protocol analyzers (TCP, UDP), from their `base/protocols` scripts.
const ANALYZER_PORTS: &[(&str, &[u16], &[u16])] = &[
    ("dce-rpc", &[135], &[]),
    ("dhcp", &[], &[67, 68]),
    ("dns", &[53], &[53, 137, 5353, 5355]),
    ("finger", &[79], &[]),
    ("ftp", &[21, 2811], &[]),
    ("http", &[80, 81, 631, 1080, 3128, 8000, 8080, 8888], &[]),
    ("irc", &[6666, 6667, 6668, 6669], &[]),
    ("krb", &[88], &[88]),
    ("ldap", &[389, 3268], &[389]),
    ("modbus", &[502], &[]),
    ("mqtt", &[1883], &[]),
    ("mysql", &[1434, 3306], &[]),
    ("ntp", &[], &[123]),
    ("pop3", &[110], &[]),
    ("postgresql", &[5432], &[]),
    ("quic", &[], &[443]),
    ("radius", &[], &[1812]),
    ("rdp", &[3389], &[3389]),
    ("redis", &[6379], &[]),
    ("sip", &[], &[5060]),
    ("smb", &[139, 445], &[]),
    ("smtp", &[25, 587], &[]),
    ("snmp", &[], &[161, 162]),
    ("ssh", &[22], &[]),
    ("ssl", &[443, 563, 585, 614, 636, 989, 990, 992, 993, 995, 5223], &[]),
    ("syslog", &[], &[514]),
    ("xmpp", &[5222, 5269], &[]),
];

/// UDP ports of the packet analyzers (tunnels), which bare mode loads too.
const PACKET_ANALYZER_UDP_PORTS: &[u16] = &[2123, 2152, 3544, 4789, 5072, 6081];

/// The flow settings that reproduce a bare-mode Zeek run: `likely_server_ports` then holds
/// only the ports of the analyzers the test loads, which decides who is the originator of a
/// connection first seen mid-stream.
pub(crate) fn bare_mode_config(base: &FlowTableConfig, loads: &[String]) -> FlowTableConfig {
    let mut tcp = Vec::new();
    let mut udp = PACKET_ANALYZER_UDP_PORTS.to_vec();
    for (name, t, u) in ANALYZER_PORTS {
        if loads.iter().any(|l| l == name) {
            tcp.extend_from_slice(t);
            udp.extend_from_slice(u);
        }
    }
    FlowTableConfig { tcp_server_ports: tcp, udp_server_ports: udp, ..base.clone() }
}

/// Parse `zeek_conn_expected.csv`. Rows whose tuple was dropped by the test are returned as
/// `Err((baseline, trace))` (skipped); malformed rows are errors.
#[allow(clippy::type_complexity)]
pub(crate) fn load_rows(
    path: &Path,
) -> Result<Vec<Result<ZeekRow, (String, String)>>, ConformanceError> {
    let names = [
        "baseline",
        "trace",
        "uid",
        "id.orig_h",
        "id.orig_p",
        "id.resp_h",
        "id.resp_p",
        "proto",
        "orig_bytes",
        "resp_bytes",
        "conn_state",
        "history",
        "orig_pkts",
        "orig_ip_bytes",
        "resp_pkts",
        "resp_ip_bytes",
        "tunnel_parents",
    ];
    let table = super::read_csv(path, &names)?;
    let c = table.columns;
    let ip_proto_col = table.headers.iter().position(|h| h == "ip_proto");
    let mut out = Vec::new();
    for (line, rec) in table.rows {
        let get = |i: usize| rec.get(c[i]).unwrap_or("").trim();
        let (baseline, trace) = (get(0).to_string(), get(1).to_string());
        if get(3).is_empty() || get(3) == "-" || get(12).is_empty() || get(12) == "-" {
            out.push(Err((baseline, trace)));
            continue;
        }
        let bad = |what: &str, v: &str| malformed(path, line, format!("bad {what} `{v}`"));
        let num = |i: usize, what: &str| -> Result<u64, ConformanceError> {
            get(i).parse::<u64>().map_err(|_| bad(what, get(i)))
        };
        let opt = |i: usize, what: &str| -> Result<Option<u64>, ConformanceError> {
            match get(i) {
                "" | "-" => Ok(None),
                v => v.parse::<u64>().map(Some).map_err(|_| bad(what, v)),
            }
        };
        let addr = |i: usize, what: &str| get(i).parse::<IpAddr>().map_err(|_| bad(what, get(i)));
        let port = |i: usize, what: &str| get(i).parse::<u16>().map_err(|_| bad(what, get(i)));
        let ip_proto = match ip_proto_col.map(|i| rec.get(i).unwrap_or("").trim()) {
            None | Some("") | Some("-") => None,
            Some(v) => Some(v.parse::<u8>().map_err(|_| bad("ip_proto", v))?),
        };
        out.push(Ok(ZeekRow {
            baseline,
            trace,
            line,
            uid: get(2).to_string(),
            orig_h: addr(3, "id.orig_h")?,
            orig_p: port(4, "id.orig_p")?,
            resp_h: addr(5, "id.resp_h")?,
            resp_p: port(6, "id.resp_p")?,
            proto: get(7).to_string(),
            ip_proto,
            orig_bytes: opt(8, "orig_bytes")?,
            resp_bytes: opt(9, "resp_bytes")?,
            conn_state: get(10).to_string(),
            history: get(11).to_string(),
            orig_pkts: num(12, "orig_pkts")?,
            orig_ip_bytes: num(13, "orig_ip_bytes")?,
            resp_pkts: num(14, "resp_pkts")?,
            resp_ip_bytes: num(15, "resp_ip_bytes")?,
            tunnel_parents: get(16).to_string(),
        }));
    }
    Ok(out)
}

/// Evaluate the Zeek source.
pub(crate) fn evaluate(
    pcap_dir: &Path,
    opts: &ConformanceOptions,
    known: &KnownDifferences,
    cache: &mut FlowCache,
) -> Result<ZeekReport, ConformanceError> {
    let manifest = load_manifest(&pcap_dir.join("zeek/manifest.json"))?;
    let suggested = &manifest.suggested;
    let rows = load_rows(&pcap_dir.join("derived/zeek_conn_expected.csv"))?;
    let mut report = ZeekReport::default();
    // baseline -> rows, in file order.
    let mut groups: Vec<(String, String, Vec<ZeekRow>)> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut seen: HashSet<(String, String)> = HashSet::new();
    for r in rows {
        let (baseline, trace) = match &r {
            Ok(r) => (r.baseline.clone(), r.trace.clone()),
            Err((b, t)) => (b.clone(), t.clone()),
        };
        if !opts.wants_capture(&format!("zeek/{trace}")) {
            continue;
        }
        let gi = *index.entry(baseline.clone()).or_insert_with(|| {
            groups.push((baseline.clone(), trace.clone(), Vec::new()));
            groups.len() - 1
        });
        match r {
            Err(_) => {
                if suggested.contains(&baseline) {
                    report.tuple_pkts_ip_bytes.skip();
                    report.with_state_history.skip();
                } else {
                    report.informational.skip();
                }
            }
            Ok(row) => {
                let mut j = row.to_json();
                if let Some(o) = j.as_object_mut() {
                    o.remove("baseline");
                    o.remove("line");
                }
                if !seen.insert((trace.clone(), j.to_string())) {
                    report.duplicate_rows_dropped += 1;
                    continue;
                }
                groups[gi].2.push(row);
            }
        }
    }
    report.baselines = groups.len();
    let mut all = Vec::new();
    for (baseline, trace, rows) in &groups {
        let acceptance = suggested.contains(baseline);
        let label = format!("zeek/{trace}");
        let path = pcap_dir.join("zeek").join(trace);
        let config = match manifest.bare.get(baseline) {
            Some(loads) => bare_mode_config(&opts.flow_config, loads),
            None => opts.flow_config.clone(),
        };
        let verify = manifest.verify_checksums.contains(baseline);
        let flows = cache.get_with(&path, &label, &config, verify);
        compare_group(&label, acceptance, rows, &flows.flows, known, &mut report, &mut all);
    }
    let (list, omitted) = truncate(all, opts.max_mismatches);
    report.mismatches = list;
    report.mismatches_omitted = omitted;
    Ok(report)
}

/// Compare one baseline's rows with the flows of its trace.
pub(crate) fn compare_group(
    capture: &str,
    acceptance: bool,
    rows: &[ZeekRow],
    flows: &[OurFlow],
    known: &KnownDifferences,
    report: &mut ZeekReport,
    mismatches: &mut Vec<Mismatch>,
) {
    let assignments = assign(rows, flows, |r, f| r.cost(f));
    for (row, a) in rows.iter().zip(assignments) {
        let item = format!("{} {}", row.baseline, row.tuple_string());
        let known_reason = known.lookup(Source::Zeek, capture, &item).map(str::to_string);
        let (ok_a, ok_b, reason, ours) = match a {
            Assignment::Matched { flow, .. } => {
                let f = &flows[flow];
                if row.orientation(f) == Some(true) {
                    let r = "orientation reversed (our originator is Zeek's responder)".to_string();
                    (false, false, r, Some(f.clone()))
                } else {
                    let da = row.diffs_a(f);
                    let db = row.diffs_b(f);
                    if let Some(dp) = row.diffs_payload(f) {
                        if acceptance {
                            report.payload_bytes.record(dp.is_empty(), false);
                        }
                    } else if acceptance {
                        report.payload_bytes.skip();
                    }
                    let all: Vec<String> = da.iter().chain(db.iter()).cloned().collect();
                    (da.is_empty(), da.is_empty() && db.is_empty(), all.join("; "), Some(f.clone()))
                }
            }
            Assignment::Unmatched { closest } => {
                let reason = match closest {
                    Some(_) => "the flows with this 5-tuple are already matched to other rows",
                    None => "no flow with this 5-tuple",
                };
                (false, false, reason.to_string(), closest.map(|i| flows[i].clone()))
            }
        };
        let is_known = known_reason.is_some();
        if acceptance {
            report.tuple_pkts_ip_bytes.record(ok_a, is_known && !ok_a);
            report.with_state_history.record(ok_b, is_known && !ok_b);
        } else {
            report.informational.record(ok_b, is_known && !ok_b);
        }
        if !ok_b {
            mismatches.push(Mismatch {
                source: Source::Zeek,
                capture: capture.to_string(),
                item,
                criterion: if ok_a { "b: conn_state+history" } else { "a: tuple+pkts+ip_bytes" }
                    .to_string(),
                reason,
                expected: row.to_json(),
                ours,
                known: known_reason,
                acceptance,
            });
        }
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn bare_mode_only_knows_the_loaded_analyzers_ports() {
        let base = FlowTableConfig::default();
        let conn_only = bare_mode_config(&base, &["conn".to_string()]);
        assert!(conn_only.tcp_server_ports.is_empty());
        assert!(conn_only.udp_server_ports.contains(&4789), "tunnel packet analyzers stay");
        let ssh = bare_mode_config(&base, &["conn".to_string(), "ssh".to_string()]);
        assert_eq!(ssh.tcp_server_ports, vec![22]);
        assert_eq!(ssh.tcp_idle_us, base.tcp_idle_us);
    }

    use super::*;

    fn row(orig: (&str, u16), resp: (&str, u16), pkts: (u64, u64)) -> ZeekRow {
        ZeekRow {
            baseline: "b".into(),
            trace: "traces/t.pcap".into(),
            line: 2,
            uid: "C1".into(),
            orig_h: orig.0.parse().unwrap(),
            orig_p: orig.1,
            resp_h: resp.0.parse().unwrap(),
            resp_p: resp.1,
            proto: "tcp".into(),
            ip_proto: Some(6),
            orig_bytes: Some(0),
            resp_bytes: Some(0),
            conn_state: "SF".into(),
            history: "ShADadFf".into(),
            orig_pkts: pkts.0,
            orig_ip_bytes: pkts.0 * 40,
            resp_pkts: pkts.1,
            resp_ip_bytes: pkts.1 * 40,
            tunnel_parents: "-".into(),
        }
    }

    fn flow(orig: (&str, u16), resp: (&str, u16), pkts: (u64, u64), history: &str) -> OurFlow {
        let mut f = OurFlow::new(orig, resp, 6).with_pkts(pkts.0, pkts.1);
        f.orig.ip_bytes = pkts.0 * 40;
        f.resp.ip_bytes = pkts.1 * 40;
        f.conn_state = "SF".into();
        f.history = history.into();
        f
    }

    fn run(rows: &[ZeekRow], flows: &[OurFlow]) -> (ZeekReport, Vec<Mismatch>) {
        let mut rep = ZeekReport::default();
        let mut mm = Vec::new();
        compare_group("zeek/t", true, rows, flows, &KnownDifferences::default(), &mut rep, &mut mm);
        (rep, mm)
    }

    const A: (&str, u16) = ("10.0.0.1", 1234);
    const B: (&str, u16) = ("10.0.0.2", 80);

    #[test]
    fn exact_match_passes_both_criteria() {
        let (rep, mm) = run(&[row(A, B, (5, 4))], &[flow(A, B, (5, 4), "ShADadFf")]);
        assert_eq!(rep.tuple_pkts_ip_bytes.matched, 1);
        assert_eq!(rep.with_state_history.matched, 1);
        assert_eq!(rep.payload_bytes.matched, 1);
        assert!(mm.is_empty());
    }

    #[test]
    fn history_difference_fails_only_b() {
        let (rep, mm) = run(&[row(A, B, (5, 4))], &[flow(A, B, (5, 4), "ShADad")]);
        assert_eq!(rep.tuple_pkts_ip_bytes.matched, 1);
        assert_eq!(rep.with_state_history.mismatched, 1);
        assert_eq!(mm[0].reason, "history: zeek ShADadFf != ours ShADad");
    }

    #[test]
    fn packet_difference_and_missing_flow() {
        let (rep, mm) = run(&[row(A, B, (5, 4))], &[flow(A, B, (4, 4), "ShADadFf")]);
        assert_eq!(rep.tuple_pkts_ip_bytes.mismatched, 1);
        assert!(mm[0].reason.contains("orig_pkts: zeek 5 != ours 4"), "{}", mm[0].reason);
        let (rep, mm) = run(&[row(A, B, (5, 4))], &[flow(A, ("10.0.0.3", 80), (5, 4), "")]);
        assert_eq!(rep.tuple_pkts_ip_bytes.mismatched, 1);
        assert_eq!(mm[0].reason, "no flow with this 5-tuple");
        assert!(mm[0].ours.is_none());
    }

    #[test]
    fn reversed_orientation_fails() {
        let (rep, mm) = run(&[row(A, B, (5, 4))], &[flow(B, A, (4, 5), "ShADadFf")]);
        assert_eq!(rep.tuple_pkts_ip_bytes.mismatched, 1);
        assert!(mm[0].reason.contains("orientation reversed"));
    }

    #[test]
    fn same_tuple_rows_are_matched_one_to_one() {
        let rows = [row(A, B, (3, 2)), row(A, B, (5, 4))];
        let flows = [flow(A, B, (5, 4), "ShADadFf"), flow(A, B, (3, 2), "ShADadFf")];
        let (rep, mm) = run(&rows, &flows);
        assert_eq!(rep.with_state_history.matched, 2, "{mm:?}");
        // Three rows, two flows: the third row reports the already-used closest flow.
        let rows = [row(A, B, (3, 2)), row(A, B, (5, 4)), row(A, B, (5, 4))];
        let (rep, mm) = run(&rows, &flows);
        assert_eq!(rep.with_state_history.matched, 2);
        assert!(mm[0].reason.contains("already matched"));
        assert!(mm[0].ours.is_some());
    }

    #[test]
    fn known_difference_is_excluded_from_adjusted_rate() {
        let known = KnownDifferences::parse(
            r#"{"entries":[{"source":"zeek","capture":"zeek/t","reason":"deliberate"}]}"#,
            Path::new("k"),
        )
        .unwrap();
        let mut rep = ZeekReport::default();
        let mut mm = Vec::new();
        let rows = [row(A, B, (5, 4)), row(A, ("10.0.0.9", 1), (1, 1))];
        let flows = [flow(A, B, (5, 4), "ShADadFf")];
        compare_group("zeek/t", true, &rows, &flows, &known, &mut rep, &mut mm);
        assert_eq!(rep.with_state_history.known, 1);
        assert_eq!(rep.with_state_history.raw_rate, Some(0.5));
        assert_eq!(rep.with_state_history.rate, Some(1.0));
        assert_eq!(mm[0].known.as_deref(), Some("deliberate"));
    }

    #[test]
    fn malformed_csv_row_names_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("z.csv");
        std::fs::write(
            &p,
            "baseline,trace,uid,id.orig_h,id.orig_p,id.resp_h,id.resp_p,proto,orig_bytes,\
             resp_bytes,conn_state,history,orig_pkts,orig_ip_bytes,resp_pkts,resp_ip_bytes,\
             tunnel_parents\n\
             b,t,C,1.1.1.1,1,2.2.2.2,2,tcp,0,0,S0,S,1,40,0,0,-\n\
             b,t,C,1.1.1.1,1,2.2.2.2,2,tcp,0,0,S0,S,x,40,0,0,-\n",
        )
        .unwrap();
        let e = load_rows(&p).unwrap_err().to_string();
        assert!(e.contains("z.csv:3") && e.contains("orig_pkts"), "{e}");
        // Same with CRLF line ends (as in the shared data).
        let text = std::fs::read_to_string(&p).unwrap().replace('\n', "\r\n");
        std::fs::write(&p, text).unwrap();
        let e = load_rows(&p).unwrap_err().to_string();
        assert!(e.contains("z.csv:3"), "{e}");
    }
}
