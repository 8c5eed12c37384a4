//! [`Family`]: which kind of model an artifact is, and so which tokenizer feeds it and
//! which [`Scorer`](crate::Scorer) scores with it.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A model family, from the manifest's `family`.
///
/// Spellings are case-insensitive, and `-`, `_` and nothing between words are all accepted
/// (`flow_transformer`, `FlowTransformer`, `flow-transformer`); [`Display`](fmt::Display)
/// gives the canonical spelling of the shipped manifests.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum Family {
    /// netFound: packet tokens (bursts of header-field tokens) per flow.
    Netfound,
    /// FlowTransformer: windows of encoded flow features.
    FlowTransformer,
    /// iTransformer: windows of metrics, one token per variate.
    ITransformer,
    /// HSTU: per-entity action sequences.
    Hstu,
    /// A family no scorer knows (test models); the manifest's spelling.
    Other(String),
}

impl Family {
    /// The canonical spelling.
    pub fn as_str(&self) -> &str {
        match self {
            Family::Netfound => "netfound",
            Family::FlowTransformer => "flow_transformer",
            Family::ITransformer => "itransformer",
            Family::Hstu => "hstu",
            Family::Other(s) => s,
        }
    }
}

impl From<String> for Family {
    fn from(s: String) -> Self {
        let key: String =
            s.chars().filter(|c| !matches!(c, '-' | '_')).flat_map(char::to_lowercase).collect();
        match key.as_str() {
            "netfound" => Family::Netfound,
            "flowtransformer" => Family::FlowTransformer,
            "itransformer" => Family::ITransformer,
            "hstu" => Family::Hstu,
            _ => Family::Other(s),
        }
    }
}

impl From<Family> for String {
    fn from(f: Family) -> Self {
        f.as_str().to_string()
    }
}

impl FromStr for Family {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Family::from(s.to_string()))
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_are_folded_and_unknown_ones_kept() {
        for s in ["flow_transformer", "FlowTransformer", "flow-transformer", "flowtransformer"] {
            assert_eq!(s.parse::<Family>().unwrap(), Family::FlowTransformer, "{s}");
        }
        assert_eq!("iTransformer".parse::<Family>().unwrap(), Family::ITransformer);
        assert_eq!("test".parse::<Family>().unwrap(), Family::Other("test".into()));
        assert_eq!(Family::FlowTransformer.to_string(), "flow_transformer");
        let json = serde_json::to_string(&Family::Hstu).unwrap();
        assert_eq!(json, "\"hstu\"");
        assert_eq!(serde_json::from_str::<Family>("\"NetFound\"").unwrap(), Family::Netfound);
    }
}
