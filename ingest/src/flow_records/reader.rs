//! [`FlowCsvReader`]: one flow CSV (or Zeek TSV), streamed row by row, bad rows dead-lettered.

use std::io::{BufRead, Chain, Cursor, Read};
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use super::{
    ColumnMapping, FeatureNames, FlowFeatures, FlowRecordError, FlowTuple, TimestampFormat,
};

pub use crate::dead_letter::{DeadLetter, MAX_KEPT_DEAD_LETTERS, MAX_RAW_LEN};
use crate::dead_letter::{DeadLetters, truncate_str};
use crate::gzip::open_maybe_gzip;

/// Column indices resolved against the header.
#[derive(Debug)]
struct Columns {
    n_fields: usize,
    ts: Option<(usize, TimestampFormat)>,
    src_addr: Option<usize>,
    src_port: Option<usize>,
    dst_addr: Option<usize>,
    dst_port: Option<usize>,
    proto: Option<usize>,
    label: Option<usize>,
    numeric: Vec<usize>,
    categorical: Vec<usize>,
    header: Vec<String>,
}

/// Streams [`FlowFeatures`] out of one flow CSV according to a [`ColumnMapping`].
///
/// Reading never panics. A row with the wrong number of fields, a cell that
/// does not parse, or bytes that are not UTF-8 become a [`DeadLetter`] and
/// reading goes on; only an I/O error, a missing header or a header without a
/// mapped column stop it ([`FlowRecordError`]). The label column is the exception:
/// a file without it is unlabelled data, read with `label: None` (see
/// [`has_label`](Self::has_label)).
pub struct FlowCsvReader<R: Read> {
    source: String,
    csv: csv::Reader<Chain<Cursor<Vec<u8>>, R>>,
    cols: Columns,
    names: Arc<FeatureNames>,
    missing: Vec<String>,
    line_offset: u64,
    /// Whether the csv reader sees a made-up header line (lines are one less).
    synthetic_header: bool,
    delimiter: u8,
    record: csv::ByteRecord,
    dead: DeadLetters,
    rows: u64,
    done: bool,
}

impl FlowCsvReader<Box<dyn BufRead + Send>> {
    /// Opens a file; gzip is detected by its magic bytes and gunzipped on the fly.
    pub fn open(path: impl AsRef<Path>, mapping: &ColumnMapping) -> Result<Self, FlowRecordError> {
        let path = path.as_ref();
        let source = path.display().to_string();
        let inner = open_maybe_gzip(path).map_err(|e| FlowRecordError::Read {
            source_name: source.clone(),
            line: 0,
            message: e.to_string(),
        })?;
        FlowCsvReader::new(inner, source, mapping)
    }
}

fn parse_separator(value: &str) -> Option<u8> {
    let v = value.trim_end_matches(['\r', '\n']);
    if let Some(hex) = v.strip_prefix("\\x") {
        return u8::from_str_radix(hex, 16).ok();
    }
    (v.len() == 1).then(|| v.as_bytes()[0])
}

fn proto_number(s: &str) -> Option<u8> {
    if let Ok(n) = s.parse::<u8>() {
        return Some(n);
    }
    match s.to_ascii_lowercase().as_str() {
        "icmp" => Some(1),
        "tcp" => Some(6),
        "udp" => Some(17),
        "icmpv6" | "ipv6-icmp" => Some(58),
        "sctp" => Some(132),
        _ => None,
    }
}

