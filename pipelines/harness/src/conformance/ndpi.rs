//! nDPI `ndpiReader` flows (`derived/ndpi_flows_expected.csv`, pcaps under `ndpi/pcap/`).
//!
//! - Each expected flow is matched one-to-one with our flows of the pcap on the 5-tuple in
//!   either orientation (addresses + L4 protocol; ports too for TCP/UDP/SCTP — nDPI prints
//!   `:0` for ICMP and other protocols). A matching VLAN is preferred among candidates.
//! - `c2s` is the listed `src → dst` direction; it is compared with our direction whose
//!   sender is `src`.
//! - Acceptance: per-direction packet counts. Bytes: nDPI counts frames on the wire (link
//!   layer included) → our `wire_bytes`, reported separately.
//! - nDPI decapsulates GTP, CAPWAP and TZSP and counts only the inner flow; its idle rules
//!   also differ from Zeek's. Such differences show up as mismatches to classify as known.

use std::net::IpAddr;
use std::path::Path;

use super::flows::has_ports;
use super::matching::{Assignment, assign};
use super::report::{Mismatch, NdpiReport, truncate};
use super::{
    ConformanceError, ConformanceOptions, FlowCache, KnownDifferences, OurFlow, Source, malformed,
};
use crate::conformance::flows::endpoint;

/// One expected nDPI flow.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct NdpiFlow {
    pub pcap: String,
    pub line: u64,
    pub flow_no: u64,
    pub l4: String,
    pub proto: u8,
    pub src: (IpAddr, u16),
    pub dst: (IpAddr, u16),
    pub vlan: Option<u16>,
    pub c2s_pkts: u64,
    pub c2s_bytes: u64,
    pub s2c_pkts: u64,
    pub s2c_bytes: u64,
}

/// nDPI's L4 label → IP protocol number.
pub(crate) fn l4_proto(l4: &str) -> Option<u8> {
    Some(match l4.to_ascii_uppercase().as_str() {
        "ICMP" => 1,
        "IGMP" => 2,
        "TCP" => 6,
        "UDP" => 17,
        "GRE" => 47,
        "ESP" => 50,
        "AH" => 51,
        "ICMPV6" => 58,
        "OSPF" => 89,
        "PIM" => 103,
        "VRRP" => 112,
        "SCTP" => 132,
        other => return other.parse().ok(),
    })
}

/// Parse `1.2.3.4:80` or `[fe80::1]:80`.
fn parse_endpoint(s: &str) -> Option<(IpAddr, u16)> {
    let (h, p) = s.rsplit_once(':')?;
    let h = h.trim_start_matches('[').trim_end_matches(']');
    Some((h.parse().ok()?, p.parse().ok()?))
}

impl NdpiFlow {
    fn item(&self) -> String {
        format!("#{} {} {} <-> {}", self.flow_no, self.l4, endpoint(self.src.0, self.src.1), {
            endpoint(self.dst.0, self.dst.1)
        })
    }

    fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "pcap": self.pcap, "line": self.line, "flow_no": self.flow_no, "l4": self.l4,
            "src": endpoint(self.src.0, self.src.1), "dst": endpoint(self.dst.0, self.dst.1),
            "vlan": self.vlan, "c2s_pkts": self.c2s_pkts, "c2s_bytes": self.c2s_bytes,
            "s2c_pkts": self.s2c_pkts, "s2c_bytes": self.s2c_bytes,
        })
    }

    /// `Some(c2s_is_orig)` when `f` has this tuple in either orientation.
    fn orientation(&self, f: &OurFlow) -> Option<bool> {
        if f.proto != self.proto {
            return None;
        }
        let ports = has_ports(self.proto);
        let eq = |a: (IpAddr, u16), h: IpAddr, p: u16| a.0 == h && (!ports || a.1 == p);
        if eq(self.src, f.orig_h, f.orig_p) && eq(self.dst, f.resp_h, f.resp_p) {
            Some(true)
        } else if eq(self.src, f.resp_h, f.resp_p) && eq(self.dst, f.orig_h, f.orig_p) {
            Some(false)
        } else {
            None
        }
    }

    /// Packet and byte differences against `f` (oriented as `c2s_is_orig`).
    fn diffs(&self, f: &OurFlow, c2s_is_orig: bool) -> (Vec<String>, Vec<String>) {
        let (c2s, s2c) = if c2s_is_orig { (&f.orig, &f.resp) } else { (&f.resp, &f.orig) };
        let mut p = Vec::new();
        let mut b = Vec::new();
        if self.c2s_pkts != c2s.pkts {
            p.push(format!("c2s_pkts: ndpi {} != ours {}", self.c2s_pkts, c2s.pkts));
        }
        if self.s2c_pkts != s2c.pkts {
            p.push(format!("s2c_pkts: ndpi {} != ours {}", self.s2c_pkts, s2c.pkts));
        }
        if self.c2s_bytes != c2s.wire_bytes {
            b.push(format!("c2s_bytes: ndpi {} != ours {}", self.c2s_bytes, c2s.wire_bytes));
        }
        if self.s2c_bytes != s2c.wire_bytes {
            b.push(format!("s2c_bytes: ndpi {} != ours {}", self.s2c_bytes, s2c.wire_bytes));
        }
        (p, b)
    }

    fn cost(&self, f: &OurFlow) -> Option<u32> {
        let o = self.orientation(f)?;
        let (p, b) = self.diffs(f, o);
        Some(10 * p.len() as u32 + b.len() as u32 + 100 * u32::from(self.vlan != f.vlan))
    }
}

/// A row that cannot be compared (e.g. nDPI printed an invalid IPv6 address for a fuzzed pcap).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SkippedRow {
    pub pcap: String,
    pub line: u64,
    pub reason: String,
}

/// Parse `ndpi_flows_expected.csv`. Structurally bad rows (bad numbers, unknown protocol) are
/// errors; rows whose endpoints are not valid addresses are returned as skipped.
pub(crate) fn load_flows(
    path: &Path,
) -> Result<(Vec<NdpiFlow>, Vec<SkippedRow>), ConformanceError> {
    let names = [
        "pcap",
        "flow_no",
        "l4",
        "src",
        "dst",
        "vlan",
        "c2s_pkts",
        "c2s_bytes",
        "s2c_pkts",
        "s2c_bytes",
    ];
    let table = super::read_csv(path, &names)?;
    let c = table.columns;
    let mut out = Vec::new();
    let mut skipped = Vec::new();
    for (line, rec) in table.rows {
        let get = |i: usize| rec.get(c[i]).unwrap_or("").trim();
        let num = |i: usize| -> Result<u64, ConformanceError> {
            get(i)
                .parse::<u64>()
                .map_err(|_| malformed(path, line, format!("bad {} `{}`", names[i], get(i))))
        };
        let l4 = get(2).to_string();
        let proto = l4_proto(&l4)
            .ok_or_else(|| malformed(path, line, format!("unknown l4 protocol `{l4}`")))?;
        let vlan = match get(5) {
            "" | "-" => None,
            v => Some(
                v.parse::<u16>().map_err(|_| malformed(path, line, format!("bad vlan `{v}`")))?,
            ),
        };
        let (Some(src), Some(dst)) = (parse_endpoint(get(3)), parse_endpoint(get(4))) else {
            skipped.push(SkippedRow {
                pcap: get(0).to_string(),
                line,
                reason: format!("unparsable endpoint in `{} -> {}`", get(3), get(4)),
            });
            continue;
        };
        out.push(NdpiFlow {
            pcap: get(0).to_string(),
            line,
            flow_no: num(1)?,
            l4,
            proto,
            src,
            dst,
            vlan,
            c2s_pkts: num(6)?,
            c2s_bytes: num(7)?,
            s2c_pkts: num(8)?,
            s2c_bytes: num(9)?,
        });
    }
    Ok((out, skipped))
}

