//! suricata-verify flow checks (`derived/suricata_verify_checks.jsonl`).
//!
//! **Which checks.** Lines whose `match.event_type` is `"flow"` (96 in the current data).
//! Checks identical in pcap, filter and `count`/`lt`/`gt` (the firewall tests reuse a few
//! pcaps) are evaluated once, keeping the variant with the newest `min-version`.
//!
//! **Semantics.** Each of our flows yields one Suricata-style flow event. A check passes when
//! the number of events matching every filter field we can evaluate equals `count` (and is
//! `< lt` / `> gt` when given). Evaluable fields:
//! `src_ip`, `dest_ip`, `src_port`, `dest_port` (TCP/UDP/SCTP only: Suricata's ICMP flow events
//! carry no ports), `proto` (Suricata names: TCP, UDP, ICMP, IPv6-ICMP, SCTP, GRE, ...; or the
//! number), `ip_v`, `flow.pkts_toserver`/`toclient`, `flow.bytes_toserver`/`toclient`,
//! `vlan` when a one-element list and `vlan[0]` (our outer VLAN), and, with
//! [`ConformanceOptions::suricata_tcp_flags`], `tcp.tcp_flags`, `tcp.tcp_flags_ts`,
//! `tcp.tcp_flags_tc` (hex) and `tcp.syn|fin|rst|psh|ack|urg|ecn|cwr`.
//! Everything else (`app_proto`, `flow.state`, `flow.reason`, `flow.age`, `flow.alerted`,
//! `flow.action`, `tcp.state`, `community_id`, `icmp_*`, `not-has-key`, multi-tag `vlan`...)
//! is not evaluable. A check with at least one evaluable field besides `event_type`, or with
//! `event_type` alone, is evaluated — "fully" when every field is evaluable, "partially"
//! otherwise; a check with none is "not applicable" (counted, not failed). A check that counts
//! flows by the rule engine's verdict (`flow.alerted`, `flow.action`, `has-key` / `not-has-key`
//! on them) without naming a tuple counts a subset, picked by the test's signatures, of the flows
//! matching its other fields: it passes when we have at least `count` such flows.
//!
//! **Flows.** The checks are evaluated on flows built with `Semantics::Suricata` (Suricata's
//! direction, timeouts, TCP reuse, ICMP-error attachment, tunnel depth in the key; see
//! `vigil_ingest::flow`'s `suricata` module), with the test's `--set stream.midstream=true` and
//! `--set decoder.recursion-level.use-for-tracking=false` honoured.
//!
//! **Direction.** Suricata's `toserver` is the direction of the flow's first packet (reversed
//! for a midstream SYN/ACK pickup): under Suricata semantics, our originator. (Suricata also
//! reverses some UDP flows on app-layer detection, which we do not model.)
//!
//! **Bytes.** Suricata counts `GET_PKT_LEN`: the whole captured frame with its link layer, or,
//! for a decapsulated packet, the tunnel payload from its inner L2 header: our `wire_bytes`
//! under Suricata semantics.

use std::collections::HashMap;
use std::path::Path;

use serde::Deserialize;
use serde_json::{Map, Value};
use vigil_ingest::FlowTableConfig;
use vigil_ingest::flow::Semantics;
use vigil_pipelines::output::TCP_FLAGS;

use super::flows::has_ports;
use super::report::{Mismatch, SuricataReport, truncate};
use super::{
    ConformanceError, ConformanceOptions, FlowCache, KnownDifferences, OurFlow, Source, io_err,
    malformed,
};

/// One check line.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Check {
    pub test: String,
    pub pcap: String,
    #[serde(default)]
    pub check_index: u64,
    #[serde(default)]
    pub test_requires: Option<Value>,
    #[serde(default)]
    pub test_args: Option<Value>,
    #[serde(default)]
    pub count: Option<u64>,
    #[serde(default)]
    pub lt: Option<u64>,
    #[serde(default)]
    pub gt: Option<u64>,
    #[serde(rename = "match")]
    pub filter: Map<String, Value>,
    #[serde(skip)]
    pub line: u64,
}

