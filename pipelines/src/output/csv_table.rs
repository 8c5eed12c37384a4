//! CSV with a header row, Zeek field names, empty cells for unset values.

use std::io::{self, Write};

use vigil_ingest::FlowRecord;

use super::FlowWriter;
use super::conn_fields::{CONN_COLUMNS, ConnValue, conn_values, fmt_micros};

/// Writes one CSV row per flow. Sets are joined with `;`.
pub struct CsvWriter {
    out: csv::Writer<Box<dyn Write + Send>>,
}

impl CsvWriter {
    /// Write the header row and return the writer.
    pub fn new(out: Box<dyn Write + Send>) -> io::Result<Self> {
        let mut out = csv::Writer::from_writer(out);
        out.write_record(CONN_COLUMNS.iter().map(|c| c.0))?;
        Ok(Self { out })
    }
}

impl FlowWriter for CsvWriter {
    fn write(&mut self, flow: &FlowRecord) -> io::Result<()> {
        let cells = conn_values(flow).into_iter().map(|v| match v {
            ConnValue::Unset => String::new(),
            ConnValue::Str(s) => s,
            ConnValue::Count(n) => n.to_string(),
            ConnValue::Time(us) | ConnValue::Interval(us) => fmt_micros(us),
            ConnValue::Set(items) => items.join(";"),
        });
        Ok(self.out.write_record(cells)?)
    }

    fn finish(mut self: Box<Self>) -> io::Result<()> {
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::test_flows::sample;

    #[test]
    fn header_and_rows_round_trip_through_a_csv_reader() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.csv");
        let file = std::fs::File::create(&path).unwrap();
        let mut w: Box<dyn FlowWriter> = Box::new(CsvWriter::new(Box::new(file)).unwrap());
        for f in sample() {
            w.write(&f).unwrap();
        }
        w.finish().unwrap();
        let mut r = csv::Reader::from_path(&path).unwrap();
        assert_eq!(r.headers().unwrap().get(2), Some("id.orig_h"));
        let rows: Vec<csv::StringRecord> = r.records().map(Result::unwrap).collect();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].get(15), Some("ShADadFf"));
        assert_eq!(rows[1].get(8), Some(""));
        assert_eq!(rows[1].get(20), Some("CAbc;CXyz"));
    }
}