/// Compare the expected flows of one pcap with ours.
pub(crate) fn compare_pcap(
    capture: &str,
    expected: &[NdpiFlow],
    flows: &[OurFlow],
    known: &KnownDifferences,
    report: &mut NdpiReport,
    mismatches: &mut Vec<Mismatch>,
) {
    let assignments = assign(expected, flows, |e, f| e.cost(f));
    for (e, a) in expected.iter().zip(assignments) {
        let item = e.item();
        let known_reason = known.lookup(Source::Ndpi, capture, &item).map(str::to_string);
        let (pkts, bytes, ours) = match a {
            Assignment::Matched { flow, .. } => {
                let f = &flows[flow];
                let o = e.orientation(f).unwrap_or(true);
                let (p, b) = e.diffs(f, o);
                (p, b, Some(f.clone()))
            }
            Assignment::Unmatched { closest } => {
                let r = match closest {
                    Some(_) => "the flows with this 5-tuple are already matched to other rows",
                    None => "no flow with this 5-tuple",
                };
                (vec![r.to_string()], vec![r.to_string()], closest.map(|i| flows[i].clone()))
            }
        };
        let k = known_reason.is_some();
        report.packets.record(pkts.is_empty(), k && !pkts.is_empty());
        report.bytes.record(bytes.is_empty(), k && !bytes.is_empty());
        let (criterion, reason) = match (pkts.is_empty(), bytes.is_empty()) {
            (true, true) => continue,
            (false, _) if ours.is_none() || pkts == bytes => ("packets+bytes", pkts.join("; ")),
            (false, true) => ("packets", pkts.join("; ")),
            (false, false) => {
                ("packets+bytes", format!("{}; {}", pkts.join("; "), bytes.join("; ")))
            }
            (true, false) => ("bytes", bytes.join("; ")),
        };
        mismatches.push(Mismatch {
            source: Source::Ndpi,
            capture: capture.to_string(),
            item,
            criterion: criterion.to_string(),
            reason,
            expected: e.to_json(),
            ours,
            known: known_reason,
            acceptance: true,
        });
    }
}