/// Outcome of evaluating one field on one flow.
enum Field {
    /// The field is not evaluable.
    NotEvaluable,
    /// Evaluable; `None` = matches, `Some(reason)` = differs.
    Eval(Option<String>),
}

/// The Suricata-oriented view of one of our flows.
struct View<'a> {
    flow: &'a OurFlow,
    reversed: bool,
}

impl View<'_> {
    fn new(flow: &OurFlow) -> View<'_> {
        // Under Suricata semantics our originator is Suricata's toserver side.
        View { flow, reversed: false }
    }
    fn src(&self) -> (std::net::IpAddr, u16) {
        let f = self.flow;
        if self.reversed { (f.resp_h, f.resp_p) } else { (f.orig_h, f.orig_p) }
    }
    fn dst(&self) -> (std::net::IpAddr, u16) {
        let f = self.flow;
        if self.reversed { (f.orig_h, f.orig_p) } else { (f.resp_h, f.resp_p) }
    }
    fn toserver(&self) -> &super::DirView {
        if self.reversed { &self.flow.resp } else { &self.flow.orig }
    }
    fn toclient(&self) -> &super::DirView {
        if self.reversed { &self.flow.orig } else { &self.flow.resp }
    }
    fn bytes(&self, d: &super::DirView) -> u64 {
        d.wire_bytes
    }
}

pub(crate) use vigil_pipelines::output::proto_name;

/// The bit of a `tcp.<flag>` check key.
fn tcp_flag(key: &str) -> Option<u8> {
    let name = key.strip_prefix("tcp.")?;
    TCP_FLAGS.iter().find(|(n, _)| *n == name).map(|(_, b)| *b)
}

