//! Each built-in flow-CSV mapping (CICFlowMeter, NF-v2, Zeek conn.log, NSL-KDD, ...)
//! reads any bytes without panicking: every row is a record or a dead letter, and
//! every error names the source.
#![no_main]

use std::io::Cursor;

use libfuzzer_sys::fuzz_target;
use vigil_ingest::flow_records::{ColumnMapping, FlowCsvReader};

fuzz_target!(|data: &[u8]| {
    let Some((&pick, text)) = data.split_first() else { return };
    let names: Vec<&str> = ColumnMapping::builtin_names().collect();
    let name = names[usize::from(pick) % names.len()];
    let mapping = ColumnMapping::builtin(name).expect("a built-in mapping");
    let mut reader = match FlowCsvReader::new(Cursor::new(text), "fuzz.csv", &mapping) {
        Ok(r) => r,
        Err(e) => {
            assert!(e.to_string().contains("fuzz.csv"), "error without the source: {e}");
            return;
        }
    };
    // The CSV reader ends a record at LF, CR or CRLF.
    let lines = text.iter().filter(|&&b| b == b'\n' || b == b'\r').count() as u64 + 1;
    let mut records = 0u64;
    loop {
        match reader.next_record() {
            Ok(Some(_)) => records += 1,
            Ok(None) => break,
            Err(e) => {
                assert!(e.to_string().contains("fuzz.csv"), "error without the source: {e}");
                break;
            }
        }
        assert!(records <= lines, "more records than lines");
    }
    assert!(records + reader.dead_letter_count() <= lines, "rows counted twice");
});
