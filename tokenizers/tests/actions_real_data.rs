//! The action readers and the HSTU sequencer over the real logs in
//! `$VIGIL_DATA/user_actions` (default `../shared/data` next to the repo
//! root): the elastic Apache access log and loghub's OpenSSH sample. Skips,
//! saying why, when the data is not there.

use std::path::PathBuf;

use vigil_ingest::actions::{
    AccessLogConfig, ActionEvent, ActionLogFormat, ActionReader, AuthLogConfig, TemplateMatcher,
};
use vigil_tokenizers::actions::{
    ActionSequenceConfig, ActionSequencer, ActionVocab, DEFAULT_NUM_BUCKETS, PAD_ID,
    to_record_batch,
};

fn find(rel: &str) -> Option<PathBuf> {
    vigil_ingest::data_dir::shared_data(std::path::Path::new(env!("CARGO_MANIFEST_DIR")), rel)
}

fn read_all(mut r: ActionReader) -> (Vec<ActionEvent>, ActionReader) {
    let mut out = Vec::new();
    while let Some(e) = r.next_event().expect("no I/O error") {
        out.push(e);
    }
    (out, r)
}

fn check_sequences(events: &[ActionEvent]) {
    let split = events.len() * 8 / 10;
    let vocab = ActionVocab::fit(&events[..split], 256, 2_048).unwrap();
    let vocab = ActionVocab::from_json(&vocab.to_json()).unwrap();
    let cfg = ActionSequenceConfig { max_len: 200, max_entities: 500, ..Default::default() };
    let mut s = ActionSequencer::new(cfg, vocab).unwrap();
    let snaps: Vec<_> = events.iter().map(|e| s.push(e)).collect();
    for (snap, e) in snaps.iter().zip(events) {
        let pad = 200 - snap.length as usize;
        assert!(snap.length >= 1 && snap.length <= 200);
        assert!(snap.action_ids[..pad].iter().all(|&x| x == PAD_ID));
        assert!(snap.time_buckets.iter().all(|&b| b < DEFAULT_NUM_BUCKETS));
        assert_eq!((snap.entity.as_str(), snap.ts), (e.entity.as_str(), e.ts));
    }
    let batch = to_record_batch(&snaps).unwrap();
    assert_eq!(batch.num_rows(), events.len());
    let st = s.stats();
    println!(
        "{} events, {} late, {} evictions, longest sequence {}",
        st.events,
        st.late_events,
        st.evictions,
        snaps.iter().map(|s| s.length).max().unwrap_or(0)
    );
}

#[test]
fn elastic_apache_access_log() {
    let Some(path) = find("user_actions/web-access-logs/elastic-apache/apache_logs") else {
        return;
    };
    let fmt = ActionLogFormat::AccessLog(AccessLogConfig::default());
    let (events, r) = read_all(ActionReader::open(&path, fmt).unwrap());
    let st = r.stats();
    println!("apache_logs: {st:?}");
    for d in r.dead_letters().iter().take(5) {
        println!(
            "dead letter {}:{}: {} | {}",
            d.source,
            d.line().unwrap(),
            d.reason,
            d.raw_lossy()
        );
    }
    assert_eq!(st.lines, 10_000);
    assert_eq!(st.events + st.dead_letters + st.skipped, st.lines);
    assert!(st.events >= 9_990, "{st:?}");
    assert!(events.iter().all(|e| !e.object.contains('?')));
    assert_eq!(events[0].ts, 1_431_857_103_000_000);
    check_sequences(&events);
}

#[test]
fn loghub_openssh_against_its_labels() {
    let Some(dir) = find("user_actions/loghub/OpenSSH") else {
        return;
    };
    let log = dir.join("OpenSSH_2k.log");
    // Built-in templates alone.
    let cfg = AuthLogConfig { year: 2015, ..Default::default() };
    let (events, r) = read_all(ActionReader::open(&log, ActionLogFormat::AuthLog(cfg)).unwrap());
    assert_eq!(r.stats().dead_letters, 0, "{:?}", r.dead_letters().first());
    assert_eq!(events.len(), 2_000);
    let unmatched = events.iter().filter(|e| e.action.ends_with(":unmatched")).count();
    println!("built-in sshd table: {unmatched} of 2000 lines unmatched");
    assert!(unmatched <= 20, "{unmatched}");
    check_sequences(&events);

    // With loghub's templates, our matcher must agree with loghub's own labels.
    let templates = TemplateMatcher::empty()
        .with_loghub_csv_file(dir.join("OpenSSH_2k.log_templates.csv"))
        .unwrap();
    let cfg = AuthLogConfig { year: 2015, templates, ..Default::default() };
    let (events, _) = read_all(ActionReader::open(&log, ActionLogFormat::AuthLog(cfg)).unwrap());
    let mut labels = csv::Reader::from_path(dir.join("OpenSSH_2k.log_structured.csv")).unwrap();
    let idx = labels.headers().unwrap().iter().position(|h| h == "EventId").unwrap();
    let mut agree = 0;
    for (e, rec) in events.iter().zip(labels.records()) {
        let rec = rec.unwrap();
        if e.action == rec[idx] {
            agree += 1;
        } else if agree < 5 {
            println!("differs: ours {} loghub {}", e.action, &rec[idx]);
        }
    }
    println!("loghub templates: {agree} of 2000 lines agree with the labels");
    assert!(agree >= 1_990, "{agree}");
}
