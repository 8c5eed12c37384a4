//! [`MetricsReader`]: long or wide CSV and JSON lines, streamed point by point.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufRead, Read};
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::timestamp::{EpochUnit, parse_timestamp_with};
use super::{DeadLetter, MetricPoint};
use crate::dead_letter::DeadLetters;
use crate::gzip::maybe_gunzip;
use crate::{IngestError, Result};

/// Column names tried, in order, when no timestamp column is configured.
pub const TIMESTAMP_COLUMNS: [&str; 5] = ["ts", "timestamp", "time", "date", "datetime"];

/// The layout of a metrics file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MetricsFormat {
    /// From the name (`.json`, `.jsonl`, `.ndjson` are JSON lines, the rest
    /// CSV, `.gz` stripped first) and, for CSV, from the header: a `value`
    /// column plus a `series` column, or a `value` column and a timestamp
    /// column alone (NAB's `timestamp,value`), is long; anything else is wide.
    #[default]
    Auto,
    /// CSV with one point per row: timestamp, value, and optionally a series
    /// column (without it every point belongs to [`MetricsReaderConfig::default_series`]).
    LongCsv,
    /// CSV with a timestamp column and one column per variate (ETTh1).
    WideCsv,
    /// One JSON object per line: `{"series":…,"ts":…,"value":…}` (long) or
    /// `{"ts":…, "<variate>": <number>, …}` (wide; non-numeric fields are tags and ignored).
    JsonLines,
}

/// Synthetic timestamps for files without a time column (`exchange_rate.txt`):
/// row `i` (0-based, header excluded) is at `start_us + i * step_us`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexTime {
    /// Time of the first row, µs since the epoch.
    pub start_us: i64,
    /// Time between rows, µs.
    pub step_us: i64,
}

/// How to read a metrics file. `Default` detects everything it can.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricsReaderConfig {
    /// File layout.
    pub format: MetricsFormat,
    /// Whether CSV files start with a header row. Without one, wide columns
    /// are named `col0`, `col1`, … and long files must be `ts,value` or `series,ts,value`.
    pub has_header: bool,
    /// CSV field delimiter.
    pub delimiter: u8,
    /// Timestamp column or JSON key (case-insensitive); `None` tries [`TIMESTAMP_COLUMNS`].
    pub ts_column: Option<String>,
    /// Series column or key of the long layout.
    pub series_column: String,
    /// Value column or key of the long layout.
    pub value_column: String,
    /// Series name for long data without a series column; `None` uses the file stem.
    pub default_series: Option<String>,
    /// How bare numbers in the timestamp column are read.
    pub epoch_unit: EpochUnit,
    /// Row-index time for wide CSV without a timestamp column.
    pub index_time: Option<IndexTime>,
    /// Dead letters kept until [`MetricsReader::take_dead_letters`]; more are only counted.
    pub max_dead_letters_kept: usize,
}

impl Default for MetricsReaderConfig {
    fn default() -> Self {
        MetricsReaderConfig {
            format: MetricsFormat::Auto,
            has_header: true,
            delimiter: b',',
            ts_column: None,
            series_column: "series".into(),
            value_column: "value".into(),
            default_series: None,
            epoch_unit: EpochUnit::Auto,
            index_time: None,
            max_dead_letters_kept: crate::dead_letter::MAX_KEPT_DEAD_LETTERS,
        }
    }
}

/// Counters of a [`MetricsReader`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MetricsReaderStats {
    /// Data rows (CSV records or JSON lines) read, dead ones included.
    pub rows: u64,
    /// Points returned.
    pub points: u64,
    /// Empty, `NaN`, `NA` or `null` values skipped (they are gaps, not errors).
    pub missing_values: u64,
    /// Rows refused as dead letters.
    pub dead_letters: u64,
}

#[derive(Debug, Clone)]
enum CsvLayout {
    Long { ts: usize, series: Option<usize>, value: usize, width: usize },
    Wide { ts: Option<usize>, columns: Vec<(usize, String)>, width: usize },
}

enum Input {
    Csv { reader: csv::Reader<Box<dyn Read>>, layout: Option<CsvLayout>, record: csv::ByteRecord },
    Json { reader: Box<dyn BufRead>, line: Vec<u8>, line_no: u64 },
}