impl<R: BufRead> FlowCsvReader<R> {
    /// Reads the header (a CSV header line, or Zeek's `#separator` and `#fields` lines)
    /// and resolves the mapping's columns; `source` names the input in errors and dead letters.
    pub fn new(
        mut reader: R,
        source: impl Into<String>,
        mapping: &ColumnMapping,
    ) -> Result<Self, FlowRecordError> {
        let source = source.into();
        mapping.validate()?;
        let read_err = |line: u64, message: String| FlowRecordError::Read {
            source_name: source.clone(),
            line,
            message,
        };
        let mut delimiter = mapping.delimiter as u8;
        let mut zeek_fields: Option<Vec<String>> = None;
        let mut line_offset = 0u64;
        let mut first = Vec::new();
        loop {
            first.clear();
            let n = reader
                .read_until(b'\n', &mut first)
                .map_err(|e| read_err(line_offset + 1, e.to_string()))?;
            if n == 0 {
                if zeek_fields.is_some() {
                    break; // a Zeek log with a header and no rows
                }
                return Err(read_err(line_offset + 1, "empty input, no header".into()));
            }
            if first.first() != Some(&b'#') || mapping.columns.is_some() {
                break;
            }
            line_offset += 1;
            let text = String::from_utf8_lossy(&first);
            let text = text.trim_end_matches(['\r', '\n']);
            if let Some(v) = text.strip_prefix("#separator ") {
                delimiter = parse_separator(v)
                    .ok_or_else(|| read_err(line_offset, format!("bad #separator `{v}`")))?;
            } else if let Some(v) = text.strip_prefix("#fields") {
                let v = v.strip_prefix(delimiter as char).unwrap_or(v);
                zeek_fields =
                    Some(v.split(delimiter as char).map(|s| s.trim().to_string()).collect());
            }
        }
        // A header-less file (the mapping names its columns) is read as if it began with
        // a header line of those names, with the first line's ending, so that it takes
        // the same path as a file with a header; its line numbers are one less.
        // (With `columns` the loop above reads no `#` line, so this is never a Zeek log.)
        let synthetic_header = mapping.columns.is_some();
        if let Some(names) = &mapping.columns {
            let ending: &[u8] = if first.ends_with(b"\r\n") { b"\r\n" } else { b"\n" };
            let header = names.join(&(delimiter as char).to_string());
            first = [header.as_bytes(), ending, &first].concat();
        }
        // The csv crate counts a CRLF header's line break only once it sees the next
        // record, so every record of a CRLF file reports one line too few.
        if first.ends_with(b"\r\n") && zeek_fields.is_none() {
            line_offset += 1;
        }
        let mut builder = csv::ReaderBuilder::new();
        builder.delimiter(delimiter).flexible(true).has_headers(zeek_fields.is_none());
        if zeek_fields.is_some() {
            builder.comment(Some(b'#')).quoting(false);
        }
        let mut csv = builder.from_reader(Cursor::new(first).chain(reader));
        let header: Vec<String> = match zeek_fields {
            Some(f) => f,
            None => csv
                .byte_headers()
                .map_err(|e| read_err(line_offset + 1, e.to_string()))?
                .iter()
                .map(|h| String::from_utf8_lossy(h).trim().to_string())
                .collect(),
        };
        let find = |column: &str| -> Result<usize, FlowRecordError> {
            header.iter().position(|h| h == column).ok_or_else(|| FlowRecordError::MissingColumn {
                source_name: source.clone(),
                mapping: mapping.name.clone(),
                column: column.to_string(),
            })
        };
        let opt = |c: &Option<String>| c.as_deref().map(find).transpose();
        let cols = Columns {
            n_fields: header.len(),
            ts: match &mapping.ts {
                Some(t) => Some((find(&t.column)?, t.format)),
                None => None,
            },
            src_addr: opt(&mapping.src_addr)?,
            src_port: opt(&mapping.src_port)?,
            dst_addr: opt(&mapping.dst_addr)?,
            dst_port: opt(&mapping.dst_port)?,
            proto: opt(&mapping.proto)?,
            // Optional: unlabelled data (a production conn.log, a CSV without `Label`) reads
            // with no label; callers that need one check `has_label`.
            label: mapping.label.as_deref().and_then(|c| header.iter().position(|h| h == c)),
            numeric: mapping.numeric.iter().map(|f| find(f.column())).collect::<Result<_, _>>()?,
            categorical: mapping
                .categorical
                .iter()
                .map(|f| find(f.column()))
                .collect::<Result<_, _>>()?,
            header: header.clone(),
        };
        let names = Arc::new(FeatureNames {
            numeric: mapping.numeric.iter().map(|f| f.name().to_string()).collect(),
            categorical: mapping.categorical.iter().map(|f| f.name().to_string()).collect(),
        });
        Ok(FlowCsvReader {
            dead: DeadLetters::new(source.clone(), MAX_KEPT_DEAD_LETTERS),
            source,
            csv,
            cols,
            names,
            missing: mapping.missing.clone(),
            line_offset,
            synthetic_header,
            delimiter,
            record: csv::ByteRecord::new(),
            rows: 0,
            done: false,
        })
    }

