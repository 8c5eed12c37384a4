//! Apache/nginx access logs in the common and combined formats:
//! `%h %l %u %t "%r" %>s %b ["%{Referer}i" "%{User-agent}i"]` (nginx's
//! `combined` is the same layout).

use super::ActionEvent;
use super::timestamp::parse_apache;

/// Who the entity of an access-log line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AccessEntity {
    /// The client address (`%h`).
    #[default]
    ClientIp,
    /// The authenticated user (`%u`), or the client address when it is `-`.
    UserOrClientIp,
}

/// How the action of an access-log line is spelt.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum AccessAction {
    /// `GET 2xx`: the method and the status class.
    #[default]
    MethodStatusClass,
    /// A template where `{method}`, `{status}` and `{class}` (`2xx`) are replaced.
    Template(String),
}

/// Settings of the access-log reader.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AccessLogConfig {
    /// The entity.
    pub entity: AccessEntity,
    /// The action.
    pub action: AccessAction,
}

/// Longest object path kept, in bytes.
pub const MAX_PATH_LEN: usize = 256;

/// The request path without query string or fragment, `//` collapsed, a
/// trailing `/` dropped (except the root), `%xx` of unreserved characters
/// decoded, cut to [`MAX_PATH_LEN`] bytes. An absolute URL (proxy requests)
/// keeps only its path. Anything else not starting with `/` becomes `-`,
/// except `*` (`OPTIONS *`).
pub fn normalize_path(target: &str) -> String {
    let mut t = target.split(['?', '#']).next().unwrap_or("");
    if let Some(rest) = t.strip_prefix("http://").or_else(|| t.strip_prefix("https://")) {
        t = rest.find('/').map_or("/", |i| &rest[i..]);
    }
    if t == "*" {
        return "*".into();
    }
    if !t.starts_with('/') {
        return "-".into();
    }
    let b = t.as_bytes();
    let mut out = String::with_capacity(t.len());
    let mut i = 0;
    while i < b.len() && out.len() < MAX_PATH_LEN {
        let c = b[i];
        if c == b'%' && i + 2 < b.len() {
            let hex = std::str::from_utf8(&b[i + 1..i + 3]).ok();
            if let Some(v) = hex.and_then(|h| u8::from_str_radix(h, 16).ok())
                && (v.is_ascii_alphanumeric() || b"-._~".contains(&v))
            {
                out.push(v as char);
                i += 3;
                continue;
            }
        }
        if c == b'/' && out.ends_with('/') {
            i += 1;
            continue;
        }
        let ch = t[i..].chars().next().unwrap_or('?');
        out.push(ch);
        i += ch.len_utf8();
    }
    if out.len() > 1 && out.ends_with('/') {
        out.pop();
    }
    out
}

fn take_token(s: &str) -> Option<(&str, &str)> {
    let s = s.trim_start_matches(' ');
    if s.is_empty() {
        return None;
    }
    Some(s.split_once(' ').unwrap_or((s, "")))
}

/// The text of a `"…"` field (with `\"` escapes) and the rest.
fn take_quoted(s: &str) -> Option<(&str, &str)> {
    let s = s.trim_start_matches(' ').strip_prefix('"')?;
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'"' => return Some((&s[..i], &s[i + 1..])),
            _ => i += 1,
        }
    }
    None
}