/// A streaming reader of metric points. Malformed rows become [`DeadLetter`]s
/// (counted, kept up to a bound) and reading goes on.
///
/// ```
/// use vigil_ingest::metrics::{MetricsReader, MetricsReaderConfig};
/// let csv = "date,HUFL,OT\n2016-07-01 00:00:00,5.827,30.531\nbad row\n";
/// let mut r = MetricsReader::from_reader("ett.csv", csv.as_bytes(), MetricsReaderConfig::default())?;
/// let p = r.next_point()?.unwrap();
/// assert_eq!((p.series.as_str(), p.ts, p.value), ("HUFL", 1_467_331_200_000_000, 5.827));
/// assert_eq!(r.next_point()?.unwrap().series, "OT");
/// assert!(r.next_point()?.is_none());
/// assert_eq!(r.take_dead_letters()[0].line().unwrap(), 3);
/// # Ok::<(), vigil_ingest::IngestError>(())
/// ```
pub struct MetricsReader {
    source: String,
    stem: String,
    config: MetricsReaderConfig,
    input: Input,
    pending: VecDeque<MetricPoint>,
    dead: DeadLetters,
    stats: MetricsReaderStats,
    done: bool,
}

impl std::fmt::Debug for MetricsReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsReader")
            .field("source", &self.source)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

fn io_err(path: &str, source: std::io::Error) -> IngestError {
    IngestError::Io { path: PathBuf::from(path), source }
}

fn is_missing(s: &str) -> bool {
    let s = s.trim();
    s.is_empty() || ["nan", "na", "null", "none"].iter().any(|m| s.eq_ignore_ascii_case(m))
}

/// A value field: `Ok(None)` for a gap, `Err` for garbage.
fn parse_value(s: &str) -> std::result::Result<Option<f64>, String> {
    if is_missing(s) {
        return Ok(None);
    }
    match s.trim().parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(Some(v)),
        Ok(_) => Err(format!("value `{}` is not finite", s.trim())),
        Err(_) => Err(format!("value `{}` is not a number", s.trim())),
    }
}

impl MetricsReader {
    /// Open `path` (`.gz` or not: gzip is detected from the magic bytes).
    pub fn open(path: impl AsRef<Path>, config: MetricsReaderConfig) -> Result<Self> {
        let path = path.as_ref();
        let file =
            File::open(path).map_err(|e| IngestError::Io { path: path.into(), source: e })?;
        Self::from_reader(path.display().to_string(), file, config)
    }

    /// Read from any byte stream; `source` names it in dead letters and
    /// errors, and its extension guides [`MetricsFormat::Auto`].
    pub fn from_reader(
        source: impl Into<String>,
        reader: impl Read + 'static,
        config: MetricsReaderConfig,
    ) -> Result<Self> {
        let source = source.into();
        let stream: Box<dyn BufRead> =
            Box::new(maybe_gunzip(reader).map_err(|e| io_err(&source, e))?);
        let name = Path::new(&source).file_name().map(|n| n.to_string_lossy().into_owned());
        let name = name.unwrap_or_default();
        let name = name.strip_suffix(".gz").unwrap_or(&name).to_owned();
        let (stem, ext) = match name.rsplit_once('.') {
            Some((s, e)) => (s.to_owned(), e.to_ascii_lowercase()),
            None => (name.clone(), String::new()),
        };
        let json = match config.format {
            MetricsFormat::JsonLines => true,
            MetricsFormat::Auto => matches!(ext.as_str(), "json" | "jsonl" | "ndjson"),
            MetricsFormat::LongCsv | MetricsFormat::WideCsv => false,
        };
        let input = if json {
            Input::Json { reader: stream, line: Vec::new(), line_no: 0 }
        } else {
            let reader = csv::ReaderBuilder::new()
                .has_headers(false)
                .flexible(true)
                .delimiter(config.delimiter)
                .from_reader(Box::new(stream) as Box<dyn Read>);
            Input::Csv { reader, layout: None, record: csv::ByteRecord::new() }
        };
        let dead = DeadLetters::new(source.clone(), config.max_dead_letters_kept);
        let mut r = MetricsReader {
            source,
            stem,
            config,
            input,
            pending: VecDeque::new(),
            dead,
            stats: MetricsReaderStats::default(),
            done: false,
        };
        if matches!(r.input, Input::Csv { .. }) && r.config.has_header {
            r.read_header()?;
        }
        Ok(r)
    }

