//! Bidirectional flows with Zeek's semantics.

mod record;
mod table;

pub use record::{DirectionStats, EndReason, FlowRecord, FlowSink};
pub use table::{FlowTable, FlowTableConfig, FlowTableStats};
