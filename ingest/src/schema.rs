//! The Arrow schema of the `flows` table and the conversion from [`FlowRecord`]s.
//!
//! Column names follow `DESIGN.md` (`src_ip` is the originator, `dst_ip` the
//! responder). Every later stage (tokenizers, the event store, SQL) reads flows
//! in this shape.

use std::sync::Arc;

use arrow_array::builder::{
    ListBuilder, StringBuilder, TimestampMicrosecondBuilder, UInt8Builder, UInt16Builder,
    UInt64Builder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{ArrowError, DataType, Field, Schema, SchemaRef, TimeUnit};

use crate::flow::{EndReason, FlowRecord};

/// Column names of the `flows` table, in order.
pub mod flow_columns {
    /// Run-unique flow id.
    pub const FLOW_ID: &str = "flow_id";
    /// Zeek-style uid.
    pub const UID: &str = "uid";
    /// Community ID v1.
    pub const COMMUNITY_ID: &str = "community_id";
    /// First packet time.
    pub const TS_START: &str = "ts_start";
    /// Last packet time.
    pub const TS_END: &str = "ts_end";
    /// Originator address.
    pub const SRC_IP: &str = "src_ip";
    /// Responder address.
    pub const DST_IP: &str = "dst_ip";
    /// Originator port (ICMP type).
    pub const SRC_PORT: &str = "src_port";
    /// Responder port (ICMP code or counterpart type).
    pub const DST_PORT: &str = "dst_port";
    /// IP protocol number.
    pub const PROTO: &str = "proto";
    /// Outer VLAN id.
    pub const VLAN: &str = "vlan";
    /// Inner VLAN id.
    pub const INNER_VLAN: &str = "inner_vlan";
}

fn ts_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

/// The `flows` table schema.
pub fn flows_schema() -> SchemaRef {
    use flow_columns::*;
    let u64f = |n: &str| Field::new(n, DataType::UInt64, false);
    Arc::new(Schema::new(vec![
        u64f(FLOW_ID),
        Field::new(UID, DataType::Utf8, false),
        Field::new(COMMUNITY_ID, DataType::Utf8, false),
        Field::new(TS_START, ts_type(), false),
        Field::new(TS_END, ts_type(), false),
        Field::new(SRC_IP, DataType::Utf8, false),
        Field::new(DST_IP, DataType::Utf8, false),
        Field::new(SRC_PORT, DataType::UInt16, false),
        Field::new(DST_PORT, DataType::UInt16, false),
        Field::new(PROTO, DataType::UInt8, false),
        Field::new(VLAN, DataType::UInt16, true),
        Field::new(INNER_VLAN, DataType::UInt16, true),
        u64f("orig_pkts"),
        u64f("resp_pkts"),
        u64f("orig_bytes"),
        u64f("resp_bytes"),
        u64f("orig_ip_bytes"),
        u64f("resp_ip_bytes"),
        u64f("orig_wire_bytes"),
        u64f("resp_wire_bytes"),
        u64f("missed_bytes"),
        Field::new("conn_state", DataType::Utf8, false),
        Field::new("history", DataType::Utf8, false),
        Field::new("tcp_flags_orig", DataType::UInt8, false),
        Field::new("tcp_flags_resp", DataType::UInt8, false),
        Field::new(
            "tunnel_parents",
            DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
            false,
        ),
        Field::new("end_reason", DataType::Utf8, false),
        Field::new("sensor", DataType::Utf8, false),
    ]))
}

/// Lower-case name of an [`EndReason`], as stored in `end_reason`.
pub fn end_reason_name(reason: EndReason) -> &'static str {
    match reason {
        EndReason::IdleTimeout => "idle_timeout",
        EndReason::ActiveTimeout => "active_timeout",
        EndReason::Closed => "closed",
        EndReason::Evicted => "evicted",
        EndReason::Flush => "flush",
        EndReason::Reused => "reused",
    }
}

