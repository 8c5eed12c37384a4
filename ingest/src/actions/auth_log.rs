//! Syslog auth logs (loghub OpenSSH and Linux style):
//! `Dec 10 06:55:46 LabSZ sshd[24200]: <message>`. The action is the name
//! of the template the message matches ([`TemplateMatcher`]).
//!
//! The source IP and the user are read from the message: an IP is the first
//! word that parses as an address (brackets, `rhost=` and trailing
//! punctuation stripped); a user follows `user`, `user=`, or `for` when the
//! word after it is `from`. Lines of an sshd process without an address take
//! the last address seen for the same host and pid (a small bounded memory),
//! since sshd logs one connection per process.

use std::collections::HashMap;
use std::net::IpAddr;

use super::ActionEvent;
use super::template::TemplateMatcher;
use super::timestamp::{month_from_abbr, parse_syslog};

/// Who the entity of an auth-log line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AuthEntity {
    /// The source IP; the user is the object. Falls back to the user, then `host/process[pid]`.
    #[default]
    SourceIp,
    /// The user; the source IP is the object. Falls back to the IP, then `host/process[pid]`.
    User,
}

/// Settings of the auth-log reader.
#[derive(Debug, Clone)]
pub struct AuthLogConfig {
    /// The year of the syslog timestamps (they carry none). It is increased by
    /// one each time the month goes from December back to January.
    pub year: i32,
    /// The entity.
    pub entity: AuthEntity,
    /// The templates ([`TemplateMatcher::sshd`] by default).
    pub templates: TemplateMatcher,
    /// Only lines of processes whose name starts with this are read (`sshd`
    /// also matches `sshd(pam_unix)`); others are skipped, not dead-lettered.
    /// `None` reads every process.
    pub process_prefix: Option<String>,
}

impl Default for AuthLogConfig {
    fn default() -> Self {
        AuthLogConfig {
            year: 1970,
            entity: AuthEntity::default(),
            templates: TemplateMatcher::sshd(),
            process_prefix: None,
        }
    }
}

/// The action of a message no template matches: `<process>:unmatched`.
pub const UNMATCHED_SUFFIX: &str = ":unmatched";

const PID_MEMORY_MAX: usize = 65_536;

/// The line-to-event state of an auth log (year rollover, pid → address).
#[derive(Debug)]
pub struct AuthLogParser {
    cfg: AuthLogConfig,
    year: i32,
    last_month: u32,
    pid_ip: HashMap<(String, u32), IpAddr>,
}

/// What became of an auth-log line.
#[derive(Debug)]
pub enum AuthLine {
    /// An event.
    Event(ActionEvent),
    /// A line of a process outside [`AuthLogConfig::process_prefix`].
    Skipped,
}

fn strip_word(w: &str) -> &str {
    let w = w.strip_prefix("rhost=").unwrap_or(w);
    w.trim_matches(|c: char| matches!(c, '[' | ']' | '(' | ')' | ',' | ';' | ':' | '\'' | '"'))
}

/// The first IP address among the words of `msg`.
pub fn find_ip(msg: &str) -> Option<IpAddr> {
    msg.split_ascii_whitespace().find_map(|w| strip_word(w).parse().ok())
}

/// The user named in `msg`, if any.
pub fn find_user(msg: &str) -> Option<&str> {
    let words: Vec<&str> = msg.split_ascii_whitespace().collect();
    for (i, w) in words.iter().enumerate() {
        if let Some(u) = w.strip_prefix("user=")
            && !u.is_empty()
        {
            return Some(u);
        }
        let next = words.get(i + 1).copied();
        match (*w, next) {
            ("user", Some(u)) if u != "unknown" => return Some(u.trim_end_matches(['.', ','])),
            ("for", Some(u)) if words.get(i + 2) == Some(&"from") => return Some(u),
            _ => {}
        }
    }
    None
}

impl AuthLogParser {
    /// A parser with `cfg`.
    pub fn new(cfg: AuthLogConfig) -> Self {
        AuthLogParser { year: cfg.year, cfg, last_month: 0, pid_ip: HashMap::new() }
    }

