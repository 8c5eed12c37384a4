//! Generic action logs: CSV with a header row, or JSON lines, with one
//! column (key) each for entity, timestamp, action and object.
//!
//! Timestamps may be epoch numbers (unit guessed, see
//! [`parse_epoch`](super::timestamp::parse_epoch)), ISO-8601 or Apache
//! `%t` text. JSON values may be strings or numbers; an entity or object that
//! is a number is written in decimal. A missing object is `-`.

use super::ActionEvent;
use super::timestamp::parse_any;

/// Column names (CSV header names or JSON keys) of a generic action log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionColumns {
    /// Who acted.
    pub entity: String,
    /// When.
    pub ts: String,
    /// What was done.
    pub action: String,
    /// What to; the column may be absent (then `-`).
    pub object: String,
}

impl Default for ActionColumns {
    /// `entity`, `ts`, `action`, `object`: DESIGN.md's `actions` table.
    fn default() -> Self {
        ActionColumns {
            entity: "entity".into(),
            ts: "ts".into(),
            action: "action".into(),
            object: "object".into(),
        }
    }
}

/// Builds an event from the four fields, or says why not.
pub fn event_from_fields(
    entity: Option<&str>,
    ts: Option<&str>,
    action: Option<&str>,
    object: Option<&str>,
) -> Result<ActionEvent, String> {
    let entity = entity.map(str::trim).filter(|s| !s.is_empty()).ok_or("no entity")?;
    let ts_text = ts.map(str::trim).filter(|s| !s.is_empty()).ok_or("no timestamp")?;
    let ts = parse_any(ts_text).ok_or_else(|| format!("bad timestamp `{ts_text}`"))?;
    let action = action.map(str::trim).filter(|s| !s.is_empty()).ok_or("no action")?;
    let object = object.map(str::trim).filter(|s| !s.is_empty()).unwrap_or("-");
    Ok(ActionEvent { entity: entity.into(), ts, action: action.into(), object: object.into() })
}

/// Parses one JSON line (an object) into an event.
pub fn parse_json_line(line: &str, cols: &ActionColumns) -> Result<ActionEvent, String> {
    let v: serde_json::Value = serde_json::from_str(line).map_err(|e| format!("bad JSON: {e}"))?;
    let obj = v.as_object().ok_or("the JSON line is not an object")?;
    let text = |key: &str| -> Option<String> {
        match obj.get(key)? {
            serde_json::Value::String(s) => Some(s.clone()),
            serde_json::Value::Number(n) => Some(n.to_string()),
            serde_json::Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    };
    let (e, t, a, o) = (text(&cols.entity), text(&cols.ts), text(&cols.action), text(&cols.object));
    event_from_fields(e.as_deref(), t.as_deref(), a.as_deref(), o.as_deref())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_lines() {
        let cols = ActionColumns::default();
        let e = parse_json_line(
            r#"{"entity":"alice","ts":1431857103,"action":"login","object":"vpn"}"#,
            &cols,
        )
        .unwrap();
        assert_eq!(e.ts, 1_431_857_103_000_000);
        assert_eq!(
            (e.entity.as_str(), e.action.as_str(), e.object.as_str()),
            ("alice", "login", "vpn")
        );
        let e = parse_json_line(r#"{"entity":7,"ts":"2015-05-17T10:05:03Z","action":"x"}"#, &cols)
            .unwrap();
        assert_eq!((e.entity.as_str(), e.object.as_str()), ("7", "-"));
        for bad in [
            "{",
            "[1]",
            r#"{"entity":"a","ts":"yesterday","action":"x"}"#,
            r#"{"ts":1,"action":"x"}"#,
        ] {
            assert!(parse_json_line(bad, &cols).is_err(), "{bad}");
        }
    }
}
