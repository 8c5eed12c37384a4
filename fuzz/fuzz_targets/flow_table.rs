//! Decoder plus a tiny flow table: no panic, and the table never exceeds its bound.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigil_ingest::{Decoder, FlowRecord, FlowTable, FlowTableConfig, RawPacket};

mod common;

fuzz_target!(|data: &[u8]| {
    let mut decoder = Decoder::default();
    let config = FlowTableConfig { max_flows: 4, ..FlowTableConfig::default() };
    let mut table = FlowTable::new(config);
    let mut flows: Vec<FlowRecord> = Vec::new();
    let mut packets = 0u64;
    for (linktype, ts, bytes) in common::frames(data) {
        let raw = RawPacket { ts, data: bytes, wire_len: bytes.len() as u32, linktype };
        let d = decoder.decode(&raw);
        packets += d.layers.len() as u64;
        table.process(&d, &mut flows);
        assert!(table.stats().active <= 4, "flow table exceeded max_flows");
    }
    table.flush(&mut flows);
    let counted: u64 = flows.iter().map(|f| f.orig.pkts + f.resp.pkts).sum();
    assert!(counted <= packets, "flows count more packets than layers were decoded");
    for f in &flows {
        assert!(f.ts_end >= f.ts_start || f.orig.pkts + f.resp.pkts == 0);
    }
});
