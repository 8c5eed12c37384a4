//! A small log-template matcher: templates are text with `<*>` wildcards, as
//! in loghub's `*_templates.csv`, and the most specific matching template wins.
//!
//! A wildcard matches any text, also empty. Among the templates that match,
//! the first one in table order wins; tables are ordered user templates
//! first, then each group by descending literal length (more fixed text = more
//! specific), so `Failed password for invalid user <*> …` beats
//! `Failed password for <*> …`.

use std::io::Read;

use crate::{IngestError, Result};

/// The wildcard token.
pub const WILDCARD: &str = "<*>";

/// One template: a name (the action) and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogTemplate {
    /// The action name the template maps to (`ssh_failed_password`, or loghub's `E9`).
    pub name: String,
    /// The template text with `<*>` wildcards.
    pub template: String,
    parts: Vec<String>,
}

impl LogTemplate {
    /// A template named `name`.
    pub fn new(name: impl Into<String>, template: impl Into<String>) -> Self {
        let template = template.into();
        let parts = template.split(WILDCARD).map(str::to_owned).collect();
        LogTemplate { name: name.into(), template, parts }
    }

    fn literal_len(&self) -> usize {
        self.parts.iter().map(String::len).sum()
    }

    /// The wildcard values when `msg` matches, in order.
    pub fn captures<'m>(&self, msg: &'m str) -> Option<Vec<&'m str>> {
        let msg = msg.trim_end();
        let (first, rest) = self.parts.split_first()?;
        let mut pos = msg.strip_prefix(first.as_str()).map(|_| first.len())?;
        let Some((last, middle)) = rest.split_last() else {
            return (pos == msg.len()).then(Vec::new);
        };
        let mut caps = Vec::with_capacity(rest.len());
        for lit in middle {
            let at = pos + msg[pos..].find(lit.as_str())?;
            caps.push(&msg[pos..at]);
            pos = at + lit.len();
        }
        let tail = msg[pos..].strip_suffix(last.as_str())?;
        caps.push(tail);
        Some(caps)
    }
}

/// The built-in sshd table (names are ours; texts follow the loghub OpenSSH
/// templates and the messages of OpenSSH's `auth.c`, `sshd.c` and PAM).
pub const SSHD_TEMPLATES: &[(&str, &str)] = &[
    ("ssh_accepted_password", "Accepted password for <*> from <*> port <*> ssh2"),
    ("ssh_accepted_publickey", "Accepted publickey for <*> from <*> port <*> ssh2<*>"),
    ("ssh_failed_password", "Failed password for <*> from <*> port <*> ssh2"),
    (
        "ssh_failed_password_invalid_user",
        "Failed password for invalid user <*> from <*> port <*> ssh2",
    ),
    ("ssh_failed_none_invalid_user", "Failed none for invalid user <*> from <*> port <*> ssh2"),
    ("ssh_failed_publickey", "Failed publickey for <*> from <*> port <*> ssh2<*>"),
    ("ssh_invalid_user", "Invalid user <*> from <*>"),
    ("ssh_invalid_user_preauth", "input_userauth_request: invalid user <*> [preauth]"),
    ("ssh_connection_closed_preauth", "Connection closed by <*> [preauth]"),
    ("ssh_no_identification", "Did not receive identification string from <*>"),
    (
        "ssh_too_many_auth_failures",
        "Disconnecting: Too many authentication failures for <*> [preauth]",
    ),
    ("ssh_received_disconnect", "Received disconnect from <*>: <*>"),
    ("ssh_error_received_disconnect", "error: Received disconnect from <*>: <*>"),
    ("ssh_connection_reset", "fatal: Write failed: Connection reset by peer [preauth]"),
    ("ssh_message_repeated", "message repeated <*> times: [ <*>]"),
    ("ssh_pam_more_failures", "PAM <*> more authentication failure<*>"),
    ("ssh_pam_ignoring_max_retries", "PAM service(sshd) ignoring max retries; <*>"),
    ("ssh_pam_auth_failure", "pam_unix(sshd:auth): authentication failure; <*>"),
    ("ssh_pam_user_unknown", "pam_unix(sshd:auth): check pass; user unknown"),
    ("ssh_pam_session_opened", "pam_unix(sshd:session): session opened for user <*> by <*>"),
    ("ssh_pam_session_closed", "pam_unix(sshd:session): session closed for user <*>"),
    (
        "ssh_reverse_mapping_failed",
        "reverse mapping checking getaddrinfo for <*> [<*>] failed - POSSIBLE BREAK-IN ATTEMPT!",
    ),
    (
        "ssh_address_maps_back_failed",
        "Address <*> maps to <*>, but this does not map back to the address - POSSIBLE BREAK-IN ATTEMPT!",
    ),
    ("ssh_bad_protocol_version", "Bad protocol version identification <*> from <*>"),
    ("ssh_server_listening", "Server listening on <*> port <*>."),
    // Old PAM (`sshd(pam_unix)[pid]:` lines, loghub Linux).
    ("pam_auth_failure", "authentication failure; logname=<*>"),
    ("pam_user_unknown", "check pass; user unknown"),
    ("pam_session_opened", "session opened for user <*> by <*>"),
    ("pam_session_closed", "session closed for user <*>"),
];

