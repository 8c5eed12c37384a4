//! Conformance of our flows with peer tools' outputs on the same captures.
//!
//! Three sources of expected results live under `DATA/pcap/` (see its `PROVENANCE.md`):
//!
//! - **Zeek** (`derived/zeek_conn_expected.csv` + `zeek/manifest.json`): `conn.log` rows,
//!   matched one-to-one on the oriented 5-tuple. Two criteria: (a) 5-tuple + proto + packets +
//!   `ip_bytes` per direction, (b) (a) plus `conn_state` and `history`. Payload bytes
//!   (`orig_bytes`/`resp_bytes`) are reported separately. Only baselines marked
//!   `suggested_for_flow_acceptance` count for acceptance; the others (redefs, BPF filters,
//!   column edits) are evaluated and reported as "informational".
//! - **Suricata** (`derived/suricata_verify_checks.jsonl`): suricata-verify `event_type: flow`
//!   checks; a check passes when the number of our flows matching every field of the filter
//!   we can evaluate has the expected `count` (or satisfies `lt`/`gt`). See [`suricata`].
//! - **nDPI** (`derived/ndpi_flows_expected.csv`): `ndpiReader` flows, matched one-to-one on
//!   the 5-tuple in either orientation; per-direction packet counts (acceptance) and on-the-wire
//!   bytes (reported) are compared.
//!
//! Every capture is read once ([`flows_from_capture`](vigil_pipelines::extract::flows_from_capture))
//! whatever the number of sources and baselines that reference it.
//!
//! Mismatches listed in `known_differences.json` (next to this file, embedded at build time,
//! or another file through [`ConformanceOptions::known_differences`]) are reported as "known"
//! and excluded from the adjusted rate; the raw rate is always reported next to it.

mod flows;
mod known;
mod matching;
mod ndpi;
mod report;
mod suricata;
mod zeek;

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::Serialize;
use vigil_ingest::FlowTableConfig;
use vigil_ingest::flow::Semantics;

pub use flows::{DirView, OurFlow};
pub use known::{KnownDifference, KnownDifferences};
pub use report::{
    CaptureFailure, ConformanceReport, Mismatch, NdpiReport, SuricataReport, Tally, ZeekReport,
    thresholds,
};

pub use vigil_ingest::data_dir::DATA_ENV;

/// The known-differences file shipped with the source (`known_differences.json`).
pub const EMBEDDED_KNOWN_DIFFERENCES: &str = include_str!("known_differences.json");

/// A peer tool whose outputs we compare against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// Zeek `conn.log` baselines.
    Zeek,
    /// suricata-verify `event_type: flow` checks.
    Suricata,
    /// `ndpiReader` flow lines.
    Ndpi,
}

impl Source {
    /// Every source, in report order.
    pub const ALL: [Source; 3] = [Source::Zeek, Source::Suricata, Source::Ndpi];

    /// Lower-case name (`zeek`, `suricata`, `ndpi`).
    pub fn name(self) -> &'static str {
        match self {
            Source::Zeek => "zeek",
            Source::Suricata => "suricata",
            Source::Ndpi => "ndpi",
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Source {
    type Err = ConformanceError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "zeek" => Ok(Source::Zeek),
            "suricata" => Ok(Source::Suricata),
            "ndpi" => Ok(Source::Ndpi),
            other => Err(ConformanceError::UnknownSource(other.to_string())),
        }
    }
}

/// What to compare and how much to list.
#[derive(Debug, Clone)]
pub struct ConformanceOptions {
    /// Sources to evaluate (empty = all).
    pub sources: Vec<Source>,
    /// Only captures whose path (relative to `DATA/pcap/`) contains this substring.
    pub capture_filter: Option<String>,
    /// Most mismatches listed per source (the counts always include all of them).
    pub max_mismatches: usize,
    /// Known-differences file to use instead of the embedded `known_differences.json`.
    pub known_differences: Option<PathBuf>,
    /// Also evaluate Suricata's `tcp.tcp_flags*` and `tcp.<flag>` fields from our per-direction
    /// TCP flags (off by default: the acceptance target only covers flow counters and tuples).
    pub suricata_tcp_flags: bool,
    /// Flow-table configuration used to build our flows.
    pub flow_config: FlowTableConfig,
}