fn as_str(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn cmp<T: PartialEq + std::fmt::Display>(key: &str, want: Option<T>, ours: T) -> Field {
    match want {
        None => Field::Eval(Some(format!("{key}: unexpected value in filter"))),
        Some(w) if w == ours => Field::Eval(None),
        Some(w) => Field::Eval(Some(format!("{key}: suricata {w} != ours {ours}"))),
    }
}

/// Evaluate one filter field against one flow.
fn field(key: &str, want: &Value, v: &View<'_>, tcp_flags: bool) -> Field {
    let f = v.flow;
    let u64v = want.as_u64();
    match key {
        "src_ip" | "dest_ip" => {
            let ours = if key == "src_ip" { v.src().0 } else { v.dst().0 };
            match as_str(want).parse::<std::net::IpAddr>() {
                Ok(w) => cmp(key, Some(w), ours),
                Err(_) => Field::Eval(Some(format!("{key}: unparsable {want}"))),
            }
        }
        "src_port" | "dest_port" => {
            if !has_ports(f.proto) {
                return Field::Eval(Some(format!("{key}: our flow has no ports")));
            }
            let ours = if key == "src_port" { v.src().1 } else { v.dst().1 };
            cmp(key, u64v, u64::from(ours))
        }
        "proto" => {
            let w = as_str(want);
            let ours = proto_name(f.proto);
            let ok = w.eq_ignore_ascii_case(&ours) || w == f.proto.to_string();
            Field::Eval((!ok).then(|| format!("proto: suricata {w} != ours {ours}")))
        }
        "ip_v" => cmp(key, u64v, if f.orig_h.is_ipv4() { 4 } else { 6 }),
        "flow.pkts_toserver" => cmp(key, u64v, v.toserver().pkts),
        "flow.pkts_toclient" => cmp(key, u64v, v.toclient().pkts),
        "flow.bytes_toserver" => cmp(key, u64v, v.bytes(v.toserver())),
        "flow.bytes_toclient" => cmp(key, u64v, v.bytes(v.toclient())),
        "vlan[0]" => match f.vlan {
            Some(ours) => cmp(key, u64v, u64::from(ours)),
            None => Field::Eval(Some(format!("{key}: our flow has no VLAN"))),
        },
        "vlan" => match want.as_array().map(Vec::as_slice) {
            Some([one]) => match f.vlan {
                Some(ours) => cmp(key, one.as_u64(), u64::from(ours)),
                None => Field::Eval(Some(format!("{key}: our flow has no VLAN"))),
            },
            _ => Field::NotEvaluable,
        },
        "tcp.tcp_flags" | "tcp.tcp_flags_ts" | "tcp.tcp_flags_tc" if tcp_flags => {
            let ours = match key {
                "tcp.tcp_flags" => f.orig.tcp_flags | f.resp.tcp_flags,
                "tcp.tcp_flags_ts" => v.toserver().tcp_flags,
                _ => v.toclient().tcp_flags,
            };
            let w = u8::from_str_radix(&as_str(want), 16).ok();
            let ours_hex = format!("{ours:02x}");
            cmp(key, w.map(|w| format!("{w:02x}")), ours_hex)
        }
        k if tcp_flags && tcp_flag(k).is_some() => {
            let bit = tcp_flag(k).unwrap_or(0);
            let ours = (f.orig.tcp_flags | f.resp.tcp_flags) & bit != 0;
            cmp(key, want.as_bool(), ours)
        }
        _ => Field::NotEvaluable,
    }
}

/// Whether a field is evaluable at all (independent of the flow).
fn evaluable(key: &str, want: &Value, tcp_flags: bool) -> bool {
    let probe = OurFlow::new(("0.0.0.0", 0), ("0.0.0.0", 0), 6);
    !matches!(field(key, want, &View::new(&probe), tcp_flags), Field::NotEvaluable)
}

/// Parse the checks file, keeping only `event_type: flow` checks.
pub(crate) fn load_checks(path: &Path) -> Result<Vec<Check>, ConformanceError> {
    let text = std::fs::read_to_string(path).map_err(io_err(path))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line_no = i as u64 + 1;
        if line.trim().is_empty() {
            continue;
        }
        let mut c: Check = serde_json::from_str(line)
            .map_err(|e| malformed(path, line_no, format!("column {}: {e}", e.column())))?;
        c.line = line_no;
        if c.filter.get("event_type").and_then(Value::as_str) == Some("flow") {
            out.push(c);
        }
    }
    Ok(out)
}

/// `min-version` of a check as a comparable list (`8.0.7` → [8, 0, 7]; none → []).
fn min_version(c: &Check) -> Vec<u64> {
    let Some(v) = c.test_requires.as_ref().and_then(|r| r.get("min-version")) else {
        return Vec::new();
    };
    as_str(v).split('.').map(|p| p.trim().parse::<u64>().unwrap_or(0)).collect()
}

/// Drop checks identical (pcap, filter, count/lt/gt) to another, keeping the newest variant.
pub(crate) fn dedup(checks: Vec<Check>) -> (Vec<Check>, usize) {
    let key = |c: &Check| {
        let mut fields: Vec<(&String, String)> =
            c.filter.iter().map(|(k, v)| (k, v.to_string())).collect();
        fields.sort();
        format!("{}|{:?}|{:?}|{:?}|{:?}", c.pcap, fields, c.count, c.lt, c.gt)
    };
    let mut best: HashMap<String, usize> = HashMap::new();
    let mut order = Vec::new();
    for (i, c) in checks.iter().enumerate() {
        let k = key(c);
        match best.get(&k) {
            Some(&j) if min_version(&checks[j]) >= min_version(c) => {}
            Some(_) => {
                best.insert(k, i);
            }
            None => {
                best.insert(k.clone(), i);
                order.push(k);
            }
        }
    }
    let dropped = checks.len() - order.len();
    let mut keep: Vec<usize> = order.iter().map(|k| best[k]).collect();
    keep.sort_unstable();
    let mut checks: Vec<Option<Check>> = checks.into_iter().map(Some).collect();
    (keep.into_iter().filter_map(|i| checks[i].take()).collect(), dropped)
}

