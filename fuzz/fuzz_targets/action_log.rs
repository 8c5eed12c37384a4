//! The action-log readers (access log, auth log, CSV, JSON lines) read any bytes
//! without panicking: every line is an event or a dead letter, and every error names
//! the source.
#![no_main]

use std::io::Cursor;

use libfuzzer_sys::fuzz_target;
use vigil_ingest::actions::{
    AccessLogConfig, ActionColumns, ActionLogFormat, ActionReader, AuthLogConfig,
};

fuzz_target!(|data: &[u8]| {
    let Some((&pick, text)) = data.split_first() else { return };
    let format = match pick % 4 {
        0 => ActionLogFormat::AccessLog(AccessLogConfig::default()),
        1 => ActionLogFormat::AuthLog(AuthLogConfig::default()),
        2 => ActionLogFormat::Csv(ActionColumns::default()),
        _ => ActionLogFormat::Jsonl(ActionColumns::default()),
    };
    let mut reader = match ActionReader::from_reader("fuzz.log", Cursor::new(text.to_vec()), format)
    {
        Ok(r) => r,
        Err(e) => {
            assert!(e.to_string().contains("fuzz.log"), "error without the source: {e}");
            return;
        }
    };
    // The CSV reader ends a record at LF, CR or CRLF.
    let lines = text.iter().filter(|&&b| b == b'\n' || b == b'\r').count() + 1;
    let mut events = 0usize;
    loop {
        match reader.next_event() {
            Ok(Some(_)) => {
                events += 1;
                assert!(events <= lines, "more events than lines");
            }
            Ok(None) => break,
            Err(e) => {
                assert!(e.to_string().contains("fuzz.log"), "error without the source: {e}");
                break;
            }
        }
    }
    let s = reader.stats();
    assert_eq!(s.events, events as u64, "events counted as yielded");
    assert!(s.events + s.dead_letters <= s.lines, "a line counted twice: {s:?}");
});