impl Default for ConformanceOptions {
    fn default() -> Self {
        Self {
            sources: Vec::new(),
            capture_filter: None,
            max_mismatches: 50,
            known_differences: None,
            suricata_tcp_flags: false,
            flow_config: FlowTableConfig::default(),
        }
    }
}

impl ConformanceOptions {
    /// Whether `source` is selected.
    pub fn wants(&self, source: Source) -> bool {
        self.sources.is_empty() || self.sources.contains(&source)
    }

    /// Whether the capture (path relative to `DATA/pcap/`) passes the filter.
    pub fn wants_capture(&self, capture: &str) -> bool {
        self.capture_filter.as_deref().is_none_or(|f| capture.contains(f))
    }
}

/// Errors that stop a conformance run. Each names the file and, where known, the line.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConformanceError {
    /// A file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A row or line of an expected-results file is malformed.
    #[error("{path}:{line}: {message}")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// 1-based line number (0 when unknown).
        line: u64,
        /// What is wrong.
        message: String,
    },
    /// The data directory lacks `pcap/`.
    #[error("{0}: not a Vigil data directory (no pcap/ inside); set --data or {DATA_ENV}")]
    NoData(PathBuf),
    /// An unknown source name.
    #[error("unknown conformance source `{0}` (expected zeek, suricata or ndpi)")]
    UnknownSource(String),
}

/// The data directory: `$VIGIL_DATA`, else `shared/data` beside the current directory's
/// checkout (see [`vigil_ingest::data_dir::data_dir`]).
pub fn default_data_dir() -> PathBuf {
    vigil_ingest::data_dir::data_dir(Path::new("."))
}

/// Our flows for each capture, computed once per capture path.
#[derive(Debug)]
pub(crate) struct FlowCache {
    config: FlowTableConfig,
    captures: HashMap<PathBuf, std::rc::Rc<CaptureFlows>>,
    order: Vec<(PathBuf, String)>,
}

/// Our flows for one capture (plus the read error that ended it early, if any).
#[derive(Debug)]
pub(crate) struct CaptureFlows {
    pub flows: Vec<OurFlow>,
    pub error: Option<String>,
}

impl FlowCache {
    pub(crate) fn new(config: FlowTableConfig) -> Self {
        Self { config, captures: HashMap::new(), order: Vec::new() }
    }

    /// Flows for `path` (`label` = the path as reported).
    pub(crate) fn get(&mut self, path: &Path, label: &str) -> std::rc::Rc<CaptureFlows> {
        let config = self.config.clone();
        self.get_with(path, label, &config, false)
    }

    /// The cache key of `path` read with `config` (the bare path for the default config).
    fn key_for(&self, path: &Path, config: &FlowTableConfig, verify_checksums: bool) -> PathBuf {
        let ports = (&config.tcp_server_ports, &config.udp_server_ports);
        let default_ports = (&self.config.tcp_server_ports, &self.config.udp_server_ports);
        let semantics = match config.semantics {
            Semantics::Zeek => String::new(),
            Semantics::Suricata => {
                let s = &config.suricata;
                format!(
                    "#semantics=suricata#midstream={}#recursion={}",
                    s.midstream, s.recursion_level_tracking
                )
            }
        };
        match (ports == default_ports, verify_checksums, semantics.is_empty()) {
            (true, false, true) => path.to_path_buf(),
            (bare, verify, _) => PathBuf::from(format!(
                "{}#bare={}#verify={verify}{semantics}",
                path.display(),
                !bare
            )),
        }
    }