/// Evaluate the nDPI source.
pub(crate) fn evaluate(
    pcap_dir: &Path,
    opts: &ConformanceOptions,
    known: &KnownDifferences,
    cache: &mut FlowCache,
) -> Result<NdpiReport, ConformanceError> {
    let (all, skipped) = load_flows(&pcap_dir.join("derived/ndpi_flows_expected.csv"))?;
    let mut report = NdpiReport::default();
    for s in skipped {
        if opts.wants_capture(&format!("ndpi/pcap/{}", s.pcap)) {
            report.packets.skip();
            report.bytes.skip();
            report
                .skipped_rows
                .push(format!("ndpi/pcap/{} (line {}): {}", s.pcap, s.line, s.reason));
        }
    }
    let mut by_pcap: Vec<(String, Vec<NdpiFlow>)> = Vec::new();
    for f in all {
        let label = format!("ndpi/pcap/{}", f.pcap);
        if !opts.wants_capture(&label) {
            continue;
        }
        match by_pcap.last_mut() {
            Some((l, v)) if *l == label => v.push(f),
            _ => by_pcap.push((label, vec![f])),
        }
    }
    let mut mm = Vec::new();
    for (label, expected) in &by_pcap {
        let flows = cache.get(&pcap_dir.join(label), label);
        compare_pcap(label, expected, &flows.flows, known, &mut report, &mut mm);
    }
    let (list, omitted) = truncate(mm, opts.max_mismatches);
    report.mismatches = list;
    report.mismatches_omitted = omitted;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exp(src: &str, dst: &str, c2s: (u64, u64), s2c: (u64, u64)) -> NdpiFlow {
        NdpiFlow {
            pcap: "p.pcap".into(),
            line: 2,
            flow_no: 1,
            l4: "TCP".into(),
            proto: 6,
            src: parse_endpoint(src).unwrap(),
            dst: parse_endpoint(dst).unwrap(),
            vlan: None,
            c2s_pkts: c2s.0,
            c2s_bytes: c2s.1,
            s2c_pkts: s2c.0,
            s2c_bytes: s2c.1,
        }
    }

    fn ours(orig: (&str, u16), resp: (&str, u16), o: (u64, u64), r: (u64, u64)) -> OurFlow {
        let mut f = OurFlow::new(orig, resp, 6).with_pkts(o.0, r.0);
        f.orig.wire_bytes = o.1;
        f.resp.wire_bytes = r.1;
        f
    }

    fn run(e: &[NdpiFlow], f: &[OurFlow]) -> (NdpiReport, Vec<Mismatch>) {
        let mut rep = NdpiReport::default();
        let mut mm = Vec::new();
        compare_pcap("ndpi/pcap/p.pcap", e, f, &KnownDifferences::default(), &mut rep, &mut mm);
        (rep, mm)
    }

    #[test]
    fn exact_and_swapped_orientation() {
        let e = [exp("10.0.0.1:1000", "10.0.0.2:443", (5, 500), (4, 4000))];
        let (rep, mm) =
            run(&e, &[ours(("10.0.0.1", 1000), ("10.0.0.2", 443), (5, 500), (4, 4000))]);
        assert_eq!((rep.packets.matched, rep.bytes.matched), (1, 1), "{mm:?}");
        // Our originator is nDPI's dst: directions are swapped before comparing.
        let (rep, mm) =
            run(&e, &[ours(("10.0.0.2", 443), ("10.0.0.1", 1000), (4, 4000), (5, 500))]);
        assert_eq!((rep.packets.matched, rep.bytes.matched), (1, 1), "{mm:?}");
    }

    #[test]
    fn packets_and_bytes_are_separate() {
        let e = [exp("10.0.0.1:1000", "10.0.0.2:443", (5, 500), (4, 4000))];
        let (rep, mm) =
            run(&e, &[ours(("10.0.0.1", 1000), ("10.0.0.2", 443), (5, 510), (4, 4000))]);
        assert_eq!((rep.packets.matched, rep.bytes.mismatched), (1, 1));
        assert_eq!(mm[0].criterion, "bytes");
        assert_eq!(mm[0].reason, "c2s_bytes: ndpi 500 != ours 510");
        let (rep, _) = run(&e, &[]);
        assert_eq!((rep.packets.mismatched, rep.bytes.mismatched), (1, 1));
    }

    #[test]
    fn one_to_one_with_repeated_tuples() {
        let e = [
            exp("10.0.0.1:1000", "10.0.0.2:443", (1, 60), (0, 0)),
            exp("10.0.0.1:1000", "10.0.0.2:443", (3, 180), (2, 120)),
        ];
        let f = [
            ours(("10.0.0.1", 1000), ("10.0.0.2", 443), (3, 180), (2, 120)),
            ours(("10.0.0.1", 1000), ("10.0.0.2", 443), (1, 60), (0, 0)),
        ];
        let (rep, mm) = run(&e, &f);
        assert_eq!(rep.packets.matched, 2, "{mm:?}");
    }

    #[test]
    fn icmp_ignores_ports_and_parses_ipv6() {
        let mut e = exp("[fe80::1]:0", "[ff02::16]:0", (2, 180), (0, 0));
        e.l4 = "ICMPV6".into();
        e.proto = l4_proto("ICMPV6").unwrap();
        let mut f = ours(("fe80::1", 143), ("ff02::16", 0), (2, 180), (0, 0));
        f.proto = 58;
        let (rep, _) = run(&[e], &[f]);
        assert_eq!(rep.packets.matched, 1);
    }
}