    /// The feature names every record of this reader carries.
    pub fn names(&self) -> &Arc<FeatureNames> {
        &self.names
    }

    /// Whether the file has the mapping's label column (records then carry labels).
    pub fn has_label(&self) -> bool {
        self.cols.label.is_some()
    }

    /// The input's name.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Dead letters kept so far (the first [`MAX_KEPT_DEAD_LETTERS`]).
    pub fn dead_letters(&self) -> &[DeadLetter] {
        self.dead.kept()
    }

    /// Takes the kept dead letters out (the count is not reset).
    pub fn take_dead_letters(&mut self) -> Vec<DeadLetter> {
        self.dead.take()
    }

    /// Rows refused so far, kept or not.
    pub fn dead_letter_count(&self) -> u64 {
        self.dead.count()
    }

    /// Rows read so far (good and dead).
    pub fn rows_read(&self) -> u64 {
        self.rows
    }

    /// The row's fields re-joined with the delimiter (the dead letter cuts it).
    fn raw_bytes(record: &csv::ByteRecord, delimiter: u8) -> Vec<u8> {
        let mut out = Vec::new();
        for (i, f) in record.iter().enumerate() {
            if i > 0 {
                out.push(delimiter);
            }
            out.extend_from_slice(f);
            if out.len() > MAX_RAW_LEN {
                break;
            }
        }
        out
    }

    fn dead_letter(&mut self, line: u64, reason: String) {
        let raw = || Self::raw_bytes(&self.record, self.delimiter);
        if self.dead.push(line, reason.clone(), raw) {
            tracing::debug!(source = %self.source, line, %reason, "flow row dead-lettered");
        }
    }

    /// The next good record; `Ok(None)` at the end. Bad rows are dead-lettered and skipped.
    pub fn next_record(&mut self) -> Result<Option<FlowFeatures>, FlowRecordError> {
        while !self.done {
            match self.csv.read_byte_record(&mut self.record) {
                Ok(false) => self.done = true,
                Ok(true) => {
                    self.rows += 1;
                    let line = self.line(self.record.position());
                    match self.parse(line) {
                        Ok(f) => return Ok(Some(f)),
                        Err(reason) => self.dead_letter(line, reason),
                    }
                }
                Err(e) => {
                    let line = self.line(e.position());
                    if let csv::ErrorKind::Io(_) = e.kind() {
                        self.done = true;
                        return Err(FlowRecordError::Read {
                            source_name: self.source.clone(),
                            line,
                            message: e.to_string(),
                        });
                    }
                    self.rows += 1;
                    self.record.clear();
                    self.dead_letter(line, e.to_string());
                }
            }
        }
        Ok(None)
    }

    /// The input line of a csv position.
    fn line(&self, pos: Option<&csv::Position>) -> u64 {
        (self.line_offset + pos.map_or(0, |p| p.line()))
            .saturating_sub(u64::from(self.synthetic_header))
    }

    fn cell(&self, i: usize) -> Result<Option<&str>, String> {
        let bytes = self.record.get(i).unwrap_or_default();
        let s = std::str::from_utf8(bytes)
            .map_err(|_| format!("column `{}` is not UTF-8", self.cols.header[i]))?
            .trim();
        Ok((!self.missing.iter().any(|m| m == s)).then_some(s))
    }

    fn parsed<T>(
        &self,
        i: Option<usize>,
        what: &str,
        parse: impl Fn(&str) -> Option<T>,
    ) -> Result<Option<T>, String> {
        let Some(i) = i else { return Ok(None) };
        match self.cell(i)? {
            None => Ok(None),
            Some(s) => parse(s).map(Some).ok_or_else(|| {
                format!("column `{}`: `{}` is not {what}", self.cols.header[i], truncate_str(s, 64))
            }),
        }
    }