    /// Flows for `path` built with another flow-table configuration and, when
    /// `verify_checksums`, dropping what has bad checksums (a Zeek run without `-C`).
    pub(crate) fn get_with(
        &mut self,
        path: &Path,
        label: &str,
        config: &FlowTableConfig,
        verify_checksums: bool,
    ) -> std::rc::Rc<CaptureFlows> {
        let key = self.key_for(path, config, verify_checksums);
        if let Some(c) = self.captures.get(&key) {
            return c.clone();
        }
        let decoder = vigil_ingest::packet::DecoderConfig {
            verify_checksums,
            ..vigil_ingest::packet::DecoderConfig::default()
        };
        let (records, error) =
            vigil_pipelines::extract::flows_from_capture(path, decoder, config.clone());
        let c = std::rc::Rc::new(CaptureFlows {
            flows: records.iter().map(OurFlow::from_record).collect(),
            error: error.map(|e| e.to_string()),
        });
        self.captures.insert(key.clone(), c.clone());
        self.order.push((key, label.to_string()));
        c
    }

    /// Insert precomputed flows (tests).
    #[cfg(test)]
    /// The same flows serve the Zeek/nDPI (default) and the Suricata-semantics readings.
    pub(crate) fn insert(&mut self, path: &Path, flows: Vec<OurFlow>) {
        let c = std::rc::Rc::new(CaptureFlows { flows, error: None });
        let suricata = FlowTableConfig { semantics: Semantics::Suricata, ..self.config.clone() };
        let keys = [self.key_for(path, &self.config, false), self.key_for(path, &suricata, false)];
        for k in keys {
            self.captures.insert(k, c.clone());
        }
    }

    /// Captures read, each counted once whatever the configurations it was read with.
    fn distinct_captures(&self) -> usize {
        let base = |k: &PathBuf| k.to_string_lossy().split('#').next().unwrap_or("").to_string();
        let paths: std::collections::HashSet<String> = self.captures.keys().map(base).collect();
        paths.len()
    }

    fn failures(&self) -> Vec<CaptureFailure> {
        self.order
            .iter()
            .filter_map(|(path, label)| {
                let err = self.captures.get(path)?.error.as_ref()?;
                Some(CaptureFailure { capture: label.clone(), error: err.clone() })
            })
            .collect()
    }
}

/// Run the comparison on `data_dir` (the directory holding `pcap/`).
pub fn run(
    data_dir: &Path,
    opts: &ConformanceOptions,
) -> Result<ConformanceReport, ConformanceError> {
    let pcap_dir = data_dir.join("pcap");
    if !pcap_dir.is_dir() {
        return Err(ConformanceError::NoData(data_dir.to_path_buf()));
    }
    let known = match &opts.known_differences {
        Some(p) => KnownDifferences::load(p)?,
        None => KnownDifferences::parse(
            EMBEDDED_KNOWN_DIFFERENCES,
            Path::new("pipelines/src/conformance/known_differences.json"),
        )?,
    };
    let mut cache = FlowCache::new(opts.flow_config.clone());
    run_with_cache(&pcap_dir, opts, &known, &mut cache, data_dir)
}

pub(crate) fn run_with_cache(
    pcap_dir: &Path,
    opts: &ConformanceOptions,
    known: &KnownDifferences,
    cache: &mut FlowCache,
    data_dir: &Path,
) -> Result<ConformanceReport, ConformanceError> {
    let zeek = if opts.wants(Source::Zeek) {
        Some(zeek::evaluate(pcap_dir, opts, known, cache)?)
    } else {
        None
    };
    let suricata = if opts.wants(Source::Suricata) {
        Some(suricata::evaluate(pcap_dir, opts, known, cache)?)
    } else {
        None
    };
    let ndpi = if opts.wants(Source::Ndpi) {
        Some(ndpi::evaluate(pcap_dir, opts, known, cache)?)
    } else {
        None
    };
    Ok(ConformanceReport {
        data_dir: data_dir.display().to_string(),
        captures_read: cache.distinct_captures(),
        capture_failures: cache.failures(),
        known_differences: known.entries.len(),
        zeek,
        suricata,
        ndpi,
    })
}

/// Byte offset → 1-based line number (the csv crate's own line count is off for CRLF files).
pub(crate) struct LineIndex {
    bytes: Vec<u8>,
    newlines: Vec<u64>,
}

impl LineIndex {
    pub(crate) fn new(bytes: &[u8]) -> Self {
        let newlines =
            bytes.iter().enumerate().filter(|(_, b)| **b == b'\n').map(|(i, _)| i as u64).collect();
        Self { bytes: bytes.to_vec(), newlines }
    }

