//! Command-line inputs: files, directories of captures, `-`.

use std::path::{Path, PathBuf};

use anyhow::Context;
use vigil_ingest::PcapReader;
pub use vigil_pipelines::inputs::{expand_inputs, is_capture_name};

/// The capture inputs opened one by one; one that cannot be opened is logged with
/// its reason and skipped, and [`CaptureInputs::failed`] remembers it.
pub struct CaptureInputs {
    paths: std::vec::IntoIter<PathBuf>,
    /// Whether any input could not be opened.
    pub failed: bool,
}

impl CaptureInputs {
    /// Expand `inputs` (see [`expand_inputs`]).
    pub fn new(inputs: &[PathBuf]) -> anyhow::Result<Self> {
        Ok(Self { paths: expand_inputs(inputs)?.into_iter(), failed: false })
    }
}

impl Iterator for CaptureInputs {
    type Item = (PathBuf, PcapReader);

    fn next(&mut self) -> Option<Self::Item> {
        for path in self.paths.by_ref() {
            match PcapReader::open(&path) {
                Ok(r) => return Some((path, r)),
                Err(e) => {
                    tracing::error!("{e}");
                    self.failed = true;
                }
            }
        }
        None
    }
}

/// Whether the file is a capture: pcap or pcapng magic bytes, or a capture file name
/// (`.pcap`, `.pcapng`, `.cap`, `.trace`, `.dump`, each optionally `.gz`).
pub fn is_capture(path: &Path) -> anyhow::Result<bool> {
    use std::io::Read;
    const MAGICS: [[u8; 4]; 5] = [
        [0xd4, 0xc3, 0xb2, 0xa1],
        [0xa1, 0xb2, 0xc3, 0xd4],
        [0x4d, 0x3c, 0xb2, 0xa1],
        [0xa1, 0xb2, 0x3c, 0x4d],
        [0x0a, 0x0d, 0x0d, 0x0a],
    ];
    if is_capture_name(path) {
        return Ok(true);
    }
    let mut magic = [0u8; 4];
    let mut f =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    Ok(f.read(&mut magic).unwrap_or(0) == 4 && MAGICS.contains(&magic))
}

/// Whether the file starts with Parquet's magic bytes.
pub fn is_parquet(path: &Path) -> anyhow::Result<bool> {
    use std::io::Read;
    let mut magic = [0u8; 4];
    let mut f =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    Ok(f.read(&mut magic).unwrap_or(0) == 4 && &magic == b"PAR1")
}

/// The record batches of a Parquet file, each error naming the file.
pub fn parquet_batches(
    path: &Path,
) -> anyhow::Result<impl Iterator<Item = anyhow::Result<arrow_array::RecordBatch>>> {
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .and_then(|b| b.build())
        .with_context(|| format!("{}: not a readable Parquet file", path.display()))?;
    let path = path.to_path_buf();
    Ok(reader
        .map(move |b| b.with_context(|| format!("{}: cannot read a row group", path.display()))))
}