/// An ordered set of templates; see the module docs for the order.
#[derive(Debug, Clone, Default)]
pub struct TemplateMatcher {
    templates: Vec<LogTemplate>,
}

fn by_specificity(mut v: Vec<LogTemplate>) -> Vec<LogTemplate> {
    // Stable: equal literal lengths keep their table order.
    v.sort_by_key(|t| std::cmp::Reverse(t.literal_len()));
    v
}

impl TemplateMatcher {
    /// No templates (everything is unmatched).
    pub fn empty() -> Self {
        Self::default()
    }

    /// The built-in [`SSHD_TEMPLATES`].
    pub fn sshd() -> Self {
        let t = SSHD_TEMPLATES.iter().map(|(n, t)| LogTemplate::new(*n, *t)).collect();
        TemplateMatcher { templates: by_specificity(t) }
    }

    /// Puts `templates` ahead of the current ones.
    pub fn with_templates(mut self, templates: Vec<LogTemplate>) -> Self {
        let mut all = by_specificity(templates);
        all.append(&mut self.templates);
        self.templates = all;
        self
    }

    /// Reads a loghub `*_templates.csv` (`EventId,EventTemplate`, with header)
    /// and puts its templates ahead of the current ones, named by `EventId`.
    pub fn with_loghub_csv(self, source: &str, input: impl Read) -> Result<Self> {
        let mut rdr = csv::ReaderBuilder::new().flexible(true).from_reader(input);
        let bad = |m: String| IngestError::Config(format!("{source}: {m}"));
        let headers = rdr.headers().map_err(|e| bad(e.to_string()))?.clone();
        let col = |name: &str| {
            headers
                .iter()
                .position(|h| h.trim() == name)
                .ok_or_else(|| bad(format!("no `{name}` column in the templates CSV")))
        };
        let (id, text) = (col("EventId")?, col("EventTemplate")?);
        let mut out = Vec::new();
        for rec in rdr.records() {
            let rec = rec.map_err(|e| bad(e.to_string()))?;
            if let (Some(i), Some(t)) = (rec.get(id), rec.get(text)) {
                out.push(LogTemplate::new(i.trim(), t));
            }
        }
        Ok(self.with_templates(out))
    }

    /// [`TemplateMatcher::with_loghub_csv`] from a file (`.gz` not supported here).
    pub fn with_loghub_csv_file(self, path: impl AsRef<std::path::Path>) -> Result<Self> {
        let path = path.as_ref();
        let file = std::fs::File::open(path)
            .map_err(|source| IngestError::Io { path: path.to_owned(), source })?;
        self.with_loghub_csv(&path.display().to_string(), file)
    }

    /// The first template matching `msg`, with its wildcard values.
    pub fn find<'s, 'm>(&'s self, msg: &'m str) -> Option<(&'s LogTemplate, Vec<&'m str>)> {
        self.templates.iter().find_map(|t| t.captures(msg).map(|c| (t, c)))
    }

    /// How many templates there are.
    pub fn len(&self) -> usize {
        self.templates.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.templates.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_capture_in_order() {
        let t = LogTemplate::new("x", "Failed password for <*> from <*> port <*> ssh2");
        let msg = "Failed password for root from 183.62.140.253 port 48200 ssh2";
        assert_eq!(t.captures(msg), Some(vec!["root", "183.62.140.253", "48200"]));
        assert_eq!(t.captures("Failed password for root"), None);
        let exact = LogTemplate::new("y", "check pass; user unknown");
        assert_eq!(exact.captures("check pass; user unknown"), Some(vec![]));
        assert_eq!(exact.captures("check pass; user unknown!"), None);
    }

    #[test]
    fn most_specific_template_wins() {
        let m = TemplateMatcher::sshd();
        // OpenSSH_2k.log line 6.
        let msg = "Failed password for invalid user webmaster from 173.234.31.186 port 38926 ssh2";
        let (t, caps) = m.find(msg).unwrap();
        assert_eq!(t.name, "ssh_failed_password_invalid_user");
        assert_eq!(caps, vec!["webmaster", "173.234.31.186", "38926"]);
        assert!(m.find("Something else entirely").is_none());
    }

    #[test]
    fn loghub_csv_templates_go_first() {
        let csv = "EventId,EventTemplate\nE9,Failed password for <*> from <*> port <*> ssh2\n";
        let m = TemplateMatcher::sshd().with_loghub_csv("t.csv", csv.as_bytes()).unwrap();
        let (t, _) = m.find("Failed password for root from 1.2.3.4 port 1 ssh2").unwrap();
        assert_eq!(t.name, "E9");
        assert!(
            TemplateMatcher::empty().with_loghub_csv("t.csv", "a,b\n1,2\n".as_bytes()).is_err()
        );
    }
}
