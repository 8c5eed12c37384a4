//! The one capture → decode → flow loop.
//!
//! A [`CaptureLoop`] owns a [`Decoder`], the [`DecodedPacket`] it reuses for every
//! packet (so decoding allocates nothing once warm), a [`FlowTable`] and the run's
//! [`CaptureStats`]. It reads captures one after another; their flows share the
//! table, as with `zeek -r a -r b`. Every command and the runtime read packets
//! through it, so they all see the same flows.
//!
//! The caller pulls packets one at a time with [`CaptureLoop::next_packet`] and
//! does its own work between them (progress, batching, stop requests); a
//! [`LayerObserver`] sees each packet layer with the flow it was counted in (the
//! netFound tokenizer follows flows this way), and [`CaptureLoop::source`] and
//! [`CaptureLoop::position`] say where the last packet sat (capture name, 1-based
//! [`Position::Packet`]), for checkpoints and dead letters. A caller that must look
//! at a packet before the flow table does (to skip packets a checkpoint covers)
//! splits the step in two: [`CaptureLoop::decode_next`], then
//! [`CaptureLoop::account`]; [`CaptureLoop::skip_next`] reads past a packet without
//! decoding it.
//!
//! ```no_run
//! use vigil_ingest::capture::CaptureLoop;
//! use vigil_ingest::{FlowRecord, PcapReader};
//! let mut capture = CaptureLoop::default();
//! let mut flows: Vec<FlowRecord> = Vec::new();
//! capture.open(PcapReader::open("trace.pcap")?);
//! while capture.next_packet(&mut flows, &mut ())? {
//!     // capture.source(), capture.position(), capture.decoded(): the packet just accounted.
//! }
//! let stats = capture.finish(&mut flows);
//! # Ok::<(), vigil_ingest::IngestError>(())
//! ```

use std::collections::BTreeMap;

use serde::Serialize;

use crate::clock_guard::{ClockGuard, ClockVerdict};
use crate::flow::LayerFlow;
use crate::packet::{DecoderConfig, RawPacket, TimestampUs, Weird};
use crate::{
    DecodedPacket, Decoder, FlowRecord, FlowSink, FlowTable, FlowTableConfig, FlowTableStats,
    IngestError, PcapReader, Position,
};

/// Sees each layer of each packet that was counted in a flow, with that flow
/// (see [`FlowTable::process_observed`]). Closures
/// `FnMut(&DecodedPacket, LayerFlow)` are observers; `()` is the observer that
/// does nothing.
pub trait LayerObserver {
    /// Layer `flow.layer` of `packet` was counted in the flow `flow` describes.
    fn layer(&mut self, packet: &DecodedPacket, flow: LayerFlow<'_>);
}

impl<F: FnMut(&DecodedPacket, LayerFlow<'_>)> LayerObserver for F {
    fn layer(&mut self, packet: &DecodedPacket, flow: LayerFlow<'_>) {
        self(packet, flow)
    }
}

impl LayerObserver for () {
    fn layer(&mut self, _: &DecodedPacket, _: LayerFlow<'_>) {}
}

/// Counters of a [`CaptureLoop`] run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CaptureStats {
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
    /// Read errors that cut a capture short, each naming the capture and packet index.
    pub errors: Vec<String>,
    /// The flow table's own counters.
    #[serde(skip)]
    pub table: FlowTableStats,
}

/// Capture → decoded packets → flows (see the [module documentation](self)).
#[derive(Debug)]
pub struct CaptureLoop {
    decoder: Decoder,
    /// Reused for every packet.
    decoded: DecodedPacket,
    table: FlowTable,
    reader: Option<PcapReader>,
    /// Whether the open capture ended (cleanly or not); it is then never read again.
    ended: bool,
    /// The open capture's name.
    source: String,
    /// 1-based index of the last packet read from it (0 before its first).
    packet: u64,
    /// Whether the last packet read went to the flow table already.
    accounted: bool,
    /// Refuses packets whose timestamps cannot be right.
    clock: ClockGuard,
    stats: CaptureStats,
}

impl Default for CaptureLoop {
    fn default() -> Self {
        Self::new(DecoderConfig::default(), FlowTableConfig::default())
    }
}

impl CaptureLoop {
    /// A loop with empty state and no capture open.
    pub fn new(decoder: DecoderConfig, table: FlowTableConfig) -> Self {
        Self {
            decoder: Decoder::new(decoder),
            decoded: DecodedPacket::default(),
            table: FlowTable::new(table),
            reader: None,
            ended: false,
            source: String::new(),
            packet: 0,
            accounted: true,
            clock: ClockGuard::default(),
            stats: CaptureStats::default(),
        }
    }

