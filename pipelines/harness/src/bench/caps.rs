//! The state caps under adversarial keys: every piece of per-key state a hostile input
//! can grow is held to its cap, counts what it evicts, and costs about the same per
//! item whether the input has 10 thousand or a million distinct keys.
//!
//! - flow table: a SYN flood from random sources (`vigil gen syn-flood`), one flow each;
//! - IPv4 and IPv6 fragment reassembly: tiny, half overlapping fragments (`vigil gen
//!   fragments`, `ipv6-fragments`), one datagram key each;
//! - HSTU entity state: action events of that many distinct users;
//! - alert suppression: rule matches for that many distinct sources.
//!
//! Each is timed alone (items per second of one thread), from input already in memory.

use std::time::Instant;

use serde::Serialize;
use vigil_ingest::actions::ActionEvent;
use vigil_ingest::capture::CaptureLoop;
use vigil_ingest::flow::FlowTableConfig;
use vigil_ingest::packet::{DecoderConfig, LinkType, RawPacket};
use vigil_ingest::synth::{GenConfig, TrafficKind, generate};
use vigil_pipelines::alerting::threshold::{Threshold, Thresholds, Track};
use vigil_tokenizers::actions::{ActionSequenceConfig, ActionSequencer, ActionVocab};

/// The cap each keyed state runs with here (the flow table's and the entity state's
/// defaults are larger; the reassembly table's is its default, 4,096).
pub const BENCH_CAP: usize = 100_000;

/// One state at one number of distinct keys.
#[derive(Debug, Clone, Serialize)]
pub struct CapsRow {
    /// Which state.
    pub state: &'static str,
    /// Distinct keys in the input.
    pub keys: usize,
    /// Items fed (packets, events, matches).
    pub items: u64,
    /// Its cap.
    pub cap: usize,
    /// Keys held at the end (never above the cap).
    pub held: usize,
    /// Keys evicted at the cap.
    pub evicted: u64,
    /// Nanoseconds per item.
    pub ns_per_item: f64,
}

/// Every state at each of `sizes` distinct keys.
pub fn bench_caps(sizes: &[usize]) -> Vec<CapsRow> {
    let mut rows = Vec::new();
    for &n in sizes {
        rows.push(packets("flow table (SYN flood)", TrafficKind::SynFlood, n));
        rows.push(packets("IPv4 fragments (tiny, overlapping)", TrafficKind::Fragments, n));
        rows.push(packets("IPv6 fragments (tiny, overlapping)", TrafficKind::Ipv6Fragments, n));
        rows.push(entities(n));
        rows.push(suppression(n));
    }
    rows
}

/// Whether an Ethernet frame is the last fragment of its datagram (IPv4 or IPv6).
fn last_fragment(frame: &[u8]) -> bool {
    match frame.get(12..14) {
        Some([0x08, 0x00]) => frame.get(20).is_some_and(|f| f & 0x20 == 0),
        Some([0x86, 0xdd]) => frame.get(57).is_some_and(|f| f & 1 == 0),
        _ => false,
    }
}

/// Packets of `kind` with `n` keys through decoding and the flow table. Fragmented
/// datagrams lose their last fragment: never complete, each holds reassembly state.
fn packets(state: &'static str, kind: TrafficKind, n: usize) -> CapsRow {
    let config = GenConfig { count: n, rate: 1_000_000.0, ..Default::default() };
    let mut packets = generate(kind, &config);
    let fragments = kind != TrafficKind::SynFlood;
    if fragments {
        packets.retain(|p| !last_fragment(&p.frame));
    }
    let decoder = DecoderConfig::default();
    let table = FlowTableConfig { max_flows: BENCH_CAP, ..FlowTableConfig::default() };
    let mut capture = CaptureLoop::new(decoder.clone(), table);
    let mut flows = 0u64;
    let mut sink = |_: vigil_ingest::FlowRecord| flows += 1;
    let started = Instant::now();
    for p in &packets {
        let raw = RawPacket {
            ts: p.ts_us,
            data: &p.frame,
            wire_len: p.frame.len() as u32,
            linktype: LinkType(1),
        };
        capture.decode_packet(&raw);
        capture.account(&mut sink, &mut ());
    }
    let took = started.elapsed();
    let stats = capture.stats();
    let (cap, evicted, held) = if fragments {
        let evicted = stats.weirds.get("fragment_table_full").copied().unwrap_or(0);
        (decoder.max_fragment_datagrams, evicted, decoder.max_fragment_datagrams.min(n))
    } else {
        (BENCH_CAP, stats.table.evicted, stats.table.active as usize)
    };
    CapsRow {
        state,
        keys: n,
        items: packets.len() as u64,
        cap,
        held,
        evicted,
        ns_per_item: took.as_nanos() as f64 / packets.len() as f64,
    }
}