    /// Parses one line, or says why not.
    pub fn parse_line(&mut self, line: &str) -> Result<AuthLine, String> {
        // `Mmm dd hh:mm:ss host tag: message`; the day may be space-padded.
        let line = line.trim_start();
        let (month, rest) = line.split_once(' ').ok_or("not a syslog line")?;
        let m = month_from_abbr(month).ok_or_else(|| format!("no syslog month in `{month}`"))?;
        let rest = rest.trim_start();
        let (day, rest) = rest.split_once(' ').ok_or("no day")?;
        let (time, rest) = rest.trim_start().split_once(' ').ok_or("no time")?;
        let (host, rest) = rest.trim_start().split_once(' ').ok_or("no host")?;
        let (tag, msg) =
            rest.split_once(": ").or_else(|| rest.split_once(':')).ok_or("no `tag:`")?;
        if m < self.last_month && self.last_month == 12 && m == 1 {
            self.year += 1;
        }
        let ts = parse_syslog(&format!("{month} {day} {time}"), self.year)
            .ok_or_else(|| format!("bad syslog timestamp `{month} {day} {time}`"))?;
        self.last_month = m;
        let (process, pid) = match tag.split_once('[') {
            Some((p, pid)) => (p, pid.trim_end_matches(']').parse::<u32>().ok()),
            None => (tag, None),
        };
        if process.is_empty() || process.contains(' ') {
            return Err(format!("bad process tag `{tag}`"));
        }
        if let Some(prefix) = &self.cfg.process_prefix
            && !process.starts_with(prefix.as_str())
        {
            return Ok(AuthLine::Skipped);
        }
        let msg = msg.trim();
        let action = match self.cfg.templates.find(msg) {
            Some((t, _)) => t.name.clone(),
            None => format!("{process}{UNMATCHED_SUFFIX}"),
        };
        let key = pid.map(|p| (host.to_owned(), p));
        let ip = match (find_ip(msg), &key) {
            (Some(ip), Some(k)) => {
                if self.pid_ip.len() >= PID_MEMORY_MAX {
                    self.pid_ip.clear();
                }
                self.pid_ip.insert(k.clone(), ip);
                Some(ip)
            }
            (Some(ip), None) => Some(ip),
            (None, Some(k)) => self.pid_ip.get(k).copied(),
            (None, None) => None,
        };
        let ip = ip.map(|i| i.to_string());
        let user = find_user(msg).map(str::to_owned);
        let fallback = || match pid {
            Some(p) => format!("{host}/{process}[{p}]"),
            None => format!("{host}/{process}"),
        };
        let (primary, secondary) = match self.cfg.entity {
            AuthEntity::SourceIp => (ip, user),
            AuthEntity::User => (user, ip),
        };
        let (entity, object) = match primary {
            Some(p) => (p, secondary.unwrap_or_else(|| "-".into())),
            None => match secondary {
                Some(s) => (s, "-".into()),
                None => (fallback(), "-".into()),
            },
        };
        Ok(AuthLine::Event(ActionEvent { entity, ts, action, object }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(p: &mut AuthLogParser, line: &str) -> ActionEvent {
        match p.parse_line(line).unwrap() {
            AuthLine::Event(e) => e,
            AuthLine::Skipped => panic!("skipped {line}"),
        }
    }

    #[test]
    fn openssh_lines_from_loghub() {
        let mut p = AuthLogParser::new(AuthLogConfig { year: 2015, ..Default::default() });
        // OpenSSH_2k.log lines 1, 2, 5 and 6 (pid 24200).
        let e = event(
            &mut p,
            "Dec 10 06:55:46 LabSZ sshd[24200]: reverse mapping checking getaddrinfo for ns.marryaldkfaczcz.com [173.234.31.186] failed - POSSIBLE BREAK-IN ATTEMPT!",
        );
        assert_eq!(e.action, "ssh_reverse_mapping_failed");
        assert_eq!((e.entity.as_str(), e.object.as_str()), ("173.234.31.186", "-"));
        assert_eq!(e.ts, 1_449_730_546_000_000);
        let e = event(
            &mut p,
            "Dec 10 06:55:46 LabSZ sshd[24200]: Invalid user webmaster from 173.234.31.186",
        );
        assert_eq!((e.action.as_str(), e.object.as_str()), ("ssh_invalid_user", "webmaster"));
        let e = event(
            &mut p,
            "Dec 10 06:55:48 LabSZ sshd[24200]: pam_unix(sshd:auth): check pass; user unknown",
        );
        assert_eq!(e.action, "ssh_pam_user_unknown");
        assert_eq!(e.entity, "173.234.31.186", "taken from the pid memory");
        let e = event(
            &mut p,
            "Dec 10 06:55:48 LabSZ sshd[24200]: Failed password for invalid user webmaster from 173.234.31.186 port 38926 ssh2",
        );
        assert_eq!(e.action, "ssh_failed_password_invalid_user");
        assert_eq!(e.object, "webmaster");
    }

    #[test]
    fn linux_pam_line_user_entity_and_year_rollover() {
        let cfg = AuthLogConfig { year: 2005, entity: AuthEntity::User, ..Default::default() };
        let mut p = AuthLogParser::new(cfg);
        // Linux_2k.log: an sshd(pam_unix) failure with user=root.
        let e = event(
            &mut p,
            "Dec 31 23:59:59 combo sshd(pam_unix)[19939]: authentication failure; logname= uid=0 euid=0 tty=NODEVssh ruser= rhost=218.188.2.4  user=root",
        );
        assert_eq!((e.entity.as_str(), e.object.as_str()), ("root", "218.188.2.4"));
        assert_eq!(e.action, "pam_auth_failure");
        let e = event(&mut p, "Jan  1 00:00:00 combo kernel: Linux version 2.6.5-1.358");
        assert_eq!(e.action, "kernel:unmatched");
        assert_eq!(e.entity, "combo/kernel");
        assert_eq!(e.ts, 1_136_073_600_000_000, "2006-01-01");
    }

    #[test]
    fn process_filter_and_garbage() {
        let cfg = AuthLogConfig { process_prefix: Some("sshd".into()), ..Default::default() };
        let mut p = AuthLogParser::new(cfg);
        assert!(matches!(
            p.parse_line(
                "Jun 14 15:16:01 combo su(pam_unix)[1]: session opened for user x by (uid=0)"
            ),
            Ok(AuthLine::Skipped)
        ));
        for bad in ["", "garbage line", "Dec 99 06:55:46 LabSZ sshd[1]: x", "Dec 10 06:55:46 LabSZ"]
        {
            assert!(p.parse_line(bad).is_err(), "{bad}");
        }
    }
}
