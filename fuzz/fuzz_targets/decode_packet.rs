//! The packet decoder must never panic, whatever the bytes and link type.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigil_ingest::{Decoder, RawPacket};

mod common;

fuzz_target!(|data: &[u8]| {
    let mut decoder = Decoder::default();
    for (linktype, ts, bytes) in common::frames(data) {
        let raw = RawPacket { ts, data: bytes, wire_len: bytes.len() as u32, linktype };
        let d = decoder.decode(&raw);
        assert!(d.layers.len() <= 16, "tunnel depth is bounded");
    }
});
