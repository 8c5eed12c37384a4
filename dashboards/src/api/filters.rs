//! Alert filters from a query string, turned into SQL conditions with every value
//! checked or quoted (nothing from the request reaches the SQL unescaped).

use std::net::IpAddr;

use serde::Deserialize;

use crate::error::ApiError;

/// `GET /api/alerts` filters (all optional) and paging.
#[derive(Debug, Default, Deserialize)]
pub struct AlertFilter {
    /// Alerts at or after this time (RFC 3339).
    pub since: Option<String>,
    /// Alerts before this time (RFC 3339).
    pub until: Option<String>,
    /// Severity at most (1 high … 3 low).
    pub severity: Option<u8>,
    /// The model (manifest name, or `sql`).
    pub model: Option<String>,
    /// The rule's signature id.
    pub sid: Option<u32>,
    /// The source address.
    pub src_ip: Option<String>,
    /// `new`, `acknowledged` or `escalated`.
    pub state: Option<String>,
    /// Text in the signature, category, label or entity (case-insensitive).
    pub q: Option<String>,
}

/// A SQL string literal.
pub fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// A time as a SQL timestamp literal, refusing anything but an RFC 3339-like value.
fn time_literal(name: &str, t: &str) -> Result<String, ApiError> {
    let ok = !t.is_empty()
        && t.len() <= 40
        && t.chars().all(|c| c.is_ascii_digit() || "-:T.Z+ ".contains(c));
    if !ok {
        return Err(ApiError::bad_request(format!("`{name}`: not an RFC 3339 time: {t:?}")));
    }
    Ok(format!("CAST({} AS TIMESTAMP)", quote(t)))
}

impl AlertFilter {
    /// The conditions on `alerts a` joined with the current state `s` (`AND`ed), the
    /// event type `alert` first.
    pub fn conditions(&self) -> Result<Vec<String>, ApiError> {
        let mut c = vec!["a.event_type = 'alert'".to_string()];
        if let Some(t) = &self.since {
            c.push(format!("a.timestamp >= {}", time_literal("since", t)?));
        }
        if let Some(t) = &self.until {
            c.push(format!("a.timestamp < {}", time_literal("until", t)?));
        }
        if let Some(s) = self.severity {
            c.push(format!("a.severity <= {s}"));
        }
        if let Some(m) = &self.model {
            c.push(format!("a.model = {}", quote(m)));
        }
        if let Some(sid) = self.sid {
            c.push(format!("a.signature_id = {sid}"));
        }
        if let Some(ip) = &self.src_ip {
            let ip: IpAddr = ip
                .parse()
                .map_err(|_| ApiError::bad_request(format!("`src_ip`: not an address: {ip:?}")))?;
            c.push(format!("a.src_ip = {}", quote(&ip.to_string())));
        }
        if let Some(state) = &self.state {
            let state: vigil_ingest::alert_state::AlertState =
                state.parse().map_err(ApiError::bad_request)?;
            c.push(format!("COALESCE(s.state, 'new') = '{}'", state.as_str()));
        }
        if let Some(q) = self.q.as_deref().filter(|q| !q.is_empty()) {
            let like = quote(&format!("%{}%", q.to_lowercase()));
            c.push(format!(
                "(lower(a.signature) LIKE {like} OR lower(a.category) LIKE {like} \
                 OR lower(COALESCE(a.label, '')) LIKE {like} OR lower(COALESCE(a.entity, '')) LIKE {like})"
            ));
        }
        Ok(c)
    }
}

/// An alert id as the `alert_id` column has them (hex digits and dashes).
pub fn check_alert_id(id: &str) -> Result<(), ApiError> {
    match vigil_ingest::alert_state::is_alert_id(id) {
        true => Ok(()),
        false => Err(ApiError::bad_request(format!("not an alert id: {id:?}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_checked_or_quoted() {
        let f = AlertFilter {
            model: Some("x' OR 1=1 --".into()),
            q: Some("it's".into()),
            severity: Some(2),
            ..Default::default()
        };
        let c = f.conditions().unwrap().join(" AND ");
        assert!(c.contains("a.model = 'x'' OR 1=1 --'"), "{c}");
        assert!(c.contains("'%it''s%'"), "{c}");
        let bad = AlertFilter { src_ip: Some("1.2.3.4'".into()), ..Default::default() };
        assert_eq!(bad.conditions().unwrap_err().status, 400);
        let bad = AlertFilter { since: Some("now(); DROP".into()), ..Default::default() };
        assert!(bad.conditions().is_err());
        let bad = AlertFilter { state: Some("closed".into()), ..Default::default() };
        assert!(bad.conditions().is_err());
        assert!(check_alert_id("ab-12").is_ok() && check_alert_id("ab'").is_err());
    }
}
