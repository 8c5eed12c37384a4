//! Zeek conn.log features computed from our own flows.
//!
//! Our flow table follows Zeek's conn.log semantics (`conn_state`, `history`, payload
//! and IP byte counts), so the columns the `zeek_conn` mapping reads from a Zeek
//! conn.log (or IoT-23's labelled CSV export of one) can be produced for our flows
//! with the same names, order and text, and a model trained on Zeek logs scores our
//! flows directly.
//!
//! Values are rendered as the [`FlowCsvReader`](super::FlowCsvReader) reads a Zeek row:
//!
//! - `duration` in seconds; `duration`, `orig_bytes` and `resp_bytes` are unset (NaN,
//!   Zeek's `-`) when the duration is zero, as Zeek's `conn` script only sets them
//!   for a positive duration;
//! - `proto` as Zeek writes it (`tcp`, `udp`, `icmp` for ICMP and ICMPv6,
//!   `unknown_transport`);
//! - `service` is always `-`: Zeek fills it from protocol analyzers, which we do not
//!   run. A model must not lean on it (the IoT-23 FlowTransformer sees it as a constant);
//! - `history` is `-` when empty (Zeek's unset field);
//! - `dst_port` is `id.resp_p` in decimal (for ICMP, the code or counterpart type, as Zeek).

use std::sync::{Arc, LazyLock};

use super::{FeatureNames, FlowFeatures, FlowTuple};
use crate::FlowRecord;

/// Numeric conn.log columns, in the `zeek_conn` mapping's order.
const NUMERIC: [&str; 8] = [
    "duration",
    "orig_bytes",
    "resp_bytes",
    "missed_bytes",
    "orig_pkts",
    "orig_ip_bytes",
    "resp_pkts",
    "resp_ip_bytes",
];

/// Categorical conn.log columns, in the `zeek_conn` mapping's order.
const CATEGORICAL: [&str; 5] = ["proto", "service", "conn_state", "history", "dst_port"];

/// Zeek's text for an unset field.
const UNSET: &str = "-";

static NAMES: LazyLock<Arc<FeatureNames>> =
    LazyLock::new(|| Arc::new(FeatureNames::of(&NUMERIC, &CATEGORICAL)));

/// The feature names [`zeek_conn_features`] produces (those of the `zeek_conn` mapping).
pub fn zeek_conn_feature_names() -> Arc<FeatureNames> {
    NAMES.clone()
}

/// The `zeek_conn` mapping's features of one of our flows, as a Zeek conn.log row of
/// the same connection reads (see the module documentation for each column).
pub fn zeek_conn_features(flow: &FlowRecord) -> FlowFeatures {
    let dur_us = flow.duration_us();
    let (duration, orig_bytes, resp_bytes) = if dur_us > 0 {
        (dur_us as f64 / 1e6, flow.orig.bytes as f64, flow.resp.bytes as f64)
    } else {
        (f64::NAN, f64::NAN, f64::NAN)
    };
    let history = if flow.history.is_empty() { UNSET } else { flow.history.as_str() };
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
        names: zeek_conn_feature_names(),
        numeric: vec![
            duration,
            orig_bytes,
            resp_bytes,
            flow.missed_bytes as f64,
            flow.orig.pkts as f64,
            flow.orig.ip_bytes as f64,
            flow.resp.pkts as f64,
            flow.resp.ip_bytes as f64,
        ],
        categorical: vec![
            flow.proto_name().to_string(),
            UNSET.to_string(),
            flow.conn_state.to_string(),
            history.to_string(),
            flow.resp_p.to_string(),
        ],
        label: None,
    }
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use super::*;
    use crate::flow_records::{ColumnMapping, FlowCsvReader};
    use crate::{DirectionStats, EndReason};

    /// Zeek's conn.log of `traces/tcp/missing-syn.pcap` (btest baseline `core.history-flip`,
    /// header and the one row; btest masks `ts`: replaced by 1.000000, not a feature).
    const CONN_LOG: &str = include_str!("testdata/missing_syn_conn.log");

    /// Our flow of the same trace (the flow table's test `zeek_missing_syn_history_flip`
    /// checks these counters against the same Zeek row).
    fn missing_syn_flow() -> FlowRecord {
        FlowRecord {
            flow_id: 0,
            uid: "C1".into(),
            community_id: "1:x".into(),
            ts_start: 1_000_000,
            ts_end: 1_000_000 + 1_550_793,
            orig_h: "141.42.64.125".parse::<IpAddr>().unwrap(),
            orig_p: 56730,
            resp_h: "125.190.109.199".parse::<IpAddr>().unwrap(),
            resp_p: 80,
            proto: 6,
            vlan: None,
            inner_vlan: None,
            orig: DirectionStats {
                pkts: 11,
                bytes: 98,
                ip_bytes: 670,
                wire_bytes: 0,
                tcp_flags: 0,
            },
            resp: DirectionStats {
                pkts: 10,
                bytes: 9417,
                ip_bytes: 9945,
                wire_bytes: 0,
                tcp_flags: 0,
            },
            conn_state: "SF",
            history: "^hADdFaf".into(),
            missed_bytes: 0,
            tunnel_parents: vec![],
            end_reason: EndReason::Closed,
        }
    }

    fn zeek_row() -> FlowFeatures {
        // Zeek's own log has no `label` column (IoT-23's): it reads unlabelled.
        let m = ColumnMapping::builtin("zeek_conn").unwrap();
        let mut r = FlowCsvReader::new(CONN_LOG.as_bytes(), "conn.log", &m).unwrap();
        assert!(!r.has_label());
        r.next_record().unwrap().expect("one row")
    }

    #[test]
    fn names_are_the_zeek_conn_mappings() {
        let m = ColumnMapping::builtin("zeek_conn").unwrap();
        let names = zeek_conn_feature_names();
        let num: Vec<&str> = m.numeric.iter().map(|c| c.name()).collect();
        let cat: Vec<&str> = m.categorical.iter().map(|c| c.name()).collect();
        assert_eq!(num, names.numeric);
        assert_eq!(cat, names.categorical);
    }

    #[test]
    fn same_features_as_the_zeek_row_of_the_same_connection() {
        let zeek = zeek_row();
        let ours = zeek_conn_features(&missing_syn_flow());
        assert_eq!(ours.names, zeek.names);
        assert_eq!(ours.numeric, zeek.numeric);
        // Zeek ran its HTTP analyzer (`service` = http); we run none.
        let mut want = zeek.categorical.clone();
        assert_eq!(want[1], "http");
        want[1] = "-".into();
        assert_eq!(ours.categorical, want);
        assert_eq!(ours.categorical, vec!["tcp", "-", "SF", "^hADdFaf", "80"]);
        let t = (ours.tuple.src_addr, ours.tuple.src_port, ours.tuple.dst_port, ours.tuple.proto);
        assert_eq!(t, (zeek.tuple.src_addr, zeek.tuple.src_port, zeek.tuple.dst_port, Some(6)));
    }

    #[test]
    fn zero_duration_leaves_duration_and_payload_bytes_unset() {
        let mut f = missing_syn_flow();
        f.ts_end = f.ts_start;
        f.proto = 58;
        f.history = String::new();
        let z = zeek_conn_features(&f);
        assert!(z.numeric[..3].iter().all(|x| x.is_nan()));
        assert_eq!(z.numeric[3..], [0.0, 11.0, 670.0, 10.0, 9945.0]);
        assert_eq!(z.categorical_value("proto"), Some("icmp"));
        assert_eq!(z.categorical_value("history"), Some("-"));
    }
}
