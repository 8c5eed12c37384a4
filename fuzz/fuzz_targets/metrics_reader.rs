//! The metric readers (long and wide CSV, JSON lines, format detection) read any bytes
//! without panicking; every point is finite and every error names the source.
#![no_main]

use std::io::Cursor;

use libfuzzer_sys::fuzz_target;
use vigil_ingest::metrics::{MetricsFormat, MetricsReader, MetricsReaderConfig};

fuzz_target!(|data: &[u8]| {
    let Some((&pick, text)) = data.split_first() else { return };
    let formats = [
        MetricsFormat::Auto,
        MetricsFormat::LongCsv,
        MetricsFormat::WideCsv,
        MetricsFormat::JsonLines,
    ];
    let config = MetricsReaderConfig {
        format: formats[usize::from(pick & 3)],
        has_header: pick & 4 == 0,
        delimiter: if pick & 8 == 0 { b',' } else { b';' },
        ..MetricsReaderConfig::default()
    };
    let name = if pick & 16 == 0 { "fuzz.csv" } else { "fuzz.jsonl" };
    let mut reader = match MetricsReader::from_reader(name, Cursor::new(text.to_vec()), config) {
        Ok(r) => r,
        Err(e) => {
            assert!(e.to_string().contains(name), "error without the source: {e}");
            return;
        }
    };
    let mut points = 0usize;
    loop {
        match reader.next_point() {
            Ok(Some(p)) => {
                assert!(p.value.is_finite(), "a point that is not finite: {}", p.value);
                points += 1;
                // A row gives at most one point per column, and a column takes a byte.
                assert!(points <= text.len() + 1, "more points than bytes");
            }
            Ok(None) => break,
            Err(e) => {
                assert!(e.to_string().contains(name), "error without the source: {e}");
                break;
            }
        }
    }
});
