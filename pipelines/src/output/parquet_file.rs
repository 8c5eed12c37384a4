//! Parquet with the `flows` table schema, written in row groups of flows.

use std::io::{self, Write};

use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use vigil_ingest::{FlowRecord, flows_schema, flows_to_batch};

use super::FlowWriter;

/// Rows buffered before a record batch is handed to the Parquet writer.
const BATCH_ROWS: usize = 8192;

/// Buffers flows and writes them as Arrow record batches.
pub struct ParquetWriter {
    writer: ArrowWriter<Box<dyn Write + Send>>,
    pending: Vec<FlowRecord>,
    sensor: String,
}

impl ParquetWriter {
    /// A Snappy-compressed Parquet writer over `out`.
    pub fn new(out: Box<dyn Write + Send>, sensor: &str) -> io::Result<Self> {
        let props = WriterProperties::builder().set_compression(Compression::SNAPPY).build();
        let writer =
            ArrowWriter::try_new(out, flows_schema(), Some(props)).map_err(io::Error::other)?;
        Ok(Self { writer, pending: Vec::with_capacity(BATCH_ROWS), sensor: sensor.to_string() })
    }

    fn write_pending(&mut self) -> io::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let batch = flows_to_batch(&self.pending, &self.sensor).map_err(io::Error::other)?;
        self.pending.clear();
        self.writer.write(&batch).map_err(io::Error::other)
    }
}

impl FlowWriter for ParquetWriter {
    fn write(&mut self, flow: &FlowRecord) -> io::Result<()> {
        self.pending.push(flow.clone());
        if self.pending.len() >= BATCH_ROWS {
            self.write_pending()?;
        }
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> io::Result<()> {
        self.write_pending()?;
        let mut inner = self.writer.into_inner().map_err(io::Error::other)?;
        inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::test_flows::sample;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    #[test]
    fn parquet_reads_back_with_the_flows_schema() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.parquet");
        let file = std::fs::File::create(&path).unwrap();
        let mut w: Box<dyn FlowWriter> =
            Box::new(ParquetWriter::new(Box::new(file), "s1").unwrap());
        for f in sample() {
            w.write(&f).unwrap();
        }
        w.finish().unwrap();
        let reader = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&path).unwrap())
            .unwrap()
            .build()
            .unwrap();
        let batches: Vec<_> = reader.map(Result::unwrap).collect();
        assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 2);
        assert_eq!(batches[0].schema().fields(), flows_schema().fields());
    }
}
