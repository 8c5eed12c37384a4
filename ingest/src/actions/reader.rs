//! [`ActionReader`]: streams [`ActionEvent`]s out of a file, a `.gz` file or
//! any byte stream, dead-lettering the lines it cannot parse.

use std::fs::File;
use std::io::{BufRead, Read};
use std::path::Path;

use super::access_log::{AccessLogConfig, parse_access_line};
use super::auth_log::{AuthLine, AuthLogConfig, AuthLogParser};
use super::generic::{ActionColumns, event_from_fields, parse_json_line};
use super::{ActionEvent, DeadLetter};
use crate::dead_letter::DeadLetters;
use crate::gzip::maybe_gunzip;
use crate::{IngestError, Result};

/// Which kind of action log to read.
#[derive(Debug, Clone)]
pub enum ActionLogFormat {
    /// CSV with a header row naming the columns.
    Csv(ActionColumns),
    /// One JSON object per line.
    Jsonl(ActionColumns),
    /// Apache/nginx common or combined access log.
    AccessLog(AccessLogConfig),
    /// Syslog auth log (OpenSSH, PAM), actions from templates.
    AuthLog(AuthLogConfig),
}

/// Counters of an [`ActionReader`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ActionReaderStats {
    /// Lines (CSV records) read, blank lines included.
    pub lines: u64,
    /// Events yielded.
    pub events: u64,
    /// Blank lines and lines of filtered-out processes.
    pub skipped: u64,
    /// Lines that could not be parsed (all of them, also those not kept).
    pub dead_letters: u64,
}

/// Longest line read, in bytes; longer lines are dead letters.
pub const MAX_LINE_LEN: usize = 1 << 20;

/// Dead letters kept by default ([`ActionReader::with_max_dead_letters`]).
pub const DEFAULT_MAX_DEAD_LETTERS: usize = crate::dead_letter::MAX_KEPT_DEAD_LETTERS;

enum Inner {
    Lines {
        input: Box<dyn BufRead + Send>,
        parser: LineParser,
        buf: Vec<u8>,
    },
    Csv {
        rdr: csv::Reader<Box<dyn BufRead + Send>>,
        idx: [Option<usize>; 4],
        rec: csv::StringRecord,
    },
}

enum LineParser {
    Jsonl(ActionColumns),
    Access(AccessLogConfig),
    Auth(Box<AuthLogParser>),
}

/// Streams action events; see the [module docs](super).
pub struct ActionReader {
    source: String,
    inner: Inner,
    stats: ActionReaderStats,
    dead: DeadLetters,
}

impl std::fmt::Debug for ActionReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActionReader")
            .field("source", &self.source)
            .field("stats", &self.stats)
            .finish()
    }
}

impl ActionReader {
    /// Opens a file; gzip is detected by its magic bytes, whatever the name.
    pub fn open(path: impl AsRef<Path>, format: ActionLogFormat) -> Result<Self> {
        let path = path.as_ref();
        let io = |source| IngestError::Io { path: path.to_owned(), source };
        let file = File::open(path).map_err(io)?;
        Self::from_reader(path.display().to_string(), file, format).map_err(|e| match e {
            IngestError::Io { source, .. } => io(source),
            e => e,
        })
    }

    /// Reads from any stream (gzip detected by magic bytes); `source` names it in dead letters.
    pub fn from_reader(
        source: impl Into<String>,
        input: impl Read + Send + 'static,
        format: ActionLogFormat,
    ) -> Result<Self> {
        let source = source.into();
        let input: Box<dyn BufRead + Send> = Box::new(
            maybe_gunzip(input)
                .map_err(|e| IngestError::Io { path: source.clone().into(), source: e })?,
        );
        let parser = match format {
            ActionLogFormat::Jsonl(c) => Ok(LineParser::Jsonl(c)),
            ActionLogFormat::AccessLog(c) => Ok(LineParser::Access(c)),
            ActionLogFormat::AuthLog(c) => Ok(LineParser::Auth(Box::new(AuthLogParser::new(c)))),
            ActionLogFormat::Csv(cols) => Err(cols),
        };
        let inner = match parser {
            Ok(parser) => Inner::Lines { input, parser, buf: Vec::new() },
            Err(cols) => {
                let mut rdr = csv::ReaderBuilder::new().flexible(true).from_reader(input);
                let headers = rdr
                    .headers()
                    .map_err(|e| IngestError::Config(format!("{source}: CSV header: {e}")))?
                    .clone();
                let find = |name: &str| headers.iter().position(|h| h.trim() == name);
                let need = |name: &str| {
                    find(name).ok_or_else(|| {
                        IngestError::Config(format!(
                            "{source}: no `{name}` column in the CSV header"
                        ))
                    })
                };
                let idx = [
                    Some(need(&cols.entity)?),
                    Some(need(&cols.ts)?),
                    Some(need(&cols.action)?),
                    find(&cols.object),
                ];
                Inner::Csv { rdr, idx, rec: csv::StringRecord::new() }
            }
        };
        Ok(ActionReader {
            dead: DeadLetters::new(source.clone(), DEFAULT_MAX_DEAD_LETTERS),
            source,
            inner,
            stats: ActionReaderStats::default(),
        })
    }