    fn parse(&self, line: u64) -> Result<FlowFeatures, String> {
        let c = &self.cols;
        if self.record.len() != c.n_fields {
            return Err(format!("expected {} fields, found {}", c.n_fields, self.record.len()));
        }
        let ts_us = match c.ts {
            Some((i, format)) => {
                self.parsed(Some(i), "a timestamp", |s| super::parse_timestamp_us(s, format))?
            }
            None => None,
        };
        let port = |s: &str| s.parse::<u16>().ok();
        let addr = |s: &str| s.parse::<IpAddr>().ok();
        let mut numeric = Vec::with_capacity(c.numeric.len());
        for &i in &c.numeric {
            numeric.push(
                self.parsed(Some(i), "a number", |s| s.parse::<f64>().ok())?.unwrap_or(f64::NAN),
            );
        }
        let mut categorical = Vec::with_capacity(c.categorical.len());
        for &i in &c.categorical {
            let bytes = self.record.get(i).unwrap_or_default();
            let s = std::str::from_utf8(bytes)
                .map_err(|_| format!("column `{}` is not UTF-8", c.header[i]))?;
            categorical.push(s.trim().to_string());
        }
        let tuple = FlowTuple {
            flow_id: line,
            ts_us,
            src_addr: self.parsed(c.src_addr, "an IP address", addr)?,
            src_port: self.parsed(c.src_port, "a port", port)?,
            dst_addr: self.parsed(c.dst_addr, "an IP address", addr)?,
            dst_port: self.parsed(c.dst_port, "a port", port)?,
            proto: self.parsed(c.proto, "an IP protocol", proto_number)?,
        };
        Ok(FlowFeatures {
            tuple,
            names: self.names.clone(),
            numeric,
            categorical,
            label: self.parsed(c.label, "a label", |s| Some(s.to_string()))?,
        })
    }
}

impl<R: BufRead> Iterator for FlowCsvReader<R> {
    type Item = Result<FlowFeatures, FlowRecordError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_record().transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::File;

    fn read_all<R: BufRead>(r: &mut FlowCsvReader<R>) -> Vec<FlowFeatures> {
        let mut out = Vec::new();
        while let Some(f) = r.next_record().unwrap() {
            out.push(f);
        }
        out
    }

    /// Header and two rows of `cicids2017-improved-sampled/BENIGN_2500.csv`, then garbage.
    const CIC: &str = concat!(
        include_str!("../../mappings/testdata/cic_header.csv"),
        "\n187636,192.168.10.12-192.168.10.3-35756-53-17,192.168.10.12,35756,192.168.10.3,53,17,2017-07-06 16:25:41.298564,234318,2,2,60,196,30,30,30.0,0.0,98,98,98.0,0.0,1092.5323705391818,17.070818289674715,78106.0,135280.09628914372,234314,0,0,0.0,0.0,0,0,4,4.0,0.0,4,4,0,0,0,0,0,0,16,16,8.535409144837358,8.535409144837358,30,98,64.0,39.25981830489455,1541.3333333333333,0,0,0,0,0,0,0,0,1.0,64.0,30.0,98.0,0,0,0,0,0,0,0,15,0,49,0,0,1,8,0.0,0.0,0,0,0.0,0.0,0,0,-1,-1,0,BENIGN,-1\n",
        "this,is,not,a,flow\n",
        "435185,192.168.10.8-209.85.232.154-61073-443-6,192.168.10.8,61073,209.85.232.154,443,6,2017-07-05 19:03:36.725601,5821747,6,3,123,46,46,0,20.5,23.11493023999856,46,0,15.333333333333332,26.558112382722783,29.029086973377577,1.5459277086414094,727718.3750000001,1938618.1736297149,5522628,3,5821747,1164349.4,2438520.891289697,5522628,3,5772196,2886098.0,4081554.6912971777,5772193,3,3,1,0,0,0,0,120,60,1.0306184724276064,0.5153092362138032,0,46,18.77777777777777,22.73641230371328,516.9444444444445,2,0,0,4,9,0,0,0,0.5,18.77777777777778,20.5,15.333333333333334,0,0,0,0,0,0,0,13,0,5,16537,180,2,20,249461.0,0.0,249461,249461,5522628.0,0.0,5522628,5522628,-1,-1,180434972,BENIGN,-1\n",
    );

