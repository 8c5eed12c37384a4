//! [`ActionEvent`] and [`DeadLetter`]: what the action-log readers yield.

/// Longest raw text kept in a [`DeadLetter`], in bytes.
pub const DEAD_LETTER_RAW_MAX: usize = 512;

/// One user action: who did what to what, and when. A row of DESIGN.md's
/// `actions` table without the model columns.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ActionEvent {
    /// Who acted: a user name or a client IP address.
    pub entity: String,
    /// When, in microseconds since the Unix epoch, UTC.
    pub ts: i64,
    /// What was done: `GET 2xx`, a template name such as `ssh_failed_password`, ….
    pub action: String,
    /// What it was done to: a normalised URL path, a user, a host; `-` when none.
    pub object: String,
}

/// A line that could not be parsed. The reader keeps going.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// The file name (or the name given to the stream).
    pub source: String,
    /// 1-based line number in the (decompressed) input.
    pub line: u64,
    /// Why the line was refused.
    pub reason: String,
    /// The line, cut to [`DEAD_LETTER_RAW_MAX`] bytes on a character boundary.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_respects_char_boundaries() {
        assert_eq!(truncate_str("héllo", 2), "h");
        assert_eq!(truncate_str("héllo", 3), "hé");
        assert_eq!(truncate_str("abc", 10), "abc");
    }
}