/// Parses one access-log line into an event, or says why not.
pub fn parse_access_line(line: &str, cfg: &AccessLogConfig) -> Result<ActionEvent, String> {
    let (host, rest) = take_token(line).ok_or("empty line")?;
    let (_ident, rest) = take_token(rest).ok_or("no ident field")?;
    let (user, rest) = take_token(rest).ok_or("no user field")?;
    let rest = rest.trim_start_matches(' ');
    let rest = rest.strip_prefix('[').ok_or("no [timestamp]")?;
    let (ts, rest) = rest.split_once(']').ok_or("unterminated [timestamp]")?;
    let ts = parse_apache(ts).ok_or_else(|| format!("bad timestamp `{ts}`"))?;
    let (request, rest) = take_quoted(rest).ok_or("no quoted request")?;
    let (status, _rest) = take_token(rest).ok_or("no status")?;
    if status.len() != 3 || !status.bytes().all(|c| c.is_ascii_digit()) {
        return Err(format!("bad status `{status}`"));
    }
    let mut req = request.split(' ').filter(|p| !p.is_empty());
    let (method, object) = match (req.next(), req.next()) {
        (Some(m), Some(target)) if m.bytes().all(|c| c.is_ascii_alphabetic()) => {
            (m.to_ascii_uppercase(), normalize_path(target))
        }
        // `"-"`, binary junk, a bare path: the server answered it (usually 400).
        _ => ("-".to_owned(), "-".to_owned()),
    };
    let entity = match cfg.entity {
        AccessEntity::UserOrClientIp if user != "-" => user,
        _ => host,
    };
    let class = format!("{}xx", &status[..1]);
    let action = match &cfg.action {
        AccessAction::MethodStatusClass => format!("{method} {class}"),
        AccessAction::Template(t) => {
            t.replace("{method}", &method).replace("{status}", status).replace("{class}", &class)
        }
    };
    Ok(ActionEvent { entity: entity.to_owned(), ts, action, object })
}

#[cfg(test)]
mod tests {
    use super::*;

    // elastic-apache/apache_logs line 1.
    const LINE1: &str = r#"83.149.9.216 - - [17/May/2015:10:05:03 +0000] "GET /presentations/logstash-monitorama-2013/images/kibana-search.png HTTP/1.1" 200 203023 "http://semicomplete.com/presentations/logstash-monitorama-2013/" "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_9_1) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/32.0.1700.77 Safari/537.36""#;

    #[test]
    fn combined_line_from_the_elastic_sample() {
        let e = parse_access_line(LINE1, &AccessLogConfig::default()).unwrap();
        assert_eq!(e.entity, "83.149.9.216");
        assert_eq!(e.ts, 1_431_857_103_000_000);
        assert_eq!(e.action, "GET 2xx");
        assert_eq!(e.object, "/presentations/logstash-monitorama-2013/images/kibana-search.png");
    }

    #[test]
    fn common_format_with_user_and_template() {
        // The httpd documentation's common-format example.
        let line = r#"127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif?x=1 HTTP/1.0" 200 2326"#;
        let cfg = AccessLogConfig {
            entity: AccessEntity::UserOrClientIp,
            action: AccessAction::Template("{method}:{status}".into()),
        };
        let e = parse_access_line(line, &cfg).unwrap();
        assert_eq!((e.entity.as_str(), e.action.as_str()), ("frank", "GET:200"));
        assert_eq!(e.object, "/apache_pb.gif");
        assert_eq!(e.ts, 971_211_336_000_000);
    }

    #[test]
    fn garbage_lines_are_refused() {
        let cfg = AccessLogConfig::default();
        for bad in [
            "",
            "hello world",
            r#"1.2.3.4 - - [17/May/2015:10:05:03 +0000] "GET / HTTP/1.1" abc 12"#,
            r#"1.2.3.4 - - [99/May/2015:10:05:03 +0000] "GET / HTTP/1.1" 200 12"#,
            r#"1.2.3.4 - - [17/May/2015:10:05:03 +0000] "GET / HTTP/1.1 200 12"#,
        ] {
            assert!(parse_access_line(bad, &cfg).is_err(), "{bad}");
        }
        let junk = r#"1.2.3.4 - - [17/May/2015:10:05:03 +0000] "\x16\x03\x01" 400 0 "-" "-""#;
        let e = parse_access_line(junk, &cfg).unwrap();
        assert_eq!((e.action.as_str(), e.object.as_str()), ("- 4xx", "-"));
    }

    #[test]
    fn path_normalisation() {
        assert_eq!(normalize_path("/a//b/?q=1#f"), "/a/b");
        assert_eq!(normalize_path("/"), "/");
        assert_eq!(normalize_path("http://example.com/x/y?z"), "/x/y");
        assert_eq!(normalize_path("/%7Euser/%2F"), "/~user/%2F");
        assert_eq!(normalize_path("*"), "*");
        assert_eq!(normalize_path("garbage"), "-");
        assert_eq!(normalize_path(&format!("/{}", "a".repeat(1000))).len(), MAX_PATH_LEN);
    }
}
