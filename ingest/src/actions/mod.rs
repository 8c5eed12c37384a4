//! Action-log readers: user actions (who, when, what, on what) for HSTU.
//!
//! ```text
//!  file / .gz / stream ──► ActionReader ──► ActionEvent { entity, ts, action, object }
//!                              │
//!                              └──► DeadLetter { source, line, reason, raw } (counted, kept up to a cap)
//! ```
//!
//! Formats ([`ActionLogFormat`]):
//! - **CSV / JSON lines** with configurable column names ([`ActionColumns`]).
//! - **Apache/nginx access logs**, common or combined ([`AccessLogConfig`]):
//!   entity = client IP (or user), action = `METHOD Nxx` or a template,
//!   object = the normalised path ([`normalize_path`]).
//! - **Syslog auth logs** such as loghub's OpenSSH and Linux
//!   ([`AuthLogConfig`]): action = the name of the matched template
//!   ([`TemplateMatcher`]: built-in sshd/PAM table, plus loghub
//!   `*_templates.csv`), entity = source IP or user.
//!
//! Timestamps are microseconds since the epoch, UTC ([`timestamp`] has the
//! parsers: Apache `%t`, syslog with a configured year, ISO-8601, epoch).
//! A line that cannot be parsed never stops the reader; it becomes a
//! [`DeadLetter`]. Only I/O failures are errors.
//!
//! ```
//! use vigil_ingest::actions::{AccessLogConfig, ActionLogFormat, ActionReader};
//! let log = "10.0.0.1 - - [17/May/2015:10:05:03 +0000] \"GET /a?x=1 HTTP/1.1\" 200 12\nnot a log line\n";
//! let fmt = ActionLogFormat::AccessLog(AccessLogConfig::default());
//! let mut reader = ActionReader::from_reader("demo", log.as_bytes(), fmt)?;
//! let event = reader.next_event()?.unwrap();
//! assert_eq!((event.entity.as_str(), event.action.as_str(), event.object.as_str()), ("10.0.0.1", "GET 2xx", "/a"));
//! assert!(reader.next_event()?.is_none());
//! assert_eq!(reader.dead_letters()[0].line().unwrap(), 2);
//! # Ok::<(), vigil_ingest::IngestError>(())
//! ```

mod access_log;
mod auth_log;
mod event;
mod generic;
mod reader;
mod template;
pub mod timestamp;

pub use access_log::{
    AccessAction, AccessEntity, AccessLogConfig, MAX_PATH_LEN, normalize_path, parse_access_line,
};
pub use auth_log::{
    AuthEntity, AuthLine, AuthLogConfig, AuthLogParser, UNMATCHED_SUFFIX, find_ip, find_user,
};
pub use event::{ActionEvent, DEAD_LETTER_RAW_MAX, DeadLetter};
pub use generic::{ActionColumns, parse_json_line};
pub use reader::{
    ActionLogFormat, ActionReader, ActionReaderStats, DEFAULT_MAX_DEAD_LETTERS, MAX_LINE_LEN,
};
pub use template::{LogTemplate, SSHD_TEMPLATES, TemplateMatcher, WILDCARD};