/// Convert flows to one record batch of [`flows_schema`], stamping `sensor` on each row.
pub fn flows_to_batch(flows: &[FlowRecord], sensor: &str) -> Result<RecordBatch, ArrowError> {
    let n = flows.len();
    let u64col = |f: &dyn Fn(&FlowRecord) -> u64| -> ArrayRef {
        let mut b = UInt64Builder::with_capacity(n);
        flows.iter().for_each(|r| b.append_value(f(r)));
        Arc::new(b.finish())
    };
    let strcol = |f: &dyn Fn(&FlowRecord) -> String| -> ArrayRef {
        let mut b = StringBuilder::with_capacity(n, n * 16);
        flows.iter().for_each(|r| b.append_value(f(r)));
        Arc::new(b.finish())
    };
    let tscol = |f: &dyn Fn(&FlowRecord) -> i64| -> ArrayRef {
        let mut b = TimestampMicrosecondBuilder::with_capacity(n).with_timezone("UTC");
        flows.iter().for_each(|r| b.append_value(f(r)));
        Arc::new(b.finish())
    };
    let u16col = |f: &dyn Fn(&FlowRecord) -> Option<u16>| -> ArrayRef {
        let mut b = UInt16Builder::with_capacity(n);
        flows.iter().for_each(|r| b.append_option(f(r)));
        Arc::new(b.finish())
    };
    let u8col = |f: &dyn Fn(&FlowRecord) -> u8| -> ArrayRef {
        let mut b = UInt8Builder::with_capacity(n);
        flows.iter().for_each(|r| b.append_value(f(r)));
        Arc::new(b.finish())
    };
    let mut parents = ListBuilder::new(StringBuilder::new());
    for r in flows {
        for p in &r.tunnel_parents {
            parents.values().append_value(p);
        }
        parents.append(true);
    }
    let columns: Vec<ArrayRef> = vec![
        u64col(&|r| r.flow_id),
        strcol(&|r| r.uid.clone()),
        strcol(&|r| r.community_id.clone()),
        tscol(&|r| r.ts_start),
        tscol(&|r| r.ts_end),
        strcol(&|r| r.orig_h.to_string()),
        strcol(&|r| r.resp_h.to_string()),
        u16col(&|r| Some(r.orig_p)),
        u16col(&|r| Some(r.resp_p)),
        u8col(&|r| r.proto),
        u16col(&|r| r.vlan),
        u16col(&|r| r.inner_vlan),
        u64col(&|r| r.orig.pkts),
        u64col(&|r| r.resp.pkts),
        u64col(&|r| r.orig.bytes),
        u64col(&|r| r.resp.bytes),
        u64col(&|r| r.orig.ip_bytes),
        u64col(&|r| r.resp.ip_bytes),
        u64col(&|r| r.orig.wire_bytes),
        u64col(&|r| r.resp.wire_bytes),
        u64col(&|r| r.missed_bytes),
        strcol(&|r| r.conn_state.to_string()),
        strcol(&|r| r.history.clone()),
        u8col(&|r| r.orig.tcp_flags),
        u8col(&|r| r.resp.tcp_flags),
        Arc::new(parents.finish()),
        strcol(&|r| end_reason_name(r.end_reason).to_string()),
        strcol(&|_| sensor.to_string()),
    ];
    RecordBatch::try_new(flows_schema(), columns)
}

/// The `conn_state` values a flow can carry.
const CONN_STATES: [&str; 13] =
    ["S0", "S1", "SF", "REJ", "S2", "S3", "RSTO", "RSTR", "RSTOS0", "RSTRH", "SH", "SHR", "OTH"];

