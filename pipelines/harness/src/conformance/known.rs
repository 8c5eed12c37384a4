//! Known deliberate differences (`known_differences.json`; its `_format` key documents it).

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{ConformanceError, Source, io_err, malformed};

/// One known deliberate difference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KnownDifference {
    /// `zeek`, `suricata` or `ndpi`.
    pub source: String,
    /// Capture path relative to `DATA/pcap/`, as printed in the report.
    pub capture: String,
    /// Optional substring of the mismatch's item; absent = all mismatches in the capture.
    #[serde(default)]
    pub item: Option<String>,
    /// Why we differ on purpose.
    pub reason: String,
}

/// The list of known differences.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KnownDifferences {
    /// The entries.
    pub entries: Vec<KnownDifference>,
}

#[derive(Deserialize)]
struct File {
    #[serde(default, rename = "_format")]
    _format: serde_json::Value,
    entries: Vec<KnownDifference>,
}

impl KnownDifferences {
    /// Read a known-differences file.
    pub fn load(path: &Path) -> Result<Self, ConformanceError> {
        let text = std::fs::read_to_string(path).map_err(io_err(path))?;
        Self::parse(&text, path)
    }

    /// Parse the JSON text of a known-differences file (`path` is used in errors).
    pub fn parse(text: &str, path: &Path) -> Result<Self, ConformanceError> {
        let file: File = serde_json::from_str(text)
            .map_err(|e| malformed(path, e.line() as u64, e.to_string()))?;
        for e in &file.entries {
            e.source
                .parse::<Source>()
                .map_err(|err| malformed(path, 0, format!("entry {e:?}: {err}")))?;
            if e.reason.trim().is_empty() {
                return Err(malformed(path, 0, format!("entry {e:?}: empty reason")));
            }
        }
        Ok(Self { entries: file.entries })
    }

    /// The reason of the first entry matching this mismatch.
    pub fn lookup(&self, source: Source, capture: &str, item: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|e| {
                e.source.eq_ignore_ascii_case(source.name())
                    && e.capture == capture
                    && e.item.as_deref().is_none_or(|i| item.contains(i))
            })
            .map(|e| e.reason.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_file_parses_and_every_entry_gives_a_reason() {
        let k = KnownDifferences::parse(super::super::EMBEDDED_KNOWN_DIFFERENCES, Path::new("k"))
            .unwrap();
        assert!(k.entries.iter().all(|e| e.reason.len() > 20), "{k:?}");
    }

    #[test]
    fn lookup_by_source_capture_and_item() {
        let text = r##"{"entries": [
            {"source": "zeek", "capture": "zeek/traces/a.pcap", "reason": "all of a"},
            {"source": "ndpi", "capture": "ndpi/pcap/b.pcap", "item": "#3 ", "reason": "flow 3"}
        ]}"##;
        let k = KnownDifferences::parse(text, Path::new("k")).unwrap();
        assert_eq!(k.lookup(Source::Zeek, "zeek/traces/a.pcap", "x"), Some("all of a"));
        assert_eq!(k.lookup(Source::Suricata, "zeek/traces/a.pcap", "x"), None);
        assert_eq!(k.lookup(Source::Ndpi, "ndpi/pcap/b.pcap", "#3 tcp"), Some("flow 3"));
        assert_eq!(k.lookup(Source::Ndpi, "ndpi/pcap/b.pcap", "#4 tcp"), None);
    }

    #[test]
    fn bad_entries_are_errors_naming_the_file() {
        let e = KnownDifferences::parse(
            r#"{"entries": [{"source": "bro", "capture": "c", "reason": "r"}]}"#,
            Path::new("kd.json"),
        )
        .unwrap_err();
        assert!(e.to_string().starts_with("kd.json:"), "{e}");
        let e = KnownDifferences::parse("{\n\"entries\": [1]}", Path::new("kd.json")).unwrap_err();
        assert!(e.to_string().starts_with("kd.json:2"), "{e}");
    }
}
