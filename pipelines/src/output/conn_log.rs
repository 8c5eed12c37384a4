//! Zeek `conn.log` TSV, header and footer included.

use std::io::{self, Write};
use std::time::SystemTime;

use vigil_ingest::FlowRecord;
use vigil_ingest::time::civil_from_days;

use super::FlowWriter;
use super::conn_fields::{CONN_COLUMNS, ConnValue, conn_values, fmt_micros};

/// Writes Zeek's ASCII log format with `#fields`/`#types` header lines.
pub struct ConnLogWriter {
    out: io::BufWriter<Box<dyn Write + Send>>,
    line: String,
}

impl ConnLogWriter {
    /// Write the header and return the writer.
    pub fn new(out: Box<dyn Write + Send>) -> io::Result<Self> {
        let mut out = io::BufWriter::with_capacity(1 << 16, out);
        let names: Vec<&str> = CONN_COLUMNS.iter().map(|c| c.0).collect();
        let types: Vec<&str> = CONN_COLUMNS.iter().map(|c| c.1).collect();
        writeln!(out, "#separator \\x09")?;
        writeln!(out, "#set_separator\t,")?;
        writeln!(out, "#empty_field\t(empty)")?;
        writeln!(out, "#unset_field\t-")?;
        writeln!(out, "#path\tconn")?;
        writeln!(out, "#open\t{}", zeek_date(SystemTime::now()))?;
        writeln!(out, "#fields\t{}", names.join("\t"))?;
        writeln!(out, "#types\t{}", types.join("\t"))?;
        Ok(Self { out, line: String::with_capacity(256) })
    }
}

impl FlowWriter for ConnLogWriter {
    fn write(&mut self, flow: &FlowRecord) -> io::Result<()> {
        self.line.clear();
        for (i, v) in conn_values(flow).into_iter().enumerate() {
            if i > 0 {
                self.line.push('\t');
            }
            push_value(&mut self.line, v);
        }
        self.line.push('\n');
        self.out.write_all(self.line.as_bytes())
    }

    fn finish(mut self: Box<Self>) -> io::Result<()> {
        writeln!(self.out, "#close\t{}", zeek_date(SystemTime::now()))?;
        self.out.flush()
    }
}

fn push_value(line: &mut String, v: ConnValue) {
    match v {
        ConnValue::Unset => line.push('-'),
        ConnValue::Str(s) if s.is_empty() => line.push_str("(empty)"),
        ConnValue::Str(s) => line.push_str(&escape(&s)),
        ConnValue::Count(n) => line.push_str(&n.to_string()),
        ConnValue::Time(us) | ConnValue::Interval(us) => line.push_str(&fmt_micros(us)),
        ConnValue::Set(items) if items.is_empty() => line.push('-'),
        ConnValue::Set(items) => {
            let escaped: Vec<String> = items.iter().map(|s| escape(s)).collect();
            line.push_str(&escaped.join(","));
        }
    }
}

/// Zeek escapes separators and non-printable bytes as `\xNN`.
fn escape(s: &str) -> String {
    if s.bytes().all(|b| b.is_ascii_graphic() && b != b',' && b != b'\\') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len() + 8);
    for b in s.bytes() {
        if b.is_ascii_graphic() && b != b',' && b != b'\\' || b == b' ' {
            out.push(b as char);
        } else {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

/// `YYYY-MM-DD-HH-MM-SS` in UTC, as Zeek stamps `#open` and `#close`.
fn zeek_date(t: SystemTime) -> String {
    let secs = t.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs()) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}-{:02}-{:02}-{:02}", rem / 3600, rem % 3600 / 60, rem % 60)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::test_flows::sample;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    pub(crate) struct Shared(pub Arc<Mutex<Vec<u8>>>);
    impl Write for Shared {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn rows_follow_zeek_layout() {
        let buf = Shared::default();
        let mut w: Box<dyn FlowWriter> =
            Box::new(ConnLogWriter::new(Box::new(buf.clone())).unwrap());
        for f in sample() {
            w.write(&f).unwrap();
        }
        w.finish().unwrap();
        let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines[6]
                .starts_with("#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto")
        );
        assert_eq!(
            lines[8],
            "1700000000.123456\tCAbc\t10.0.0.1\t51000\t10.0.0.2\t80\ttcp\t-\t1.500000\t98\t900\tSF\t-\t-\t0\tShADadFf\t5\t370\t4\t1108\t-\t6\t7\t-\t1:wCb3OG7yAFWelaUydu0D+125CLM=\t1\t440\t1164"
        );
        let udp: Vec<&str> = lines[9].split('\t').collect();
        assert_eq!(&udp[8..11], &["-", "-", "-"]);
        assert_eq!(udp[20], "CAbc,CXyz");
        assert!(lines[10].starts_with("#close\t"));
    }

    #[test]
    fn dates_are_utc_civil() {
        let t = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
        assert_eq!(zeek_date(t), "2023-11-14-22-13-20");
    }

    #[test]
    fn odd_bytes_are_escaped() {
        assert_eq!(escape("a,b"), "a\\x2cb");
        assert_eq!(escape("tab\there"), "tab\\x09here");
    }
}
