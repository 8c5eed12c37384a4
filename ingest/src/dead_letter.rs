//! [`DeadLetter`]: an input row a reader refused, and [`DeadLetters`], the
//! bounded collector every line-oriented reader keeps them in.
//!
//! Used by the action-log reader ([`crate::actions::ActionReader`]), the flow
//! CSV reader ([`crate::flow_records::FlowCsvReader`]) and the metrics reader
//! ([`crate::metrics::MetricsReader`]); the `vigil` CLI writes what they keep.
//! A refused row never stops a reader: it is counted, and the first
//! [`MAX_KEPT_DEAD_LETTERS`] (or a reader's own cap) are kept with their raw
//! text cut to [`MAX_RAW_LEN`] bytes.

/// Raw text kept in a [`DeadLetter`], at most, in bytes.
pub const MAX_RAW_LEN: usize = 512;

/// Dead letters a reader keeps by default; later ones are only counted.
pub const MAX_KEPT_DEAD_LETTERS: usize = 10_000;

/// A row that could not be read; the reader keeps going.
///
/// This is the row type of DESIGN.md's `dead_letters` table: `source` →
/// `source`, `line` → `position`, `reason` → `error`, `raw` → `raw`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// The file name (or the name given to the stream).
    pub source: String,
    /// 1-based line number in the (decompressed) input; for a multi-line CSV
    /// record, the line it starts on, counting header and `#` lines.
    pub line: u64,
    /// Why the row was refused.
    pub reason: String,
    /// The row's text (lossy UTF-8), cut to [`MAX_RAW_LEN`] bytes on a character boundary.
    pub raw: String,
}

/// `s` cut to at most `max` bytes on a character boundary.
pub fn truncate_str(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// `raw` as lossy UTF-8, cut to [`MAX_RAW_LEN`] bytes on a character boundary.
pub fn raw_text(raw: &[u8]) -> String {
    truncate_str(&String::from_utf8_lossy(raw), MAX_RAW_LEN).to_owned()
}

/// Dead letters of one reader: every one counted, the first `max_kept` kept.
///
/// The cap applies to what is held now: after [`DeadLetters::take`] the
/// collector keeps again, up to the cap (the count is never reset).
#[derive(Debug, Clone)]
pub struct DeadLetters {
    source: String,
    kept: Vec<DeadLetter>,
    count: u64,
    max_kept: usize,
}

impl DeadLetters {
    /// An empty collector for the input called `source`, keeping at most `max_kept`.
    pub fn new(source: impl Into<String>, max_kept: usize) -> Self {
        DeadLetters { source: source.into(), kept: Vec::new(), count: 0, max_kept }
    }

    /// Changes the cap on dead letters kept.
    pub fn set_max_kept(&mut self, max_kept: usize) {
        self.max_kept = max_kept;
    }

    /// Counts one refused row and keeps it when there is room. `raw` is only
    /// called then, and its text is cut to [`MAX_RAW_LEN`] bytes. Returns
    /// whether it was kept.
    pub fn push(&mut self, line: u64, reason: String, raw: impl FnOnce() -> String) -> bool {
        self.count += 1;
        if self.kept.len() >= self.max_kept {
            return false;
        }
        let mut raw = raw();
        raw.truncate(truncate_str(&raw, MAX_RAW_LEN).len());
        self.kept.push(DeadLetter { source: self.source.clone(), line, reason, raw });
        true
    }

    /// The dead letters kept now.
    pub fn kept(&self) -> &[DeadLetter] {
        &self.kept
    }

    /// Takes the kept dead letters out, leaving none (the count is not reset).
    pub fn take(&mut self) -> Vec<DeadLetter> {
        std::mem::take(&mut self.kept)
    }

    /// Rows refused so far, kept or not.
    pub fn count(&self) -> u64 {
        self.count
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_respects_char_boundaries() {
        assert_eq!(truncate_str("héllo", 2), "h");
        assert_eq!(truncate_str("héllo", 3), "hé");
        assert_eq!(truncate_str("abc", 10), "abc");
        assert_eq!(raw_text(&[b'a'; 600]).len(), MAX_RAW_LEN);
    }

    #[test]
    fn keeps_the_first_n_counts_all() {
        let mut d = DeadLetters::new("s", 2);
        for i in 0..5 {
            d.push(i, "bad".into(), || "é".repeat(400));
        }
        assert_eq!((d.kept().len(), d.count()), (2, 5));
        assert_eq!(d.kept()[1].line, 1);
        assert_eq!(d.kept()[0].raw.len(), MAX_RAW_LEN);
        assert_eq!(d.take().len(), 2);
        assert!(d.push(9, "bad".into(), String::new));
        assert_eq!(d.count(), 6);
    }
}
