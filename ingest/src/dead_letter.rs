//! [`DeadLetter`]: an input row a reader refused, and [`DeadLetters`], the
//! bounded collector every line-oriented reader keeps them in.
//!
//! Used by the action-log reader ([`crate::actions::ActionReader`]), the flow
//! CSV reader ([`crate::flow_records::FlowCsvReader`]) and the metrics reader
//! ([`crate::metrics::MetricsReader`]); the `vigil` CLI writes what they keep.
//! A refused row never stops a reader: it is counted, and the first
//! [`MAX_KEPT_DEAD_LETTERS`] (or a reader's own cap) are kept with their raw
//! text cut to [`MAX_RAW_LEN`] bytes.

use crate::position::Position;

/// Raw bytes kept in a [`DeadLetter`], at most.
pub const MAX_RAW_LEN: usize = 512;

/// Dead letters a reader keeps by default; later ones are only counted.
pub const MAX_KEPT_DEAD_LETTERS: usize = 10_000;

/// A row that could not be read; the reader keeps going.
///
/// This is the row type of the `dead_letters` table: `source` → `source`,
/// `position` → `position`, `reason` → `error`, `raw` → `raw` (binary).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// The file name (or the name given to the stream: `stdin`, a Kafka topic).
    pub source: String,
    /// Where in the input: for line readers the 1-based line in the (decompressed)
    /// input (for a multi-line CSV record, the line it starts on, counting header
    /// and `#` lines).
    pub position: Position,
    /// Why the row was refused.
    pub reason: String,
    /// The row's bytes as read, cut to [`MAX_RAW_LEN`].
    pub raw: Vec<u8>,
}

impl DeadLetter {
    /// A dead letter; `raw` is cut to [`MAX_RAW_LEN`] bytes.
    pub fn new(
        source: impl Into<String>,
        position: Position,
        reason: impl Into<String>,
        mut raw: Vec<u8>,
    ) -> DeadLetter {
        raw.truncate(MAX_RAW_LEN);
        DeadLetter { source: source.into(), position, reason: reason.into(), raw }
    }

    /// The 1-based line, for a dead letter of a line reader.
    pub fn line(&self) -> Option<u64> {
        self.position.line()
    }

    /// The raw bytes as (lossy) text, for people.
    pub fn raw_lossy(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(&self.raw)
    }
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

    /// Counts one refused row at 1-based `line` and keeps it when there is room.
    /// `raw` is only called then, and its bytes are cut to [`MAX_RAW_LEN`].
    /// Returns whether it was kept.
    pub fn push<B: Into<Vec<u8>>>(
        &mut self,
        line: u64,
        reason: String,
        raw: impl FnOnce() -> B,
    ) -> bool {
        self.count += 1;
        if self.kept.len() >= self.max_kept {
            return false;
        }
        let letter =
            DeadLetter::new(self.source.clone(), Position::Line(line), reason, raw().into());
        self.kept.push(letter);
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
        let d = DeadLetter::new("s", Position::Packet(3), "bad", vec![0xff; 600]);
        assert_eq!((d.raw.len(), d.line()), (MAX_RAW_LEN, None));
    }

    #[test]
    fn keeps_the_first_n_counts_all() {
        let mut d = DeadLetters::new("s", 2);
        for i in 0..5 {
            d.push(i, "bad".into(), || vec![0xc3; 600]);
        }
        assert_eq!((d.kept().len(), d.count()), (2, 5));
        assert_eq!(d.kept()[1].line(), Some(1));
        assert_eq!(d.kept()[0].raw.len(), MAX_RAW_LEN);
        assert_eq!(d.take().len(), 2);
        assert!(d.push(9, "bad".into(), Vec::new));
        assert_eq!(d.count(), 6);
    }
}
