//! [`ColumnMapping`]: which CSV column means what (a JSON file).

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::FlowRecordError;

/// How a timestamp column is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimestampFormat {
    /// Seconds since the epoch, fractional allowed (Zeek `ts`).
    EpochS,
    /// Milliseconds since the epoch (NF-v3 `FLOW_START_MILLISECONDS`).
    EpochMs,
    /// Microseconds since the epoch.
    EpochUs,
    /// `YYYY-MM-DD HH:MM:SS[.f]` (or `T` between), read as UTC (CICFlowMeter).
    Datetime,
}

/// The timestamp column and its format.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimestampColumn {
    /// Column name.
    pub column: String,
    /// How it is written.
    pub format: TimestampFormat,
}

/// One feature: a bare column name (the feature is named after it), or a renamed column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum FeatureColumn {
    /// Feature named after its column.
    Same(String),
    /// Feature `name` read from `column`.
    Renamed {
        /// Feature name (what models see).
        name: String,
        /// Column name in the file.
        column: String,
    },
}

impl FeatureColumn {
    /// The feature's name.
    pub fn name(&self) -> &str {
        match self {
            FeatureColumn::Same(c) => c,
            FeatureColumn::Renamed { name, .. } => name,
        }
    }

    /// The file column it is read from.
    pub fn column(&self) -> &str {
        match self {
            FeatureColumn::Same(c) => c,
            FeatureColumn::Renamed { column, .. } => column,
        }
    }
}

fn default_delimiter() -> char {
    ','
}

fn default_missing() -> Vec<String> {
    ["", "-", "(empty)"].map(String::from).to_vec()
}

/// Maps the columns of a flow CSV onto [`FlowFeatures`](super::FlowFeatures).
///
/// The JSON form (every key but `name` optional):
///
/// ```json
/// {
///   "name": "cicflowmeter",
///   "delimiter": ",",
///   "missing": ["", "-", "(empty)"],
///   "columns": null,
///   "ts": {"column": "Timestamp", "format": "datetime"},
///   "src_addr": "Src IP", "src_port": "Src Port",
///   "dst_addr": "Dst IP", "dst_port": "Dst Port",
///   "proto": "Protocol",
///   "label": "Label",
///   "numeric": ["Flow Duration", {"name": "fwd_pkts", "column": "Total Fwd Packet"}],
///   "categorical": ["Dst Port", "Protocol"]
/// }
/// ```
///
/// `columns` names the columns of a file that has no header line (every line is
/// a row); without it the first line is the header. Every mapped column must be in
/// the file except `label`, which unlabelled files lack. `missing` values read as
/// NaN (numeric), `None` (tuple, label) or stay as text (categorical, where
/// "missing" is a level like any other). `proto`
/// accepts numbers or the names `tcp`, `udp`, `icmp`, `icmpv6` (Zeek). A Zeek
/// TSV file (`#separator`, `#fields` lines) is recognised by its header, and
/// its own separator wins over `delimiter`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnMapping {
    /// Name, used in errors and dead letters.
    pub name: String,
    /// Free text for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Field delimiter (one ASCII character).
    #[serde(default = "default_delimiter")]
    pub delimiter: char,
    /// Cell values that mean "no value".
    #[serde(default = "default_missing")]
    pub missing: Vec<String>,
    /// The column names, in file order, of files without a header line (NSL-KDD):
    /// every line is then a row. `None`: the first line is the header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub columns: Option<Vec<String>>,
    /// Flow start time.
    #[serde(default)]
    pub ts: Option<TimestampColumn>,
    /// Source address column.
    #[serde(default)]
    pub src_addr: Option<String>,
    /// Source port column.
    #[serde(default)]
    pub src_port: Option<String>,
    /// Destination address column.
    #[serde(default)]
    pub dst_addr: Option<String>,
    /// Destination port column.
    #[serde(default)]
    pub dst_port: Option<String>,
    /// IP protocol column.
    #[serde(default)]
    pub proto: Option<String>,
    /// Label column (ground truth). Optional in the file too: a file without it is
    /// unlabelled data (what is scored in production) and reads with `label: None`;
    /// training, which needs labels, checks [`FlowCsvReader::has_label`](super::FlowCsvReader::has_label).
    #[serde(default)]
    pub label: Option<String>,
    /// Numeric feature columns.
    #[serde(default)]
    pub numeric: Vec<FeatureColumn>,
    /// Categorical feature columns.
    #[serde(default)]
    pub categorical: Vec<FeatureColumn>,
}

const BUILTIN: &[(&str, &str)] = &[
    ("cicflowmeter", include_str!("../../mappings/cicflowmeter.json")),
    ("nf_v2", include_str!("../../mappings/nf_v2.json")),
    ("nf_v2_derivable", include_str!("../../mappings/nf_v2_derivable.json")),
    ("nsl_kdd", include_str!("../../mappings/nsl_kdd.json")),
    ("zeek_conn", include_str!("../../mappings/zeek_conn.json")),
];

