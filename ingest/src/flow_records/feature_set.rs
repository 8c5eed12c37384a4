//! [`FlowFeatureSet`]: which features our own flows are turned into, chosen by the
//! column mapping a model was trained with.

use std::sync::Arc;

use super::{FeatureNames, FlowFeatures, nf_v2_feature_names, nf_v2_features};
use super::{zeek_conn_feature_names, zeek_conn_features};
use crate::FlowRecord;

/// A feature set derivable from our own flows ([`FlowRecord`]s).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FlowFeatureSet {
    /// The NF-v2 columns of the `nf_v2_derivable` mapping ([`nf_v2_features`]); the
    /// default for our flows when no mapping is named.
    NfV2,
    /// The Zeek conn.log columns of the `zeek_conn` mapping ([`zeek_conn_features`]).
    ZeekConn,
}

impl FlowFeatureSet {
    /// The feature set whose names and order are those of the built-in mapping `name`
    /// (`nf_v2_derivable` or `zeek_conn`); `None` for a mapping our flows cannot provide
    /// (`cicflowmeter`, the full `nf_v2`, a user's mapping file).
    pub fn for_mapping(name: &str) -> Option<FlowFeatureSet> {
        match name {
            "nf_v2_derivable" => Some(FlowFeatureSet::NfV2),
            "zeek_conn" => Some(FlowFeatureSet::ZeekConn),
            _ => None,
        }
    }

    /// The built-in mapping with the same feature names.
    pub fn mapping_name(self) -> &'static str {
        match self {
            FlowFeatureSet::NfV2 => "nf_v2_derivable",
            FlowFeatureSet::ZeekConn => "zeek_conn",
        }
    }

    /// The features of one flow.
    pub fn features(self, flow: &FlowRecord) -> FlowFeatures {
        self.deriver()(flow)
    }

    /// The function computing [`FlowFeatureSet::features`], for callers that keep a plain `fn`.
    pub fn deriver(self) -> fn(&FlowRecord) -> FlowFeatures {
        match self {
            FlowFeatureSet::NfV2 => nf_v2_features,
            FlowFeatureSet::ZeekConn => zeek_conn_features,
        }
    }

    /// The names every record of this set carries.
    pub fn names(self) -> Arc<FeatureNames> {
        match self {
            FlowFeatureSet::NfV2 => nf_v2_feature_names(),
            FlowFeatureSet::ZeekConn => zeek_conn_feature_names(),
        }
    }
}

/// How to turn our flows into the features of mapping `name`, if they can be
/// (see [`FlowFeatureSet::for_mapping`]); shared by the CLI and the streaming runtime.
pub fn features_for_mapping(name: &str) -> Option<fn(&FlowRecord) -> FlowFeatures> {
    FlowFeatureSet::for_mapping(name).map(FlowFeatureSet::deriver)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow_records::ColumnMapping;

    #[test]
    fn each_set_has_its_mappings_names() {
        for set in [FlowFeatureSet::NfV2, FlowFeatureSet::ZeekConn] {
            let m = ColumnMapping::builtin(set.mapping_name()).unwrap();
            let num: Vec<&str> = m.numeric.iter().map(|c| c.name()).collect();
            let cat: Vec<&str> = m.categorical.iter().map(|c| c.name()).collect();
            assert_eq!(num, set.names().numeric);
            assert_eq!(cat, set.names().categorical);
            assert_eq!(FlowFeatureSet::for_mapping(set.mapping_name()), Some(set));
        }
    }

    #[test]
    fn mappings_our_flows_cannot_provide_have_no_set() {
        for name in ["cicflowmeter", "nf_v2", "my_mapping.json", "none"] {
            assert!(FlowFeatureSet::for_mapping(name).is_none(), "{name}");
            assert!(features_for_mapping(name).is_none(), "{name}");
        }
        assert!(features_for_mapping("zeek_conn").is_some());
    }
}
