//! netFound tokens for every flow of a capture.
//!
//! The flow table decides which flow each packet layer belongs to
//! ([`FlowTable::process_observed`]); the tokenizer turns the layers of a flow
//! into bursts of header tokens. A flow's tokens come out when the tokenizer
//! emits them early (after N bursts), when the flow table ends the flow, when
//! the tokenizer evicts it, or at the end of input.

use std::collections::BTreeMap;

use serde::Serialize;
use vigil_ingest::packet::DecoderConfig;
use vigil_ingest::{DecodedPacket, Decoder, FlowRecord, FlowTable, FlowTableConfig, PcapReader};
use vigil_tokenizers::{FlowRef, FlowTokens, NetfoundConfig, NetfoundStats, NetfoundTokenizer};

/// Counters of one tokenizing run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct NetfoundRun {
    /// Packets read.
    pub packets: u64,
    /// Flows the flow table ended.
    pub flows: u64,
    /// Flows whose tokens were emitted.
    pub token_rows: u64,
    /// Layers the tokenizer refused, by reason (e.g. protocols netFound has no fields for).
    pub rejected: BTreeMap<String, u64>,
    /// The read error that ended the capture early, if any.
    pub error: Option<String>,
    /// The tokenizer's own counters.
    #[serde(skip)]
    pub tokenizer: NetfoundStats,
}

/// Tokenize the flows of one capture, handing each flow's tokens to `out` as they are ready.
pub fn netfound_from_capture(
    mut reader: PcapReader,
    decoder: DecoderConfig,
    table: FlowTableConfig,
    config: NetfoundConfig,
    out: &mut impl FnMut(FlowTokens),
) -> Result<NetfoundRun, vigil_tokenizers::TokenizerError> {
    let mut tokenizer = NetfoundTokenizer::new(config)?;
    let mut decoder = Decoder::new(decoder);
    let mut table = FlowTable::new(table);
    let mut decoded = DecodedPacket::default();
    let mut ended: Vec<FlowRecord> = Vec::new();
    let mut run = NetfoundRun::default();
    let mut emit = |t: FlowTokens, run: &mut NetfoundRun| {
        run.token_rows += 1;
        out(t);
    };
    loop {
        let pkt = match reader.next_packet() {
            Ok(Some(p)) => p,
            Ok(None) => break,
            Err(e) => {
                run.error = Some(e.to_string());
                break;
            }
        };
        run.packets += 1;
        decoder.decode_into(&pkt.raw(), &mut decoded);
        let mut early = Vec::new();
        table.process_observed(&decoded, &mut ended, &mut |lf| {
            let flow = FlowRef {
                flow_id: lf.flow_id,
                community_id: lf.community_id,
                orig_addr: lf.orig_h,
                orig_port: lf.orig_p,
            };
            match tokenizer.push(flow, decoded.ts, &decoded.layers[lf.layer]) {
                Ok(Some(t)) => early.push(t),
                Ok(None) => {}
                Err(e) => *run.rejected.entry(rejection_kind(&e)).or_default() += 1,
            }
        });
        for t in early.into_iter().chain(tokenizer.take_evicted()) {
            emit(t, &mut run);
        }
        for f in ended.drain(..) {
            run.flows += 1;
            if let Some(t) = tokenizer.finish(f.flow_id) {
                emit(t, &mut run);
            }
        }
    }
    table.flush(&mut ended);
    run.flows += ended.len() as u64;
    for f in ended.drain(..) {
        if let Some(t) = tokenizer.finish(f.flow_id) {
            emit(t, &mut run);
        }
    }
    for t in tokenizer.finish_all() {
        emit(t, &mut run);
    }
    run.tokenizer = tokenizer.stats();
    Ok(run)
}

/// The error's kind without per-flow detail, for counting.
fn rejection_kind(e: &vigil_tokenizers::TokenizerError) -> String {
    let text = e.to_string();
    let kind = text.split(':').next().unwrap_or(&text);
    kind.chars().filter(|c| !c.is_ascii_digit()).collect::<String>().trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn sample() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../samples/ssh.pcap")
    }

    #[test]
    fn every_flow_of_the_sample_gets_tokens_once() {
        let mut got = Vec::new();
        let run = netfound_from_capture(
            PcapReader::open(sample()).unwrap(),
            DecoderConfig::default(),
            FlowTableConfig::default(),
            NetfoundConfig::default(),
            &mut |t| got.push(t),
        )
        .unwrap();
        assert_eq!(run.packets, 1797);
        assert!(run.error.is_none());
        let mut ids: Vec<u64> = got.iter().map(|t| t.flow_id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), got.len(), "no flow is emitted twice");
        // The flow table and the tokenizer agree on the flows (all are TCP/UDP/ICMP here).
        assert_eq!(got.len() as u64, run.flows);
        assert!(got.iter().all(|t| t.community_id.starts_with("1:") && !t.bursts.is_empty()));
        // A netFound burst holds at most 6 packets and a flow at most 12 bursts.
        assert!(got.iter().all(|t| t.bursts.len() <= 12));
        assert!(got.iter().flat_map(|t| &t.bursts).all(|b| b.packets <= 6));
    }
}
