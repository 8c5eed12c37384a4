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
    /// `include.FIELD=VALUE` and `exclude.FIELD=VALUE` pairs ([`AlertFilter::with_values`]).
    #[serde(skip)]
    pub values: Vec<ValueFilter>,
}

/// The alert fields a value filter or a grouping may name: `state` is the alert's
/// current state, the rest are columns of `alerts`.
pub const VALUE_FIELDS: [&str; 16] = [
    "signature",
    "signature_id",
    "category",
    "severity",
    "src_ip",
    "src_port",
    "dest_ip",
    "dest_port",
    "proto",
    "entity",
    "community_id",
    "flow_id",
    "model",
    "label",
    "sensor",
    "state",
];

/// Alerts whose `field` has one of `values` (`include`), or none of them (`exclude`);
/// a missing value reads as the empty string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValueFilter {
    /// One of [`VALUE_FIELDS`].
    pub field: &'static str,
    /// Keep (true) or drop (false) the alerts with one of `values`.
    pub include: bool,
    /// The values, as text.
    pub values: Vec<String>,
}

/// The SQL of an alert field as text (`''` when missing), over `alerts a` joined with
/// the current state `s`; an error names the fields there are.
pub fn field_sql(field: &str) -> Result<String, ApiError> {
    match VALUE_FIELDS.iter().find(|f| **f == field) {
        Some(&"state") => Ok("COALESCE(s.state, 'new')".into()),
        Some(f) => Ok(format!("COALESCE(CAST(a.{f} AS VARCHAR), '')")),
        None => Err(ApiError::bad_request(format!(
            "no alert field {field:?} (one of {})",
            VALUE_FIELDS.join(", ")
        ))),
    }
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
    /// The filter with the `include.FIELD` and `exclude.FIELD` pairs of a query string
    /// (other keys are left to the named fields); several values of one field are
    /// alternatives.
    pub fn with_values(mut self, pairs: &[(String, String)]) -> Result<AlertFilter, ApiError> {
        for (k, v) in pairs {
            let (include, field) = match k.split_once('.') {
                Some(("include", f)) => (true, f),
                Some(("exclude", f)) => (false, f),
                _ => continue,
            };
            field_sql(field)?;
            let field = *VALUE_FIELDS.iter().find(|f| **f == field).expect("checked above");
            match self.values.iter_mut().find(|x| x.field == field && x.include == include) {
                Some(x) => x.values.push(v.clone()),
                None => self.values.push(ValueFilter { field, include, values: vec![v.clone()] }),
            }
        }
        Ok(self)
    }

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
        for v in &self.values {
            let list: Vec<String> = v.values.iter().map(|x| quote(x)).collect();
            let not = if v.include { "" } else { "NOT " };
            c.push(format!("{} {not}IN ({})", field_sql(v.field)?, list.join(", ")));
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
        let pairs = |p: &[(&str, &str)]| -> Vec<(String, String)> {
            p.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
        };
        let f = AlertFilter::default()
            .with_values(&pairs(&[
                ("include.src_ip", "10.0.0.1"),
                ("include.src_ip", "10.0.0.2'"),
                ("exclude.state", "acknowledged"),
                ("limit", "5"),
            ]))
            .unwrap();
        let c = f.conditions().unwrap().join(" AND ");
        assert!(
            c.contains("COALESCE(CAST(a.src_ip AS VARCHAR), '') IN ('10.0.0.1', '10.0.0.2''')"),
            "{c}"
        );
        assert!(c.contains("COALESCE(s.state, 'new') NOT IN ('acknowledged')"), "{c}");
        let bad = AlertFilter::default().with_values(&pairs(&[("include.evidence; --", "x")]));
        assert_eq!(bad.unwrap_err().status, 400);
        assert!(check_alert_id("ab-12").is_ok() && check_alert_id("ab'").is_err());
    }
}