    /// Read `reader` next (the capture before it, if any, is closed; open flows carry over).
    pub fn open(&mut self, reader: PcapReader) {
        self.stats.captures += 1;
        self.source = reader.name().to_string();
        self.packet = 0;
        self.accounted = true;
        self.clock.restart();
        self.reader = Some(reader);
        self.ended = false;
    }

    /// Read, decode and account the next packet of the open capture: the flows it ends
    /// go to `sink`, each of its layers counted in a flow to `observer`.
    ///
    /// `Ok(true)`: a packet was accounted ([`position`](Self::position) and
    /// [`decoded`](Self::decoded) describe it). `Ok(false)`: the capture ended (or none
    /// is open). `Err`: the capture could not be read further (a truncated record, a
    /// corrupt header); the packets before were accounted, the error is kept in
    /// [`CaptureStats::errors`], and the capture counts as ended, since libpcap cannot
    /// resynchronise.
    pub fn next_packet(
        &mut self,
        sink: &mut impl FlowSink,
        observer: &mut impl LayerObserver,
    ) -> Result<bool, IngestError> {
        let read = self.decode_next()?;
        if read {
            self.account(sink, observer);
        }
        Ok(read)
    }

    /// The first half of [`next_packet`](Self::next_packet): read and decode the next
    /// packet (counted in the stats) without giving it to the flow table, so the caller
    /// can look at it first; [`account`](Self::account) then does, unless the caller
    /// skips it (a packet a checkpoint covers). A packet not accounted before the next
    /// read is skipped.
    pub fn decode_next(&mut self) -> Result<bool, IngestError> {
        self.read_next(true)
    }

    /// Read past the next packet without decoding it (a packet a checkpoint covers):
    /// it counts as read and moves the [`position`](Self::position), but neither the
    /// decoder (its fragment reassembly) nor the flow table sees it, and
    /// [`decoded`](Self::decoded) still holds the last packet decoded. Same results as
    /// [`decode_next`](Self::decode_next) otherwise.
    pub fn skip_next(&mut self) -> Result<bool, IngestError> {
        self.read_next(false)
    }

    /// Read the next packet, decoding it if `decode`.
    fn read_next(&mut self, decode: bool) -> Result<bool, IngestError> {
        let Some(reader) = self.reader.as_mut().filter(|_| !self.ended) else {
            return Ok(false);
        };
        let pkt = match reader.next_packet() {
            Ok(Some(p)) => p,
            Ok(None) => {
                self.ended = true;
                return Ok(false);
            }
            Err(e) => {
                self.ended = true;
                self.stats.errors.push(e.to_string());
                return Err(e);
            }
        };
        self.packet = pkt.index + 1;
        if !decode {
            self.stats.packets += 1;
            self.stats.bytes += pkt.data.len() as u64;
            self.accounted = true;
            return Ok(true);
        }
        let Self { decoder, decoded, stats, accounted, clock, .. } = self;
        *accounted = !decode_counted(decoder, clock, decoded, stats, &pkt.raw());
        Ok(true)
    }

    /// Decode a packet handed over whole rather than read from a capture (a Kafka
    /// message): [`decoded`](Self::decoded) then holds it, and [`account`](Self::account)
    /// gives it to the flow table, as after [`decode_next`](Self::decode_next).
    pub fn decode_packet(&mut self, raw: &RawPacket<'_>) {
        let Self { decoder, decoded, stats, accounted, clock, .. } = self;
        *accounted = !decode_counted(decoder, clock, decoded, stats, raw);
    }

    /// The second half of [`next_packet`](Self::next_packet): give the packet
    /// [`decode_next`](Self::decode_next) read to the flow table; the flows it ends go
    /// to `sink`, each of its layers counted in a flow to `observer`. Once per packet:
    /// a second call does nothing.
    pub fn account(&mut self, sink: &mut impl FlowSink, observer: &mut impl LayerObserver) {
        if std::mem::replace(&mut self.accounted, true) {
            return;
        }
        let Self { decoded, table, stats, .. } = self;
        let mut counting = CountingSink { inner: sink, count: &mut stats.flows };
        table.process_observed(decoded, &mut counting, &mut |lf| observer.layer(decoded, lf));
    }

    /// Open `reader` and read it to its end with no observer, the flows it ends going
    /// to `sink`; returns the read error that cut it short, if any.
    pub fn read_capture(
        &mut self,
        reader: PcapReader,
        sink: &mut impl FlowSink,
    ) -> Option<IngestError> {
        self.open(reader);
        loop {
            match self.next_packet(sink, &mut ()) {
                Ok(true) => {}
                Ok(false) => return None,
                Err(e) => return Some(e),
            }
        }
    }