    /// The series of a wide CSV, in column order (known once the header, or
    /// without one the first row, has been read); `None` for other layouts.
    pub fn wide_series(&self) -> Option<Vec<String>> {
        match &self.input {
            Input::Csv { layout: Some(CsvLayout::Wide { columns, .. }), .. } => {
                Some(columns.iter().map(|(_, n)| n.clone()).collect())
            }
            _ => None,
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> MetricsReaderStats {
        self.stats
    }

    /// The dead letters kept since the last call.
    pub fn take_dead_letters(&mut self) -> Vec<DeadLetter> {
        self.dead.take()
    }

    /// Read every remaining point.
    pub fn read_all(&mut self) -> Result<Vec<MetricPoint>> {
        let mut out = Vec::new();
        while let Some(p) = self.next_point()? {
            out.push(p);
        }
        Ok(out)
    }

    /// The next point, `None` at the end. Only I/O failures are errors.
    pub fn next_point(&mut self) -> Result<Option<MetricPoint>> {
        loop {
            if let Some(p) = self.pending.pop_front() {
                self.stats.points += 1;
                return Ok(Some(p));
            }
            if self.done {
                return Ok(None);
            }
            match &self.input {
                Input::Csv { .. } => self.csv_row()?,
                Input::Json { .. } => self.json_row()?,
            }
        }
    }

    fn dead_letter(&mut self, line: u64, reason: String, raw: &[u8]) {
        self.stats.dead_letters += 1;
        tracing::debug!(source = %self.source, line, %reason, "metrics row dead-lettered");
        self.dead.push(line, reason, || raw.to_vec());
    }

    fn find_ts(&self, names: &[String]) -> Result<Option<usize>> {
        let pos = |n: &str| names.iter().position(|c| c.trim().eq_ignore_ascii_case(n));
        match &self.config.ts_column {
            Some(c) => pos(c).map(Some).ok_or_else(|| {
                IngestError::Config(format!(
                    "{}: no timestamp column `{c}` in {names:?}",
                    self.source
                ))
            }),
            None => Ok(TIMESTAMP_COLUMNS.iter().find_map(|n| pos(n))),
        }
    }

    fn read_header(&mut self) -> Result<()> {
        let Input::Csv { reader, record, .. } = &mut self.input else { return Ok(()) };
        let more = reader.read_byte_record(record).map_err(|e| csv_io(&self.source, e))?;
        if !more {
            self.done = true;
            return Ok(());
        }
        let names: Vec<String> =
            record.iter().map(|f| String::from_utf8_lossy(f).trim().to_owned()).collect();
        let layout = self.layout_from_names(&names)?;
        if let Input::Csv { layout: l, .. } = &mut self.input {
            *l = Some(layout);
        }
        Ok(())
    }

    fn layout_from_names(&self, names: &[String]) -> Result<CsvLayout> {
        let pos = |n: &str| names.iter().position(|c| c.eq_ignore_ascii_case(n));
        let ts = self.find_ts(names)?;
        let value = pos(&self.config.value_column);
        let series = pos(&self.config.series_column);
        let width = names.len();
        let long = match self.config.format {
            MetricsFormat::LongCsv => true,
            MetricsFormat::WideCsv => false,
            _ => value.is_some() && (series.is_some() || (width == 2 && ts.is_some())),
        };
        if long {
            let (Some(ts), Some(value)) = (ts, value) else {
                return Err(IngestError::Config(format!(
                    "{}: a long metrics file needs a timestamp and a `{}` column, header is {names:?}",
                    self.source, self.config.value_column
                )));
            };
            return Ok(CsvLayout::Long { ts, series, value, width });
        }
        if ts.is_none() && self.config.index_time.is_none() {
            return Err(IngestError::Config(format!(
                "{}: no timestamp column in {names:?}; name one (ts_column) or set index_time",
                self.source
            )));
        }
        let columns =
            (0..width).filter(|&i| Some(i) != ts).map(|i| (i, names[i].clone())).collect();
        Ok(CsvLayout::Wide { ts, columns, width })
    }

    fn headerless_layout(&self, width: usize) -> Result<CsvLayout> {
        let long = matches!(self.config.format, MetricsFormat::LongCsv);
        if long {
            return match width {
                2 => Ok(CsvLayout::Long { ts: 0, series: None, value: 1, width }),
                3 => Ok(CsvLayout::Long { ts: 1, series: Some(0), value: 2, width }),
                _ => Err(IngestError::Config(format!(
                    "{}: a long file without a header must have 2 (ts,value) or 3 (series,ts,value) columns, found {width}",
                    self.source
                ))),
            };
        }
        let ts = if self.config.index_time.is_some() { None } else { Some(0) };
        let columns =
            (0..width).filter(|&i| Some(i) != ts).map(|i| (i, format!("col{i}"))).collect();
        Ok(CsvLayout::Wide { ts, columns, width })
    }

    fn parse_ts(&self, s: &str) -> std::result::Result<i64, String> {
        parse_timestamp_with(s, self.config.epoch_unit)
            .ok_or_else(|| format!("timestamp `{}` is not recognised", s.trim()))
    }

    fn csv_row(&mut self) -> Result<()> {
        let Input::Csv { reader, record, layout } = &mut self.input else { return Ok(()) };
        match reader.read_byte_record(record) {
            Ok(true) => {}
            Ok(false) => {
                self.done = true;
                return Ok(());
            }
            Err(e) if matches!(e.kind(), csv::ErrorKind::Io(_)) => {
                return Err(csv_io(&self.source, e));
            }
            Err(e) => {
                let line = e.position().map_or(0, csv::Position::line);
                self.stats.rows += 1;
                self.dead_letter(line, e.to_string(), b"");
                return Ok(());
            }
        }
        let record = record.clone();
        let line = record.position().map_or(0, csv::Position::line);
        let row_index = self.stats.rows;
        self.stats.rows += 1;
        let layout = match layout {
            Some(l) => l.clone(),
            None => {
                let l = self.headerless_layout(record.len())?;
                if let Input::Csv { layout, .. } = &mut self.input {
                    *layout = Some(l.clone());
                }
                l
            }
        };
        let raw_line = || {
            let fields: Vec<&[u8]> = record.iter().collect();
            fields.join(&[self.config.delimiter][..])
        };
        let width = match &layout {
            CsvLayout::Long { width, .. } | CsvLayout::Wide { width, .. } => *width,
        };
        if record.len() != width {
            let reason = format!("expected {width} fields, found {}", record.len());
            let r = raw_line();
            self.dead_letter(line, reason, &r);
            return Ok(());
        }
        let mut fields = Vec::with_capacity(record.len());
        for f in record.iter() {
            match std::str::from_utf8(f) {
                Ok(s) => fields.push(s),
                Err(_) => {
                    let r = raw_line();
                    self.dead_letter(line, "field is not UTF-8".into(), &r);
                    return Ok(());
                }
            }
        }
        let result = match &layout {
            CsvLayout::Long { ts, series, value, .. } => {
                self.long_point(fields[*ts], series.map(|i| fields[i]), fields[*value])
            }
            CsvLayout::Wide { ts, columns, .. } => {
                let ts = match (ts, self.config.index_time) {
                    (Some(i), _) => self.parse_ts(fields[*i]),
                    (None, Some(it)) => i64::try_from(row_index)
                        .ok()
                        .and_then(|i| i.checked_mul(it.step_us))
                        .and_then(|o| o.checked_add(it.start_us))
                        .ok_or_else(|| "row index time overflows".to_owned()),
                    (None, None) => Err("no timestamp".to_owned()),
                };
                ts.and_then(|ts| {
                    let mut pts = Vec::with_capacity(columns.len());
                    let mut missing = 0;
                    for (i, name) in columns {
                        match parse_value(fields[*i])
                            .map_err(|e| format!("column `{name}`: {e}"))?
                        {
                            Some(value) => {
                                pts.push(MetricPoint { series: name.clone(), ts, value })
                            }
                            None => missing += 1,
                        }
                    }
                    Ok((pts, missing))
                })
            }
        };
        match result {
            Ok((pts, missing)) => {
                self.stats.missing_values += missing;
                self.pending.extend(pts);
            }
            Err(reason) => {
                let r = raw_line();
                self.dead_letter(line, reason, &r);
            }
        }
        Ok(())
    }

    /// One long-layout point: `(points, missing count)` or a dead-letter reason.
    fn long_point(
        &self,
        ts: &str,
        series: Option<&str>,
        value: &str,
    ) -> std::result::Result<(Vec<MetricPoint>, u64), String> {
        let ts = self.parse_ts(ts)?;
        let series = match series {
            Some(s) if s.trim().is_empty() => return Err("empty series name".into()),
            Some(s) => s.trim().to_owned(),
            None => self.config.default_series.clone().unwrap_or_else(|| self.stem.clone()),
        };
        Ok(match parse_value(value)? {
            Some(value) => (vec![MetricPoint { series, ts, value }], 0),
            None => (Vec::new(), 1),
        })
    }

    fn json_row(&mut self) -> Result<()> {
        let Input::Json { reader, line, line_no } = &mut self.input else { return Ok(()) };
        line.clear();
        let n = reader.read_until(b'\n', line).map_err(|e| io_err(&self.source, e))?;
        if n == 0 {
            self.done = true;
            return Ok(());
        }
        *line_no += 1;
        let no = *line_no;
        let raw = std::mem::take(line);
        if raw.iter().all(u8::is_ascii_whitespace) {
            self.put_back_json_buf(raw);
            return Ok(());
        }
        self.stats.rows += 1;
        let result = serde_json::from_slice::<Value>(&raw)
            .map_err(|e| format!("not JSON: {e}"))
            .and_then(|v| self.json_points(v));
        match result {
            Ok((pts, missing)) => {
                self.stats.missing_values += missing;
                self.pending.extend(pts);
            }
            Err(reason) => {
                let trimmed = raw.strip_suffix(b"\n").unwrap_or(&raw);
                let trimmed = trimmed.strip_suffix(b"\r").unwrap_or(trimmed).to_vec();
                self.dead_letter(no, reason, &trimmed);
            }
        }
        self.put_back_json_buf(raw);
        Ok(())
    }

    fn put_back_json_buf(&mut self, buf: Vec<u8>) {
        if let Input::Json { line, .. } = &mut self.input {
            *line = buf;
        }
    }

    fn json_points(&self, v: Value) -> std::result::Result<(Vec<MetricPoint>, u64), String> {
        let Value::Object(map) = v else { return Err("line is not a JSON object".into()) };
        let key = |n: &str| map.keys().find(|k| k.eq_ignore_ascii_case(n)).cloned();
        let ts_key = match &self.config.ts_column {
            Some(c) => key(c),
            None => TIMESTAMP_COLUMNS.iter().find_map(|n| key(n)),
        }
        .ok_or_else(|| "no timestamp field".to_owned())?;
        let ts_text = match &map[&ts_key] {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            other => return Err(format!("timestamp field `{ts_key}` is {other}")),
        };
        let ts = self.parse_ts(&ts_text)?;
        let as_text = |v: &Value| -> std::result::Result<Option<String>, String> {
            match v {
                Value::Null => Ok(None),
                Value::Number(n) => Ok(Some(n.to_string())),
                Value::String(s) => Ok(Some(s.clone())),
                other => Err(format!("value {other} is not a number")),
            }
        };
        if let (Some(vk), Some(sk)) =
            (key(&self.config.value_column), key(&self.config.series_column))
        {
            let Value::String(series) = &map[&sk] else {
                return Err(format!("series field `{sk}` is not a string"));
            };
            let value = as_text(&map[&vk])?.unwrap_or_default();
            return Ok(match parse_value(&value)? {
                Some(value) if !series.trim().is_empty() => {
                    (vec![MetricPoint { series: series.trim().to_owned(), ts, value }], 0)
                }
                Some(_) => return Err("empty series name".into()),
                None => (Vec::new(), 1),
            });
        }
        let mut pts = Vec::new();
        let mut missing = 0;
        for (k, v) in &map {
            if *k == ts_key {
                continue;
            }
            match v {
                Value::Null => missing += 1,
                Value::Number(n) => match n.as_f64().filter(|x| x.is_finite()) {
                    Some(value) => pts.push(MetricPoint { series: k.clone(), ts, value }),
                    None => return Err(format!("field `{k}`: {n} is not a finite number")),
                },
                // Strings, booleans, arrays and objects are tags: ignored.
                _ => {}
            }
        }
        if pts.is_empty() && missing == 0 {
            return Err("no numeric fields".into());
        }
        Ok((pts, missing))
    }
}

fn csv_io(source: &str, e: csv::Error) -> IngestError {
    match e.into_kind() {
        csv::ErrorKind::Io(io) => io_err(source, io),
        other => IngestError::Config(format!("{source}: {other:?}")),
    }
}