/// How a check was evaluated.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Outcome {
    /// No evaluable field.
    NotApplicable,
    /// Evaluated; `full` = every field evaluable.
    Evaluated {
        full: bool,
        pass: bool,
        reason: String,
        closest: Option<usize>,
        /// Filter fields that were not evaluated.
        ignored: Vec<String>,
    },
}

/// Whether the check counts flows by what the test's signatures decided (alerted,
/// dropped, passed) without naming a flow by its tuple. The rule engine, which a
/// flow table does not run, picks a subset of the flows that match the rest of the
/// filter, so our matching flows only bound the count from above. A check that also
/// names the tuple is evaluated exactly on its counters.
fn counts_rule_verdicts(c: &Check) -> bool {
    const TUPLE: [&str; 4] = ["src_ip", "dest_ip", "src_port", "dest_port"];
    let names_tuple = TUPLE.iter().any(|k| c.filter.contains_key(*k));
    let verdict = c.filter.contains_key("flow.alerted")
        || c.filter.contains_key("flow.action")
        || ["has-key", "not-has-key"].iter().any(|k| {
            c.filter
                .get(*k)
                .map(as_str)
                .is_some_and(|v| v.starts_with("flow.action") || v.starts_with("alert"))
        });
    verdict && !names_tuple
}

/// Evaluate one check against the flows of its pcap.
pub(crate) fn evaluate_check(c: &Check, flows: &[OurFlow], tcp_flags: bool) -> Outcome {
    let fields: Vec<(&String, &Value)> =
        c.filter.iter().filter(|(k, _)| k.as_str() != "event_type").collect();
    let eval: Vec<(&String, &Value)> =
        fields.iter().copied().filter(|(k, v)| evaluable(k, v, tcp_flags)).collect();
    if eval.is_empty() && !fields.is_empty() {
        return Outcome::NotApplicable;
    }
    let verdict_subset = counts_rule_verdicts(c);
    let full = eval.len() == fields.len();
    let ignored: Vec<String> = fields
        .iter()
        .filter(|(k, v)| !evaluable(k, v, tcp_flags))
        .map(|(k, _)| (*k).clone())
        .collect();
    let mut n = 0u64;
    let mut closest: Option<(usize, usize, Vec<String>)> = None; // (failures, flow, reasons)
    for (i, f) in flows.iter().enumerate() {
        let view = View::new(f);
        let reasons: Vec<String> = eval
            .iter()
            .filter_map(|(k, v)| match field(k, v, &view, tcp_flags) {
                Field::Eval(r) => r,
                Field::NotEvaluable => None,
            })
            .collect();
        if reasons.is_empty() {
            n += 1;
        }
        if closest.as_ref().is_none_or(|(fails, _, _)| reasons.len() < *fails) {
            closest = Some((reasons.len(), i, reasons));
        }
    }
    let pass = if verdict_subset {
        // The rule engine picks a subset of the flows matching the rest of the filter:
        // we can only check that enough candidates exist.
        c.count.is_none_or(|want| n >= want) && c.gt.is_none_or(|gt| n > gt)
    } else {
        c.count.is_none_or(|want| n == want)
            && c.lt.is_none_or(|lt| n < lt)
            && c.gt.is_none_or(|gt| n > gt)
    };
    let mut want = Vec::new();
    if let Some(v) = c.count {
        want.push(format!("count {v}"));
    }
    if let Some(v) = c.lt {
        want.push(format!("< {v}"));
    }
    if let Some(v) = c.gt {
        want.push(format!("> {v}"));
    }
    let mut reason = format!("expected {} matching flow events, got {n}", want.join(", "));
    if verdict_subset {
        reason.push_str(" (a rule-verdict count: our matches must be at least that many)");
    }
    if let Some((fails, _, r)) = &closest
        && *fails > 0
    {
        reason.push_str(&format!("; closest flow: {}", r.join("; ")));
    }
    if flows.is_empty() {
        reason.push_str(" (we produced no flows for this capture)");
    }
    Outcome::Evaluated { full, pass, reason, closest: closest.map(|(_, i, _)| i), ignored }
}

