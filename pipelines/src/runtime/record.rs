//! What flows between stages: a record batch tagged with its kind.

use std::fmt;
use std::sync::Arc;

use arrow_array::RecordBatch;
use vigil_ingest::flow_records::FlowFeatures;
use vigil_tokenizers::FlowTokens;

use crate::store::Table;

/// The kind of records in a batch; each lands in the store table of the same name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RecordKind {
    /// Flow records (`flows` schema, plus verdict columns).
    Flows,
    /// Metric points (`metrics` schema).
    Metrics,
    /// Actions (`actions` schema).
    Actions,
    /// Alerts (`alerts` schema).
    Alerts,
    /// Dead letters (`dead_letters` schema).
    DeadLetters,
}

impl RecordKind {
    /// The store table of this kind.
    pub fn table(self) -> Table {
        match self {
            RecordKind::Flows => Table::Flows,
            RecordKind::Metrics => Table::Metrics,
            RecordKind::Actions => Table::Actions,
            RecordKind::Alerts => Table::Alerts,
            RecordKind::DeadLetters => Table::DeadLetters,
        }
    }
}

impl fmt::Display for RecordKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.table().name())
    }
}

/// One micro-batch on its way through the topology.
#[derive(Debug, Clone)]
pub struct Envelope {
    /// What the rows are.
    pub kind: RecordKind,
    /// The rows.
    pub batch: RecordBatch,
    /// netFound tokens of each flow row (same order), when the source tokenized packets.
    pub tokens: Option<Arc<Vec<Option<FlowTokens>>>>,
    /// Model features of each flow row (same order), when the flows came from a CSV.
    pub features: Option<Arc<Vec<FlowFeatures>>>,
}

impl Envelope {
    /// A batch without side data.
    pub fn new(kind: RecordKind, batch: RecordBatch) -> Envelope {
        Envelope { kind, batch, tokens: None, features: None }
    }

    /// Rows in the batch.
    pub fn rows(&self) -> usize {
        self.batch.num_rows()
    }
}