/// Read flows back from a record batch of [`flows_schema`] (e.g. a `vigil flows -f
/// parquet` file), so later stages can start from stored flows.
pub fn flows_from_batch(batch: &RecordBatch) -> Result<Vec<FlowRecord>, ArrowError> {
    use arrow_array::Array;
    use arrow_array::cast::AsArray;
    use arrow_array::types::{TimestampMicrosecondType, UInt8Type, UInt16Type, UInt64Type};
    use flow_columns::*;
    let col = |name: &str| {
        batch
            .column_by_name(name)
            .ok_or_else(|| ArrowError::SchemaError(format!("flows batch lacks column `{name}`")))
    };
    let u64c = |name: &str| col(name).map(|c| c.as_primitive::<UInt64Type>().clone());
    let u16c = |name: &str| col(name).map(|c| c.as_primitive::<UInt16Type>().clone());
    let u8c = |name: &str| col(name).map(|c| c.as_primitive::<UInt8Type>().clone());
    let tsc = |name: &str| col(name).map(|c| c.as_primitive::<TimestampMicrosecondType>().clone());
    let strc = |name: &str| col(name).map(|c| c.as_string::<i32>().clone());
    let (flow_id, uid, cid) = (u64c(FLOW_ID)?, strc(UID)?, strc(COMMUNITY_ID)?);
    let (ts_start, ts_end) = (tsc(TS_START)?, tsc(TS_END)?);
    let (src, dst, sport, dport) = (strc(SRC_IP)?, strc(DST_IP)?, u16c(SRC_PORT)?, u16c(DST_PORT)?);
    let (proto, vlan, inner_vlan) = (u8c(PROTO)?, u16c(VLAN)?, u16c(INNER_VLAN)?);
    let counters: Vec<_> = [
        "orig_pkts",
        "resp_pkts",
        "orig_bytes",
        "resp_bytes",
        "orig_ip_bytes",
        "resp_ip_bytes",
        "orig_wire_bytes",
        "resp_wire_bytes",
        "missed_bytes",
    ]
    .iter()
    .map(|n| u64c(n))
    .collect::<Result<_, _>>()?;
    let (state, history) = (strc("conn_state")?, strc("history")?);
    let (flags_o, flags_r) = (u8c("tcp_flags_orig")?, u8c("tcp_flags_resp")?);
    let parents = col("tunnel_parents")?.as_list::<i32>().clone();
    let end = strc("end_reason")?;
    let addr = |s: &str, row: usize| {
        s.parse().map_err(|_| ArrowError::ParseError(format!("row {row}: bad address `{s}`")))
    };
    (0..batch.num_rows())
        .map(|i| {
            let conn_state =
                CONN_STATES.iter().find(|s| **s == state.value(i)).ok_or_else(|| {
                    ArrowError::ParseError(format!("row {i}: bad conn_state `{}`", state.value(i)))
                })?;
            let end_reason = [
                EndReason::IdleTimeout,
                EndReason::ActiveTimeout,
                EndReason::Closed,
                EndReason::Evicted,
                EndReason::Flush,
                EndReason::Reused,
            ]
            .into_iter()
            .find(|r| end_reason_name(*r) == end.value(i))
            .unwrap_or(EndReason::Flush);
            let dir = |o: usize, flags: &arrow_array::UInt8Array| crate::flow::DirectionStats {
                pkts: counters[o].value(i),
                bytes: counters[o + 2].value(i),
                ip_bytes: counters[o + 4].value(i),
                wire_bytes: counters[o + 6].value(i),
                tcp_flags: flags.value(i),
            };
            let tunnel = parents.value(i);
            let tunnel = tunnel.as_string::<i32>();
            Ok(FlowRecord {
                flow_id: flow_id.value(i),
                uid: uid.value(i).to_string(),
                community_id: cid.value(i).to_string(),
                ts_start: ts_start.value(i),
                ts_end: ts_end.value(i),
                orig_h: addr(src.value(i), i)?,
                orig_p: sport.value(i),
                resp_h: addr(dst.value(i), i)?,
                resp_p: dport.value(i),
                proto: proto.value(i),
                vlan: vlan.is_valid(i).then(|| vlan.value(i)),
                inner_vlan: inner_vlan.is_valid(i).then(|| inner_vlan.value(i)),
                orig: dir(0, &flags_o),
                resp: dir(1, &flags_r),
                conn_state,
                history: history.value(i).to_string(),
                missed_bytes: counters[8].value(i),
                tunnel_parents: tunnel.iter().flatten().map(str::to_string).collect(),
                end_reason,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::DirectionStats;
    use arrow_array::cast::AsArray;
    use arrow_array::types::UInt64Type;

    fn flow(id: u64) -> FlowRecord {
        FlowRecord {
            flow_id: id,
            uid: format!("C{id}"),
            community_id: "1:abc=".into(),
            ts_start: 1_000_000,
            ts_end: 2_500_000,
            orig_h: "10.0.0.1".parse().unwrap(),
            orig_p: 1234,
            resp_h: "2001:db8::1".parse().unwrap(),
            resp_p: 443,
            proto: 6,
            vlan: Some(10),
            inner_vlan: None,
            orig: DirectionStats {
                pkts: 3,
                bytes: 10,
                ip_bytes: 130,
                wire_bytes: 172,
                tcp_flags: 0x1b,
            },
            resp: DirectionStats {
                pkts: 2,
                bytes: 0,
                ip_bytes: 80,
                wire_bytes: 108,
                tcp_flags: 0x12,
            },
            conn_state: "SF",
            history: "ShADadFf".into(),
            missed_bytes: 0,
            tunnel_parents: vec!["Cparent".into()],
            end_reason: EndReason::Closed,
        }
    }

    #[test]
    fn flows_survive_a_round_trip_through_arrow() {
        let mut second = flow(2);
        second.vlan = None;
        second.tunnel_parents.clear();
        let flows = vec![flow(1), second];
        let batch = flows_to_batch(&flows, "lab").unwrap();
        assert_eq!(flows_from_batch(&batch).unwrap(), flows);
    }

    #[test]
    fn batch_matches_schema_and_values() {
        let batch = flows_to_batch(&[flow(1), flow(2)], "lab").unwrap();
        assert_eq!(batch.schema(), flows_schema());
        assert_eq!(batch.num_rows(), 2);
        let pkts = batch.column_by_name("orig_pkts").unwrap().as_primitive::<UInt64Type>();
        assert_eq!(pkts.value(1), 3);
        let dst = batch.column_by_name("dst_ip").unwrap().as_string::<i32>();
        assert_eq!(dst.value(0), "2001:db8::1");
        let parents = batch.column_by_name("tunnel_parents").unwrap().as_list::<i32>();
        assert_eq!(parents.value(0).as_string::<i32>().value(0), "Cparent");
    }
}