/// The flow-table configuration a check is evaluated with: Suricata semantics, plus the
/// settings the test overrides with `--set` that change flows.
pub(crate) fn flow_config(base: &FlowTableConfig, c: &Check) -> FlowTableConfig {
    let mut config = base.clone();
    config.semantics = Semantics::Suricata;
    let args: Vec<&str> = match &c.test_args {
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    for a in args {
        let a: String = a.split_whitespace().collect();
        match a.as_str() {
            "--setstream.midstream=true" => config.suricata.midstream = true,
            "--setdecoder.recursion-level.use-for-tracking=false" => {
                config.suricata.recursion_level_tracking = false
            }
            _ => {}
        }
    }
    config
}

/// Evaluate the Suricata source.
pub(crate) fn evaluate(
    pcap_dir: &Path,
    opts: &ConformanceOptions,
    known: &KnownDifferences,
    cache: &mut FlowCache,
) -> Result<SuricataReport, ConformanceError> {
    let checks = load_checks(&pcap_dir.join("derived/suricata_verify_checks.jsonl"))?;
    let checks: Vec<Check> = checks.into_iter().filter(|c| opts.wants_capture(&c.pcap)).collect();
    let mut report = SuricataReport { flow_checks: checks.len(), ..Default::default() };
    let (checks, dropped) = dedup(checks);
    report.duplicates_dropped = dropped;
    let mut all = Vec::new();
    for c in &checks {
        let config = flow_config(&opts.flow_config, c);
        let flows = cache.get_with(&pcap_dir.join(&c.pcap), &c.pcap, &config, false);
        let item = format!("{}#{}", c.test, c.check_index);
        match evaluate_check(c, &flows.flows, opts.suricata_tcp_flags) {
            Outcome::NotApplicable => {
                report.not_applicable += 1;
                report.checks.skip();
            }
            Outcome::Evaluated { full, pass, reason, closest, ignored } => {
                let known_reason = known.lookup(Source::Suricata, &c.pcap, &item);
                let is_known = !pass && known_reason.is_some();
                report.checks.record(pass, is_known);
                if full {
                    report.fully_evaluable.record(pass, is_known);
                } else {
                    report.partially_evaluable.record(pass, is_known);
                }
                if !pass {
                    all.push(Mismatch {
                        source: Source::Suricata,
                        capture: c.pcap.clone(),
                        item,
                        criterion: if full { "flow check (full)" } else { "flow check (partial)" }
                            .to_string(),
                        reason,
                        expected: serde_json::json!({
                            "line": c.line, "count": c.count, "lt": c.lt, "gt": c.gt,
                            "match": c.filter, "not_evaluated": ignored,
                        }),
                        ours: closest.map(|i| flows.flows[i].clone()),
                        known: known_reason.map(str::to_string),
                        acceptance: true,
                    });
                }
            }
        }
    }
    let (list, omitted) = truncate(all, opts.max_mismatches);
    report.mismatches = list;
    report.mismatches_omitted = omitted;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(count: u64, filter: Value) -> Check {
        Check {
            test: "tests/t".into(),
            pcap: "suricata-verify/tests/t/input.pcap".into(),
            check_index: 0,
            test_requires: None,
            test_args: None,
            count: Some(count),
            lt: None,
            gt: None,
            filter: filter.as_object().unwrap().clone(),
            line: 1,
        }
    }

    fn flow(pkts: (u64, u64)) -> OurFlow {
        let mut f = OurFlow::new(("10.0.0.1", 1000), ("10.0.0.2", 80), 6).with_pkts(pkts.0, pkts.1);
        f.orig.wire_bytes = pkts.0 * 60;
        f.resp.wire_bytes = pkts.1 * 60;
        f.orig.ip_bytes = pkts.0 * 46;
        f.resp.ip_bytes = pkts.1 * 46;
        f
    }

    fn pass(o: &Outcome) -> bool {
        matches!(o, Outcome::Evaluated { pass: true, .. })
    }

    #[test]
    fn count_semantics() {
        let c = check(
            1,
            serde_json::json!({"event_type": "flow", "proto": "TCP",
                "flow.pkts_toserver": 3, "flow.pkts_toclient": 2,
                "flow.bytes_toserver": 180, "flow.bytes_toclient": 120,
                "src_ip": "10.0.0.1", "dest_port": 80}),
        );
        let o = evaluate_check(&c, &[flow((3, 2))], false);
        assert!(matches!(o, Outcome::Evaluated { full: true, pass: true, .. }), "{o:?}");
        // Two matching flows when one is expected: fails.
        assert!(!pass(&evaluate_check(&c, &[flow((3, 2)), flow((3, 2))], false)));
        // Zero matching: fails, closest flow named.
        let o = evaluate_check(&c, &[flow((4, 2))], false);
        let Outcome::Evaluated { pass: false, reason, closest: Some(0), .. } = o else {
            panic!("{o:?}")
        };
        assert!(reason.contains("flow.pkts_toserver: suricata 3 != ours 4"), "{reason}");
        // count 0 passes when nothing matches.
        assert!(pass(&evaluate_check(&check(0, c.filter.clone().into()), &[flow((4, 2))], false)));
        // lt / gt.
        let mut c2 = check(0, serde_json::json!({"event_type": "flow"}));
        c2.count = None;
        c2.gt = Some(1);
        assert!(pass(&evaluate_check(&c2, &[flow((1, 1)), flow((2, 2))], false)));
        assert!(!pass(&evaluate_check(&c2, &[flow((1, 1))], false)));
    }

    #[test]
    fn rule_verdict_counts_are_lower_bounds_unless_a_tuple_is_named() {
        let by_verdict = check(
            3,
            serde_json::json!({"event_type": "flow", "flow.alerted": true, "flow.pkts_toserver": 1}),
        );
        // Five candidate flows can hold the three the signatures alerted on; two cannot.
        let five = [flow((1, 1)), flow((1, 1)), flow((1, 2)), flow((1, 1)), flow((1, 1))];
        assert!(pass(&evaluate_check(&by_verdict, &five, false)));
        assert!(!pass(&evaluate_check(&by_verdict, &five[..2], false)));
        // A verdict alone leaves nothing to evaluate.
        let dropped = check(1, serde_json::json!({"event_type": "flow", "flow.action": "drop"}));
        assert_eq!(evaluate_check(&dropped, &five, false), Outcome::NotApplicable);
        // Naming the tuple makes the count exact again.
        let named = check(
            1,
            serde_json::json!({"event_type": "flow", "flow.alerted": true, "src_ip": "10.0.0.1"}),
        );
        assert!(!pass(&evaluate_check(&named, &five, false)));
    }

    #[test]
    fn full_partial_and_not_applicable() {
        let partial = check(
            1,
            serde_json::json!({"event_type": "flow", "app_proto": "http", "proto": "TCP"}),
        );
        let o = evaluate_check(&partial, &[flow((1, 1))], false);
        assert!(matches!(o, Outcome::Evaluated { full: false, pass: true, .. }), "{o:?}");
        let na = check(1, serde_json::json!({"event_type": "flow", "flow.action": "drop"}));
        assert_eq!(evaluate_check(&na, &[flow((1, 1))], false), Outcome::NotApplicable);
        let only_type = check(1, serde_json::json!({"event_type": "flow"}));
        assert!(matches!(
            evaluate_check(&only_type, &[flow((1, 1))], false),
            Outcome::Evaluated { full: true, pass: true, .. }
        ));
        let tcp = check(1, serde_json::json!({"event_type": "flow", "tcp.syn": true}));
        assert_eq!(evaluate_check(&tcp, &[flow((1, 1))], false), Outcome::NotApplicable);
        let mut f = flow((1, 1));
        f.orig.tcp_flags = 0x02;
        assert!(pass(&evaluate_check(&tcp, &[f], true)));
    }

    #[test]
    fn toserver_is_our_originator_and_bytes_are_wire_bytes() {
        // Under Suricata semantics the originator is the first packet's sender: a Zeek `^`
        // in the history no longer reverses the view, and tunnelled flows count wire_bytes.
        let c = check(
            1,
            serde_json::json!({"event_type": "flow", "src_ip": "10.0.0.1",
                "flow.pkts_toserver": 3, "flow.pkts_toclient": 2}),
        );
        let mut f = flow((3, 2));
        f.history = "^hADad".into();
        assert!(pass(&evaluate_check(&c, std::slice::from_ref(&f), false)));
        let c = check(1, serde_json::json!({"event_type": "flow", "flow.bytes_toserver": 60}));
        let mut f = flow((1, 0));
        f.tunnel_parents = vec!["Cparent".into()];
        assert!(pass(&evaluate_check(&c, &[f], false)));
    }

    #[test]
    fn flow_config_is_suricata_with_the_tests_overrides() {
        let mut c = check(1, serde_json::json!({"event_type": "flow"}));
        let base = FlowTableConfig::default();
        let cfg = flow_config(&base, &c);
        assert_eq!(cfg.semantics, Semantics::Suricata);
        assert!(!cfg.suricata.midstream && cfg.suricata.recursion_level_tracking);
        c.test_args = Some(serde_json::json!([
            "--set stream.midstream=true",
            "--set decoder.recursion-level.use-for-tracking=false",
            "-k none"
        ]));
        let cfg = flow_config(&base, &c);
        assert!(cfg.suricata.midstream && !cfg.suricata.recursion_level_tracking);
    }

    #[test]
    fn ipv6_expanded_addresses_and_icmp_ports() {
        let mut f = OurFlow::new(("fe80::20c:29ff:fef3:cf38", 1), ("fe80::1", 80), 6);
        f.orig.pkts = 1;
        let c = check(
            1,
            serde_json::json!({"event_type": "flow",
                "src_ip": "fe80:0000:0000:0000:020c:29ff:fef3:cf38", "ip_v": 6}),
        );
        assert!(pass(&evaluate_check(&c, &[f], false)));
        let icmp = OurFlow::new(("10.0.0.1", 8), ("10.0.0.2", 0), 1);
        let c = check(0, serde_json::json!({"event_type": "flow", "src_port": 8}));
        assert!(pass(&evaluate_check(&c, &[icmp], false)));
    }

    #[test]
    fn duplicates_keep_newest_version() {
        let mut a = check(1, serde_json::json!({"event_type": "flow", "proto": "TCP"}));
        a.test = "old".into();
        a.test_requires = Some(serde_json::json!({"min-version": 8}));
        let mut b = a.clone();
        b.test = "new".into();
        b.test_requires = Some(serde_json::json!({"min-version": "8.0.7"}));
        let mut c = a.clone();
        c.count = Some(2);
        let (kept, dropped) = dedup(vec![a, b, c]);
        assert_eq!(dropped, 1);
        assert_eq!(kept.len(), 2);
        assert_eq!(kept[0].test, "new");
    }

    #[test]
    fn malformed_line_names_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.jsonl");
        std::fs::write(&p, "{\"test\":\"t\",\"pcap\":\"p\",\"match\":{}}\n{oops\n").unwrap();
        let e = load_checks(&p).unwrap_err().to_string();
        assert!(e.contains("c.jsonl:2"), "{e}");
    }
}
