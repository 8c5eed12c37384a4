//! Command-line inputs: files, directories of captures, `-`.

use std::path::{Path, PathBuf};

use anyhow::Context;
use vigil_ingest::PcapReader;
pub use vigil_pipelines::inputs::{expand_inputs, is_capture_name};

/// The capture inputs of a command, checked before it creates any output: each file
/// is opened once up front, so a missing, empty or non-capture file is an error naming
/// it (exit 1) and nothing is written. Iterating opens each again in turn (standard
/// input, `-`, is opened once and kept), so only one is open at a time.
pub struct CaptureInputs {
    paths: std::vec::IntoIter<PathBuf>,
    stdin: Option<PcapReader>,
}

impl CaptureInputs {
    /// Expand `inputs` (see [`expand_inputs`]) and check that every one is a readable capture.
    pub fn open(inputs: &[PathBuf]) -> anyhow::Result<Self> {
        let paths = expand_inputs(inputs)?;
        let mut stdin = None;
        for path in &paths {
            let reader = PcapReader::open(path)?;
            if path.as_os_str() == "-" {
                anyhow::ensure!(stdin.is_none(), "standard input (`-`) can be read only once");
                stdin = Some(reader);
            }
        }
        Ok(Self { paths: paths.into_iter(), stdin })
    }
}

impl Iterator for CaptureInputs {
    type Item = anyhow::Result<(PathBuf, PcapReader)>;

    fn next(&mut self) -> Option<Self::Item> {
        let path = self.paths.next()?;
        let reader = if path.as_os_str() == "-" {
            self.stdin.take().context("standard input was read already")
        } else {
            PcapReader::open(&path).map_err(anyhow::Error::from)
        };
        Some(reader.map(|r| (path, r)))
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
) -> anyhow::Result<impl Iterator<Item = anyhow::Result<arrow_array::RecordBatch>> + use<>> {
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
