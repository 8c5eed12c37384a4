//! netFound tokens for every flow of a capture.
//!
//! The capture loop ([`CaptureLoop`]) reports which flow each packet layer was counted
//! in; the tokenizer turns the layers of a flow into bursts of header tokens. A flow's
//! tokens come out when the tokenizer emits them early (after N bursts), when the flow
//! table ends the flow, when the tokenizer evicts it, or at the end of input.

use std::collections::BTreeMap;

use serde::Serialize;
use vigil_ingest::capture::CaptureLoop;
use vigil_ingest::flow::LayerFlow;
use vigil_ingest::packet::DecoderConfig;
use vigil_ingest::{DecodedPacket, FlowRecord, FlowSink, FlowTableConfig, PcapReader};
use vigil_tokenizers::{FlowTokens, NetfoundConfig, NetfoundStats, NetfoundTokenizer};

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

/// Tokenize the flows of one capture (a flow table of its own), handing each flow's
/// tokens to `out` as they are ready and each flow to `flows` once its tokens are out.
pub fn netfound_from_capture(
    reader: PcapReader,
    decoder: DecoderConfig,
    table: FlowTableConfig,
    config: NetfoundConfig,
    out: &mut impl FnMut(FlowTokens),
    flows: &mut impl FlowSink,
) -> Result<NetfoundRun, vigil_tokenizers::TokenizerError> {
    let mut tokenizer = NetfoundTokenizer::new(config)?;
    let mut capture = CaptureLoop::new(decoder, table);
    let mut ended: Vec<FlowRecord> = Vec::new();
    let (mut token_rows, mut rejected) = (0u64, BTreeMap::new());
    let mut emit = |t: FlowTokens| {
        token_rows += 1;
        out(t);
    };
    let mut error = None;
    capture.open(reader);
    loop {
        let mut early = Vec::new();
        let mut observe = |pkt: &DecodedPacket, lf: LayerFlow<'_>| match tokenizer.push(
            lf.into(),
            pkt.ts,
            &pkt.layers[lf.layer],
        ) {
            Ok(Some(t)) => early.push(t),
            Ok(None) => {}
            Err(e) => *rejected.entry(rejection_kind(&e)).or_default() += 1,
        };
        match capture.next_packet(&mut ended, &mut observe) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => {
                error = Some(e.to_string());
                break;
            }
        }
        early.into_iter().chain(tokenizer.take_evicted()).for_each(&mut emit);
        end_flows(&mut ended, &mut tokenizer, &mut emit, flows);
    }
    let stats = capture.finish(&mut ended);
    end_flows(&mut ended, &mut tokenizer, &mut emit, flows);
    tokenizer.finish_all().into_iter().for_each(&mut emit);
    Ok(NetfoundRun {
        packets: stats.packets,
        flows: stats.flows,
        token_rows,
        rejected,
        error,
        tokenizer: tokenizer.stats(),
    })
}

/// Each ended flow's last tokens, then the flow itself.
fn end_flows(
    ended: &mut Vec<FlowRecord>,
    tokenizer: &mut NetfoundTokenizer,
    emit: &mut impl FnMut(FlowTokens),
    flows: &mut impl FlowSink,
) {
    for f in ended.drain(..) {
        if let Some(t) = tokenizer.finish(f.flow_id) {
            emit(t);
        }
        flows.flow(f);
    }
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
            &mut |_: FlowRecord| {},
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