    /// The name of the capture open ([`PcapReader::name`]: file path, `-` or interface).
    pub fn source(&self) -> &str {
        &self.source
    }

    /// 1-based index of the last packet read from the open capture (0 before its first).
    pub fn packet(&self) -> u64 {
        self.packet
    }

    /// Where the last packet read sits in its capture ([`source`](Self::source)):
    /// [`Position::Packet`] with its 1-based index. Once it is accounted, a checkpoint
    /// taken here covers that packet and every one before it in the capture.
    pub fn position(&self) -> Position {
        Position::Packet(self.packet)
    }

    /// The last packet read, decoded (its weirds, timestamp, layers).
    pub fn decoded(&self) -> &DecodedPacket {
        &self.decoded
    }

    /// Approximate bytes of the open capture consumed so far, for progress.
    pub fn bytes_read(&self) -> u64 {
        self.reader.as_ref().map_or(0, PcapReader::bytes_read)
    }

    /// Time moved to `now` with no packet (a quiet stream): flows idle or active past
    /// their timeouts by then end, to `sink`.
    pub fn advance(&mut self, now: TimestampUs, sink: &mut impl FlowSink) {
        let mut counting = CountingSink { inner: sink, count: &mut self.stats.flows };
        self.table.advance(now, &mut counting);
    }

    /// End of input: every open flow ends, to `sink`.
    pub fn flush(&mut self, sink: &mut impl FlowSink) {
        let mut counting = CountingSink { inner: sink, count: &mut self.stats.flows };
        self.table.flush(&mut counting);
    }

    /// Weird events by name so far.
    pub fn weirds(&self) -> &BTreeMap<&'static str, u64> {
        &self.stats.weirds
    }

    /// The counters so far, the flow table's included.
    pub fn stats(&self) -> CaptureStats {
        CaptureStats { table: self.table.stats(), ..self.stats.clone() }
    }

    /// [`flush`](Self::flush), then the run's counters.
    pub fn finish(mut self, sink: &mut impl FlowSink) -> CaptureStats {
        self.flush(sink);
        self.stats.table = self.table.stats();
        self.stats
    }
}

/// Decode `raw` into `decoded`, counting it (and its weirds) in `stats`; false when its
/// timestamp is refused ([`ClockGuard`]): it is then counted with that weird alone, and
/// neither reassembly nor the flow table may see it.
fn decode_counted(
    decoder: &mut Decoder,
    clock: &mut ClockGuard,
    decoded: &mut DecodedPacket,
    stats: &mut CaptureStats,
    raw: &RawPacket<'_>,
) -> bool {
    stats.packets += 1;
    stats.bytes += raw.data.len() as u64;
    let verdict = clock.check(raw.ts);
    if let ClockVerdict::Refused(_) = verdict {
        decoded.reset(raw);
    } else {
        decoder.decode_into(raw, decoded);
        if decoded.layers.is_empty() && !decoded.held_fragment {
            stats.non_ip_packets += 1;
        }
    }
    if let ClockVerdict::Odd(name) | ClockVerdict::Refused(name) = verdict {
        decoded.weirds.push(Weird { name, addl: Some(raw.ts.to_string()) });
    }
    for w in &decoded.weirds {
        *stats.weirds.entry(w.name).or_default() += 1;
    }
    !matches!(verdict, ClockVerdict::Refused(_))
}

/// Counts the flows passed on.
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

#[cfg(test)]
mod tests {
    use std::io::Cursor;
    use std::path::PathBuf;

    use super::*;

