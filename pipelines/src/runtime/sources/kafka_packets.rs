//! A Kafka topic of packets → flows, through the same decoder, flow table and
//! netFound tokenizer as capture files.
//!
//! Each message is one classic pcap record: a 16-byte header (little-endian seconds,
//! microseconds, captured length, length on the wire) and the captured bytes. The
//! link type is the message header `vigil.linktype` (a decimal `LINKTYPE_` number;
//! Ethernet when absent). `vigil kafka produce capture.pcap` writes them so, keyed by
//! host pair, so that each flow's packets stay in order in one partition.
//!
//! A flow spans many messages, so a partition's offset may be stored only once every
//! flow holding a packet at or before it is delivered: the state a batch carries is,
//! for each partition, the first offset of the oldest flow still open with packets
//! from it, else the offset after the last message read. A restart after a crash
//! replays from there, which rebuilds every open flow whole (flows delivered before
//! the crash whose packets lie after that offset are built again: at least once). At
//! a clean stop every open flow ends and is delivered, as at the end of a capture.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Instant;

use vigil_ingest::{DeadLetter, LinkType, RawPacket};
use vigil_tokenizers::NetfoundConfig;

use super::kafka_format::Message;
use super::packet_flows::PacketFlows;
use crate::runtime::record::Envelope;

/// The message header that names a packet's link type.
pub const LINKTYPE_HEADER: &str = "vigil.linktype";

/// Length of a pcap record header.
const RECORD_HEADER: usize = 16;

/// After this long with no message, stream time moves on by the wall time elapsed,
/// so that idle flows of a quiet topic end.
const QUIET: std::time::Duration = std::time::Duration::from_secs(5);