    /// Keeps at most `max` dead letters (all are still counted).
    pub fn with_max_dead_letters(mut self, max: usize) -> Self {
        self.dead.set_max_kept(max);
        self
    }

    fn dead_letter(&mut self, line: u64, reason: String, raw: &str) {
        self.stats.dead_letters += 1;
        self.dead.push(line, reason, || raw.to_owned());
    }

    /// The next event; `Ok(None)` at the end. Errors are I/O failures only:
    /// bad lines become dead letters and reading goes on.
    pub fn next_event(&mut self) -> Result<Option<ActionEvent>> {
        let io = |source: &str, e| IngestError::Io { path: source.into(), source: e };
        loop {
            let (line_no, outcome, raw) = match &mut self.inner {
                Inner::Lines { input, parser, buf } => {
                    buf.clear();
                    let n = input
                        .by_ref()
                        .take(MAX_LINE_LEN as u64 + 1)
                        .read_until(b'\n', buf)
                        .map_err(|e| io(&self.source, e))?;
                    if n == 0 {
                        return Ok(None);
                    }
                    self.stats.lines += 1;
                    let line_no = self.stats.lines;
                    if buf.len() > MAX_LINE_LEN && !buf.ends_with(b"\n") {
                        // Drop the rest of the overlong line.
                        let mut sink = Vec::new();
                        input.read_until(b'\n', &mut sink).map_err(|e| io(&self.source, e))?;
                        let raw = String::from_utf8_lossy(buf).into_owned();
                        (line_no, Err(format!("line longer than {MAX_LINE_LEN} bytes")), raw)
                    } else {
                        match std::str::from_utf8(buf) {
                            Err(e) => (
                                line_no,
                                Err(format!("not UTF-8: {e}")),
                                String::from_utf8_lossy(buf).into_owned(),
                            ),
                            Ok(text) => {
                                let text = text.trim_end_matches(['\n', '\r']);
                                if text.trim().is_empty() {
                                    self.stats.skipped += 1;
                                    continue;
                                }
                                let outcome = match parser {
                                    LineParser::Jsonl(c) => parse_json_line(text, c).map(Some),
                                    LineParser::Access(c) => parse_access_line(text, c).map(Some),
                                    LineParser::Auth(p) => p.parse_line(text).map(|l| match l {
                                        AuthLine::Event(e) => Some(e),
                                        AuthLine::Skipped => None,
                                    }),
                                };
                                let raw =
                                    if outcome.is_err() { text.to_owned() } else { String::new() };
                                (line_no, outcome, raw)
                            }
                        }
                    }
                }
                Inner::Csv { rdr, idx, rec } => match rdr.read_record(rec) {
                    Ok(false) => return Ok(None),
                    Ok(true) => {
                        self.stats.lines += 1;
                        let line_no = rec.position().map_or(self.stats.lines, |p| p.line());
                        let get = |i: Option<usize>| i.and_then(|i| rec.get(i));
                        let outcome =
                            event_from_fields(get(idx[0]), get(idx[1]), get(idx[2]), get(idx[3]))
                                .map(Some);
                        let raw = if outcome.is_err() {
                            rec.iter().collect::<Vec<_>>().join(",")
                        } else {
                            String::new()
                        };
                        (line_no, outcome, raw)
                    }
                    Err(e) => {
                        self.stats.lines += 1;
                        let line_no = e.position().map_or(self.stats.lines, |p| p.line());
                        match e.kind() {
                            csv::ErrorKind::Io(_) => {
                                let msg = e.to_string();
                                return Err(io(&self.source, std::io::Error::other(msg)));
                            }
                            _ => (line_no, Err(format!("bad CSV record: {e}")), String::new()),
                        }
                    }
                },
            };
            match outcome {
                Ok(Some(ev)) => {
                    self.stats.events += 1;
                    return Ok(Some(ev));
                }
                Ok(None) => self.stats.skipped += 1,
                Err(reason) => self.dead_letter(line_no, reason, &raw),
            }
        }
    }

