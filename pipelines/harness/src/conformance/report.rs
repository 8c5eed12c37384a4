//! The report: counts, rates and mismatches per source; text (`Display`) and JSON (`Serialize`).

use std::fmt;

use serde::Serialize;

use super::{OurFlow, Source};

/// Counts for one criterion.
///
/// `evaluated = matched + mismatched`; `known` ⊆ `mismatched` (mismatches listed in the
/// known-differences file); `skipped` rows were not evaluated (not applicable).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Tally {
    /// Expected items considered (evaluated + skipped).
    pub total: usize,
    /// Items compared.
    pub evaluated: usize,
    /// Items that agree.
    pub matched: usize,
    /// Items that disagree (including known differences).
    pub mismatched: usize,
    /// Mismatches that are known deliberate differences.
    pub known: usize,
    /// Items not evaluated (not applicable).
    pub skipped: usize,
    /// `matched / evaluated` (None when nothing was evaluated).
    pub raw_rate: Option<f64>,
    /// `matched / (evaluated - known)`: the rate with known differences excluded.
    pub rate: Option<f64>,
}

impl Tally {
    /// Count one evaluated item.
    pub(crate) fn record(&mut self, ok: bool, known: bool) {
        self.total += 1;
        self.evaluated += 1;
        if ok {
            self.matched += 1;
        } else {
            self.mismatched += 1;
            if known {
                self.known += 1;
            }
        }
        self.update_rates();
    }

    /// Count one skipped item.
    pub(crate) fn skip(&mut self) {
        self.total += 1;
        self.skipped += 1;
    }

    fn update_rates(&mut self) {
        let ratio = |n: usize, d: usize| (d > 0).then(|| n as f64 / d as f64);
        self.raw_rate = ratio(self.matched, self.evaluated);
        self.rate = ratio(self.matched, self.evaluated - self.known);
    }

    /// The adjusted rate, 0 when nothing was evaluated (for thresholds).
    pub fn rate_or_zero(&self) -> f64 {
        self.rate.unwrap_or(0.0)
    }
}

/// One disagreement.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Mismatch {
    /// The source tool.
    pub source: Source,
    /// Capture path relative to `DATA/pcap/`.
    pub capture: String,
    /// What was expected (Zeek: baseline + tuple; Suricata: test#check; nDPI: flow no + tuple).
    pub item: String,
    /// The criterion that failed.
    pub criterion: String,
    /// Why, e.g. `orig_pkts 5 != 4`, `no flow with this 5-tuple`.
    pub reason: String,
    /// The expected row or check, as read.
    pub expected: serde_json::Value,
    /// Our closest flow, if any.
    pub ours: Option<OurFlow>,
    /// The known-difference reason when this mismatch is a known deliberate difference.
    pub known: Option<String>,
    /// False for informational items (outside the acceptance population).
    pub acceptance: bool,
}

/// A capture our reader failed on (its flows until the error are still used).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CaptureFailure {
    /// Capture path relative to `DATA/pcap/`.
    pub capture: String,
    /// The error.
    pub error: String,
}

/// Zeek `conn.log` comparison.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ZeekReport {
    /// Baselines with conn rows considered.
    pub baselines: usize,
    /// Identical rows (same trace) from several baselines counted once.
    pub duplicate_rows_dropped: usize,
    /// Acceptance (a): 5-tuple + proto + pkts + ip_bytes per direction.
    pub tuple_pkts_ip_bytes: Tally,
    /// Acceptance (b): (a) plus conn_state and history.
    pub with_state_history: Tally,
    /// Payload bytes (orig_bytes/resp_bytes) on the rows matched by (a)'s tuple.
    pub payload_bytes: Tally,
    /// Criterion (b) on baselines not suggested for flow acceptance (redefs, filters...).
    pub informational: Tally,
    /// Mismatches listed (at most the configured number).
    pub mismatches: Vec<Mismatch>,
    /// Mismatches not listed.
    pub mismatches_omitted: usize,
}

/// Suricata flow-check comparison.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SuricataReport {
    /// `event_type: flow` checks in the file.
    pub flow_checks: usize,
    /// Checks dropped as duplicates of a newer-version variant (same pcap, filter and count).
    pub duplicates_dropped: usize,
    /// Checks with no field we can evaluate (reported, not failed).
    pub not_applicable: usize,
    /// Every evaluated check (fully + partially evaluable): the acceptance rate.
    pub checks: Tally,
    /// Checks whose every filter field was evaluated.
    pub fully_evaluable: Tally,
    /// Checks evaluated on the subset of their fields we can evaluate.
    pub partially_evaluable: Tally,
    /// Mismatches listed.
    pub mismatches: Vec<Mismatch>,
    /// Mismatches not listed.
    pub mismatches_omitted: usize,
}

