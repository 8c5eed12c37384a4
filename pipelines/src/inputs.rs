//! Command-line and topology inputs: files, directories of captures, `-`.

use std::path::{Path, PathBuf};

use anyhow::Context;

/// Expand directories into their capture files, sorted by name.
pub fn expand_inputs(inputs: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for input in inputs {
        if input.is_dir() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(input)
                .with_context(|| format!("cannot list {}", input.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file() && is_capture_name(p))
                .collect();
            files.sort();
            if files.is_empty() {
                tracing::warn!(dir = %input.display(), "no capture files in directory");
            }
            out.extend(files);
        } else {
            out.push(input.clone());
        }
    }
    Ok(out)
}

/// Whether a file name looks like a capture (`.pcap`, `.pcapng`, `.cap`, …, optionally `.gz`).
pub fn is_capture_name(p: &Path) -> bool {
    let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    let name = name.strip_suffix(".gz").unwrap_or(name);
    [".pcap", ".pcapng", ".cap", ".trace", ".dump"].iter().any(|ext| name.ends_with(ext))
}