    fn sample() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../samples/ssh.pcap")
    }

    /// The sample's flows, read whole through one loop.
    fn sample_flows() -> Vec<FlowRecord> {
        let mut flows = Vec::new();
        let mut capture = CaptureLoop::default();
        assert!(capture.read_capture(PcapReader::open(sample()).unwrap(), &mut flows).is_none());
        capture.finish(&mut flows);
        flows
    }

    /// A classic pcap cut in two after `n` packets: two captures, each with the header.
    fn split(pcap: &[u8], n: usize) -> (Vec<u8>, Vec<u8>) {
        let mut at = 24;
        for _ in 0..n {
            at += 16 + u32::from_le_bytes(pcap[at + 8..at + 12].try_into().unwrap()) as usize;
        }
        (pcap[..at].to_vec(), [&pcap[..24], &pcap[at..]].concat())
    }

    #[test]
    fn counts_observes_and_tracks_the_position() {
        let mut capture = CaptureLoop::default();
        capture.open(PcapReader::open(sample()).unwrap());
        let mut flows = Vec::new();
        let (mut observed, mut last) = (0u64, 0u64);
        let mut observer = |_: &DecodedPacket, _: LayerFlow<'_>| observed += 1;
        while capture.next_packet(&mut flows, &mut observer).unwrap() {
            assert_eq!(capture.packet(), last + 1, "1-based, one at a time");
            last = capture.packet();
        }
        assert_eq!(capture.position(), Position::Packet(1797));
        assert_eq!(capture.source(), sample().display().to_string());
        assert!(!capture.next_packet(&mut flows, &mut ()).unwrap(), "an ended capture stays ended");
        let stats = capture.finish(&mut flows);
        assert_eq!((stats.captures, stats.packets), (1, 1797));
        assert_eq!(stats.flows, flows.len() as u64);
        assert_eq!(stats.table.emitted, stats.flows);
        // Every packet of this capture is one IPv4 TCP or UDP layer counted in a flow.
        assert_eq!(observed, 1797);
        assert_eq!(flows, sample_flows());
    }

    #[test]
    fn a_cut_capture_keeps_what_came_before_and_reports_where() {
        let bytes = std::fs::read(sample()).unwrap();
        let cut = bytes[..bytes.len() - 10].to_vec();
        let mut capture = CaptureLoop::default();
        let mut flows = Vec::new();
        let reader = PcapReader::from_reader("cut.pcap", Cursor::new(cut)).unwrap();
        let err = capture.read_capture(reader, &mut flows).expect("the cut is reported");
        assert!(err.to_string().starts_with("cut.pcap: packet 1796:"), "{err}");
        assert_eq!((capture.source(), capture.position()), ("cut.pcap", Position::Packet(1796)));
        let stats = capture.finish(&mut flows);
        assert_eq!(stats.packets, 1796);
        assert_eq!(stats.errors, vec![err.to_string()]);
        assert_eq!(flows.len(), sample_flows().len(), "the same flows, the last one packet short");
    }

    #[test]
    fn captures_in_a_row_share_the_flow_table() {
        let (head, tail) = split(&std::fs::read(sample()).unwrap(), 900);
        let mut capture = CaptureLoop::default();
        let mut flows = Vec::new();
        for (name, part) in [("head.pcap", head), ("tail.pcap", tail)] {
            let reader = PcapReader::from_reader(name, Cursor::new(part)).unwrap();
            assert!(capture.read_capture(reader, &mut flows).is_none());
        }
        assert_eq!((capture.source(), capture.packet()), ("tail.pcap", 1797 - 900));
        let stats = capture.finish(&mut flows);
        assert_eq!((stats.captures, stats.packets), (2, 1797));
        assert_eq!(flows, sample_flows(), "a capture cut in two gives the flows of the whole");
    }

    #[test]
    fn skipped_packets_move_the_position_only() {
        let mut capture = CaptureLoop::default();
        capture.open(PcapReader::open(sample()).unwrap());
        let mut flows = Vec::new();
        while capture.packet() < 1000 {
            assert!(capture.skip_next().unwrap());
        }
        assert_eq!(capture.position(), Position::Packet(1000));
        capture.account(&mut flows, &mut ()); // nothing decoded: nothing to account
        while capture.next_packet(&mut flows, &mut ()).unwrap() {}
        let stats = capture.finish(&mut flows);
        assert_eq!(stats.packets, 1797);
        let in_flows: u64 = flows.iter().map(|f| f.orig.pkts + f.resp.pkts).sum();
        assert_eq!(in_flows, 797);
    }

    #[test]
    fn a_packet_decoded_but_not_accounted_is_skipped() {
        let mut capture = CaptureLoop::default();
        capture.open(PcapReader::open(sample()).unwrap());
        let (mut flows, mut skipped) = (Vec::new(), 0);
        while capture.decode_next().unwrap() {
            if capture.packet() % 2 == 0 {
                skipped += 1;
                continue;
            }
            capture.account(&mut flows, &mut ());
            capture.account(&mut flows, &mut ()); // once only
        }
        let stats = capture.finish(&mut flows);
        assert_eq!(stats.packets, 1797, "read, skipped or not");
        assert_eq!(skipped, 1797 / 2);
        let in_flows: u64 = flows.iter().map(|f| f.orig.pkts + f.resp.pkts).sum();
        assert_eq!(in_flows, 1797 - skipped, "only the accounted packets are in flows");
    }
}