/// nDPI flow comparison.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct NdpiReport {
    /// Per-direction packet counts (acceptance).
    pub packets: Tally,
    /// Per-direction on-the-wire bytes.
    pub bytes: Tally,
    /// Expected rows that could not be compared, with why.
    pub skipped_rows: Vec<String>,
    /// Mismatches listed.
    pub mismatches: Vec<Mismatch>,
    /// Mismatches not listed.
    pub mismatches_omitted: usize,
}

/// The whole conformance report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConformanceReport {
    /// The data directory used.
    pub data_dir: String,
    /// Distinct captures read.
    pub captures_read: usize,
    /// Captures whose reading ended with an error.
    pub capture_failures: Vec<CaptureFailure>,
    /// Entries in the known-differences file.
    pub known_differences: usize,
    /// Zeek results (None when not selected).
    pub zeek: Option<ZeekReport>,
    /// Suricata results.
    pub suricata: Option<SuricataReport>,
    /// nDPI results.
    pub ndpi: Option<NdpiReport>,
}

/// Acceptance thresholds (adjusted rates, known differences excluded).
pub mod thresholds {
    /// Zeek (a): 5-tuple + proto + pkts + ip_bytes.
    pub const ZEEK_TUPLE_PKTS_IP_BYTES: f64 = 0.97;
    /// Zeek (b): (a) + conn_state + history.
    pub const ZEEK_STATE_HISTORY: f64 = 0.95;
    /// Suricata flow checks (fully + partially evaluable).
    pub const SURICATA_FLOW_CHECKS: f64 = 0.97;
    /// nDPI per-direction packet counts.
    pub const NDPI_PACKETS: f64 = 0.97;
}

impl ConformanceReport {
    /// The acceptance criteria of the selected sources: (name, adjusted rate, threshold).
    pub fn acceptance(&self) -> Vec<(&'static str, f64, f64)> {
        let mut out = Vec::new();
        if let Some(z) = &self.zeek {
            out.push((
                "zeek 5-tuple+proto+pkts+ip_bytes",
                z.tuple_pkts_ip_bytes.rate_or_zero(),
                thresholds::ZEEK_TUPLE_PKTS_IP_BYTES,
            ));
            out.push((
                "zeek + conn_state+history",
                z.with_state_history.rate_or_zero(),
                thresholds::ZEEK_STATE_HISTORY,
            ));
        }
        if let Some(s) = &self.suricata {
            out.push((
                "suricata flow checks",
                s.checks.rate_or_zero(),
                thresholds::SURICATA_FLOW_CHECKS,
            ));
        }
        if let Some(n) = &self.ndpi {
            out.push((
                "ndpi packets per direction",
                n.packets.rate_or_zero(),
                thresholds::NDPI_PACKETS,
            ));
        }
        out
    }

    /// The acceptance criteria not met, as readable lines (empty = accepted).
    pub fn acceptance_failures(&self) -> Vec<String> {
        self.acceptance()
            .into_iter()
            .filter(|(_, rate, min)| rate < min)
            .map(|(what, rate, min)| format!("{what}: {:.2}% < {:.0}%", rate * 100.0, min * 100.0))
            .collect()
    }
}

/// Sort mismatches (acceptance first, then by capture) and keep at most `max`.
pub(crate) fn truncate(mut all: Vec<Mismatch>, max: usize) -> (Vec<Mismatch>, usize) {
    all.sort_by(|a, b| {
        (!a.acceptance, &a.capture, &a.item).cmp(&(!b.acceptance, &b.capture, &b.item))
    });
    let omitted = all.len().saturating_sub(max);
    all.truncate(max);
    (all, omitted)
}

fn pct(r: Option<f64>) -> String {
    r.map_or_else(|| "-".into(), |r| format!("{:.2}%", r * 100.0))
}

fn row(f: &mut fmt::Formatter<'_>, source: &str, what: &str, t: &Tally) -> fmt::Result {
    writeln!(
        f,
        "{source:<9} {what:<38} {:>6} {:>6} {:>6} {:>6} {:>6} {:>6} {:>8} {:>8}",
        t.total,
        t.evaluated,
        t.matched,
        t.mismatched,
        t.known,
        t.skipped,
        pct(t.raw_rate),
        pct(t.rate)
    )
}

