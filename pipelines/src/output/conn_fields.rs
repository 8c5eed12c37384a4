//! The conn.log column model shared by the TSV, JSON and CSV writers.
//!
//! Columns follow Zeek's `conn.log` order (so `zeek-cut` scripts work), then
//! Zeek's optional `vlan`/`inner_vlan` and `community_id` columns, then ours.

use vigil_ingest::FlowRecord;

/// One typed value of a conn.log row.
#[derive(Debug, Clone, PartialEq)]
pub enum ConnValue {
    /// Absent (Zeek prints `-`, JSON omits the field).
    Unset,
    /// A string.
    Str(String),
    /// A count or port.
    Count(u64),
    /// A time in µs since the epoch.
    Time(i64),
    /// An interval in µs.
    Interval(i64),
    /// A set of strings (Zeek prints them comma-separated, `-` when empty).
    Set(Vec<String>),
}

/// Column names and Zeek types, in output order.
pub const CONN_COLUMNS: &[(&str, &str)] = &[
    ("ts", "time"),
    ("uid", "string"),
    ("id.orig_h", "addr"),
    ("id.orig_p", "port"),
    ("id.resp_h", "addr"),
    ("id.resp_p", "port"),
    ("proto", "enum"),
    ("service", "string"),
    ("duration", "interval"),
    ("orig_bytes", "count"),
    ("resp_bytes", "count"),
    ("conn_state", "string"),
    ("local_orig", "bool"),
    ("local_resp", "bool"),
    ("missed_bytes", "count"),
    ("history", "string"),
    ("orig_pkts", "count"),
    ("orig_ip_bytes", "count"),
    ("resp_pkts", "count"),
    ("resp_ip_bytes", "count"),
    ("tunnel_parents", "set[string]"),
    ("ip_proto", "count"),
    ("vlan", "int"),
    ("inner_vlan", "int"),
    ("community_id", "string"),
    ("flow_id", "count"),
    ("orig_wire_bytes", "count"),
    ("resp_wire_bytes", "count"),
];

/// The values of one flow, in [`CONN_COLUMNS`] order.
///
/// As Zeek does, `duration` and the payload byte counts are unset for a flow
/// whose first and last packets share a timestamp.
pub fn conn_values(f: &FlowRecord) -> Vec<ConnValue> {
    use ConnValue::*;
    let duration = f.duration_us();
    let opt = |present: bool, v: ConnValue| if present { v } else { Unset };
    let str_or_unset = |s: &str| if s.is_empty() { Unset } else { Str(s.to_string()) };
    vec![
        Time(f.ts_start),
        Str(f.uid.clone()),
        Str(f.orig_h.to_string()),
        Count(f.orig_p.into()),
        Str(f.resp_h.to_string()),
        Count(f.resp_p.into()),
        Str(f.proto_name().to_string()),
        Unset,
        opt(duration > 0, Interval(duration)),
        opt(duration > 0, Count(f.orig.bytes)),
        opt(duration > 0, Count(f.resp.bytes)),
        Str(f.conn_state.to_string()),
        Unset,
        Unset,
        Count(f.missed_bytes),
        str_or_unset(&f.history),
        Count(f.orig.pkts),
        Count(f.orig.ip_bytes),
        Count(f.resp.pkts),
        Count(f.resp.ip_bytes),
        Set(f.tunnel_parents.clone()),
        Count(f.proto.into()),
        f.vlan.map_or(Unset, |v| Count(v.into())),
        f.inner_vlan.map_or(Unset, |v| Count(v.into())),
        Str(f.community_id.clone()),
        Count(f.flow_id),
        Count(f.orig.wire_bytes),
        Count(f.resp.wire_bytes),
    ]
}

/// Seconds with six decimals, as Zeek prints `time` and `interval`.
pub(crate) fn fmt_micros(us: i64) -> String {
    let sign = if us < 0 { "-" } else { "" };
    let a = us.unsigned_abs();
    format!("{sign}{}.{:06}", a / 1_000_000, a % 1_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::test_flows::sample;

    #[test]
    fn one_value_per_column() {
        for f in sample() {
            assert_eq!(conn_values(&f).len(), CONN_COLUMNS.len());
        }
    }

    #[test]
    fn zero_duration_unsets_duration_and_bytes_like_zeek() {
        let v = conn_values(&sample()[1]);
        assert_eq!(v[8], ConnValue::Unset);
        assert_eq!(v[9], ConnValue::Unset);
        assert_eq!(v[16], ConnValue::Count(1));
    }

    #[test]
    fn micros_print_as_zeek_seconds() {
        assert_eq!(fmt_micros(1_700_000_000_123_456), "1700000000.123456");
        assert_eq!(fmt_micros(1_500_000), "1.500000");
        assert_eq!(fmt_micros(-5), "-0.000005");
    }
}