/// A packet as one message's payload: a pcap record (µs timestamp).
pub fn encode_record(ts_us: i64, data: &[u8], wire_len: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity(RECORD_HEADER + data.len());
    let (secs, micros) = (ts_us.div_euclid(1_000_000), ts_us.rem_euclid(1_000_000));
    out.extend_from_slice(&(secs as u32).to_le_bytes());
    out.extend_from_slice(&(micros as u32).to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out.extend_from_slice(&wire_len.to_le_bytes());
    out.extend_from_slice(data);
    out
}

/// A message's packet: timestamp (µs), length on the wire, captured bytes.
fn decode_record(payload: &[u8]) -> Result<(i64, u32, &[u8]), String> {
    if payload.len() < RECORD_HEADER {
        return Err(format!(
            "{} bytes: shorter than a pcap record header ({RECORD_HEADER})",
            payload.len()
        ));
    }
    let word = |i: usize| u32::from_le_bytes(payload[i..i + 4].try_into().expect("4 bytes"));
    let (secs, micros, caplen, wire_len) = (word(0), word(4), word(8), word(12));
    let data = &payload[RECORD_HEADER..];
    if micros >= 1_000_000 {
        return Err(format!("microseconds field is {micros}"));
    }
    if caplen as usize != data.len() {
        return Err(format!(
            "the record header says {caplen} captured bytes, the message holds {}",
            data.len()
        ));
    }
    if wire_len < caplen {
        return Err(format!("length on the wire {wire_len} is less than captured {caplen}"));
    }
    Ok((i64::from(secs) * 1_000_000 + i64::from(micros), wire_len, data))
}

/// A message's link type, from its `vigil.linktype` header.
fn linktype(m: &Message) -> Result<LinkType, String> {
    match &m.linktype {
        None => Ok(LinkType::ETHERNET),
        Some(v) => v
            .trim()
            .parse()
            .map(LinkType)
            .map_err(|_| format!("header {LINKTYPE_HEADER} is `{v}`, not a link type number")),
    }
}

type Partition = (String, i32);

/// Packets of a Kafka source → flows, and the offsets their delivery makes safe.
pub struct KafkaPackets {
    flows: PacketFlows,
    /// Open flows: the first offset of their packets in each partition.
    open: HashMap<u64, Vec<(Partition, i64)>>,
    /// Per partition, the first offsets of its open flows, with the flows' ids.
    firsts: BTreeMap<Partition, BTreeSet<(i64, u64)>>,
    /// Per partition, the offset after the last message read.
    next: BTreeMap<Partition, i64>,
    /// The latest packet time, and when (wall clock) the last message came.
    clock: Option<(i64, Instant)>,
}

impl KafkaPackets {
    /// Empty state for `sensor`, tokenizing with `tokens` when a netFound model reads it.
    pub fn new(sensor: &str, tokens: Option<NetfoundConfig>) -> anyhow::Result<KafkaPackets> {
        Ok(KafkaPackets {
            flows: PacketFlows::new(sensor, tokens)?,
            open: HashMap::new(),
            firsts: BTreeMap::new(),
            next: BTreeMap::new(),
            clock: None,
        })
    }

    /// Decode and account `messages`: the flows they end (an envelope of `sensor`'s
    /// rows), and a dead letter for each message that is not a packet.
    pub fn decode(
        &mut self,
        messages: &[Message],
        sensor: &str,
    ) -> anyhow::Result<(Option<Envelope>, Vec<DeadLetter>)> {
        let mut dead = Vec::new();
        for m in messages {
            let part = (m.topic.clone(), m.partition);
            let next = self.next.entry(part.clone()).or_insert(0);
            *next = (*next).max(m.offset + 1);
            let (ts, wire_len, data) = match decode_record(&m.payload) {
                Ok(r) => r,
                Err(reason) => {
                    dead.push(m.dead(reason));
                    continue;
                }
            };
            let linktype = match linktype(m) {
                Ok(l) => l,
                Err(reason) => {
                    dead.push(m.dead(reason));
                    continue;
                }
            };
            let latest = self.clock.map_or(ts, |(t, _)| t.max(ts));
            self.clock = Some((latest, Instant::now()));
            self.flows.capture.decode_packet(&RawPacket { ts, data, wire_len, linktype });
            let KafkaPackets { flows, open, firsts, .. } = self;
            flows.account(|flow_id| {
                let parts = open.entry(flow_id).or_default();
                if !parts.iter().any(|(p, _)| *p == part) {
                    parts.push((part.clone(), m.offset));
                    firsts.entry(part.clone()).or_default().insert((m.offset, flow_id));
                }
            });
        }
        Ok((self.take_ended(sensor)?, dead))
    }

    /// A quiet stream: once no message came for a while, stream time moves on by the
    /// wall time since the last one; the flows that ends come back as rows.
    pub fn tick(&mut self, sensor: &str) -> anyhow::Result<Option<Envelope>> {
        match self.clock {
            Some((ts, at)) if at.elapsed() >= QUIET => {
                self.flows.advance(ts + at.elapsed().as_micros() as i64);
                self.take_ended(sensor)
            }
            _ => Ok(None),
        }
    }

    /// End every open flow (a clean stop); their rows.
    pub fn end_all(&mut self, sensor: &str) -> anyhow::Result<Option<Envelope>> {
        self.flows.end_all();
        self.take_ended(sensor)
    }

    /// Time spent tokenizing since the last call.
    pub fn take_tokenize_time(&mut self) -> std::time::Duration {
        self.flows.take_tokenize_time()
    }

    /// Weird events by name so far.
    pub fn weirds(&self) -> &std::collections::BTreeMap<&'static str, u64> {
        self.flows.capture.weirds()
    }

    /// For each partition read, the offset to store once the flows ended so far are
    /// delivered: the first offset of its oldest open flow, else the next to read.
    pub fn offsets(&self) -> Vec<(String, i32, i64)> {
        self.next
            .iter()
            .map(|(part, next)| {
                let oldest = self.firsts.get(part).and_then(|s| s.first()).map(|(o, _)| *o);
                (part.0.clone(), part.1, oldest.unwrap_or(*next).min(*next))
            })
            .collect()
    }

    /// The flows ended so far, no longer open.
    fn take_ended(&mut self, sensor: &str) -> anyhow::Result<Option<Envelope>> {
        let ended = self.flows.take_ended();
        for (f, _) in &ended {
            for (part, first) in self.open.remove(&f.flow_id).unwrap_or_default() {
                if let Some(s) = self.firsts.get_mut(&part) {
                    s.remove(&(first, f.flow_id));
                }
            }
        }
        if ended.is_empty() {
            return Ok(None);
        }
        self.flows.envelope(ended, sensor).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_bad_ones_say_why() {
        let rec = encode_record(1_700_000_000_123_456, b"abcdef", 60);
        assert_eq!(decode_record(&rec).unwrap(), (1_700_000_000_123_456, 60, &b"abcdef"[..]));
        assert!(decode_record(&rec[..10]).unwrap_err().contains("shorter"));
        assert!(decode_record(&rec[..20]).unwrap_err().contains("6 captured bytes"));
    }

    #[test]
    fn offsets_wait_for_open_flows() {
        let mut p = KafkaPackets::new("s1", None).unwrap();
        // A UDP packet 10.0.0.1:1000 → 10.0.0.2:53 over raw IP.
        let mut ip = vec![0x45, 0, 0, 36, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2];
        ip.extend_from_slice(&[0x03, 0xe8, 0, 53, 0, 16, 0, 0]);
        ip.extend_from_slice(&[0; 8]);
        let msg = |offset: i64, payload: Vec<u8>| Message {
            topic: "pkts".into(),
            partition: 0,
            offset,
            payload,
            linktype: Some("101".into()),
        };
        let good = encode_record(1_700_000_000_000_000, &ip, ip.len() as u32);
        let messages = [msg(5, good.clone()), msg(6, b"junk".to_vec()), msg(7, good)];
        let (rows, dead) = p.decode(&messages, "s1").unwrap();
        assert!(rows.is_none());
        assert_eq!(dead.len(), 1);
        assert_eq!(dead[0].position.to_string(), "partition 0 offset 6");
        // The flow is open: its first packet's offset is where a replay must start.
        assert_eq!(p.offsets(), vec![("pkts".to_string(), 0, 5)]);
        let rows = p.end_all("s1").unwrap().unwrap();
        assert_eq!(rows.rows(), 1);
        assert_eq!(p.offsets(), vec![("pkts".to_string(), 0, 8)]);
    }
}