    /// Line of the record starting at `offset` (csv positions may point at the preceding
    /// line terminator, which is skipped).
    pub(crate) fn line(&self, mut offset: u64) -> u64 {
        while matches!(self.bytes.get(offset as usize), Some(b'\r' | b'\n')) {
            offset += 1;
        }
        self.newlines.partition_point(|&n| n < offset) as u64 + 1
    }
}

/// An expected-results CSV file read whole.
pub(crate) struct CsvTable {
    /// Positions of the required columns, in the order asked for.
    pub columns: Vec<usize>,
    /// The header row (for optional columns).
    pub headers: csv::StringRecord,
    /// Each record with its 1-based line number.
    pub rows: Vec<(u64, csv::StringRecord)>,
}

/// Read an expected-results CSV file, locating the required columns `names`.
/// Errors name the file and line.
pub(crate) fn read_csv(path: &Path, names: &[&str]) -> Result<CsvTable, ConformanceError> {
    let bytes = std::fs::read(path).map_err(io_err(path))?;
    let lines = LineIndex::new(&bytes);
    let mut rdr = csv::Reader::from_reader(bytes.as_slice());
    let headers = rdr.headers().map_err(|e| malformed(path, 1, e.to_string()))?.clone();
    let columns = names
        .iter()
        .map(|n| {
            headers
                .iter()
                .position(|h| h == *n)
                .ok_or_else(|| malformed(path, 1, format!("missing column `{n}`")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut rows = Vec::new();
    for rec in rdr.records() {
        let rec = rec.map_err(|e| {
            let line = e.position().map_or(0, |p| lines.line(p.byte()));
            malformed(path, line, e.to_string())
        })?;
        let line = rec.position().map_or(0, |p| lines.line(p.byte()));
        rows.push((line, rec));
    }
    Ok(CsvTable { columns, headers, rows })
}

/// Map an IO error onto [`ConformanceError::Io`].
pub(crate) fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> ConformanceError + '_ {
    move |source| ConformanceError::Io { path: path.to_path_buf(), source }
}

/// A [`ConformanceError::Malformed`].
pub(crate) fn malformed(path: &Path, line: u64, message: impl Into<String>) -> ConformanceError {
    ConformanceError::Malformed { path: path.to_path_buf(), line, message: message.into() }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A miniature data set: one Zeek baseline, one Suricata flow check and one nDPI flow, all
    /// on the same capture, which must be read (here: looked up) once.
    fn data() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let pcap = dir.path().join("pcap");
        std::fs::create_dir_all(pcap.join("zeek")).unwrap();
        std::fs::create_dir_all(pcap.join("derived")).unwrap();
        std::fs::write(
            pcap.join("zeek/manifest.json"),
            r#"[{"baseline": "core.x", "suggested_for_flow_acceptance": true}]"#,
        )
        .unwrap();
        std::fs::write(
            pcap.join("derived/zeek_conn_expected.csv"),
            "baseline,trace,uid,id.orig_h,id.orig_p,id.resp_h,id.resp_p,proto,orig_bytes,\
             resp_bytes,conn_state,history,orig_pkts,orig_ip_bytes,resp_pkts,resp_ip_bytes,\
             tunnel_parents,ip_proto\n\
             core.x,traces/x.pcap,C1,10.0.0.1,1000,10.0.0.2,53,udp,10,20,SF,Dd,1,38,1,48,-,17\n\
             core.x,traces/x.pcap,C2,10.0.0.1,1001,10.0.0.2,53,udp,10,-,S0,D,1,38,0,0,-,17\n\
             core.y,traces/x.pcap,C1,10.0.0.1,1000,10.0.0.2,53,udp,10,20,SF,Dd,1,38,1,48,-,17\n",
        )
        .unwrap();
        std::fs::write(
            pcap.join("derived/suricata_verify_checks.jsonl"),
            "{\"test\":\"tests/x\",\"pcap\":\"zeek/traces/x.pcap\",\"count\":1,\
             \"match\":{\"event_type\":\"flow\",\"proto\":\"UDP\",\"flow.pkts_toserver\":1,\
             \"flow.bytes_toserver\":52,\"app_proto\":\"dns\"}}\n\
             {\"test\":\"tests/x\",\"pcap\":\"zeek/traces/x.pcap\",\"count\":1,\
             \"match\":{\"event_type\":\"alert\"}}\n\
             {\"test\":\"tests/y\",\"pcap\":\"zeek/traces/x.pcap\",\"count\":1,\
             \"match\":{\"event_type\":\"flow\",\"flow.alerted\":true}}\n",
        )
        .unwrap();
        std::fs::write(
            pcap.join("derived/ndpi_flows_expected.csv"),
            "pcap,flow_no,l4,src,dir,dst,vlan,c2s_pkts,c2s_bytes,s2c_pkts,s2c_bytes\n\
             x.pcap,1,UDP,10.0.0.2:53,<->,10.0.0.1:1000,,1,62,1,52\n",
        )
        .unwrap();
        (dir, pcap)
    }

    fn our_flows() -> Vec<OurFlow> {
        let mut f = OurFlow::new(("10.0.0.1", 1000), ("10.0.0.2", 53), 17).with_pkts(1, 1);
        f.orig = DirView { pkts: 1, bytes: 10, ip_bytes: 38, wire_bytes: 52, tcp_flags: 0 };
        f.resp = DirView { pkts: 1, bytes: 20, ip_bytes: 48, wire_bytes: 62, tcp_flags: 0 };
        f.conn_state = "SF".into();
        f.history = "Dd".into();
        vec![f]
    }

    #[test]
    fn whole_run_on_a_miniature_data_set() {
        let (dir, pcap) = data();
        let mut cache = FlowCache::new(FlowTableConfig::default());
        cache.insert(&pcap.join("zeek/traces/x.pcap"), our_flows());
        cache.insert(&pcap.join("ndpi/pcap/x.pcap"), our_flows());
        let opts = ConformanceOptions::default();
        let known = KnownDifferences::default();
        let rep = run_with_cache(&pcap, &opts, &known, &mut cache, dir.path()).unwrap();
        let z = rep.zeek.as_ref().unwrap();
        // core.y's row duplicates core.x's: counted once. C2 has no flow.
        assert_eq!(z.duplicate_rows_dropped, 1);
        assert_eq!((z.tuple_pkts_ip_bytes.matched, z.tuple_pkts_ip_bytes.mismatched), (1, 1));
        assert_eq!(z.mismatches[0].reason, "no flow with this 5-tuple");
        let s = rep.suricata.as_ref().unwrap();
        assert_eq!(s.flow_checks, 2);
        assert_eq!(s.not_applicable, 1);
        assert_eq!((s.partially_evaluable.matched, s.fully_evaluable.total), (1, 0));
        let n = rep.ndpi.as_ref().unwrap();
        assert_eq!((n.packets.matched, n.bytes.matched), (1, 1));
        let text = rep.to_string();
        assert!(text.contains("(a) 5-tuple+proto+pkts+ip_bytes"), "{text}");
        assert!(text.contains("-- zeek/traces/x.pcap"), "{text}");
        let json = serde_json::to_value(&rep).unwrap();
        assert_eq!(json["zeek"]["tuple_pkts_ip_bytes"]["raw_rate"], 0.5);

        // Source and capture filters.
        let opts = ConformanceOptions {
            sources: vec![Source::Ndpi],
            capture_filter: Some("nothing-matches".into()),
            ..Default::default()
        };
        let rep = run_with_cache(&pcap, &opts, &known, &mut cache, dir.path()).unwrap();
        assert!(rep.zeek.is_none() && rep.suricata.is_none());
        assert_eq!(rep.ndpi.unwrap().packets.total, 0);
    }

    #[test]
    fn missing_data_dir_is_an_error() {
        let e = run(Path::new("/nonexistent/vigil"), &ConformanceOptions::default()).unwrap_err();
        assert!(matches!(e, ConformanceError::NoData(_)), "{e}");
        assert!("Zeek".parse::<Source>().is_ok());
        assert!("bro".parse::<Source>().is_err());
    }
}