fn mismatches(
    f: &mut fmt::Formatter<'_>,
    source: Source,
    list: &[Mismatch],
    omitted: usize,
) -> fmt::Result {
    if list.is_empty() && omitted == 0 {
        return Ok(());
    }
    writeln!(f, "\n== {source}: {} mismatches listed, {omitted} more not listed ==", list.len())?;
    let mut capture = None;
    for m in list {
        if capture != Some(&m.capture) {
            writeln!(f, "-- {}", m.capture)?;
            capture = Some(&m.capture);
        }
        let tag = match (&m.known, m.acceptance) {
            (Some(_), _) => " [known]",
            (None, false) => " [informational]",
            _ => "",
        };
        writeln!(f, "  {} [{}]{tag}: {}", m.item, m.criterion, m.reason)?;
        if let Some(k) = &m.known {
            writeln!(f, "      known difference: {k}")?;
        }
        writeln!(f, "      expected: {}", m.expected)?;
        match &m.ours {
            Some(o) => writeln!(
                f,
                "      ours:     {} uid={} pkts={}/{} ip_bytes={}/{} wire_bytes={}/{} bytes={}/{} \
                 state={} history={}{}",
                o.tuple_string(),
                o.uid,
                o.orig.pkts,
                o.resp.pkts,
                o.orig.ip_bytes,
                o.resp.ip_bytes,
                o.orig.wire_bytes,
                o.resp.wire_bytes,
                o.orig.bytes,
                o.resp.bytes,
                o.conn_state,
                o.history,
                if o.tunnel_parents.is_empty() { "" } else { " tunnelled" }
            )?,
            None => writeln!(f, "      ours:     (none)")?,
        }
    }
    Ok(())
}

impl fmt::Display for ConformanceReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "Vigil conformance: data {} ({} captures read, {} read errors, {} known differences)\n",
            self.data_dir,
            self.captures_read,
            self.capture_failures.len(),
            self.known_differences
        )?;
        writeln!(
            f,
            "{:<9} {:<38} {:>6} {:>6} {:>6} {:>6} {:>6} {:>6} {:>8} {:>8}",
            "source", "criterion", "total", "eval", "match", "miss", "known", "skip", "raw", "rate"
        )?;
        if let Some(z) = &self.zeek {
            row(f, "zeek", "(a) 5-tuple+proto+pkts+ip_bytes", &z.tuple_pkts_ip_bytes)?;
            row(f, "zeek", "(b) (a)+conn_state+history", &z.with_state_history)?;
            row(f, "zeek", "payload bytes (orig/resp_bytes)", &z.payload_bytes)?;
            row(f, "zeek", "(b) on non-acceptance baselines", &z.informational)?;
        }
        if let Some(s) = &self.suricata {
            row(f, "suricata", "flow checks (full + partial)", &s.checks)?;
            row(f, "suricata", "  fully evaluable", &s.fully_evaluable)?;
            row(f, "suricata", "  partially evaluable", &s.partially_evaluable)?;
        }
        if let Some(n) = &self.ndpi {
            row(f, "ndpi", "packets per direction", &n.packets)?;
            row(f, "ndpi", "wire bytes per direction", &n.bytes)?;
        }
        writeln!(f)?;
        for (what, rate, min) in self.acceptance() {
            let verdict = if rate >= min { "ok" } else { "BELOW" };
            writeln!(
                f,
                "acceptance {what:<36} {:>7.2}% (>= {:.0}%) {verdict}",
                rate * 100.0,
                min * 100.0
            )?;
        }
        if let Some(z) = &self.zeek {
            writeln!(
                f,
                "\nzeek: {} baselines; {} duplicate rows dropped",
                z.baselines, z.duplicate_rows_dropped
            )?;
        }
        if let Some(s) = &self.suricata {
            writeln!(
                f,
                "suricata: {} flow checks; {} duplicates of newer variants dropped; {} not applicable",
                s.flow_checks, s.duplicates_dropped, s.not_applicable
            )?;
        }
        if let Some(n) = &self.ndpi {
            for s in &n.skipped_rows {
                writeln!(f, "ndpi: skipped row: {s}")?;
            }
        }
        for c in &self.capture_failures {
            writeln!(f, "read error: {}: {}", c.capture, c.error)?;
        }
        if let Some(z) = &self.zeek {
            mismatches(f, Source::Zeek, &z.mismatches, z.mismatches_omitted)?;
        }
        if let Some(s) = &self.suricata {
            mismatches(f, Source::Suricata, &s.mismatches, s.mismatches_omitted)?;
        }
        if let Some(n) = &self.ndpi {
            mismatches(f, Source::Ndpi, &n.mismatches, n.mismatches_omitted)?;
        }
        Ok(())
    }
}
