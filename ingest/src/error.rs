//! The one error type of `vigil-ingest`.

use std::path::PathBuf;

/// Result alias for this crate.
pub type Result<T, E = IngestError> = std::result::Result<T, E>;

/// Errors from readers and decoders. Each names the source and, where known, the position.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IngestError {
    /// The input could not be opened or read (user must fix the path or permissions).
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The input is not a capture: empty, or a header libpcap does not read as pcap or
    /// pcapng (user must pass a capture file).
    #[error("{source_name}: not a pcap or pcapng capture: {message}")]
    NotCapture {
        /// File name or `-` for stdin.
        source_name: String,
        /// Why (libpcap's message, or that the file is empty).
        message: String,
    },
    /// libpcap failed mid-capture (a truncated record, a corrupt record header).
    #[error("{source_name}: packet {index}: {message}")]
    Capture {
        /// File name, `-` for stdin, or interface name.
        source_name: String,
        /// Index of the packet being read (0-based) when it failed.
        index: u64,
        /// libpcap's message.
        message: String,
    },
    /// A configuration value is out of range (user must fix it).
    #[error("configuration: {0}")]
    Config(String),
}