/// `n` users' actions (two each) through the HSTU sequencer.
fn entities(n: usize) -> CapsRow {
    let event = |i: usize| ActionEvent {
        entity: format!("user-{i:07}"),
        ts: 1_700_000_000_000_000 + i as i64 * 1_000,
        action: ["GET 2xx", "POST 2xx", "GET 4xx"][i % 3].into(),
        object: format!("/page/{}", i % 50),
    };
    let events: Vec<ActionEvent> = (0..2 * n).map(|i| event(i % n)).collect();
    let vocab = ActionVocab::fit(events.iter().take(100), 16, 64).expect("a vocabulary");
    let config = ActionSequenceConfig { max_entities: BENCH_CAP, ..Default::default() };
    let mut seq = ActionSequencer::new(config, vocab).expect("a sequencer");
    let started = Instant::now();
    for e in &events {
        std::hint::black_box(seq.push(e));
    }
    let took = started.elapsed();
    let stats = seq.stats();
    CapsRow {
        state: "HSTU entity state (distinct users)",
        keys: n,
        items: events.len() as u64,
        cap: BENCH_CAP,
        held: seq.entities(),
        evicted: stats.evictions,
        ns_per_item: took.as_nanos() as f64 / events.len() as f64,
    }
}

/// Matches of one rule from `n` sources (two each), limited to one a minute per source.
fn suppression(n: usize) -> CapsRow {
    let limit = Threshold::limit_one(Track::BySrc, 60);
    let keys: Vec<String> =
        (0..n).map(|i| format!("10.{}.{}.{}", i >> 16, (i >> 8) & 255, i & 255)).collect();
    let mut state: Thresholds<u64> = Thresholds::new(BENCH_CAP);
    let started = Instant::now();
    for round in 0..2u64 {
        for (i, k) in keys.iter().enumerate() {
            let ts = 1_700_000_000_000_000 + round as i64 * 1_000 + i as i64;
            std::hint::black_box(state.admit(1, &limit, k.clone(), ts, round));
        }
    }
    let took = started.elapsed();
    CapsRow {
        state: "alert suppression (distinct sources)",
        keys: n,
        items: 2 * n as u64,
        cap: BENCH_CAP,
        held: state.tracked_keys(),
        evicted: state.evicted(),
        ns_per_item: took.as_nanos() as f64 / (2 * n) as f64,
    }
}

/// The rows as a text table.
pub fn caps_table(rows: &[CapsRow]) -> String {
    let mut out = format!(
        "{:<38} {:>9} {:>10} {:>8} {:>8} {:>9} {:>9}\n",
        "state", "keys", "items", "cap", "held", "evicted", "ns/item"
    );
    for r in rows {
        out += &format!(
            "{:<38} {:>9} {:>10} {:>8} {:>8} {:>9} {:>9.0}\n",
            r.state, r.keys, r.items, r.cap, r.held, r.evicted, r.ns_per_item
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_state_holds_to_its_cap_and_counts_what_it_evicts() {
        // Only the flow table, entities and suppression reach BENCH_CAP at this size;
        // the reassembly table (4,096) does.
        for r in bench_caps(&[10_000]) {
            assert!(r.held <= r.cap, "{r:?}");
            if r.keys > r.cap {
                assert!(r.evicted > 0, "{r:?}");
            }
        }
    }
}
