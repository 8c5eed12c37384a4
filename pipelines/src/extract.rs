//! Capture → flows.
use std::path::Path;

use vigil_ingest::{Decoder, FlowRecord, FlowTable, FlowTableConfig, PcapReader};

/// Read a whole capture and return its flows in the order they ended.
///
/// A read error ends the capture early; the flows seen until then are still returned
/// together with the error.
pub fn flows_from_capture(
    path: &Path,
    config: FlowTableConfig,
) -> (Vec<FlowRecord>, Option<vigil_ingest::IngestError>) {
    let mut flows = Vec::new();
    let mut reader = match PcapReader::open(path) {
        Ok(r) => r,
        Err(e) => return (flows, Some(e)),
    };
    let mut decoder = Decoder::default();
    let mut table = FlowTable::new(config);
    let mut error = None;
    loop {
        match reader.next_packet() {
            Ok(Some(pkt)) => {
                let decoded = decoder.decode(&pkt.raw());
                table.process(&decoded, &mut flows);
            }
            Ok(None) => break,
            Err(e) => {
                error = Some(e);
                break;
            }
        }
    }
    table.flush(&mut flows);
    (flows, error)
}