impl ColumnMapping {
    /// Names of the embedded mappings.
    pub fn builtin_names() -> impl Iterator<Item = &'static str> {
        BUILTIN.iter().map(|(n, _)| *n)
    }

    /// An embedded mapping by name (see [`ColumnMapping::builtin_names`]).
    pub fn builtin(name: &str) -> Option<ColumnMapping> {
        let (_, text) = BUILTIN.iter().find(|(n, _)| *n == name)?;
        // The embedded files are checked by a test, so this cannot fail at run time.
        ColumnMapping::from_json(text).ok()
    }

    /// Parses and validates a mapping.
    pub fn from_json(text: &str) -> Result<ColumnMapping, FlowRecordError> {
        let m: ColumnMapping = serde_json::from_str(text).map_err(|e| {
            FlowRecordError::Mapping { name: "<json>".into(), message: e.to_string() }
        })?;
        m.validate()?;
        Ok(m)
    }

    /// Reads a mapping file.
    pub fn from_path(path: impl AsRef<Path>) -> Result<ColumnMapping, FlowRecordError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| FlowRecordError::Mapping {
            name: path.display().to_string(),
            message: e.to_string(),
        })?;
        ColumnMapping::from_json(&text).map_err(|e| match e {
            FlowRecordError::Mapping { message, .. } => {
                FlowRecordError::Mapping { name: path.display().to_string(), message }
            }
            other => other,
        })
    }

    /// The mapping as pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// Checks what can be known without a file: the delimiter is ASCII and feature names are unique.
    pub fn validate(&self) -> Result<(), FlowRecordError> {
        let bad = |message: String| FlowRecordError::Mapping { name: self.name.clone(), message };
        if !self.delimiter.is_ascii() {
            return Err(bad(format!("delimiter {:?} is not one ASCII character", self.delimiter)));
        }
        if let Some(columns) = &self.columns {
            if columns.is_empty() {
                return Err(bad("`columns` is empty".into()));
            }
            let mut seen = std::collections::HashSet::new();
            if let Some(c) = columns.iter().find(|c| !seen.insert(c.as_str())) {
                return Err(bad(format!("column `{c}` appears twice in `columns`")));
            }
            let plain = |c: &str| !c.contains([self.delimiter, '"', '\r', '\n']) && c == c.trim();
            if let Some(c) = columns.iter().find(|c| !plain(c)) {
                return Err(bad(format!(
                    "column `{c}` in `columns` has the delimiter, a quote, a line break or edge spaces"
                )));
            }
        }
        for (kind, list) in [("numeric", &self.numeric), ("categorical", &self.categorical)] {
            let mut seen = std::collections::HashSet::new();
            for f in list {
                if !seen.insert(f.name()) {
                    return Err(bad(format!("{kind} feature `{}` appears twice", f.name())));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_parse() {
        for (name, text) in BUILTIN {
            let m = ColumnMapping::from_json(text).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(&m.name, name);
            assert!(!m.numeric.is_empty(), "{name}");
        }
        // NSL-KDD: 41 features, the label and the difficulty, no header line.
        let kdd = ColumnMapping::builtin("nsl_kdd").unwrap();
        assert_eq!(kdd.columns.as_ref().map(Vec::len), Some(43));
        assert_eq!(kdd.numeric.len() + kdd.categorical.len(), 41);
    }

    #[test]
    fn round_trip_and_rename() {
        let m = ColumnMapping::from_json(
            r#"{"name":"x","numeric":["a",{"name":"b2","column":"b"}],"delimiter":";"}"#,
        )
        .unwrap();
        assert_eq!(m.numeric[1].name(), "b2");
        assert_eq!(m.numeric[1].column(), "b");
        assert_eq!(m.missing, default_missing());
        assert_eq!(ColumnMapping::from_json(&m.to_json()).unwrap(), m);
    }

    #[test]
    fn refuses_duplicates_and_unknown_keys() {
        assert!(ColumnMapping::from_json(r#"{"name":"x","numeric":["a","a"]}"#).is_err());
        assert!(ColumnMapping::from_json(r#"{"name":"x","columns":["a","a"]}"#).is_err());
        assert!(ColumnMapping::from_json(r#"{"name":"x","columns":[]}"#).is_err());
        assert!(ColumnMapping::from_json(r#"{"name":"x","columns":["a,b"]}"#).is_err());
        assert!(ColumnMapping::from_json(r#"{"name":"x","columns":[" a"]}"#).is_err());
        assert!(ColumnMapping::from_json(r#"{"name":"x","nmeric":["a"]}"#).is_err());
    }
}