    #[test]
    fn cicflowmeter_rows_and_a_garbage_row() {
        let m = ColumnMapping::builtin("cicflowmeter").unwrap();
        let mut r = FlowCsvReader::new(CIC.as_bytes(), "BENIGN_2500.csv", &m).unwrap();
        let flows = read_all(&mut r);
        assert_eq!(flows.len(), 2);
        let f = &flows[0];
        assert_eq!(f.tuple.flow_id, 2);
        assert_eq!(f.tuple.ts_us, Some(1_499_358_341_298_564));
        assert_eq!(f.tuple.src_addr, Some("192.168.10.12".parse().unwrap()));
        assert_eq!(
            (f.tuple.src_port, f.tuple.dst_port, f.tuple.proto),
            (Some(35756), Some(53), Some(17))
        );
        assert_eq!(f.numeric_value("Flow Duration"), Some(234_318.0));
        assert_eq!(f.categorical_value("Dst Port"), Some("53"));
        assert_eq!(f.label.as_deref(), Some("BENIGN"));
        assert_eq!(flows[1].tuple.flow_id, 4);
        assert_eq!(r.dead_letter_count(), 1);
        let d = &r.dead_letters()[0];
        assert_eq!((d.source.as_str(), d.line().unwrap()), ("BENIGN_2500.csv", 3));
        assert!(d.reason.contains("expected 91 fields, found 5"), "{}", d.reason);
        assert_eq!(d.raw_lossy(), "this,is,not,a,flow");
    }

    /// `#` header and rows in Zeek TSV form (values from IoT-23 CTU-Malware-Capture-20-1).
    const ZEEK_TSV: &str = "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\tconn\n\
#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tservice\tduration\torig_bytes\tresp_bytes\tconn_state\tlocal_orig\tlocal_resp\tmissed_bytes\thistory\torig_pkts\torig_ip_bytes\tresp_pkts\tresp_ip_bytes\ttunnel_parents\tlabel\tdetailed-label\n\
#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tstring\tinterval\tcount\tcount\tstring\tbool\tbool\tcount\tstring\tcount\tcount\tcount\tcount\tset[string]\tstring\tstring\n\
1538478769.600293\tCSQG794riQ4XnzTxP2\t192.168.100.103\t37082\t192.168.100.1\t53\tudp\tdns\t5.005151\t78\t0\tS0\t-\t-\t0\tD\t2\t134\t0\t0\t(empty)\tBenign\t-\n\
1538478779.610847\tCOTbdG2BhtGBlmf6r\t999.1.1.1\t34486\t192.168.100.1\t53\tudp\tdns\t0.007243\t90\t90\tSF\t-\t-\t0\tDd\t2\t146\t2\t146\t(empty)\tBenign\t-\n\
1538478789.630642\tCP48WJ2HOnLuGtr5kb\t192.168.100.103\t37601\t192.168.100.1\t53\tudp\tdns\t-\t-\t-\tS0\t-\t-\t0\tD\t2\t146\t2\t146\t(empty)\tMalicious\tC&C\n\
#close\t2018-10-02-11-00-00\n";

    #[test]
    fn zeek_tsv_with_comments_and_a_bad_address() {
        let m = ColumnMapping::builtin("zeek_conn").unwrap();
        let mut r = FlowCsvReader::new(ZEEK_TSV.as_bytes(), "conn.log", &m).unwrap();
        let flows = read_all(&mut r);
        assert_eq!(flows.len(), 2);
        assert_eq!(flows[0].tuple.flow_id, 8);
        assert_eq!(flows[0].tuple.ts_us, Some(1_538_478_769_600_293));
        assert_eq!(flows[0].tuple.proto, Some(17));
        assert_eq!(flows[0].numeric_value("duration"), Some(5.005151));
        assert!(flows[1].numeric_value("duration").unwrap().is_nan(), "`-` is missing");
        assert_eq!(flows[1].label.as_deref(), Some("Malicious"));
        let d = &r.dead_letters()[0];
        assert_eq!(d.line().unwrap(), 9);
        assert!(d.reason.contains("id.orig_h") && d.reason.contains("999.1.1.1"), "{}", d.reason);
        assert!(d.raw_lossy().starts_with("1538478779.610847\tCOTbdG2BhtGBlmf6r"));
    }

