//! NF-v2 (NetFlow v2, nProbe) features computed from our own pcap flows.
//!
//! NF-v2 is the column set of Sarhan et al.'s NF-UNSW-NB15-v2,
//! NF-CSE-CIC-IDS2018-v2, NF-ToN-IoT-v2 (nProbe export), used by
//! FlowTransformer's `unified_flow_format`. `IN` is the client → server
//! (originator → responder) direction, `OUT` the other. Byte counts are IP
//! bytes (layer 3, headers included), so they map to Zeek's `ip_bytes`.
//!
//! Names and order match the `nf_v2_derivable` mapping, so a model trained on
//! NF-v2 CSVs read with that mapping scores our flows with the same features.

use std::sync::{Arc, LazyLock};

use super::{FeatureNames, FlowFeatures, FlowTuple};
use crate::FlowRecord;

/// Numeric NF-v2 columns we derive, in [`FlowFeatures::numeric`] order.
const NUMERIC: [&str; 9] = [
    "IN_BYTES",
    "IN_PKTS",
    "OUT_BYTES",
    "OUT_PKTS",
    "FLOW_DURATION_MILLISECONDS",
    "SRC_TO_DST_SECOND_BYTES",
    "DST_TO_SRC_SECOND_BYTES",
    "SRC_TO_DST_AVG_THROUGHPUT",
    "DST_TO_SRC_AVG_THROUGHPUT",
];

/// Categorical NF-v2 columns we derive, in [`FlowFeatures::categorical`] order.
const CATEGORICAL: [&str; 7] = [
    "L4_SRC_PORT",
    "L4_DST_PORT",
    "PROTOCOL",
    "TCP_FLAGS",
    "CLIENT_TCP_FLAGS",
    "SERVER_TCP_FLAGS",
    "ICMP_IPV4_TYPE",
];

/// NF-v2 columns that cannot be derived from a [`FlowRecord`], with the reason.
pub const NF_V2_NOT_DERIVED: &[(&str, &str)] = &[
    ("L7_PROTO", "needs nDPI application detection; flows carry no payload classification"),
    (
        "DURATION_IN",
        "needs per-direction first/last packet times; FlowRecord keeps only the flow's",
    ),
    (
        "DURATION_OUT",
        "needs per-direction first/last packet times; FlowRecord keeps only the flow's",
    ),
    ("MIN_TTL", "TTL is per packet; the flow table does not keep it"),
    ("MAX_TTL", "TTL is per packet; the flow table does not keep it"),
    ("LONGEST_FLOW_PKT", "needs per-packet lengths; the flow table keeps only sums"),
    ("SHORTEST_FLOW_PKT", "needs per-packet lengths; the flow table keeps only sums"),
    ("MIN_IP_PKT_LEN", "needs per-packet lengths; the flow table keeps only sums"),
    ("MAX_IP_PKT_LEN", "needs per-packet lengths; the flow table keeps only sums"),
    ("NUM_PKTS_UP_TO_128_BYTES", "packet-size histogram needs per-packet lengths"),
    ("NUM_PKTS_128_TO_256_BYTES", "packet-size histogram needs per-packet lengths"),
    ("NUM_PKTS_256_TO_512_BYTES", "packet-size histogram needs per-packet lengths"),
    ("NUM_PKTS_512_TO_1024_BYTES", "packet-size histogram needs per-packet lengths"),
    ("NUM_PKTS_1024_TO_1514_BYTES", "packet-size histogram needs per-packet lengths"),
    ("RETRANSMITTED_IN_BYTES", "needs TCP retransmission tracking per direction (not kept)"),
    ("RETRANSMITTED_IN_PKTS", "needs TCP retransmission tracking per direction (not kept)"),
    ("RETRANSMITTED_OUT_BYTES", "needs TCP retransmission tracking per direction (not kept)"),
    ("RETRANSMITTED_OUT_PKTS", "needs TCP retransmission tracking per direction (not kept)"),
    ("TCP_WIN_MAX_IN", "TCP window is per packet; the flow table does not keep it"),
    ("TCP_WIN_MAX_OUT", "TCP window is per packet; the flow table does not keep it"),
    (
        "ICMP_TYPE",
        "is type * 256 + code; FlowRecord's resp_p holds the code or the counterpart type (Zeek), so the code is ambiguous",
    ),
    ("DNS_QUERY_ID", "needs DNS parsing of payloads"),
    ("DNS_QUERY_TYPE", "needs DNS parsing of payloads"),
    ("DNS_TTL_ANSWER", "needs DNS parsing of payloads"),
    ("FTP_COMMAND_RET_CODE", "needs FTP parsing of payloads"),
];

static NAMES: LazyLock<Arc<FeatureNames>> =
    LazyLock::new(|| Arc::new(FeatureNames::of(&NUMERIC, &CATEGORICAL)));

/// The feature names [`nf_v2_features`] produces (shared by every record).
pub fn nf_v2_feature_names() -> Arc<FeatureNames> {
    NAMES.clone()
}

