//! A Parquet file of Arrow record batches of any one schema.

use std::fs::File;
use std::io;
use std::path::Path;

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;

/// Writes record batches to a Snappy-compressed Parquet file, created under a
/// temporary name and renamed into place on [`finish`](Self::finish), so a
/// reader never sees a half-written file. A writer dropped unfinished (the
/// command failed) or whose `finish` fails removes its temporary file: a failed
/// command leaves no output behind.
pub struct BatchFileWriter {
    /// `None` once finished.
    writer: Option<ArrowWriter<File>>,
    tmp: std::path::PathBuf,
    path: std::path::PathBuf,
    rows: u64,
}

impl BatchFileWriter {
    /// Create `path` (via `path.tmp`) for batches of `schema`.
    pub fn create(path: &Path, schema: SchemaRef) -> io::Result<Self> {
        Self::create_with_metadata(path, schema, Vec::new())
    }

    /// Create `path` (via `path.tmp`) for batches of `schema`, with `metadata` as the
    /// file's key-value metadata (e.g. a token file's stamp).
    pub fn create_with_metadata(
        path: &Path,
        schema: SchemaRef,
        metadata: Vec<(String, String)>,
    ) -> io::Result<Self> {
        let tmp = path.with_extension("parquet.tmp");
        let file = File::create(&tmp)?;
        let kv: Vec<KeyValue> = metadata.into_iter().map(|(k, v)| KeyValue::new(k, v)).collect();
        let props = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .set_key_value_metadata((!kv.is_empty()).then_some(kv))
            .build();
        let writer = match ArrowWriter::try_new(file, schema, Some(props)) {
            Ok(w) => w,
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                return Err(io::Error::other(e));
            }
        };
        Ok(Self { writer: Some(writer), tmp, path: path.to_path_buf(), rows: 0 })
    }

    /// Append one batch.
    pub fn write(&mut self, batch: &RecordBatch) -> io::Result<()> {
        self.rows += batch.num_rows() as u64;
        let writer = self.writer.as_mut().expect("a writer until finished");
        writer.write(batch).map_err(io::Error::other)
    }

    /// Close the file, sync it and move it to its final name; returns the rows written.
    pub fn finish(mut self) -> io::Result<u64> {
        let writer = self.writer.take().expect("a writer until finished");
        let done = writer
            .into_inner()
            .map_err(io::Error::other)
            .and_then(|file| file.sync_all())
            .and_then(|()| std::fs::rename(&self.tmp, &self.path));
        if done.is_err() {
            let _ = std::fs::remove_file(&self.tmp);
        }
        done.map(|()| self.rows)
    }
}

impl Drop for BatchFileWriter {
    fn drop(&mut self) {
        if self.writer.take().is_some() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{ArrayRef, UInt64Array};
    use arrow_schema::{DataType, Field, Schema};
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use std::sync::Arc;

    #[test]
    fn batches_land_under_the_final_name_only_when_finished() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.parquet");
        let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::UInt64, false)]));
        let mut w = BatchFileWriter::create(&path, schema.clone()).unwrap();
        let col: ArrayRef = Arc::new(UInt64Array::from(vec![1, 2, 3]));
        w.write(&RecordBatch::try_new(schema, vec![col]).unwrap()).unwrap();
        assert!(!path.exists());
        assert_eq!(w.finish().unwrap(), 3);
        assert!(!dir.path().join("t.parquet.tmp").exists());
        let rows: usize = ParquetRecordBatchReaderBuilder::try_new(File::open(&path).unwrap())
            .unwrap()
            .build()
            .unwrap()
            .map(|b| b.unwrap().num_rows())
            .sum();
        assert_eq!(rows, 3);
    }

    #[test]
    fn a_writer_dropped_unfinished_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.parquet");
        let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::UInt64, false)]));
        let w = BatchFileWriter::create(&path, schema).unwrap();
        assert!(dir.path().join("t.parquet.tmp").exists());
        drop(w);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