    /// IoT-23 labelled CSV with CRLF line ends (as the honeypot files have).
    #[test]
    fn zeek_csv_crlf() {
        let text = "ts,uid,id.orig_h,id.orig_p,id.resp_h,id.resp_p,proto,service,duration,orig_bytes,resp_bytes,conn_state,local_orig,local_resp,missed_bytes,history,orig_pkts,orig_ip_bytes,resp_pkts,resp_ip_bytes,tunnel_parents,label,detailed-label\r\n\
1538478769.600293,CSQG794riQ4XnzTxP2,192.168.100.103,37082,192.168.100.1,53,udp,dns,5.005151,78,0,S0,,,0,D,2,134,0,0,,Benign,-\r\n\
1538478779.610847,COTbdG2BhtGBlmf6r,192.168.100.103,port,192.168.100.1,53,udp,dns,0.007243,90,90,SF,,,0,Dd,2,146,2,146,,Benign,-\r\n";
        let m = ColumnMapping::builtin("zeek_conn").unwrap();
        let mut r = FlowCsvReader::new(text.as_bytes(), "h.csv", &m).unwrap();
        assert_eq!(read_all(&mut r).len(), 1);
        assert_eq!(r.dead_letters()[0].line().unwrap(), 3);
        assert!(r.dead_letters()[0].reason.contains("not a port"));
    }

