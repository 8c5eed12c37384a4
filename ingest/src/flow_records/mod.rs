//! Flow records from anywhere, in one shape: [`FlowFeatures`].
//!
//! ```text
//!  NF-v2 CSV ──────┐
//!  CICFlowMeter CSV ┼─(ColumnMapping)─► FlowCsvReader ─► FlowFeatures ─► tokenizers (flow windows)
//!  Zeek conn.log ──┘                        └─► DeadLetter (source, line, reason, raw)
//!  FlowRecord (our pcap flows) ─► FlowFeatureSet ─────┘
//!                        (nf_v2_features | zeek_conn_features)
//! ```
//!
//! - [`ColumnMapping`] says which CSV column is the timestamp, the 5-tuple,
//!   the label, and which columns are numeric or categorical features. It is
//!   a JSON file; [`ColumnMapping::builtin`] gives the embedded defaults
//!   (`cicflowmeter`, `nf_v2`, `nf_v2_derivable`, `nsl_kdd`, `zeek_conn`, the files in
//!   `ingest/mappings/`), and [`ColumnMapping::from_path`] reads a user's own.
//! - [`FlowCsvReader`] streams a CSV (or `.gz`, or Zeek TSV with `#fields`)
//!   row by row. A malformed row never stops it: it becomes a [`DeadLetter`]
//!   that is counted and kept (the first [`MAX_KEPT_DEAD_LETTERS`]), and
//!   reading goes on.
//! - [`nf_v2_features`] computes the NF-v2 (NetFlow v2, nProbe) columns that
//!   can be derived from a [`FlowRecord`](crate::FlowRecord); [`NF_V2_NOT_DERIVED`]
//!   lists the others and why.
//! - [`zeek_conn_features`] computes the `zeek_conn` mapping's columns (Zeek conn.log)
//!   from a [`FlowRecord`](crate::FlowRecord), rendered as a Zeek row of the same
//!   connection reads.
//! - [`FlowFeatureSet`] (and [`features_for_mapping`]) picks the derivation whose names
//!   match a model's mapping, so our flows get the features the model was trained on.
//!
//! ```
//! use vigil_ingest::flow_records::{ColumnMapping, FlowCsvReader};
//! let csv = "IPV4_SRC_ADDR,L4_SRC_PORT,IPV4_DST_ADDR,L4_DST_PORT,PROTOCOL,L7_PROTO,IN_BYTES,OUT_BYTES,IN_PKTS,OUT_PKTS,TCP_FLAGS,FLOW_DURATION_MILLISECONDS,Label,Attack\n\
//!            10.0.0.1,5353,10.0.0.2,53,17,5.0,60,120,1,1,0,0,0,Benign\n\
//!            garbage\n";
//! let mapping = ColumnMapping::from_json(r#"{"name": "mini",
//!     "src_addr": "IPV4_SRC_ADDR", "src_port": "L4_SRC_PORT",
//!     "dst_addr": "IPV4_DST_ADDR", "dst_port": "L4_DST_PORT",
//!     "proto": "PROTOCOL", "label": "Attack",
//!     "numeric": ["IN_BYTES", {"name": "OUT", "column": "OUT_BYTES"}],
//!     "categorical": ["PROTOCOL"]}"#)?;
//! let mut reader = FlowCsvReader::new(csv.as_bytes(), "inline", &mapping)?;
//! let flow = reader.next_record()?.expect("one good row");
//! assert_eq!(flow.numeric, vec![60.0, 120.0]);
//! assert_eq!(flow.label.as_deref(), Some("Benign"));
//! assert!(reader.next_record()?.is_none());
//! assert_eq!(reader.dead_letters()[0].line().unwrap(), 3);
//! # Ok::<(), vigil_ingest::flow_records::FlowRecordError>(())
//! ```
//!
//! Tuple columns are optional: NF-v2 has no timestamp and UNSW-NB15 no
//! addresses, so [`FlowTuple::ts_us`] and friends are `Option`s.

mod error;
mod feature_set;
mod mapping;
mod nf_v2;
mod reader;
mod timestamp;
mod tuple;
mod zeek_conn;

use std::sync::Arc;

pub use error::FlowRecordError;
pub use feature_set::{FlowFeatureSet, features_for_mapping};
pub use mapping::{ColumnMapping, FeatureColumn, TimestampColumn, TimestampFormat};
pub use nf_v2::{NF_V2_NOT_DERIVED, nf_v2_feature_names, nf_v2_features};
pub use reader::{DeadLetter, FlowCsvReader, MAX_KEPT_DEAD_LETTERS, MAX_RAW_LEN};
pub use timestamp::parse_timestamp_us;
pub use tuple::FlowTuple;
pub use zeek_conn::{zeek_conn_feature_names, zeek_conn_features};

/// The names of the features a record carries, shared by every record of one source.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct FeatureNames {
    /// Numeric feature names, in the order of [`FlowFeatures::numeric`].
    pub numeric: Vec<String>,
    /// Categorical feature names, in the order of [`FlowFeatures::categorical`].
    pub categorical: Vec<String>,
}

impl FeatureNames {
    /// Names from static lists (the feature sets derived from our own flows).
    pub fn of(numeric: &[&str], categorical: &[&str]) -> FeatureNames {
        FeatureNames {
            numeric: numeric.iter().map(|s| s.to_string()).collect(),
            categorical: categorical.iter().map(|s| s.to_string()).collect(),
        }
    }
}

/// One flow, from any source, as named numeric and categorical features.
#[derive(Debug, Clone, PartialEq)]
pub struct FlowFeatures {
    /// Which flow this is: id, start time and 5-tuple.
    pub tuple: FlowTuple,
    /// Feature names (shared).
    pub names: Arc<FeatureNames>,
    /// Numeric values in [`FeatureNames::numeric`] order; a missing value is NaN.
    pub numeric: Vec<f64>,
    /// Categorical values (the source's text, trimmed) in [`FeatureNames::categorical`] order.
    pub categorical: Vec<String>,
    /// Ground-truth label, when the source has one.
    pub label: Option<String>,
}

impl FlowFeatures {
    /// The numeric feature called `name`.
    pub fn numeric_value(&self, name: &str) -> Option<f64> {
        let i = self.names.numeric.iter().position(|n| n == name)?;
        self.numeric.get(i).copied()
    }

    /// The categorical feature called `name`.
    pub fn categorical_value(&self, name: &str) -> Option<&str> {
        let i = self.names.categorical.iter().position(|n| n == name)?;
        self.categorical.get(i).map(String::as_str)
    }
}