    /// The dead letters kept so far.
    pub fn dead_letters(&self) -> &[DeadLetter] {
        self.dead.kept()
    }

    /// Takes the dead letters kept so far, leaving none.
    pub fn take_dead_letters(&mut self) -> Vec<DeadLetter> {
        self.dead.take()
    }

    /// The counters.
    pub fn stats(&self) -> ActionReaderStats {
        self.stats
    }

    /// The name given to the input.
    pub fn source(&self) -> &str {
        &self.source
    }
}

impl Iterator for ActionReader {
    type Item = Result<ActionEvent>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_event().transpose()
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use flate2::Compression;
    use flate2::write::GzEncoder;

    use super::*;

    const ACCESS: &[u8] = b"83.149.9.216 - - [17/May/2015:10:05:03 +0000] \"GET /presentations/ HTTP/1.1\" 200 203023 \"-\" \"-\"\n\nthis is not a log line\n83.149.9.216 - - [17/May/2015:10:05:43 +0000] \"GET /a?b=c HTTP/1.1\" 404 0 \"-\" \"-\"\n\xff\xfe\n";

    fn read_all(mut r: ActionReader) -> (Vec<ActionEvent>, ActionReader) {
        let mut out = Vec::new();
        while let Some(e) = r.next_event().unwrap() {
            out.push(e);
        }
        (out, r)
    }

    #[test]
    fn bad_lines_are_dead_letters_and_reading_goes_on() {
        let fmt = ActionLogFormat::AccessLog(AccessLogConfig::default());
        let (events, r) = read_all(ActionReader::from_reader("t.log", ACCESS, fmt).unwrap());
        assert_eq!(events.len(), 2);
        assert_eq!(events[1].action, "GET 4xx");
        assert_eq!(events[1].object, "/a");
        let dl = r.dead_letters();
        assert_eq!(dl.len(), 2);
        assert_eq!(
            (dl[0].line().unwrap(), dl[0].raw_lossy().as_ref(), dl[0].source.as_str()),
            (3, "this is not a log line", "t.log")
        );
        assert_eq!(dl[1].line().unwrap(), 5);
        assert!(dl[1].reason.contains("UTF-8"));
        assert_eq!(
            r.stats(),
            ActionReaderStats { lines: 5, events: 2, skipped: 1, dead_letters: 2 }
        );
    }

    #[test]
    fn gzip_is_transparent() {
        let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
        gz.write_all(ACCESS).unwrap();
        let bytes = gz.finish().unwrap();
        let fmt = ActionLogFormat::AccessLog(AccessLogConfig::default());
        let plain = read_all(ActionReader::from_reader("a", ACCESS, fmt.clone()).unwrap()).0;
        let (unzipped, _) =
            read_all(ActionReader::from_reader("a.gz", std::io::Cursor::new(bytes), fmt).unwrap());
        assert_eq!(plain, unzipped);
    }

    #[test]
    fn csv_with_custom_columns() {
        let csv = "user,when,what,on\nalice,2015-05-17T10:05:03Z,login,vpn\nbob,notatime,login,vpn\ncarol,1431857103,logout\n";
        let cols = ActionColumns {
            entity: "user".into(),
            ts: "when".into(),
            action: "what".into(),
            object: "on".into(),
        };
        let r =
            ActionReader::from_reader("c.csv", csv.as_bytes(), ActionLogFormat::Csv(cols.clone()))
                .unwrap();
        let (events, r) = read_all(r);
        assert_eq!(events.len(), 2);
        assert_eq!(events[1].object, "-");
        assert_eq!(r.dead_letters()[0].line().unwrap(), 3);
        assert_eq!(r.dead_letters()[0].raw_lossy(), "bob,notatime,login,vpn");
        let missing =
            ActionReader::from_reader("d.csv", "a,b\n".as_bytes(), ActionLogFormat::Csv(cols));
        assert!(matches!(missing, Err(IngestError::Config(_))));
    }

    #[test]
    fn dead_letters_are_capped_but_counted() {
        let junk = "x\n".repeat(10);
        let fmt = ActionLogFormat::Jsonl(ActionColumns::default());
        let r =
            ActionReader::from_reader("j", std::io::Cursor::new(junk.into_bytes()), fmt).unwrap();
        let (events, r) = read_all(r.with_max_dead_letters(3));
        assert!(events.is_empty());
        assert_eq!(r.dead_letters().len(), 3);
        assert_eq!(r.stats().dead_letters, 10);
    }
}
