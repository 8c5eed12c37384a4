//! Capture → flows for `vigil flows`, the benches and the conformance run: weird events
//! with where they happened, progress, and [`flows_from_capture`] for a whole capture.
//!
//! The loop itself is [`CaptureLoop`] (vigil-ingest), which the netFound tokenizing path
//! and the runtime's capture source read packets with too. A read error (truncated or
//! corrupt capture) ends that capture only: the packets before it were already
//! accounted, and the error is kept in the loop's stats with the file and packet index.

use std::path::Path;

use serde::Serialize;
use vigil_ingest::capture::CaptureLoop;
use vigil_ingest::packet::DecoderConfig;
use vigil_ingest::{FlowRecord, FlowSink, FlowTableConfig, IngestError, PcapReader};

/// Progress is reported every this many packets.
const PROGRESS_EVERY: u64 = 4096;

/// A decoding anomaly, with where it happened.
#[derive(Debug, Clone, Serialize)]
pub struct WeirdEvent {
    /// Capture timestamp, µs since the epoch.
    pub ts: i64,
    /// The capture it came from.
    pub source: String,
    /// 0-based packet index in that capture.
    pub packet: u64,
    /// Zeek-style name.
    pub name: &'static str,
    /// Extra detail.
    pub addl: Option<String>,
}

/// Read one capture to its end through `capture`, sending finished flows to `sink`, weird
/// events to `on_weird`, and the bytes consumed so far to `progress` every few thousand
/// packets and at the end. A read error mid-file ends this capture: it is recorded in
/// the loop's stats and returned.
pub fn extract_capture(
    capture: &mut CaptureLoop,
    reader: PcapReader,
    sink: &mut impl FlowSink,
    on_weird: &mut impl FnMut(WeirdEvent),
    progress: &mut impl FnMut(u64),
) -> Option<IngestError> {
    capture.open(reader);
    let error = loop {
        match capture.next_packet(sink, &mut ()) {
            Ok(true) => {}
            Ok(false) => break None,
            Err(e) => {
                tracing::warn!(error = %e, "capture ended early");
                break Some(e);
            }
        }
        let (decoded, index) = (capture.decoded(), capture.packet() - 1);
        for w in &decoded.weirds {
            on_weird(WeirdEvent {
                ts: decoded.ts,
                source: capture.source().to_string(),
                packet: index,
                name: w.name,
                addl: w.addl.clone(),
            });
        }
        if index % PROGRESS_EVERY == 0 {
            progress(capture.bytes_read());
        }
    };
    progress(capture.bytes_read());
    error
}

/// Read a whole capture and return its flows in the order they ended, plus the
/// error that ended it early (or kept it from opening), if any.
pub fn flows_from_capture(
    path: &Path,
    decoder: DecoderConfig,
    table: FlowTableConfig,
) -> (Vec<FlowRecord>, Option<IngestError>) {
    let mut flows = Vec::new();
    let reader = match PcapReader::open(path) {
        Ok(r) => r,
        Err(e) => return (flows, Some(e)),
    };
    let mut capture = CaptureLoop::new(decoder, table);
    let error = capture.read_capture(reader, &mut flows);
    capture.finish(&mut flows);
    (flows, error)
}
