//! [`ActionEvent`] and [`DeadLetter`]: what the action-log readers yield.

pub use crate::dead_letter::DeadLetter;

/// Longest raw text kept in a [`DeadLetter`], in bytes (the shared
/// [`MAX_RAW_LEN`](crate::dead_letter::MAX_RAW_LEN)).
pub const DEAD_LETTER_RAW_MAX: usize = crate::dead_letter::MAX_RAW_LEN;

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
