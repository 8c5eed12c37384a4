//! What flows between stages: a record batch tagged with its kind.

use std::sync::Arc;

use arrow_array::RecordBatch;
use vigil_ingest::flow_records::FlowFeatures;
use vigil_tokenizers::FlowTokens;

use super::ack::{Acks, BatchStatus};
pub use vigil_ingest::tables::RecordKind;

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
    /// The acknowledgements of the source batches these rows come from; a clone of
    /// the envelope is another branch that must resolve them too.
    pub acks: Acks,
    /// When the oldest source row behind these rows arrived (alert latency).
    pub arrived: std::time::Instant,
}

impl Envelope {
    /// A batch without side data or acknowledgements.
    pub fn new(kind: RecordKind, batch: RecordBatch) -> Envelope {
        Envelope {
            kind,
            batch,
            tokens: None,
            features: None,
            acks: Acks::new(),
            arrived: std::time::Instant::now(),
        }
    }

    /// A batch derived from this one: it carries copies of this one's acknowledgements.
    pub fn derive(&self, kind: RecordKind, batch: RecordBatch) -> Envelope {
        Envelope { acks: self.acks.clone(), arrived: self.arrived, ..Envelope::new(kind, batch) }
    }

    /// Take the acknowledgements out (the envelope then carries none).
    pub fn take_acks(&mut self) -> Acks {
        std::mem::take(&mut self.acks)
    }

    /// This branch is done with the rows: resolve its acknowledgements.
    pub fn resolve(mut self, status: BatchStatus) {
        self.take_acks().resolve(status);
    }

    /// Rows in the batch.
    pub fn rows(&self) -> usize {
        self.batch.num_rows()
    }
}
