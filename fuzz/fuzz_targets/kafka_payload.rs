//! The Kafka payload decoders (flow CSV per mapping, flows/metrics/actions JSON, Arrow
//! IPC, packet records) never panic on any batch of messages. Every message of a
//! line format becomes exactly one row or one dead letter (nothing accepted is lost
//! or doubled); no format gives more dead letters than messages; packet offsets to
//! commit never pass the next message to read.
//!
//! Input: `[format byte, message, 0xFF 0xFE, message, ...]`; with the format byte's top
//! bit set the messages go to two partitions in turn.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigil_ingest::flow_records::ColumnMapping;
use vigil_pipelines::runtime::sources::KafkaFormat;
use vigil_pipelines::runtime::sources::kafka_format::Message;
use vigil_pipelines::runtime::sources::kafka_packets::KafkaPackets;

/// Splits the input into message payloads at each `0xFF 0xFE`.
fn payloads(data: &[u8]) -> Vec<Vec<u8>> {
    let mut out = vec![Vec::new()];
    let mut i = 0;
    while i < data.len() {
        if data[i] == 0xFF && data.get(i + 1) == Some(&0xFE) {
            out.push(Vec::new());
            i += 2;
        } else {
            out.last_mut().expect("one at least").push(data[i]);
            i += 1;
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else { return };
    let mut names: Vec<&str> = KafkaFormat::NAMES.to_vec();
    names.extend(ColumnMapping::builtin_names());
    let name = names[usize::from(pick & 0x7F) % names.len()];
    let format = KafkaFormat::parse(name).expect("a known format");
    let messages: Vec<Message> = payloads(rest)
        .into_iter()
        .enumerate()
        .map(|(i, payload)| Message {
            topic: "fuzz-topic".into(),
            partition: if pick & 0x80 != 0 { (i % 2) as i32 } else { 0 },
            offset: i as i64,
            payload,
            linktype: [None, Some("1"), Some("101"), Some("x")][i % 4].map(String::from),
        })
        .collect();
    let n = messages.len();
    if name == "pcap" {
        let mut packets = KafkaPackets::new("fuzz", None).expect("packet state");
        let (_, dead) = packets.decode(&messages, "fuzz").expect("packets decode");
        assert!(dead.len() <= n, "{} dead letters for {n} messages", dead.len());
        packets.end_all("fuzz").expect("flows end");
        for (topic, partition, offset) in packets.offsets() {
            assert_eq!(topic, "fuzz-topic");
            assert!(offset <= n as i64, "offset {offset} past the messages of {partition}");
        }
        return;
    }
    let (envelope, dead) = match format.decode(&messages, "fuzz") {
        Ok(d) => d,
        Err(e) => panic!("a batch of messages failed as a whole ({name}): {e:#}"),
    };
    let rows = envelope.as_ref().map_or(0, |e| e.batch.num_rows());
    assert!(dead.len() <= n, "{} dead letters for {n} messages", dead.len());
    for d in &dead {
        assert_eq!(d.source, "fuzz-topic", "a dead letter names its topic");
    }
    let one_row_per_message =
        !matches!(name, "metrics_json" | "arrow" | "arrow_metrics" | "arrow_actions");
    if one_row_per_message {
        assert_eq!(
            rows + dead.len(),
            n,
            "{name}: {rows} rows and {} dead letters for {n} messages",
            dead.len()
        );
    }
});
