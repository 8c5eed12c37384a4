//! A token file's [`TokenStamp`], read back from its Parquet key-value metadata
//! (`vigil tokenize` writes it with [`BatchFileWriter::create_with_metadata`]).
//!
//! [`BatchFileWriter::create_with_metadata`]: crate::output::BatchFileWriter::create_with_metadata

use std::path::Path;

use anyhow::Context;
use parquet::file::reader::{FileReader, SerializedFileReader};
use vigil_tokenizers::TokenStamp;

/// The stamp of the Parquet file at `path`; `None` when it has none (written before
/// token files were stamped, or not by `vigil tokenize`).
pub fn read_token_stamp(path: &Path) -> anyhow::Result<Option<TokenStamp>> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let reader = SerializedFileReader::new(file)
        .with_context(|| format!("{}: not a readable Parquet file", path.display()))?;
    let kv = reader.metadata().file_metadata().key_value_metadata().cloned().unwrap_or_default();
    TokenStamp::from_key_values(kv.iter().map(|e| (e.key.as_str(), e.value.as_deref())))
        .with_context(|| path.display().to_string())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_schema::{DataType, Field, Schema};
    use vigil_tokenizers::NetfoundConfig;

    use super::*;
    use crate::output::BatchFileWriter;

    #[test]
    fn a_stamp_written_with_the_file_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::UInt64, false)]));
        let stamp = TokenStamp::netfound(&NetfoundConfig::default());
        let (stamped, plain) = (dir.path().join("s.parquet"), dir.path().join("p.parquet"));
        BatchFileWriter::create_with_metadata(&stamped, schema.clone(), stamp.to_key_values())
            .unwrap()
            .finish()
            .unwrap();
        BatchFileWriter::create(&plain, schema).unwrap().finish().unwrap();
        assert_eq!(read_token_stamp(&stamped).unwrap(), Some(stamp));
        assert_eq!(read_token_stamp(&plain).unwrap(), None);
    }
}
