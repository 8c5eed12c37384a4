//! The packet decoder must never panic, whatever the bytes and link type.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigil_ingest::packet::DecoderConfig;
use vigil_ingest::{DecodedPacket, Decoder, RawPacket};

mod common;

fuzz_target!(|data: &[u8]| {
    // The first byte's low bit turns checksum verification on.
    let verify_checksums = data.first().is_some_and(|b| b & 1 == 1);
    let mut decoder = Decoder::new(DecoderConfig { verify_checksums, ..DecoderConfig::default() });
    let mut reused = DecodedPacket::default();
    for (linktype, ts, bytes) in common::frames(data) {
        let raw = RawPacket { ts, data: bytes, wire_len: bytes.len() as u32, linktype };
        decoder.decode_into(&raw, &mut reused);
        assert!(reused.layers.len() <= 16, "tunnel depth is bounded");
    }
});