    #[test]
    fn invalid_utf8_quotes_and_long_rows_are_dead_letters() {
        let m = ColumnMapping::from_json(r#"{"name":"t","numeric":["a"],"categorical":["b"]}"#)
            .unwrap();
        let mut text = b"a,b\n1,x\n\xff\xfe,y\n".to_vec();
        text.extend_from_slice(format!("nope,{}\n", "z".repeat(2000)).as_bytes());
        // An open quote runs to the end of input: the rest is one (good) row.
        text.extend_from_slice(b"2,\"unterminated\n3,3\n");
        let mut r = FlowCsvReader::new(&text[..], "t.csv", &m).unwrap();
        let good = read_all(&mut r);
        assert_eq!(good.len(), 2);
        assert_eq!(good[1].categorical[0], "unterminated\n3,3");
        let dead = r.dead_letters();
        assert_eq!(dead.len(), 2);
        assert_eq!(dead[0].line().unwrap(), 3);
        assert!(dead[0].reason.contains("UTF-8"), "{}", dead[0].reason);
        assert_eq!(dead[1].line().unwrap(), 4);
        assert!(dead[1].reason.contains("`nope` is not a number"), "{}", dead[1].reason);
        assert_eq!(dead[1].raw.len(), MAX_RAW_LEN);
    }

    #[test]
    fn a_short_row_shifts_no_later_line_number() {
        let m = ColumnMapping::from_json(r#"{"name":"t","numeric":["a"],"categorical":["b"]}"#)
            .unwrap();
        let text = b"a,b\n1,x\n2\nbad,y\n3,z\n4,w,extra\n5,v\n";
        let mut r = FlowCsvReader::new(&text[..], "t.csv", &m).unwrap();
        let good = read_all(&mut r);
        let lines: Vec<u64> = good.iter().map(|f| f.tuple.flow_id).collect();
        assert_eq!(lines, vec![2, 5, 7], "good rows keep their 1-based lines");
        let dead: Vec<u64> = r.dead_letters().iter().map(|d| d.line().unwrap()).collect();
        assert_eq!(dead, vec![3, 4, 6], "short, unparsable and long rows, each at its line");
    }

    #[test]
    fn a_file_without_the_label_column_reads_unlabelled() {
        let m = ColumnMapping::builtin("zeek_conn").unwrap();
        let mut labelled = FlowCsvReader::new(ZEEK_TSV.as_bytes(), "conn.log", &m).unwrap();
        assert!(labelled.has_label());
        let want = read_all(&mut labelled);
        // The same log without IoT-23's two label columns, as Zeek writes it.
        let strip = |line: &str| {
            let mut cells: Vec<&str> = line.split('\t').collect();
            if cells.len() > 2 && !line.starts_with("#close") {
                cells.truncate(cells.len() - 2);
            }
            cells.join("\t")
        };
        let text: String = ZEEK_TSV.lines().map(|l| strip(l) + "\n").collect();
        let mut r = FlowCsvReader::new(text.as_bytes(), "conn.log", &m).unwrap();
        assert!(!r.has_label());
        let got = read_all(&mut r);
        assert_eq!(got.len(), want.len());
        for (g, w) in got.iter().zip(&want) {
            assert_eq!(g.label, None);
            assert_eq!((&g.tuple, &g.categorical), (&w.tuple, &w.categorical));
        }
        assert_eq!(r.dead_letter_count(), labelled.dead_letter_count());
    }

    #[test]
    fn missing_column_and_empty_input_are_errors() {
        let m = ColumnMapping::from_json(r#"{"name":"t","numeric":["zz"]}"#).unwrap();
        assert!(matches!(
            FlowCsvReader::new(&b"a,b\n1,2\n"[..], "t.csv", &m),
            Err(FlowRecordError::MissingColumn { .. })
        ));
        assert!(matches!(
            FlowCsvReader::new(&b""[..], "t.csv", &m),
            Err(FlowRecordError::Read { .. })
        ));
    }

    /// Two NSL-KDD rows (KDDTrain+_20Percent.txt lines 1 and 3), a short row, CRLF ends.
    #[test]
    fn header_less_file_with_named_columns() {
        let text = "0,tcp,ftp_data,SF,491,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,2,2,0.00,0.00,0.00,0.00,1.00,0.00,0.00,150,25,0.17,0.03,0.17,0.00,0.00,0.00,0.05,0.00,normal,20\r\n\
0,tcp,private\r\n\
0,tcp,private,S0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,123,6,1.00,1.00,0.00,0.00,0.05,0.07,0.00,255,26,0.10,0.05,0.00,0.00,1.00,1.00,0.00,0.00,neptune,19\r\n";
        let m = ColumnMapping::builtin("nsl_kdd").unwrap();
        let mut r = FlowCsvReader::new(text.as_bytes(), "kdd.txt", &m).unwrap();
        let flows = read_all(&mut r);
        assert_eq!(flows.len(), 2, "the first line is a row, not a header");
        assert_eq!(flows[0].tuple.flow_id, 1);
        assert_eq!(flows[0].tuple.ts_us, None);
        assert_eq!(flows[0].numeric_value("src_bytes"), Some(491.0));
        assert_eq!(flows[0].numeric_value("dst_host_count"), Some(150.0));
        assert_eq!(flows[0].categorical_value("service"), Some("ftp_data"));
        assert_eq!(flows[0].label.as_deref(), Some("normal"));
        assert_eq!(flows[1].tuple.flow_id, 3);
        assert_eq!(flows[1].categorical_value("flag"), Some("S0"));
        assert_eq!(flows[1].label.as_deref(), Some("neptune"));
        let d = &r.dead_letters()[0];
        assert_eq!(d.line().unwrap(), 2);
        assert!(d.reason.contains("expected 43 fields, found 3"), "{}", d.reason);
        // A `#` first cell is data too, and a mapped column must be among `columns`.
        let m = ColumnMapping::from_json(
            r#"{"name":"t","columns":["a","b"],"categorical":["a"],"numeric":["b"]}"#,
        )
        .unwrap();
        let mut r = FlowCsvReader::new(&b"#x,1\ny,2\n"[..], "t.csv", &m).unwrap();
        let flows = read_all(&mut r);
        assert_eq!(
            flows.iter().map(|f| f.categorical[0].as_str()).collect::<Vec<_>>(),
            ["#x", "y"]
        );
        assert_eq!(flows[1].tuple.flow_id, 2, "LF lines count from 1 too");
        let m =
            ColumnMapping::from_json(r#"{"name":"t","columns":["a"],"numeric":["zz"]}"#).unwrap();
        assert!(matches!(
            FlowCsvReader::new(&b"1\n"[..], "t.csv", &m),
            Err(FlowRecordError::MissingColumn { .. })
        ));
    }

    #[test]
    fn gz_files_open() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.csv.gz");
        let mut gz =
            flate2::write::GzEncoder::new(File::create(&path).unwrap(), Default::default());
        gz.write_all(b"a\n1\n2\n").unwrap();
        gz.finish().unwrap();
        let m = ColumnMapping::from_json(r#"{"name":"t","numeric":["a"]}"#).unwrap();
        let r = FlowCsvReader::open(&path, &m).unwrap();
        let v: Vec<f64> = r.map(|f| f.unwrap().numeric[0]).collect();
        assert_eq!(v, vec![1.0, 2.0]);
    }
}
