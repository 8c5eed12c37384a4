//! Flow writers: Zeek `conn.log` TSV, JSON lines, CSV, Parquet and Suricata EVE flow
//! events.
//!
//! The three text formats share one column model ([`conn_fields`]), so a
//! column added there shows up in all of them.

mod batch_file;
mod conn_fields;
mod conn_log;
mod csv_table;
mod eve_flow;
mod json_lines;
mod parquet_file;
mod threaded;

use std::io::Write;

use vigil_ingest::{FlowRecord, FlowSink};

pub use batch_file::BatchFileWriter;
pub use conn_fields::{CONN_COLUMNS, ConnValue, conn_values};
pub use conn_log::ConnLogWriter;
pub use csv_table::CsvWriter;
pub use eve_flow::{EveFlowWriter, TCP_FLAGS, eve_flow, eve_text, eve_time, proto_name};
pub use json_lines::JsonLinesWriter;
pub use parquet_file::ParquetWriter;
pub use threaded::ThreadedWriterSink;

/// Output format of `vigil flows`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FlowFormat {
    /// Zeek conn.log TSV (header lines included), diffable with `zeek-cut`.
    Conn,
    /// One JSON object per line, with Zeek's field names.
    Json,
    /// CSV with a header row and Zeek's field names.
    Csv,
    /// Parquet with the `flows` table schema.
    Parquet,
    /// Suricata EVE `flow` events, one JSON object per line (use with
    /// `--semantics suricata`).
    Eve,
}

/// Writes flows somewhere. Errors are kept and reported by [`FlowWriter::finish`],
/// so a writer can also serve as a [`FlowSink`]. Writers are `Send`, so that
/// [`ThreadedWriterSink`] can run one on a thread of its own.
pub trait FlowWriter: Send {
    /// Write one flow.
    fn write(&mut self, flow: &FlowRecord) -> std::io::Result<()>;
    /// Flush and close the output (footers, Parquet metadata).
    fn finish(self: Box<Self>) -> std::io::Result<()>;
}

/// Build the writer for `format` over `out`; `sensor` is stamped on Parquet rows.
pub fn writer_for(
    format: FlowFormat,
    out: Box<dyn Write + Send>,
    sensor: &str,
) -> std::io::Result<Box<dyn FlowWriter>> {
    Ok(match format {
        FlowFormat::Conn => Box::new(ConnLogWriter::new(out)?),
        FlowFormat::Json => Box::new(JsonLinesWriter::new(out)),
        FlowFormat::Csv => Box::new(CsvWriter::new(out)?),
        FlowFormat::Parquet => Box::new(ParquetWriter::new(out, sensor)?),
        FlowFormat::Eve => Box::new(EveFlowWriter::new(out)),
    })
}

/// Adapts a [`FlowWriter`] to a [`FlowSink`], keeping the first error.
pub struct WriterSink {
    writer: Box<dyn FlowWriter>,
    error: Option<std::io::Error>,
}

impl WriterSink {
    /// Wrap a writer.
    pub fn new(writer: Box<dyn FlowWriter>) -> Self {
        Self { writer, error: None }
    }

    /// Finish the writer, returning the first write error if any happened.
    pub fn finish(self) -> std::io::Result<()> {
        if let Some(e) = self.error {
            return Err(e);
        }
        self.writer.finish()
    }
}

impl FlowSink for WriterSink {
    fn flow(&mut self, flow: FlowRecord) {
        if self.error.is_none()
            && let Err(e) = self.writer.write(&flow)
        {
            self.error = Some(e);
        }
    }
}

#[cfg(test)]
pub(crate) mod test_flows {
    use vigil_ingest::{DirectionStats, EndReason, FlowRecord};

    /// A TCP flow and a single-packet UDP flow inside a tunnel.
    pub fn sample() -> Vec<FlowRecord> {
        let tcp = FlowRecord {
            flow_id: 1,
            uid: "CAbc".into(),
            community_id: "1:wCb3OG7yAFWelaUydu0D+125CLM=".into(),
            ts_start: 1_700_000_000_123_456,
            ts_end: 1_700_000_001_623_456,
            orig_h: "10.0.0.1".parse().unwrap(),
            orig_p: 51000,
            resp_h: "10.0.0.2".parse().unwrap(),
            resp_p: 80,
            proto: 6,
            vlan: Some(7),
            inner_vlan: None,
            orig: DirectionStats {
                pkts: 5,
                bytes: 98,
                ip_bytes: 370,
                wire_bytes: 440,
                tcp_flags: 0x1b,
            },
            resp: DirectionStats {
                pkts: 4,
                bytes: 900,
                ip_bytes: 1108,
                wire_bytes: 1164,
                tcp_flags: 0x1b,
            },
            conn_state: "SF",
            history: "ShADadFf".into(),
            missed_bytes: 0,
            tunnel_parents: vec![],
            end_reason: EndReason::Closed,
        };
        let udp = FlowRecord {
            flow_id: 2,
            uid: "CDef".into(),
            ts_start: 1_700_000_002_000_000,
            ts_end: 1_700_000_002_000_000,
            orig_h: "2001:db8::1".parse().unwrap(),
            orig_p: 5353,
            resp_h: "ff02::fb".parse().unwrap(),
            resp_p: 5353,
            proto: 17,
            vlan: None,
            orig: DirectionStats { pkts: 1, bytes: 20, ip_bytes: 68, wire_bytes: 82, tcp_flags: 0 },
            resp: DirectionStats::default(),
            conn_state: "S0",
            history: "D".into(),
            tunnel_parents: vec!["CAbc".into(), "CXyz".into()],
            end_reason: EndReason::Flush,
            ..tcp.clone()
        };
        vec![tcp, udp]
    }
}