/// The NF-v2 columns derivable from one of our flows.
///
/// - `IN_*`/`OUT_*`: originator → responder / responder → originator IP bytes and packets.
/// - `FLOW_DURATION_MILLISECONDS`: `(ts_end - ts_start) / 1000`, truncated like nProbe's ms.
/// - `*_SECOND_BYTES`: IP bytes per second, and `*_AVG_THROUGHPUT`: bits per second,
///   over the flow duration, which is taken as at least 1 ms so a one-packet flow
///   (duration 0) gives `bytes * 1000` rather than infinity. nProbe's exact rule
///   for short flows is not documented; this is our choice.
/// - `TCP_FLAGS`: OR of both directions; `CLIENT_`/`SERVER_TCP_FLAGS`: per direction
///   (0 when not TCP).
/// - `ICMP_IPV4_TYPE`: the ICMP type (our `orig_p`) for IPv4 ICMP, else 0.
///
/// Categorical values are decimal text, as they appear in NF-v2 CSVs.
pub fn nf_v2_features(flow: &FlowRecord) -> FlowFeatures {
    let dur_us = flow.duration_us().max(0);
    let secs = (dur_us.max(1000) as f64) / 1e6;
    let (ib, ob) = (flow.orig.ip_bytes as f64, flow.resp.ip_bytes as f64);
    let tcp = flow.proto == 6;
    let (cf, sf) = if tcp { (flow.orig.tcp_flags, flow.resp.tcp_flags) } else { (0, 0) };
    let icmp_type = if flow.proto == 1 { flow.orig_p } else { 0 };
    FlowFeatures {
        tuple: FlowTuple {
            flow_id: flow.flow_id,
            ts_us: Some(flow.ts_start),
            src_addr: Some(flow.orig_h),
            src_port: Some(flow.orig_p),
            dst_addr: Some(flow.resp_h),
            dst_port: Some(flow.resp_p),
            proto: Some(flow.proto),
        },
        names: nf_v2_feature_names(),
        numeric: vec![
            ib,
            flow.orig.pkts as f64,
            ob,
            flow.resp.pkts as f64,
            (dur_us / 1000) as f64,
            ib / secs,
            ob / secs,
            ib * 8.0 / secs,
            ob * 8.0 / secs,
        ],
        categorical: vec![
            flow.orig_p.to_string(),
            flow.resp_p.to_string(),
            flow.proto.to_string(),
            (cf | sf).to_string(),
            cf.to_string(),
            sf.to_string(),
            icmp_type.to_string(),
        ],
        label: None,
    }
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};

    use super::*;
    use crate::flow_records::ColumnMapping;
    use crate::{DirectionStats, EndReason};

    fn flow() -> FlowRecord {
        FlowRecord {
            flow_id: 7,
            uid: "C1".into(),
            community_id: "1:x".into(),
            ts_start: 1_000_000,
            ts_end: 3_500_000,
            orig_h: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
            orig_p: 51000,
            resp_h: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
            resp_p: 443,
            proto: 6,
            vlan: None,
            inner_vlan: None,
            orig: DirectionStats {
                pkts: 10,
                bytes: 500,
                ip_bytes: 1000,
                wire_bytes: 1140,
                tcp_flags: 0x1b,
            },
            resp: DirectionStats {
                pkts: 8,
                bytes: 4000,
                ip_bytes: 5000,
                wire_bytes: 5112,
                tcp_flags: 0x12 | 0x08 | 0x01,
            },
            conn_state: "SF",
            history: "ShADadFf".into(),
            missed_bytes: 0,
            tunnel_parents: vec![],
            end_reason: EndReason::Closed,
        }
    }

    #[test]
    fn golden_tcp_flow() {
        let f = nf_v2_features(&flow());
        // 2.5 s: 1000 B / 2.5 s = 400 B/s = 3200 bit/s; 5000 B -> 2000 B/s = 16000 bit/s.
        assert_eq!(
            f.numeric,
            vec![1000.0, 10.0, 5000.0, 8.0, 2500.0, 400.0, 2000.0, 3200.0, 16000.0]
        );
        // flags: client 0x1b = 27, server 0x1b = 27, OR = 27.
        assert_eq!(f.categorical, vec!["51000", "443", "6", "27", "27", "27", "0"]);
        assert_eq!(f.numeric_value("OUT_PKTS"), Some(8.0));
    }

    #[test]
    fn zero_duration_uses_one_millisecond() {
        let mut r = flow();
        r.ts_end = r.ts_start;
        r.proto = 1;
        r.orig_p = 8;
        r.resp_p = 0;
        let f = nf_v2_features(&r);
        assert_eq!(f.numeric[4], 0.0);
        assert_eq!(f.numeric[5], 1_000_000.0); // 1000 B / 0.001 s
        assert_eq!(f.categorical_value("ICMP_IPV4_TYPE"), Some("8"));
        assert_eq!(f.categorical_value("TCP_FLAGS"), Some("0"));
    }

    #[test]
    fn names_match_the_derivable_mapping_and_cover_nf_v2() {
        let m = ColumnMapping::builtin("nf_v2_derivable").unwrap();
        let names = nf_v2_feature_names();
        let num: Vec<&str> = m.numeric.iter().map(|c| c.name()).collect();
        let cat: Vec<&str> = m.categorical.iter().map(|c| c.name()).collect();
        assert_eq!(num, names.numeric);
        assert_eq!(cat, names.categorical);
        // Every column of the full NF-v2 mapping is either derived or listed as not derived.
        let full = ColumnMapping::builtin("nf_v2").unwrap();
        for c in full.numeric.iter().chain(&full.categorical) {
            let derived = num.contains(&c.name()) || cat.contains(&c.name());
            let listed = NF_V2_NOT_DERIVED.iter().any(|(n, _)| *n == c.name());
            assert!(derived ^ listed, "{}", c.name());
        }
    }
}
