//! Capture → decoded packets → flows, with counters, weird events and progress.
//!
//! One [`Extractor`] owns a decoder and a flow table and may be fed several
//! captures in a row (their flows then share one table, as with `zeek -r a -r b`).
//! A read error (truncated or corrupt capture) ends that capture only: the
//! packets before it were already accounted, and the error is kept in
//! [`ExtractStats::errors`] with the file and packet index.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;
use vigil_ingest::packet::DecoderConfig;
use vigil_ingest::{
    DecodedPacket, Decoder, FlowRecord, FlowSink, FlowTable, FlowTableConfig, FlowTableStats,
    IngestError, PcapReader,
};

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

/// Counters of one extraction run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ExtractStats {
    /// Captures opened.
    pub captures: u64,
    /// Packets read.
    pub packets: u64,
    /// Bytes captured (sum of captured lengths).
    pub bytes: u64,
    /// Packets with no IP layer (ARP, LLDP, unknown link types...).
    pub non_ip_packets: u64,
    /// Flows emitted.
    pub flows: u64,
    /// Weird events by name.
    pub weirds: BTreeMap<&'static str, u64>,
    /// Read errors, each naming the capture and packet index.
    pub errors: Vec<String>,
    /// The flow table's own counters.
    #[serde(skip)]
    pub table: FlowTableStats,
}

/// Reads captures and produces flows.
pub struct Extractor {
    decoder: Decoder,
    /// Reused for every packet, so decoding allocates nothing once warm.
    decoded: DecodedPacket,
    table: FlowTable,
    stats: ExtractStats,
}

impl Extractor {
    /// A new extractor with empty state.
    pub fn new(decoder: DecoderConfig, table: FlowTableConfig) -> Self {
        Self {
            decoder: Decoder::new(decoder),
            decoded: DecodedPacket::default(),
            table: FlowTable::new(table),
            stats: ExtractStats::default(),
        }
    }

    /// Read one capture to its end, sending finished flows to `sink` and weird
    /// events to `on_weird`. `progress` is called every few thousand packets with
    /// the bytes consumed so far. A read error mid-file ends this capture: it is
    /// recorded in the stats and returned.
    pub fn run_capture(
        &mut self,
        mut reader: PcapReader,
        sink: &mut impl FlowSink,
        on_weird: &mut impl FnMut(WeirdEvent),
        progress: &mut impl FnMut(u64),
    ) -> Option<IngestError> {
        let mut error = None;
        let source = reader.name().to_string();
        self.stats.captures += 1;
        let mut counting = CountingSink { inner: sink, count: &mut self.stats.flows };
        loop {
            let pkt = match reader.next_packet() {
                Ok(Some(p)) => p,
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "capture ended early");
                    self.stats.errors.push(e.to_string());
                    error = Some(e);
                    break;
                }
            };
            self.stats.packets += 1;
            self.stats.bytes += pkt.data.len() as u64;
            self.decoder.decode_into(&pkt.raw(), &mut self.decoded);
            let decoded = &self.decoded;
            if decoded.layers.is_empty() && !decoded.held_fragment {
                self.stats.non_ip_packets += 1;
            }
            for w in &decoded.weirds {
                *self.stats.weirds.entry(w.name).or_default() += 1;
                on_weird(WeirdEvent {
                    ts: decoded.ts,
                    source: source.clone(),
                    packet: pkt.index,
                    name: w.name,
                    addl: w.addl.clone(),
                });
            }
            self.table.process(decoded, &mut counting);
            if pkt.index % 4096 == 0 {
                progress(reader.bytes_read());
            }
        }
        progress(reader.bytes_read());
        error
    }

    /// Emit every flow still open (end of input) and return the run's counters.
    pub fn finish(mut self, sink: &mut impl FlowSink) -> ExtractStats {
        let mut counting = CountingSink { inner: sink, count: &mut self.stats.flows };
        self.table.flush(&mut counting);
        self.stats.table = self.table.stats();
        self.stats
    }
}

struct CountingSink<'a, S> {
    inner: &'a mut S,
    count: &'a mut u64,
}

impl<S: FlowSink> FlowSink for CountingSink<'_, S> {
    fn flow(&mut self, flow: FlowRecord) {
        *self.count += 1;
        self.inner.flow(flow);
    }
}

/// Read a whole capture and return its flows in the order they ended, plus the
/// read error that ended it early, if any.
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
    let mut ex = Extractor::new(decoder, table);
    let error = ex.run_capture(reader, &mut flows, &mut |_| {}, &mut |_| {});
    ex.finish(&mut flows);
    (flows, error)
}
